"""A zygote's branches: the workers that need a preload (peft, or the real torch._dynamo) are
forked by a zygote forked for it, so the other workers neither wait behind that import nor carry it, and
a worker that kills its branch (where it may) costs the next worker nothing."""

from __future__ import annotations

import threading

import pytest

from grader.host.pool import Zygote
from grader.host.sandbox import choose

PROBE = b'''
import os, signal, sys
def loaded():  # the real torch._dynamo, not the zygote's stand-in (grader/worker/lazy_dynamo.py)
    return "torch._dynamo.eval_frame" in sys.modules
def parent():
    return os.getppid()
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
    hf = ["torch._dynamo", "peft", "safetensors.torch"]
    a, b = _worker(fresh, hf), _worker(fresh, hf)
    light = _worker(fresh, [])
    assert set(fresh._branches) == {tuple(hf)}
    assert fresh._branches[tuple(hf)].pid == _call(a, "parent") == _call(b, "parent")
    assert _call(a, "loaded") is True
    assert fresh._branches[tuple(hf)].pid != _call(light, "parent")


def test_a_worker_killing_its_branch_costs_the_next_one_nothing(fresh):
    w = _worker(fresh, ["torch._dynamo"])
    outcome = _call(w, "kill_parent")
    if fresh.sandbox.separate_uids:
        assert outcome == "PermissionError"  # a uid of its own: it cannot signal the branch
    else:
        assert outcome == "killed"
    fresh.kill(w.pid)
    again = _worker(fresh, ["torch._dynamo"])  # a fresh branch when the old one is dead
    assert _call(again, "loaded") is True
    assert _worker(fresh, [])  # and the zygote still forks the light ones
