"""The reference and the known mistakes, on the trusted side only.

Official mode imports ``solutions/`` here (never in a worker). Known-mistake variants
(``mistakes/<id>/<name>.py`` appended to the reference module's text) are built here too, to
name a student's mistake when their output matches one.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
import threading
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from grader.checks import Case, from_torch, to_torch, to_wire
from grader.metadata import mistake_info


class Reference:
    """The reference solutions in a folder, importable by plain module name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        if str(self.folder) not in sys.path:
            sys.path.insert(0, str(self.folder))

    def module(self, exercise: str) -> types.ModuleType:
        import torch

        if torch.get_num_threads() != 1:  # small tensors: one thread is much faster than two
            torch.set_num_threads(1)
        mod = sys.modules.get(exercise)
        if mod is not None and Path(getattr(mod, "__file__", "") or "").resolve().parent == self.folder:
            return mod
        return importlib.import_module(exercise)


class Mistakes:
    """Known mistakes of each exercise, as modules built from the reference's text."""

    def __init__(self, reference: Reference, folder: Path) -> None:
        self.reference = reference
        self.folder = folder
        self._cache: dict[str, list[tuple[str, dict, types.ModuleType]]] = {}

    def files(self, exercise: str) -> list[Path]:
        d = self.folder / exercise
        return sorted(d.glob("*.py")) if d.is_dir() else []

    def variants(self, exercise: str) -> list[tuple[str, dict, types.ModuleType]]:
        if exercise not in self._cache:
            base = (self.reference.folder / f"{exercise}.py").read_text(encoding="utf-8")
            out = []
            for path in self.files(exercise):
                info = mistake_info(path)
                mod = types.ModuleType(f"_mistake_{exercise}_{path.stem}")
                mod.__file__ = str(path)
                source = base + "\n\n# --- known mistake ---\n" + path.read_text(encoding="utf-8")
                exec(compile(source, str(path), "exec"), mod.__dict__)  # noqa: S102 - instructor code
                out.append((path.stem, info, mod))
            self._cache[exercise] = out
        return self._cache[exercise]


    def submission_files(self, exercise: str, name: str) -> dict[str, bytes]:
        """A submission, as bytes: every reference module, with one known mistake appended
        (staged only into a trusted zygote's private folder, never beside student code)."""
        return mistake_submission(self.reference.folder, exercise, self.folder / exercise / f"{name}.py")

    def submission(self, exercise: str, name: str, dest: Path) -> Path:
        """The same, written into ``dest`` (staff tools that grade a mistake as a submission)."""
        dest.mkdir(parents=True, exist_ok=True)
        os.chmod(dest, 0o700)
        for fname, data in self.submission_files(exercise, name).items():
            (dest / fname).write_bytes(data)
        return dest


def mistake_submission(solutions: Path, exercise: str, mistake: Path) -> dict[str, bytes]:
    """Every reference module in ``solutions``, with the known mistake ``mistake`` appended to
    the exercise's own (its definitions win)."""
    files = {f.name: f.read_bytes() for f in sorted(solutions.glob("*.py"))}
    files[f"{exercise}.py"] = (files.get(f"{exercise}.py", b"") + b"\n\n# --- known mistake ---\n"
                               + mistake.read_bytes())
    return files


def case_wire(case: Case) -> dict:
    out = {"args": to_wire(list(case.args)), "kwargs": to_wire(case.kwargs),
           "init": to_wire(case.init), "init_args": to_wire(list(case.init_args)),
           "wrt": list(case.wrt), "dtype": case.dtype}
    if case.zeros:
        out["zeros"] = list(case.zeros)
    return out


# torch's global generator is one per process: the reference's modules are built with
# torch.manual_seed(seed) and run after torch.manual_seed(0), and two exercises graded in two
# threads (``--jobs 2``) must not interleave there, or the weights and outputs they get (and
# so a report's failing example) depend on the timing
_TORCH_RNG = threading.RLock()


def _seed(seed: int) -> None:
    """``torch.manual_seed`` for the CPU: the same generator state, without the per-call stack
    capture torch makes for each lazily initialised accelerator (~0.5 ms in a hypothesis run)."""
    import torch

    torch.default_generator.manual_seed(seed)


def _one_at_a_time(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def locked(*args: Any, **kwargs: Any) -> Any:
        with _TORCH_RNG:
            return fn(*args, **kwargs)

    return locked


def grad_positions(case: dict) -> list[int]:
    """The positional arguments of a function case that gradients are compared for: every
    float tensor (non-contiguous ones included)."""
    from grader.protocol.wire import Array

    out = []
    for i, a in enumerate(case["args"]):
        if isinstance(a, dict) and len(a) == 1 and "$noncontig" in a:
            a = a["$noncontig"]
        if isinstance(a, Array) and a.kind == "tensor" and a.data.dtype.kind == "f":
            out.append(i)
    return out


@_one_at_a_time
def run_function_grad(module: types.ModuleType, fn: str, case: dict, wrt: list[int], upstream: Any) -> Any:
    """Gradients of ``sum(<output, upstream>)`` with respect to the arguments at ``wrt``, as a
    list of arrays (zeros for an argument the output does not depend on); None when the
    output does not depend on the arguments through autograd at all (not differentiable)."""
    import torch

    args = list(to_torch(case["args"]))
    kwargs = to_torch(case["kwargs"])
    leaves = []
    for i in wrt:
        args[i] = args[i].detach().clone().requires_grad_(True)
        leaves.append(args[i])
    _seed(0)
    out = getattr(module, fn)(*args, **kwargs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    ups = upstream if isinstance(upstream, (tuple, list)) else (upstream,)
    pairs = [(o, to_torch(u)) for o, u in zip(outs, ups) if u is not None]
    if not pairs or not all(isinstance(o, torch.Tensor) and o.requires_grad for o, _ in pairs):
        return None
    sum((o * u.to(o.dtype)).sum() for o, u in pairs).backward()
    return [from_torch(t.grad if t.grad is not None else torch.zeros_like(t)) for t in leaves]


@_one_at_a_time
def run_function(module: types.ModuleType, fn: str, case: dict) -> Any:
    _seed(0)
    out = getattr(module, fn)(*to_torch(case["args"]), **to_torch(case["kwargs"]))
    return from_torch(out)


@_one_at_a_time
def build_module(module: types.ModuleType, cls: str, case: dict, seed: int) -> Any:
    import torch

    _seed(seed)
    obj = getattr(module, cls)(*to_torch(case["init_args"]), **to_torch(case["init"] or {}))
    return obj.to(getattr(torch, case.get("dtype") or "float64"))


def state_of(obj: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in obj.state_dict().items()}


@_one_at_a_time
def run_module(module: types.ModuleType, cls: str, method: str, case: dict,
               state: dict[str, np.ndarray], upstream: Any | None, backward: bool) -> Any:
    """Build ``cls`` with ``state`` and call ``method``; with ``backward``, also gradients."""
    import torch

    obj = build_module(module, cls, case, 0)
    obj.load_state_dict({k: to_torch(v) for k, v in state.items()})
    args = list(to_torch(case["args"]))
    kwargs = to_torch(case["kwargs"])
    leaves = []
    for i in case["wrt"]:
        args[i] = args[i].clone().requires_grad_(True)
        leaves.append(args[i])
    _seed(0)
    if not backward:
        with torch.no_grad():
            return from_torch(getattr(obj, method)(*args, **kwargs))
    params = dict(obj.named_parameters(remove_duplicate=False))  # a tied weight under each name
    out = getattr(obj, method)(*args, **kwargs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    ups = upstream if isinstance(upstream, (tuple, list)) else (upstream,)
    pairs = [(o, to_torch(u)) for o, u in zip(outs, ups) if u is not None]
    sum((o * u.to(o.dtype)).sum() for o, u in pairs).backward()
    return {"out": from_torch(out), "inputs": [from_torch(t.grad) for t in leaves],
            "params": {n: from_torch(p.grad) for n, p in params.items() if p.requires_grad}}


def draw_upstream(out: Any, rng: np.random.Generator) -> Any:
    """A random upstream gradient for every float tensor output (None elsewhere)."""
    from grader.protocol.wire import Array

    if isinstance(out, Array):
        if out.data.dtype.kind == "f":
            return rng.standard_normal(out.shape).astype(out.data.dtype)
        return None
    if isinstance(out, (tuple, list)):
        return type(out)(draw_upstream(o, rng) for o in out)
    return None
