"""The kinds of check, one class each (trusted side): what differs between a ``compare`` and a
``property`` check lives here, and nowhere else.

A kind owns how its check runs (``run``), and, for the kinds compared with the reference
(``Comparison``), how its cases are made (the fixed ones of the snapshot, fresh draws in
official mode), what the snapshot records as expected values, how the student's output is
obtained and compared, what a known mistake outputs on a case, and how precision checks cast
a case. Flags say how the runner treats its results (gating, naming, budget). The runner only
runs an exercise's lifecycle: import, each check through its kind, attribution, naming.

``Check.kind`` stays the kind's name (a string), the name reports and snapshots record;
``kind_of(name)`` gives its class. A new kind is one subclass registered in ``KINDS``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import (
    Case,
    Check,
    CheckFailed,
    Ctx,
    Failure,
    Lazy,
    check_unchanged,
    compare_values,
    describe_case,
    describe_value,
    to_wire,
)
from grader.checks import failure as new_failure
from grader.host.pool import GraderError, StudentError
from grader.messages import Msg, msg
from grader.protocol.wire import Array
from grader.reference import (
    build_module,
    draw_upstream,
    grad_positions,
    run_function,
    run_function_grad,
    run_module,
    state_of,
)
from grader.snapshots import (
    FIXED_SEED,
    MAX_FIXED,
    _has_floats,
    case_in,
    case_rng,
    cases_for,
    fixed_rng,
)

DRAWN_CASES = 6  # fresh cases per comparison check in official mode
MAX_CANDIDATES = 64  # cases looked at to find the fresh ones of an official run
_FIXED_ENTRIES: dict[tuple[str, str, str], list[dict]] = {}  # reference outputs on the fixed cases
# how the worker's "grad" op says that an output has no autograd graph (grader/worker.py)
NO_AUTOGRAD = "the output does not depend on the inputs through autograd"


class Kind:
    """One kind of check. The defaults are those of free-form code against ``Ctx``."""

    name = ""
    compares = False  # compared with the reference on cases (recorded in the snapshot)
    # judges whether code is right; a kind that does not (behaviour, banned) gives its points
    # only once the correctness checks of the same functions pass (runner.withhold_points)
    correctness = False
    named_by_replay = False  # a failure is named after a known mistake failing it the same way
    fingerprinted = False  # local mode names it from the snapshot's verdict fingerprints
    has_cause = True  # a failure may come from a function its subject builds on

    def run(self, runner: Any, ex: Any, check: Check, ctx: Ctx, snapshot: dict | None) -> str | None:
        """Run the check (a failure raises); one that passes may return a short note."""
        assert check.run is not None
        return check.run(ctx)

    def budget(self, check: Check) -> float:
        """Seconds this check adds to its exercise's default budget."""
        return 0.0

    def subject(self, check: Check) -> str:
        """The function, class or method a correctness check judges."""
        return check.uses[0] if check.uses else check.fn


KINDS: dict[str, Kind] = {}


def register(cls: type[Kind]) -> type[Kind]:
    """Class decorator: ``KINDS[cls.name]`` is the kind's one instance."""
    KINDS[cls.name] = cls()
    return cls


def kind_of(name: str) -> Kind:
    """The kind named ``name`` (``Check.kind``, ``CheckResult.kind``); an unknown or empty
    name gets the base class: not a correctness check, named by nothing."""
    return KINDS.get(name) or _NO_KIND


_NO_KIND = Kind()


# --- free-form kinds -------------------------------------------------------------------------


@register
class Property(Kind):
    """Hypothesis properties of the student's code (no reference needed)."""

    name = "property"
    correctness = named_by_replay = fingerprinted = True


@register
class Behaviour(Kind):
    """ValueError, dtype kept, no mutation, structure: not correctness, so gated."""

    name = "behaviour"
    named_by_replay = fingerprinted = True


@register
class Statistical(Kind):
    """A statistical test with a stated false-alarm rate."""

    name = "statistical"
    correctness = named_by_replay = fingerprinted = True


@register
class Quality(Kind):
    """Training reaches a metric within its time limit, which adds to the exercise's budget."""

    name = "quality"
    correctness = named_by_replay = fingerprinted = True

    def budget(self, check: Check) -> float:
        return check.timeout or 0


@register
class Banned(Kind):
    """The banned-API scan (``banned.banned_check``): about the student's own source, so its
    failure has no cause elsewhere and local mode records no fingerprint of it."""

    name = "banned"
    named_by_replay = True
    has_cause = False


# --- comparisons with the reference ----------------------------------------------------------


class Comparison(Kind):
    """The student's code against the reference on the same cases: recorded ones (local mode),
    or the fixed ones and fresh draws (official mode). A wrong output is named after the known
    mistake that outputs the same on that case."""

    compares = correctness = True

    # -- what a subclass says --

    def expected(self, check: Check, module: Any, case: dict, rng: np.random.Generator | None,
                 state: dict | None = None, upstream: Any = None) -> dict:
        """The reference's output on one case, and what else the entry needs to replay it."""
        raise NotImplementedError

    def output(self, check: Check, module: Any, case: dict, entry: dict) -> Any:
        """What ``module`` (the reference, or one with a known mistake) outputs on an entry."""
        raise NotImplementedError

    def student_output(self, check: Check, ctx: Ctx, entry: dict) -> Any:
        raise NotImplementedError

    def gradient_failure(self, check: Check, ctx: Ctx, entry: dict) -> tuple[Failure | None, list]:
        """Gradients compared once the output matched (the failure, the student's gradients)."""
        return None, []

    def mistake_grads(self, check: Check, mistakes: Any, exercise: str, case: dict,
                      entry: dict) -> dict[str, Any]:
        return {}

    def precision_applies(self, case: dict) -> bool:
        """Whether the float32 and float64 runs of the reference on this case differ at all."""
        return True

    def precision_case(self, case: dict, dtype: str) -> dict:
        """The case with its floats in ``dtype`` (snapshots.precision_disagreements)."""
        return case_in(case, dtype, False)

    # -- the same for every comparison --

    def mistake_outputs(self, check: Check, mistakes: Any, exercise: str, case: dict,
                        entry: dict) -> dict[str, Any]:
        """Outputs of every known mistake on this case that differ from the reference."""
        out: dict[str, Any] = {}
        if mistakes is None:
            return out
        for name, _info, mod in mistakes.variants(exercise):
            try:
                got = self.output(check, mod, case, entry)
            except Exception:  # noqa: BLE001 - a mistake that raises on this case names nothing
                continue
            if compare_values(got, entry["expected"], check.tol) is not None:
                out[name] = got
        return out

    def entries(self, runner: Any, ex: Any, check: Check, ctx: Ctx, snapshot: dict | None) -> list[dict]:
        """The cases of a comparison: recorded ones (local mode), or the fixed ones and fresh
        draws (official mode) whose expected outputs ``_expected`` computes when needed."""
        if runner.mode == "local":
            if snapshot is None or check.id not in snapshot:
                raise GraderError(f"no snapshot for {ex.id}.{check.id}: run `grade snapshot`")
            return list(snapshot[check.id])
        key = (str(runner.reference.folder), ex.id, check.id)
        recorded = (snapshot or {}).get(check.id)  # recorded from this very reference (Runner.recorded)
        if key not in _FIXED_ENTRIES and isinstance(recorded, list):
            _FIXED_ENTRIES[key] = [{k: v for k, v in e.items() if not k.startswith("mistake")}
                                   | {"rng": (FIXED_SEED, i)} for i, e in enumerate(recorded)]
        if key not in _FIXED_ENTRIES:  # the fixed cases never change: kept for the process
            _FIXED_ENTRIES[key] = [{"case": case, "rng": (FIXED_SEED, i)} for i, case in
                                   enumerate(cases_for(check, fixed_rng(check.id), check.fixed or MAX_FIXED))]
        return list(_FIXED_ENTRIES[key]) + drawn_entries(check, ctx.rng, runner.seed, _FIXED_ENTRIES[key])

    def _expected(self, runner: Any, ex: Any, check: Check, entry: dict) -> dict:
        if "expected" not in entry:
            seed, index = entry["rng"]
            runner._torch_ready()
            module = runner.reference.module(ex.id)
            entry.update(self.expected(check, module, entry["case"], case_rng(check.id, seed, index)))
        return entry

    def run(self, runner: Any, ex: Any, check: Check, ctx: Ctx, snapshot: dict | None) -> None:
        entries = self.entries(runner, ex, check, ctx, snapshot)
        if check.staged:  # simplest stage first: the report names the first stage that fails
            entries.sort(key=lambda e: e["case"].get("order", 0))
        else:  # the first failure is the smallest input
            entries.sort(key=lambda e: _size(e["case"]))
        stages = sorted({(e["case"].get("order", 0), e["case"].get("label") or "") for e in entries})
        for entry in entries:
            entry = self._expected(runner, ex, check, entry)
            case = entry["case"]
            ctx.last_input = Lazy(functools.partial(describe_case, check.fn, _as_case(case)))
            got = self.student_output(check, ctx, entry)
            failure = compare_values(got, entry["expected"], check.tol)
            if failure is None:
                failure, grads = self.gradient_failure(check, ctx, entry)
                if failure is None:
                    continue
                failure.input = ctx.last_input
                self._diagnose_grads(runner, ex, check, entry, grads, failure)
                raise CheckFailed(failure)
            failure.input = ctx.last_input
            if check.staged and entry["case"].get("label"):
                k = [o for o, _ in stages].index(entry["case"].get("order", 0)) + 1
                failure.message = msg("runner.stage_fails", k=k, n=len(stages), stage=stage_label(entry["case"]),
                                      inner=failure.message)
            self._diagnose(runner, ex, check, entry, got, failure)
            failure.heatmap = _heatmap(got, entry["expected"])
            raise CheckFailed(failure)

    def _diagnose_grads(self, runner: Any, ex: Any, check: Check, entry: dict, grads: list,
                        failure: Failure) -> None:
        """Name the mistake whose gradients the student's equal (its output being right)."""
        if runner.mistakes is not None:
            runner._torch_ready()
            try:
                candidates = self.mistake_grads(check, runner.mistakes, ex.id, entry["case"], entry)
                infos = {name: info for name, info, _ in runner.mistakes.variants(ex.id)}
            except Exception:  # noqa: BLE001 - diagnosis is a bonus, never a failure
                return
        else:
            candidates = entry.get("mistake_grads") or {}
            infos = ctx_mistake_texts(entry)
        for name, theirs in candidates.items():
            if compare_values(grads, theirs, check.tol) is None:
                info = infos.get(name, {"en": name.replace("_", " "), "zh": ""})
                failure.diagnosis, failure.diagnosis_zh = info.get("en", ""), info.get("zh", "")
                return

    def _diagnose(self, runner: Any, ex: Any, check: Check, entry: dict, got: Any, failure: Failure) -> None:
        """Name the mistake when the wrong output matches a known one on the same input."""
        candidates: dict[str, Any] = dict(entry.get("mistakes") or {})
        infos: dict[str, dict] = {}
        if runner.mistakes is not None:
            runner._torch_ready()
            try:
                candidates = self.mistake_outputs(check, runner.mistakes, ex.id, entry["case"], entry)
                infos = {name: info for name, info, _ in runner.mistakes.variants(ex.id)}
            except Exception:  # noqa: BLE001 - diagnosis is a bonus, never a failure
                return
        else:
            infos = ctx_mistake_texts(entry)
        for name, output in candidates.items():
            if compare_values(got, output, check.tol) is None:
                info = infos.get(name, {"en": name.replace("_", " "), "zh": ""})
                failure.diagnosis = info.get("en", "")
                failure.diagnosis_zh = info.get("zh", "")
                return


@register
class Compare(Comparison):
    """A function against the reference: its output, no argument changed in place and, when
    the reference is differentiable, its gradients for a random upstream gradient."""

    name = "compare"

    def expected(self, check: Check, module: Any, case: dict, rng: np.random.Generator | None,
                 state: dict | None = None, upstream: Any = None) -> dict:
        out = {"expected": run_function(module, check.fn, case)}
        wrt = grad_positions(case) if check.backward else []
        if wrt and (upstream is not None or rng is not None):
            if upstream is None:
                upstream = draw_upstream(out["expected"], rng)
            grads = run_function_grad(module, check.fn, case, wrt, to_wire(upstream))
            if grads is not None:  # a differentiable function: its gradients are compared too
                out |= {"upstream": to_wire(upstream), "grad": grads}
        return out

    def output(self, check: Check, module: Any, case: dict, entry: dict) -> Any:
        return run_function(module, check.fn, case)

    def student_output(self, check: Check, ctx: Ctx, entry: dict) -> Any:
        case = entry["case"]
        # the arguments come back too: none may be changed in place
        reply = ctx.request({"op": "call", "target": {"module": ctx.exercise, "attr": check.fn},
                             "args": case["args"], "kwargs": case["kwargs"], "echo": True,
                             "banned": ctx.banned_for(check.fn)})
        return check_unchanged(check.fn, list(case["args"]), dict(case["kwargs"]), reply, ctx.lazy_input())

    def gradient_failure(self, check: Check, ctx: Ctx, entry: dict) -> tuple[Failure | None, list]:
        """For a differentiable function whose output matched: its gradients with respect to
        every float tensor argument, for the recorded upstream gradient, against the reference's
        (the failure, if any, and the gradients the student's code gave)."""
        if "grad" not in entry:
            return None, []
        case = entry["case"]
        wrt = grad_positions(case)
        try:
            reply = ctx.request({"op": "grad", "target": {"module": ctx.exercise, "attr": check.fn},
                                 "args": case["args"], "kwargs": case["kwargs"], "wrt": wrt,
                                 "upstream": entry["upstream"], "banned": ctx.banned_for(check.fn)})
        except StudentError as err:
            if err.type == "TypeError" and err.message.startswith(NO_AUTOGRAD):
                # the output is right but carries no gradient (detached, rebuilt from numpy
                # or .item(), a constant): a failed check where the reference's gradient is
                # not zero. Where it is zero for every input (the output is constant there: a
                # loss with nothing counted), a constant is the same function, as an input no
                # gradient reaches counts as a zero gradient below.
                if entry["grad"] and all(isinstance(w, Array) and not np.any(w.data) for w in entry["grad"]):
                    return None, []
                return new_failure("runner.no_gradient", fn=check.fn, frames=err.frames), []
            raise
        grads = reply.get("inputs") if isinstance(reply, dict) else None
        if not isinstance(grads, list) or len(grads) != len(wrt):
            return new_failure("runner.malformed_gradient", fn=check.fn, reply=describe_value(reply)[:100]), []
        grads = [Array(np.zeros_like(w.data), "tensor") if g is None and isinstance(w, Array) else g
                 for g, w in zip(grads, entry["grad"])]  # no gradient reached it: zero
        for i, got, want in zip(wrt, grads, entry["grad"]):
            f = compare_values(got, want, check.tol, msg("runner.grad_path", i=i))
            if f is not None:
                f.message = msg("runner.gradient_differs", i=i)
                return f, grads
        return None, grads

    def mistake_grads(self, check: Check, mistakes: Any, exercise: str, case: dict,
                      entry: dict) -> dict[str, Any]:
        """Gradients of every known mistake whose output on this case is right but whose
        gradients are not (a detached statistic, a wrong derivative): to name it."""
        out: dict[str, Any] = {}
        if mistakes is None or "grad" not in entry:
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

    def precision_applies(self, case: dict) -> bool:
        return _has_floats(case["args"]) or _has_floats(case["kwargs"])  # else both runs are one


@register
class CompareModule(Comparison):
    """A class built with the reference's weights (its state_dict): the same ``method`` output
    and, with ``backward``, the same gradients for the inputs and every parameter."""

    name = "compare_module"

    def expected(self, check: Check, module: Any, case: dict, rng: np.random.Generator | None,
                 state: dict | None = None, upstream: Any = None) -> dict:
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

    def output(self, check: Check, module: Any, case: dict, entry: dict) -> Any:
        return run_module(module, check.fn, check.method, case, entry["state"],
                          entry.get("upstream"), check.backward)

    def student_output(self, check: Check, ctx: Ctx, entry: dict) -> Any:
        case = entry["case"]
        h = ctx.new(check.fn, *case["init_args"], **(case["init"] or {}))
        h.call_raw("to", {"$dtype": case.get("dtype") or "float64"})
        h.load_state_dict(entry["state"])
        if not check.backward:
            return h.call_raw(check.method, *case["args"], **case["kwargs"])
        return h.grad(check.method, tuple(case["args"]), case["kwargs"], case["wrt"], entry["upstream"])

    def precision_case(self, case: dict, dtype: str) -> dict:
        return case_in(case, dtype, True)

    def subject(self, check: Check) -> str:
        if check.method != "forward":
            return f"{check.fn}.{check.method}"
        return super().subject(check)


# --- the naming rule for the kinds named by replay -------------------------------------------


def verdict(failure: Failure) -> str:
    """How a check failed, beyond its sentence: the message, the failing input and the
    expected and got values it reports. Two submissions with the same verdict behave the same
    on the check's cases; a mistake is named only when its verdict is the student's."""
    return "\n".join([failure.message, failure.input, failure.expected, failure.got])


def nameable(result: Any) -> bool:
    """A check result (``runner.CheckResult``) the naming rule applies to: a failure, not a
    stub's, of a kind named by replay."""
    return (result.status == "failed" and result.failure is not None and not result.failure.not_implemented
            and kind_of(result.kind).named_by_replay)


def name_by_verdict(failure: Failure, check_id: str, files: Iterable[Path], info: Callable[[Path], dict],
                    theirs: Callable[[Path], Failure | None]) -> None:
    """The naming rule: name ``failure`` (of check ``check_id``) after the first known mistake,
    in file order, whose `catches:` names the check and whose own failure of it (``theirs``;
    None when it passes) has the same verdict. ``info`` gives a mistake file's header
    (``metadata.mistake_info``). Official mode replays each mistake (``Runner._replay``);
    `grade check` looks it up in the runs of every mistake."""
    for path in files:
        if check_id not in info(path)["catches"]:
            continue  # only the mistakes registered as failing this check are replayed
        other = theirs(path)
        if other is not None and verdict(other) == verdict(failure):
            found = info(path)
            failure.diagnosis, failure.diagnosis_zh = found["en"], found["zh"]
            return


# --- cases -----------------------------------------------------------------------------------


def case_key(case: dict) -> bytes:
    """A case's inputs as bytes (its position and label left out), to recognise equal cases."""
    from grader.protocol import wire

    return wire.encode({k: v for k, v in case.items() if k not in ("order", "label", "label_id", "label_scope")})


def drawn_entries(check: Check, rng: Any, seed: int, fixed: list[dict]) -> list[dict]:
    """The fresh cases of an official run: drawn from the check's generator with the run's
    ``rng``, skipping every case equal to a fixed (released, snapshot) one, so a submission
    that memorised the snapshot gains nothing from it."""
    known = {case_key(e["case"]) for e in fixed}
    out = []
    for i, case in enumerate(cases_for(check, rng, MAX_CANDIDATES)):
        k = case_key(case)
        if k in known:
            continue
        known.add(k)
        out.append({"case": case, "rng": (seed, i)})
        if len(out) >= DRAWN_CASES:
            break
    return out


def ctx_mistake_texts(entry: dict) -> dict[str, dict]:
    """In local mode the mistake sentences travel in the snapshot, beside the outputs."""
    texts = entry.get("mistake_texts")
    return texts if isinstance(texts, dict) else {}


def stage_label(case: dict) -> str:
    """A staged case's label: its message (the id the snapshot recorded) in any language."""
    if case.get("label_id"):
        return Msg(case["label_id"], where=case.get("label_scope") or None)
    return case.get("label") or ""


def _as_case(case: dict) -> Case:
    return Case(args=tuple(case["args"]), kwargs=dict(case["kwargs"]), init=case.get("init"),
                init_args=tuple(case.get("init_args") or ()), label=stage_label(case))


def _size(case: dict) -> int:
    total = 0

    def walk(v: Any) -> None:
        nonlocal total
        if isinstance(v, Array):
            total += v.data.size
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    walk(case.get("args"))
    walk(case.get("kwargs"))
    return total


def _heatmap(got: Any, want: Any) -> dict | None:
    """The first differing matrix of an attention-like float output, for a picture in the report:
    ``tensor`` names the output (``output``, ``output[1]``), ``index`` the leading indices of the
    matrix shown (``[0, 2]``); its rows are the last axis but one, its columns the last."""
    pairs = [("output", got, want)]
    if isinstance(want, (tuple, list)) and isinstance(got, (tuple, list)) and len(got) == len(want):
        pairs = [(f"output[{i}]", g, w) for i, (g, w) in enumerate(zip(got, want))][::-1]  # probs come last
    for name, g, w in pairs:
        if isinstance(g, Array) and isinstance(w, Array) and g.shape == w.shape and w.data.ndim >= 2:
            if w.data.dtype.kind != "f" or w.shape[-2] > 12 or w.shape[-1] > 12:
                continue
            gs = g.data.reshape(-1, *w.shape[-2:])
            ws = w.data.reshape(-1, *w.shape[-2:])
            k = next((i for i in range(len(ws)) if not np.array_equal(gs[i], ws[i], equal_nan=True)), None)
            if k is None:  # this output matches: a picture of it would show no difference
                continue
            lead = np.unravel_index(k, w.shape[:-2]) if w.data.ndim > 2 else ()
            return {"expected": ws[k].astype(float).round(4).tolist(), "got": gs[k].astype(float).round(4).tolist(),
                    "tensor": name, "index": f"[{', '.join(str(int(i)) for i in lead)}]" if lead else "",
                    "shape": [int(n) for n in w.shape]}
    return None
