"""What a zygote (or a branch of it) imports before forking workers that need it.

peft with transformers take seconds and ~150 MiB: imported once in the zygote when a spawn
asks for them (the trusted side's ``grader.host.pool.preload_for``), every later worker starts
with them, shared. Three things make that import shorter, the last two only while it runs, so
a student's code afterwards sees the libraries as installed:

- the real torch._dynamo stays out (~190 modules): transformers asks it only for what the
  zygote's stand-in answers (grader/worker/lazy_dynamo.py);
- the optional packages the Hugging Face libraries import only because they find them
  installed, and the course never uses, are hidden (``UNUSED_EXTRAS``);
- transformers builds its lazy import table by reading every file under ``models/`` (~3,300
  files), once for ``import transformers`` and again for ``transformers.models``: its memo of
  that scan holds 128 folders of ~560, so the second scan reads them all again. The memo is
  made unbounded (``_whole_scan_remembered``): the second scan costs nothing (~0.3 s less).

Like the rest of the worker side, this imports nothing from the trusted side.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Iterator

from grader.protocol.preloads import PRELOADABLE
from grader.worker import lazy_dynamo

# scipy (transformers' object-detection losses), boto3 with botocore (accelerate's SageMaker
# config), trio (an async backend of the hub's HTTP client): where they are installed (conda,
# Colab) they cost ~0.4 s of the preload's ~2 s
UNUSED_EXTRAS = ("scipy", "boto3", "botocore", "trio")

# the module of transformers that holds the scan, and the memoised function doing it
SCAN_MODULE = "transformers.utils.import_utils"
SCAN_FUNCTION = "create_import_structure_from_path"


@contextlib.contextmanager
def hidden(names: tuple[str, ...]) -> Iterator[None]:
    """While inside, ``import name`` fails and ``importlib.util.find_spec(name)`` is None (how
    the libraries ask whether a package is there) for each of ``names`` not yet imported."""
    gone = [n for n in names if n not in sys.modules]
    for n in gone:
        sys.modules[n] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for n in gone:
            if sys.modules.get(n, n) is None:
                del sys.modules[n]


def remember_whole_scan(module: types.ModuleType) -> None:
    """Give ``module``'s memoised scan an unbounded memo (the function recurses through its
    module's global name, so every folder of the scan is remembered). Left as it is when the
    function is not an ``lru_cache`` (another version of transformers)."""
    scan = getattr(module, SCAN_FUNCTION, None)
    inner = getattr(scan, "__wrapped__", None)
    if callable(inner) and hasattr(scan, "cache_info"):
        setattr(module, SCAN_FUNCTION, functools.lru_cache(maxsize=None)(inner))


class _RememberWholeScan(importlib.abc.MetaPathFinder):
    """Finds SCAN_MODULE as the rest of sys.meta_path would, and gives it the unbounded memo
    right after its own code has run (before transformers' __init__ goes on to scan)."""

    def find_spec(self, fullname: str, path: object = None,
                  target: object = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != SCAN_MODULE:
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once, and so that the search below does not find itself
        spec = importlib.util.find_spec(fullname)
        run = getattr(getattr(spec, "loader", None), "exec_module", None)
        if run is None:
            return spec

        def exec_module(module: types.ModuleType) -> None:
            run(module)
            remember_whole_scan(module)

        spec.loader.exec_module = exec_module  # type: ignore[union-attr]  (this spec's own loader)
        return spec


@contextlib.contextmanager
def _whole_scan_remembered() -> Iterator[None]:
    """While inside, the first import of transformers gets the unbounded memo."""
    finder = _RememberWholeScan()
    if SCAN_MODULE not in sys.modules:
        sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(finder)


def preload(names: object, scratch: str) -> None:
    """Import those of ``names`` that are PRELOADABLE and not imported yet; never raises (a
    library that fails to import here fails again, with its message, in the worker)."""
    wanted = [n for n in (names if isinstance(names, list) else ())
              if n in PRELOADABLE and (n not in sys.modules or (n == lazy_dynamo.NAME and lazy_dynamo.pending()))]
    if not wanted:
        return
    # importing torch._dynamo makes torch's compile cache folder: in the run folder (removed with
    # it), not in a shared temporary folder; the workers then choose their own again
    own = "TORCHINDUCTOR_CACHE_DIR" not in os.environ and bool(scratch)
    if own:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(os.path.dirname(scratch), "torchinductor")
    # the Hugging Face libraries fix their cache folder and offline flag when imported: a
    # folder nobody can make, and offline (no network at run time), for every later worker
    os.environ.setdefault("HF_HOME", "/nonexistent/huggingface")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    def load(name: str) -> None:
        lazy_dynamo.real() if name == lazy_dynamo.NAME else importlib.import_module(name)

    try:
        with _whole_scan_remembered():
            for name in wanted:
                try:
                    with hidden(UNUSED_EXTRAS):
                        load(name)
                except Exception:  # a library that needed one of them after all: imported with it
                    with contextlib.suppress(Exception):
                        load(name)
    finally:
        if own:
            os.environ.pop("TORCHINDUCTOR_CACHE_DIR", None)
