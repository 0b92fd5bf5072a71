"""The zygote's stand-in for torch._dynamo (grader/worker/lazy_dynamo.py): a student's
optimizer runs in a worker without the real import, to the same values, and anything that
needs more of torch._dynamo (torch.compile, a submodule) gets the real one."""

from __future__ import annotations

import sys

import pytest
import torch

from grader.host.pool import Zygote
from grader.host.sandbox import choose

# run in the worker (with the stand-in) and in this process (torch as it is): the same values
TRAIN = """
import sys, torch
def trained():
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.GELU(), torch.nn.Linear(3, 2))
    opts = [torch.optim.AdamW(m[0].parameters(), lr=0.1, weight_decay=0.01),
            torch.optim.SGD(m[2].parameters(), lr=0.05, momentum=0.9, foreach=True)]
    sched = torch.optim.lr_scheduler.StepLR(opts[0], 1, gamma=0.5)
    x = torch.randn(8, 4)
    for _ in range(4):
        for o in opts:
            o.zero_grad()
        m(x).pow(2).sum().backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        for o in opts:
            o.step()
        sched.step()
    opts[0].load_state_dict(opts[0].state_dict())
    return [p.detach().tolist() for p in m.parameters()]
"""

PROBE = (TRAIN + '''
def real():
    return "torch._dynamo.eval_frame" in sys.modules
def train():
    return [trained(), real()]
def walk():
    import inspect
    inspect.getmodule(train)  # asks every module in sys.modules for __file__
    import importlib.util
    return [importlib.util.find_spec("torch._dynamo") is not None, real()]
def compiled():
    f = torch.compile(lambda x: x * 2 + 1, backend="eager")
    return [f(torch.ones(3)).tolist(), real()]
def marks():  # decorators transformers applies at import: the function itself, unchanged
    def h(x):
        return x + 1
    f = torch._dynamo.assume_constant_result(lambda: 3)
    return [f(), torch._dynamo.allow_in_graph(h) is h, real()]
def standalone_then_compile():  # the submodule transformers imports needs nothing of the package
    from torch._dynamo._trace_wrapped_higher_order_op import TransformGetItemToIndex
    with TransformGetItemToIndex():
        picked = torch.arange(4.0)[torch.tensor(2)].item()
    before = real()
    f = torch.compile(lambda x: x * 2 + 1, backend="eager")
    return [picked, before, f(torch.ones(2)).tolist(), real(),
            sys.modules["torch._dynamo._trace_wrapped_higher_order_op"].TransformGetItemToIndex
            is TransformGetItemToIndex]
def submodule():
    import torch._dynamo.utils as u
    return [u is sys.modules["torch._dynamo.utils"], torch._dynamo is sys.modules["torch._dynamo"],
            callable(torch._dynamo.optimize), real()]
''').encode()


def _train_here() -> list:
    scope: dict = {}
    exec(TRAIN, scope)  # noqa: S102 - the test's own source
    return scope["trained"]()


@pytest.fixture(scope="module", params=["auto", "process"])
def zygote(request):
    z = Zygote(choose(prefer=request.param))
    yield z
    z.close()


def _call(zygote: Zygote, fn: str):
    w = zygote.spawn({"probe.py": PROBE}, {"preload": []})
    try:
        w.request({"op": "load", "module": "probe"}, 60)
        return w.request({"op": "call", "target": {"module": "probe", "attr": fn}, "args": [], "kwargs": {},
                          "banned": [], "seed": 0}, 120)
    finally:
        w.close()


def test_an_optimizer_trains_without_the_real_import_to_the_same_values(zygote):
    params, real = _call(zygote, "train")
    assert real is False
    want = _train_here()  # this process: torch as it is, the real torch._dynamo if anyone imported it
    for got, exp in zip(params, want, strict=True):
        assert torch.allclose(torch.tensor(got), torch.tensor(exp), rtol=0, atol=1e-6)


def test_looking_through_the_modules_imports_nothing(zygote):
    assert _call(zygote, "walk") == [True, False]


def test_torch_compile_gets_the_real_one(zygote):
    out, real = _call(zygote, "compiled")
    assert out == [3.0, 3.0, 3.0] and real is True


def test_a_submodule_import_gets_the_real_package_once(zygote):
    assert _call(zygote, "submodule") == [True, True, True, True]


def test_tracer_marks_return_the_function_without_the_real_import(zygote):
    assert _call(zygote, "marks") == [3, True, False]


def test_a_standalone_submodule_is_imported_alone_and_kept_by_the_real_package(zygote):
    assert _call(zygote, "standalone_then_compile") == [2.0, False, [3.0, 3.0], True, True]


def test_not_installed_over_a_real_one():
    from grader.worker import lazy_dynamo

    if "torch._dynamo" not in sys.modules:
        import torch._dynamo  # noqa: F401
    real = sys.modules["torch._dynamo"]
    assert lazy_dynamo.install() is False
    assert sys.modules["torch._dynamo"] is real
