"""Shared test setup: the reference solutions are importable by plain module name."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
if str(SOLUTIONS) not in sys.path:
    sys.path.insert(0, str(SOLUTIONS))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def zygote():
    """One pre-loaded worker factory for the whole test session."""
    from grader.host.pool import Zygote
    from grader.host.sandbox import choose

    z = Zygote(choose())
    yield z
    z.close()
