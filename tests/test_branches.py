"""A zygote's branches: the workers that need a preload (peft, or the real torch._dynamo) are
forked by a zygote forked for it, so the other workers neither wait behind that import nor carry it, and
a worker that kills its branch (where it may) costs the next worker nothing."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading

import pytest

from grader.host.pool import WorkerLost, Zygote
from grader.host.sandbox import choose
from grader.protocol.preloads import HUGGING_FACE
from grader.worker import preload

PROBE = b'''
import os, signal, sys
def loaded():  # the real torch._dynamo, not the zygote's stand-in (grader/worker/lazy_dynamo.py)
    return "torch._dynamo.eval_frame" in sys.modules
def parent():
    return os.getppid()
def scipy_state():  # (imported by the preload, importable now)
    import importlib.util
    return "scipy" in sys.modules, importlib.util.find_spec("scipy") is not None
def scan_memo():  # transformers' memo of its scan of models/: None is unbounded
    from transformers.utils import import_utils
    return import_utils.create_import_structure_from_path.cache_info().maxsize
def kill_parent():
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError as exc:
        return type(exc).__name__
    return "killed"
'''


def _call(worker, fn: str):
    return worker.request({"op": "call", "target": {"module": "probe", "attr": fn}, "args": [], "kwargs": {},
                           "banned": [], "seed": 0}, 60)


def _worker(zygote: Zygote, preload: list[str]):
    w = zygote.spawn({"probe.py": PROBE}, {"preload": preload})
    w.request({"op": "load", "module": "probe"}, 60)
    return w


@pytest.fixture(params=["auto", "process"])
def fresh(request):
    z = Zygote(choose(prefer=request.param), branches=True)
    yield z
    z.close()


def test_a_light_worker_does_not_wait_behind_a_preload(fresh):
    done: list[str] = []
    heavy: list = []

    def spawn_heavy() -> None:
        heavy.append(_worker(fresh, ["torch._dynamo"]))
        done.append("heavy")

    fresh.wait_ready()
    t = threading.Thread(target=spawn_heavy)
    t.start()
    while ("torch._dynamo",) not in fresh._branches and t.is_alive():
        threading.Event().wait(0.005)  # the branch is forked; its import (about a second) has begun
    light = _worker(fresh, [])
    done.append("light")
    t.join()
    assert done == ["light", "heavy"]
    assert _call(light, "loaded") is False  # the zygote itself never imported it
    assert _call(heavy[0], "loaded") is True
    assert _call(light, "parent") != _call(heavy[0], "parent")  # forked by the branch, not the zygote


def test_each_preload_has_one_branch_forked_by_the_zygote(fresh):
    pytest.importorskip("peft")
    hf = list(HUGGING_FACE)
    a, b = _worker(fresh, hf), _worker(fresh, hf)
    light = _worker(fresh, [])
    assert set(fresh._branches) == {tuple(hf)}
    assert fresh._branches[tuple(hf)].pid == _call(a, "parent") == _call(b, "parent")
    # peft and transformers import without the real torch._dynamo (~190 modules): the stand-in
    assert "torch._dynamo" not in hf and _call(a, "loaded") is False
    assert fresh._branches[tuple(hf)].pid != _call(light, "parent")


def test_a_worker_killing_its_branch_costs_the_next_one_nothing(fresh):
    w = _worker(fresh, ["torch._dynamo"])
    try:
        outcome = _call(w, "kill_parent")
    except WorkerLost:  # its parent died, so PR_SET_PDEATHSIG killed it before it could answer
        outcome = "killed"
    if fresh.sandbox.separate_uids:
        assert outcome == "PermissionError"  # a uid of its own: it cannot signal the branch
    else:
        assert outcome == "killed"
    fresh.kill(w.pid)
    again = _worker(fresh, ["torch._dynamo"])  # a fresh branch when the old one is dead
    assert _call(again, "loaded") is True
    assert _worker(fresh, [])  # and the zygote still forks the light ones


def test_the_hf_preload_leaves_unused_extras_unimported_but_importable(fresh):
    """scipy (which transformers imports when it finds it, ~0.25 s) is hidden from the preload
    only: the branch's workers do not carry it, and a student's own import still finds it."""
    pytest.importorskip("peft")
    pytest.importorskip("scipy")
    w = _worker(fresh, list(HUGGING_FACE))
    assert _call(w, "scipy_state") == (False, True)


def test_the_hf_preload_scans_transformers_models_once(fresh):
    """transformers' memo of its scan of models/ keeps 128 folders of ~560, so its second
    scan (for transformers.models) read every file again: the preload makes it unbounded."""
    pytest.importorskip("peft")
    w = _worker(fresh, list(HUGGING_FACE))
    assert _call(w, "scan_memo") is None


@pytest.fixture
def packages(tmp_path, monkeypatch):
    """Two importable packages: extra_pkg, and needs_extra, which imports it unconditionally."""
    (tmp_path / "extra_pkg").mkdir()
    (tmp_path / "extra_pkg" / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "needs_extra.py").write_text("import extra_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM"):
        monkeypatch.setenv(name, "x")  # what preload() sets is undone after the test
    yield
    for name in ("extra_pkg", "needs_extra"):
        sys.modules.pop(name, None)


def test_hidden_packages_are_missing_inside_and_back_after(packages):
    import extra_pkg as already  # noqa: F401  (imported before: not hidden)

    with preload.hidden(("extra_pkg",)):
        assert importlib.util.find_spec("extra_pkg") is not None
    del sys.modules["extra_pkg"]
    with preload.hidden(("extra_pkg",)):
        assert importlib.util.find_spec("extra_pkg") is None
        with pytest.raises(ImportError):
            importlib.import_module("extra_pkg")
    assert importlib.import_module("extra_pkg").VALUE == 1


def test_a_preload_that_needs_a_hidden_package_imports_it_after_all(packages, monkeypatch):
    monkeypatch.setattr(preload, "PRELOADABLE", ("needs_extra",))
    monkeypatch.setattr(preload, "UNUSED_EXTRAS", ("extra_pkg",))
    preload.preload(["needs_extra"], "")
    assert "needs_extra" in sys.modules and sys.modules["extra_pkg"].VALUE == 1


def test_remember_whole_scan_runs_right_after_the_module_and_only_on_an_lru_cache(tmp_path, monkeypatch):
    """The finder hands the module to remember_whole_scan before its importer goes on; the
    memo becomes unbounded and the recursion goes through it; anything else is left alone."""
    (tmp_path / "scanpkg").mkdir()
    (tmp_path / "scanpkg" / "__init__.py").write_text(
        "from scanpkg import scanmod\nAT_IMPORT = scanmod.scan.cache_info().maxsize\n")
    (tmp_path / "scanpkg" / "scanmod.py").write_text(
        "import functools\n"
        "CALLS = []\n"
        "@functools.lru_cache\n"
        "def scan(n):\n"
        "    CALLS.append(n)\n"
        "    return 0 if n == 0 else 1 + scan(n - 1)\n"
        "def plain(n):\n"
        "    return n\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(preload, "SCAN_MODULE", "scanpkg.scanmod")
    monkeypatch.setattr(preload, "SCAN_FUNCTION", "scan")
    try:
        with preload._whole_scan_remembered():
            import scanpkg
        assert scanpkg.AT_IMPORT is None  # already unbounded when the package's own code used it
        assert preload._RememberWholeScan not in {type(f) for f in sys.meta_path}
        mod = scanpkg.scanmod
        assert mod.scan(300) == 300 and mod.scan(0) == 0 and len(mod.CALLS) == 301  # 302 if 128 kept
        monkeypatch.setattr(preload, "SCAN_FUNCTION", "plain")
        preload.remember_whole_scan(mod)
        assert mod.plain is mod.__dict__["plain"] and mod.plain(3) == 3
    finally:
        for name in ("scanpkg", "scanpkg.scanmod"):
            sys.modules.pop(name, None)
