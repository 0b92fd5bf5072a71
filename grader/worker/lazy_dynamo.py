"""torch._dynamo, imported only when something needs more of it than eager code does.

Every torch optimizer imports ``torch._dynamo`` on its first ``step`` and ``zero_grad``
(0.7-1 s of CPU, ~40 MiB), only to call ``graph_break()`` and ``disable(fn)``, which do
nothing to eager code: they matter only while ``torch.compile`` traces. So the zygote puts
a stand-in in ``sys.modules`` whose ``disable`` returns the function and whose
``graph_break`` does nothing, until anything else is asked of it: any other attribute
(``torch.compile`` asks for ``optimize``), or a submodule (``import torch._dynamo.utils``,
as transformers does) imports the real package in its place, and from then on the
stand-in forwards everything to it. Only a function that eager code passed to ``disable``
before that moment stays undisabled: a later ``torch.compile`` traces into it instead of
running it eagerly, which gives the same values. The same holds for ``assume_constant_result``
and ``allow_in_graph``, decorators that transformers applies when imported (the stand-in
returns the function), and for the one submodule transformers imports by name,
``_trace_wrapped_higher_order_op``, which needs nothing of the package: it is imported on its
own, under the stand-in (the Hugging Face preload then leaves out ~190 modules, ~0.3 s).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
from typing import Any

NAME = "torch._dynamo"
# decorators that only mark a function for the tracer: to eager code they return it unchanged
MARKS = ("assume_constant_result", "allow_in_graph")
# submodules that import nothing of the package: imported on their own under the stand-in
STANDALONE = (NAME + "._trace_wrapped_higher_order_op",)
_standin: types.ModuleType | None = None


def _loaded() -> types.ModuleType | None:
    """The real torch._dynamo if it is imported, else None."""
    mod = sys.modules.get(NAME)
    return None if mod is None or mod is _standin else mod


def pending() -> bool:
    """Whether the stand-in is still in the real package's place."""
    return _standin is not None and sys.modules.get(NAME) is _standin


def real() -> types.ModuleType:
    """The real torch._dynamo, imported now if the stand-in is in its place."""
    mod = _loaded()
    if mod is None:
        sys.modules.pop(NAME, None)
        mod = importlib.import_module(NAME)
    return mod


class _Loaded(importlib.abc.Loader):
    """A submodule the real package's import has just made: the import takes that one."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return sys.modules[spec.name]

    def exec_module(self, module: types.ModuleType) -> None:
        pass


class _Submodules(importlib.abc.MetaPathFinder):
    """``import torch._dynamo.X`` while the stand-in is in place: the real package first."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if not name.startswith(NAME + ".") or not pending() or name in STANDALONE:
            return None
        real()
        if name in sys.modules:
            return importlib.machinery.ModuleSpec(name, _Loaded())
        return None  # a submodule the package does not import itself: found as usual


def install() -> bool:
    """Put the stand-in in place (once torch is imported); False if the real one is there."""
    global _standin
    if NAME in sys.modules or "torch" not in sys.modules:
        return False
    stand = types.ModuleType(NAME, __doc__)
    # the real package's spec, file and path, found without running it: importlib.util.find_spec,
    # a submodule import and inspect.getmodule (which asks every module for __file__) read them
    spec = importlib.machinery.PathFinder.find_spec(NAME, sys.modules["torch"].__path__)
    if spec is None or spec.origin is None:
        return False
    stand.__spec__, stand.__file__, stand.__package__ = spec, spec.origin, NAME
    stand.__path__ = list(spec.submodule_search_locations or [])

    def disable(fn: Any = None, recursive: bool = True, *args: Any, **kwargs: Any) -> Any:
        mod = _loaded()
        if mod is not None:
            return mod.disable(fn, recursive, *args, **kwargs)
        return fn if fn is not None else (lambda f: f)

    def graph_break() -> None:
        mod = _loaded()
        if mod is not None:
            mod.graph_break()

    def mark(attr: str) -> Any:
        def decorator(fn: Any) -> Any:
            mod = _loaded()
            return getattr(mod, attr)(fn) if mod is not None else fn
        decorator.__name__ = attr
        return decorator

    def __getattr__(attr: str) -> Any:  # anything else: the real one's
        if attr.startswith("__"):  # what tools probe modules for (__wrapped__, __all__ ...)
            raise AttributeError(attr)
        return getattr(real(), attr)

    stand.disable, stand.graph_break, stand.__getattr__ = disable, graph_break, __getattr__  # type: ignore[attr-defined]
    for attr in MARKS:
        setattr(stand, attr, mark(attr))
    _standin = stand
    sys.modules[NAME] = stand
    sys.modules["torch"]._dynamo = stand  # type: ignore[attr-defined]
    sys.meta_path.insert(0, _Submodules())
    return True
