"""How a student module is loaded (student side only: imported by the worker, never by the
trusted side)."""

from __future__ import annotations

import importlib.util
import linecache
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

MAX_MESSAGE = 2000


class SubmissionLoader:
    """Loads ``<submission>/<name>.py`` as module ``name``; the folder is on ``sys.path`` so
    that exercises can import each other (``from attention import softmax``)."""

    def __init__(self, submission: str) -> None:
        self.root = Path(submission).resolve()
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        self.modules: dict[str, ModuleType] = {}

    def load(self, name: str) -> ModuleType:
        if name in self.modules:
            return self.modules[name]
        if not name.isidentifier():
            raise ImportError(f"bad module name {name!r}")
        path = self.root / f"{name}.py"
        module = sys.modules.get(name)
        # imported already (by another exercise's module): reused even when its stage is gone
        imported = module is not None and Path(getattr(module, "__file__", "") or "").resolve() == path
        if not imported and not path.is_file():
            raise FileNotFoundError(f"{path.name} is missing from the submission")
        if not imported:
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(name, None)
                raise
        self.modules[name] = module
        return module

    def module(self, name: str) -> ModuleType:
        return self.modules.get(name) or self.load(name)

    def describe(self, exc: BaseException) -> dict[str, Any]:
        """Plain description of an exception: type, message, the student's own frames."""
        frames = []
        inside = False
        for fs in traceback.extract_tb(exc.__traceback__):
            try:
                inside = Path(fs.filename).resolve().is_relative_to(self.root)
            except (OSError, ValueError):
                inside = False
            if inside:
                line = fs.line or linecache.getline(fs.filename, fs.lineno or 0).strip()
                frames.append([Path(fs.filename).name, int(fs.lineno or 0), str(fs.name), line[:200]])
        if isinstance(exc, SyntaxError) and exc.filename:
            frames.append([Path(exc.filename).name, int(exc.lineno or 0), "<module>",
                           (exc.text or "").strip()[:200]])
        try:
            message = str(exc)
        except Exception:  # noqa: BLE001 - a student exception whose __str__ fails
            message = "<unprintable>"
        return {
            "type": type(exc).__name__[:100],
            # the built-in exceptions it is one of (a student's LengthError(ValueError) is a ValueError)
            "kinds": [c.__name__ for c in type(exc).__mro__ if c.__module__ == "builtins"][:16],
            "message": message[:MAX_MESSAGE],
            "frames": frames[-8:],
            # a stub's ``raise NotImplementedError``: raised by the submission's own code (the
            # innermost frame is in it), not by a library it called (torch's "not implemented for")
            "not_implemented": isinstance(exc, NotImplementedError) and inside,
        }
