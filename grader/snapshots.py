"""Recorded reference outputs on fixed inputs, for local mode (students have no reference).

One file per exercise, ``grader/course/snapshots/<id>.snap``, in the wire format (read with
the same strict decoder: no pickle). For every comparison check it holds the fixed cases,
the reference's state_dict and upstream gradient (module checks), the expected outputs and
the outputs of the exercise's known mistakes (to name them in local mode).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import Check, Tol, compare_values
from grader.messages import Msg
from grader.metadata import SNAPSHOT_DIR, Exercise
from grader.protocol import wire
from grader.reference import Mistakes, Reference, case_wire

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
        label = {"label": str(case.label), "order": i}
        if isinstance(case.label, Msg):  # a stage's name, rendered in the report's language
            label |= {"label_id": case.label.id, "label_scope": case.label.where}
        out.append(case_wire(case) | label)
        if limit and len(out) >= limit:
            break
    return out


def record(exercise: Exercise, reference: Reference, mistakes: Mistakes | None,
           folder: Path = SNAPSHOT_DIR, zygote: Any = None) -> Path:
    """Run the reference on every comparison check's fixed cases and write the snapshot."""
    from grader.kinds import kind_of

    module = reference.module(exercise.id)
    data: dict[str, Any] = {}
    for check in exercise.checks():
        kind = kind_of(check.kind)
        if not kind.compares:
            continue
        rng = fixed_rng(check.id)
        entries = []
        for i, case in enumerate(cases_for(check, rng, check.fixed or MAX_FIXED)):
            entry = {"case": case} | kind.expected(check, module, case, case_rng(check.id, FIXED_SEED, i))
            entry["mistakes"] = kind.mistake_outputs(check, mistakes, exercise.id, case, entry)
            grads = kind.mistake_grads(check, mistakes, exercise.id, case, entry)
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
    """How each known mistake fails the property-style checks in local mode (seed 0): its
    verdict (the exact message, failing input, expected and got; ``kinds.verdict``), so that a
    student whose code fails the same way is told which mistake it is. A verdict two mistakes
    share names neither."""
    import shutil
    import tempfile

    from grader.kinds import kind_of, verdict
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
            if c.status != "failed" or not kind_of(c.kind).fingerprinted:
                continue
            if c.failure is None or c.failure.not_implemented or not c.raw_message:
                continue
            seen = verdict(c.failure)  # the message, the failing input, expected and got
            key = (c.id, seen)
            if key in ambiguous:
                continue
            if seen in prints.get(c.id, {}):
                ambiguous.add(key)
                del prints[c.id][seen]
                continue
            prints.setdefault(c.id, {})[seen] = path.stem
    return prints, texts


def load(exercise: str, folder: Path = SNAPSHOT_DIR) -> dict[str, list[dict]] | None:
    path = folder / f"{exercise}.snap"
    if not path.is_file():
        return None
    data = wire.decode(path.read_bytes())
    if not isinstance(data, dict):
        raise wire.WireError(f"{path.name}: not a snapshot")
    return data


@functools.lru_cache(maxsize=128)
def _imported(source: bytes) -> tuple[str, ...]:
    """The top-level packages a module's absolute imports name (parsed once per source: a
    run asks again for every exercise that imports it)."""
    import ast

    try:
        tree = ast.parse(source.decode("utf-8"))
    except (SyntaxError, ValueError):
        return ()
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names += [a.name.split(".")[0] for a in node.names]
    return tuple(names)


def dependency_hash(exercise: str, solutions: Path, mistakes: Path | None) -> str:
    """A hash of everything a snapshot's verdicts and diagnoses depend on: the exercise's
    reference and the reference modules it imports (transitively), its check module (cases),
    its English messages (the exercise's catalog and the engine's) and its known mistakes."""
    from grader.metadata import COURSE_DIR

    seen: list[str] = []
    todo = [exercise]
    while todo:
        name = todo.pop()
        path = solutions / f"{name}.py"
        if name in seen or not path.is_file():
            continue
        seen.append(name)
        todo += _imported(path.read_bytes())
    # the English messages are part of every verdict (grader/messages.py): the exercise's and the engine's
    files = [solutions / f"{n}.py" for n in sorted(seen)] + [COURSE_DIR / f"{exercise}.py"] + [
        COURSE_DIR / "i18n" / "en" / f"{name}.toml" for name in (exercise, "engine")]
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
    from grader.kinds import kind_of

    data = load(exercise.id, folder)
    module = reference.module(exercise.id)
    problems = []
    if data is not None and mistakes_dir is not None:
        want = dependency_hash(exercise.id, reference.folder, mistakes_dir)
        if data.get("$depends") != want:
            problems.append(f"{exercise.id}: the reference, checks or known mistakes changed since it was recorded")
    for check in exercise.checks():
        kind = kind_of(check.kind)
        if not kind.compares:
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
        changed: dict[str, list[str]] = {"output": [], "gradients": []}
        for i, entry in enumerate(recorded):
            # a recorded upstream gradient (and state) is used again; without one, a compare
            # check draws it as `record` did, in case the reference became differentiable
            rng = case_rng(check.id, FIXED_SEED, i)
            now = kind.expected(check, module, entry["case"], rng, entry.get("state"), entry.get("upstream"))
            label = f"case {i}" + (f" ({entry['case'].get('label')})" if entry["case"].get("label") else "")
            if compare_values(now["expected"], entry["expected"], check.tol):
                changed["output"].append(f"{label}: {describe_change(entry['expected'], now['expected'])}")
            elif ("grad" in now) != ("grad" in entry):
                changed["gradients"].append(f"{label}: gradients {'now' if 'grad' in now else 'no longer'} "
                                            "compared (the reference's differentiability changed)")
            elif "grad" in now and compare_values(now["grad"], entry["grad"], check.tol):
                changed["gradients"].append(f"{label}: {describe_change(entry['grad'], now['grad'], 'grad')}")
        for what, cases in changed.items():
            if cases:
                shown = "".join(f"\n    {c}" for c in cases[:SHOW_CHANGED])
                more = f"\n    and {len(cases) - SHOW_CHANGED} more" if len(cases) > SHOW_CHANGED else ""
                problems.append(f"{exercise.id}.{check.id}: reference {what} changed on {len(cases)} of "
                                f"{len(recorded)} recorded cases (old = recorded, new = the reference now):"
                                f"{shown}{more}")
    return problems


SHOW_CHANGED = 3  # differing cases shown per check by `stale`


def _leaves(v: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(v, (list, tuple)):
        return [leaf for i, x in enumerate(v) for leaf in _leaves(x, f"{path}[{i}]")]
    if isinstance(v, dict):
        return [leaf for k, x in v.items() for leaf in _leaves(x, f"{path}[{k!r}]")]
    return [(path, v)]


def _numbers(a: np.ndarray, n: int = 4) -> str:
    flat = a.reshape(-1)
    body = np.array2string(flat[:n], precision=4, separator=", ", suppress_small=True)
    return body[:-1] + ", …]" if flat.size > n else body


def describe_change(old: Any, new: Any, path: str = "output") -> str:
    """How a recorded value and the reference's value now differ, for the instructor: the
    first differing part's shape and dtype, a few numbers of each and the max abs diff."""
    old_leaves, new_leaves = dict(_leaves(old, path)), dict(_leaves(new, path))
    if old_leaves.keys() != new_leaves.keys():
        return f"structure changed: old {sorted(old_leaves)[:4]}, new {sorted(new_leaves)[:4]}"
    for where, o in old_leaves.items():
        n = new_leaves[where]
        if compare_values(n, o, Tol(0, 0)) is None:
            continue
        if isinstance(o, wire.Array) and isinstance(n, wire.Array):
            od, nd = o.data, n.data
            shape = f"{od.dtype}{list(od.shape)}" + ("" if od.shape == nd.shape and od.dtype == nd.dtype
                                                     else f" -> {nd.dtype}{list(nd.shape)}")
            diff = ""
            if od.shape == nd.shape and od.dtype.kind in "fiub" and nd.dtype.kind in "fiub" and od.size:
                d = np.abs(nd.astype(np.float64) - od.astype(np.float64))
                idx = np.unravel_index(int(np.nanargmax(np.where(np.isnan(d), np.inf, d))), od.shape)
                at = ", ".join(map(str, idx))
                diff = f", max abs diff {float(np.nanmax(np.where(np.isnan(d), np.inf, d))):.3g} at [{at}]"
            return f"{where} {shape}: old {_numbers(od)}, new {_numbers(nd)}{diff}"
        return f"{where}: old {o!r:.60}, new {n!r:.60}"
    return "differs within the tolerance's rounding"


def wire_roundtrip(v: Any) -> Any:
    return wire.decode(wire.encode(v))


# --- the reference against itself: float32 vs float64 ------------------------------------


def cast_floats(v: Any, dtype: str) -> Any:
    """``v`` (wire values: a case's arguments, a state, an upstream gradient, an output) with
    every float32/float64 array cast to ``dtype``; everything else as it is."""
    if isinstance(v, wire.Array):
        if v.data.dtype in (np.float32, np.float64):
            return wire.Array(v.data.astype(dtype), v.kind)
        return v
    if isinstance(v, np.ndarray):
        return v.astype(dtype) if v.dtype in (np.float32, np.float64) else v
    if isinstance(v, (list, tuple)):
        return type(v)(cast_floats(x, dtype) for x in v)
    if isinstance(v, dict):
        return {k: cast_floats(x, dtype) for k, x in v.items()}
    return v


def _has_floats(v: Any) -> bool:
    if isinstance(v, (wire.Array, np.ndarray)):
        data = v.data if isinstance(v, wire.Array) else v
        return data.dtype in (np.float32, np.float64)
    if isinstance(v, (list, tuple)):
        return any(_has_floats(x) for x in v)
    if isinstance(v, dict):
        return any(_has_floats(x) for x in v.values())
    return False


def precision_tol(check: Check) -> Tol:
    """What a float32 run of the reference may differ from its float64 run by: the check's own
    tolerance or the float32 one (``checks.F32``), whichever is looser, since a student's
    float32 output is held to that against the reference's."""
    from grader.checks import F32

    t = check.tol or F32
    return Tol(max(t.rtol, F32.rtol), max(t.atol, F32.atol))


def case_in(case: dict, dtype: str, module_check: bool) -> dict:
    out = dict(case, args=cast_floats(case["args"], dtype), kwargs=cast_floats(case["kwargs"], dtype),
               init=cast_floats(case.get("init"), dtype), init_args=cast_floats(case.get("init_args", []), dtype))
    if module_check:
        out["dtype"] = dtype
    return out


def precision_disagreements(exercise: Exercise, reference: Reference, drawn_seed: int = 1,
                            limit: int = 3) -> list[str]:
    """Run the reference on every comparison check's fixed cases and on cases drawn with
    ``drawn_seed``, once with float inputs (and weights, upstream gradients) in float64 and
    once in float32; list the cases where the two disagree beyond ``precision_tol`` (a
    reference that is wrong only in float32 would otherwise pass everything after `grade
    snapshot`, the snapshot recording its float32 outputs as right). At most ``limit`` per
    check."""
    from grader.kinds import kind_of

    module = reference.module(exercise.id)
    problems: list[str] = []
    for check in exercise.checks():
        kind = kind_of(check.kind)
        if not kind.compares:
            continue
        tol = precision_tol(check)
        seen = 0
        rngs = [("fixed", FIXED_SEED, fixed_rng(check.id)),
                ("drawn", drawn_seed, np.random.default_rng([drawn_seed, FIXED_SEED]))]
        for where, seed, rng in rngs:
            for i, case in enumerate(cases_for(check, rng, check.fixed or MAX_FIXED)):
                if seen >= limit:
                    break
                if not kind.precision_applies(case):
                    continue  # nothing to cast: both runs are the same run
                label = f"{where} case {i}" + (f" ({case['label']})" if case.get("label") else "")
                try:
                    wide = kind.expected(check, module, kind.precision_case(case, "float64"),
                                         case_rng(check.id, seed, i))
                except Exception as err:  # noqa: BLE001 - the float64 run is judged by the other checks
                    problems.append(f"{exercise.id}.{check.id} {label}: the reference raises in float64: "
                                    f"{type(err).__name__}: {str(err)[:100]}")
                    seen += 1
                    continue
                try:
                    narrow = kind.expected(check, module, kind.precision_case(case, "float32"), None,
                                           cast_floats(wide.get("state"), "float32"),
                                           cast_floats(wide.get("upstream"), "float32"))
                except Exception as err:  # noqa: BLE001
                    problems.append(f"{exercise.id}.{check.id} {label}: the reference raises in float32: "
                                    f"{type(err).__name__}: {str(err)[:100]}")
                    seen += 1
                    continue
                keys = [k for k in ("expected", "grad") if k in wide and k in narrow]
                for key in keys:
                    f = compare_values(cast_floats(narrow[key], "float64"), wide[key], tol,
                                       "output" if key == "expected" else "gradient")
                    if f is not None:
                        what = f.message.replace(" differs from the reference", "")
                        problems.append(f"{exercise.id}.{check.id} {label}: the reference's float32 run disagrees "
                                        f"with its float64 run: {what}: {f.error or 'values differ'}; "
                                        f"float64 {f.expected}, float32 {f.got}")
                        seen += 1
                        break
    return problems
