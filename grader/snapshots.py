"""Recorded reference outputs on fixed inputs, for local mode (students have no reference).

One file per exercise, ``grader/course/snapshots/<id>.snap``, in the wire format (read with
the same strict decoder: no pickle). For every comparison check it holds the fixed cases,
the reference's state_dict and upstream gradient (module checks), the expected outputs and
the outputs of the exercise's known mistakes (to name them in local mode).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import Check, Tol, compare_values, to_wire
from grader.metadata import SNAPSHOT_DIR, Exercise
from grader.protocol import wire
from grader.reference import (
    Mistakes,
    Reference,
    build_module,
    case_wire,
    draw_upstream,
    grad_positions,
    run_function,
    run_function_grad,
    run_module,
    state_of,
)

FIXED_SEED = 20240601
MAX_FIXED = 6


def fixed_rng(check_id: str) -> np.random.Generator:
    return np.random.default_rng([FIXED_SEED, int(hashlib.sha256(check_id.encode()).hexdigest()[:8], 16)])


def case_rng(check_id: str, seed: int, index: int) -> np.random.Generator:
    """The generator for one case's weights and upstream gradient: independent of the order in
    which cases are evaluated (so expected outputs can be computed only when needed)."""
    return np.random.default_rng([seed % 2**63, int(hashlib.sha256(check_id.encode()).hexdigest()[:8], 16),
                                  index])


def cases_for(check: Check, rng: np.random.Generator, limit: int | None = None) -> list[dict]:
    out = []
    for i, case in enumerate(check.cases(rng)):
        out.append(case_wire(case) | {"label": case.label, "order": i})
        if limit and len(out) >= limit:
            break
    return out


def expected_for(check: Check, module: Any, case: dict, rng: np.random.Generator | None,
                 state: dict | None = None, upstream: Any = None) -> dict:
    """Reference output for one case; for module checks also the state and upstream used."""
    if check.kind == "compare":
        out = {"expected": run_function(module, check.fn, case)}
        wrt = grad_positions(case)
        if wrt and (upstream is not None or rng is not None):
            if upstream is None:
                upstream = draw_upstream(out["expected"], rng)
            grads = run_function_grad(module, check.fn, case, wrt, to_wire(upstream))
            if grads is not None:  # a differentiable function: its gradients are compared too
                out |= {"upstream": to_wire(upstream), "grad": grads}
        return out
    if state is None:
        state = state_of(build_module(module, check.fn, case, int(rng.integers(2**31))))
        for name in case.get("zeros") or ():  # e.g. a bias, so that an activation sees exactly 0
            state[name] = np.zeros_like(state[name])
    if check.backward and upstream is None:
        out = run_module(module, check.fn, check.method, case, state, None, backward=False)
        upstream = draw_upstream(out, rng)
    state, upstream = to_wire(state), to_wire(upstream)  # arrays travel as tensors
    expected = run_module(module, check.fn, check.method, case, state, upstream, check.backward)
    return {"expected": expected, "state": state, "upstream": upstream}


def mistake_outputs(check: Check, mistakes: Mistakes | None, exercise: str, case: dict,
                    entry: dict) -> dict[str, Any]:
    """Outputs of every known mistake on this case that differ from the reference."""
    out: dict[str, Any] = {}
    if mistakes is None:
        return out
    for name, _info, mod in mistakes.variants(exercise):
        try:
            if check.kind == "compare":
                got = run_function(mod, check.fn, case)
            else:
                got = run_module(mod, check.fn, check.method, case, entry["state"],
                                 entry.get("upstream"), check.backward)
        except Exception:  # noqa: BLE001 - a mistake that raises on this case names nothing
            continue
        if compare_values(got, entry["expected"], check.tol) is not None:
            out[name] = got
    return out


def mistake_grads(check: Check, mistakes: Mistakes | None, exercise: str, case: dict,
                  entry: dict) -> dict[str, Any]:
    """Gradients of every known mistake whose output on this case is right but whose
    gradients are not (a detached statistic, a wrong derivative): to name it."""
    out: dict[str, Any] = {}
    if mistakes is None or check.kind != "compare" or "grad" not in entry:
        return out
    wrt = grad_positions(case)
    for name, _info, mod in mistakes.variants(exercise):
        try:
            if compare_values(run_function(mod, check.fn, case), entry["expected"], check.tol) is not None:
                continue  # a wrong output: named by its output
            grads = run_function_grad(mod, check.fn, case, wrt, entry["upstream"])
        except Exception:  # noqa: BLE001 - a mistake that raises on this case names nothing
            continue
        if grads is not None and compare_values(grads, entry["grad"], check.tol) is not None:
            out[name] = grads
    return out


def record(exercise: Exercise, reference: Reference, mistakes: Mistakes | None,
           folder: Path = SNAPSHOT_DIR, zygote: Any = None) -> Path:
    """Run the reference on every comparison check's fixed cases and write the snapshot."""
    module = reference.module(exercise.id)
    data: dict[str, Any] = {}
    for check in exercise.checks():
        if check.kind not in ("compare", "compare_module"):
            continue
        rng = fixed_rng(check.id)
        entries = []
        for i, case in enumerate(cases_for(check, rng, check.fixed or MAX_FIXED)):
            entry = {"case": case} | expected_for(check, module, case, case_rng(check.id, FIXED_SEED, i))
            entry["mistakes"] = mistake_outputs(check, mistakes, exercise.id, case, entry)
            grads = mistake_grads(check, mistakes, exercise.id, case, entry)
            if grads:
                entry["mistake_grads"] = grads
            entry["mistake_texts"] = {
                name: {"en": info["en"], "zh": info["zh"]}
                for name, info, _ in (mistakes.variants(exercise.id) if mistakes else [])
                if name in entry["mistakes"] or name in grads
            }
            entries.append(entry)
        data[check.id] = entries
    data["$depends"] = dependency_hash(exercise.id, reference.folder, mistakes.folder if mistakes else None)
    path = _write(data, exercise.id, folder)
    if mistakes is not None and zygote is not None:
        data["$fingerprints"], data["$mistake_texts"] = fingerprints(exercise, mistakes, zygote, folder)
        _write(data, exercise.id, folder)
    return path


def _write(data: dict, exercise: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{exercise}.snap"
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(wire.encode(data))
    tmp.replace(path)
    return path


def fingerprints(exercise: Exercise, mistakes: Mistakes, zygote: Any, folder: Path) -> tuple[dict, dict]:
    """How each known mistake fails the property-style checks in local mode (seed 0): the
    exact message, so that a student whose code fails the same way is told which mistake it is.
    A message two mistakes share names neither."""
    import shutil
    import tempfile

    from grader.metadata import mistake_info
    from grader.runner import Runner

    prints: dict[str, dict[str, str]] = {}
    ambiguous: set[tuple[str, str]] = set()
    texts: dict[str, dict[str, str]] = {}
    for path in mistakes.files(exercise.id):
        tmp = Path(tempfile.mkdtemp(prefix="grader-fp-"))
        try:
            sub = mistakes.submission(exercise.id, path.stem, tmp / "sub")
            result = Runner(sub, [exercise], mode="local", reference=None, seed=0, sandbox=zygote.sandbox,
                            zygote=zygote, name_mistakes=False).run()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        info = mistake_info(path)
        texts[path.stem] = {"en": info["en"], "zh": info["zh"]}
        for c in result.exercises[0].checks:
            if c.status != "failed" or c.kind in ("compare", "compare_module", "banned"):
                continue
            if c.failure is None or c.failure.not_implemented or not c.raw_message:
                continue
            key = (c.id, c.raw_message)
            if key in ambiguous:
                continue
            if c.raw_message in prints.get(c.id, {}):
                ambiguous.add(key)
                del prints[c.id][c.raw_message]
                continue
            prints.setdefault(c.id, {})[c.raw_message] = path.stem
    return prints, texts


def load(exercise: str, folder: Path = SNAPSHOT_DIR) -> dict[str, list[dict]] | None:
    path = folder / f"{exercise}.snap"
    if not path.is_file():
        return None
    data = wire.decode(path.read_bytes())
    if not isinstance(data, dict):
        raise wire.WireError(f"{path.name}: not a snapshot")
    return data


def dependency_hash(exercise: str, solutions: Path, mistakes: Path | None) -> str:
    """A hash of everything a snapshot's verdicts and diagnoses depend on: the exercise's
    reference and the reference modules it imports (transitively), its check module (cases,
    property messages) and its known mistakes."""
    import ast
    import hashlib

    from grader.metadata import COURSE_DIR

    seen: list[str] = []
    todo = [exercise]
    while todo:
        name = todo.pop()
        path = solutions / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.append(name)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                todo.append(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                todo += [a.name.split(".")[0] for a in node.names]
    files = [solutions / f"{n}.py" for n in sorted(seen)] + [COURSE_DIR / f"{exercise}.py"]
    if mistakes is not None:
        files += sorted((mistakes / exercise).glob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0")
        h.update(f.read_bytes() if f.is_file() else b"<missing>")
    return h.hexdigest()[:16]


def stale(exercise: Exercise, reference: Reference, folder: Path = SNAPSHOT_DIR,
          mistakes_dir: Path | None = None) -> list[str]:
    """Why the recorded snapshot no longer fits (missing, inputs or reference outputs changed,
    or anything it depends on changed: see ``dependency_hash``)."""
    data = load(exercise.id, folder)
    module = reference.module(exercise.id)
    problems = []
    if data is not None and mistakes_dir is not None:
        want = dependency_hash(exercise.id, reference.folder, mistakes_dir)
        if data.get("$depends") != want:
            problems.append(f"{exercise.id}: the reference, checks or known mistakes changed since it was recorded")
    for check in exercise.checks():
        if check.kind not in ("compare", "compare_module"):
            continue
        if data is None or check.id not in data:
            problems.append(f"{exercise.id}.{check.id}: no snapshot")
            continue
        rng = fixed_rng(check.id)
        fresh = cases_for(check, rng, check.fixed or MAX_FIXED)
        recorded = data[check.id]
        if len(fresh) != len(recorded) or any(
            compare_values(wire_roundtrip(f), r["case"], Tol(0, 0)) for f, r in zip(fresh, recorded)
        ):
            problems.append(f"{exercise.id}.{check.id}: inputs changed")
            continue
        for i, entry in enumerate(recorded):
            rng = case_rng(check.id, FIXED_SEED, i) if check.kind == "compare" and "upstream" not in entry else None
            now = expected_for(check, module, entry["case"], rng, entry.get("state"), entry.get("upstream"))
            if compare_values(now["expected"], entry["expected"], check.tol):
                problems.append(f"{exercise.id}.{check.id}: reference output changed")
                break
            if ("grad" in now) != ("grad" in entry) or (
                    "grad" in now and compare_values(now["grad"], entry["grad"], check.tol)):
                problems.append(f"{exercise.id}.{check.id}: reference gradients changed")
                break
    return problems


def wire_roundtrip(v: Any) -> Any:
    return wire.decode(wire.encode(v))
