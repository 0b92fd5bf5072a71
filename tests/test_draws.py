"""What a property draws depends on its seed alone (grader/checks.py: draws_from_seed_alone).

Hypothesis mixes constants it reads from every local module in ``sys.modules`` into its
draws. Without the grader's hook, importing one more module (a reference, a known mistake,
another exercise's checks) changes the inputs the same seed draws: which exercises run and
which thread gets there first would change what is tested.
"""

from __future__ import annotations

import importlib
import sys

import pytest
from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers

from grader.checks import Ctx, _no_local_constants, draws_from_seed_alone

CONSTANTS = "A = 1234.5678\nB = 2.5\nC = 3.75\nD = 4.125\nE = 0.3\nF = 7.0625\nG = 918273\nH = 'zq'\n"


def _draws(seed: int = 7) -> list:
    ctx = Ctx("attention", "softmax_properties", None, None, seed, 5.0, {}, max_examples=150)
    got: list = []

    @ctx.given(st.floats(-1e4, 1e4), st.integers(-10**6, 10**6))
    def prop(x, n):
        got.append((x, n))

    prop()
    return got


def _import_fresh(tmp_path, name: str) -> None:
    (tmp_path / f"{name}.py").write_text(CONSTANTS, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


@pytest.fixture
def hypothesis_as_shipped(monkeypatch):
    """Hypothesis' own pool of local constants, as it is without the grader's hook."""
    import grader.checks as checks

    assert draws_from_seed_alone(), "hypothesis no longer has the hook the grader turns off"
    assert providers._get_local_constants is _no_local_constants
    monkeypatch.setattr(providers, "_get_local_constants", checks._SHIPPED_LOCAL_CONSTANTS)
    providers.CONSTANTS_CACHE.cache.clear()
    yield
    providers.CONSTANTS_CACHE.cache.clear()


def test_without_the_hook_a_new_module_changes_what_a_seed_draws(tmp_path, hypothesis_as_shipped, monkeypatch):
    # the grader's own call would put the hook back: leave hypothesis as shipped for this test
    monkeypatch.setattr("grader.checks.draws_from_seed_alone", lambda: False)
    before = _draws()
    _import_fresh(tmp_path, "draws_constants_one")
    after = _draws()
    assert before != after
    assert any(x == 1234.5678 or n == 918273 for x, n in after)


def test_with_the_hook_a_new_module_changes_nothing(tmp_path):
    before = _draws()
    _import_fresh(tmp_path, "draws_constants_two")
    after = _draws()
    assert before == after
    assert not any(x == 1234.5678 or n == 918273 for x, n in after)
    assert providers._get_local_constants is _no_local_constants
