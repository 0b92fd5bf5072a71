"""The worker's module loader (grader/worker/loader.py)."""

from __future__ import annotations

import shutil
import sys

from grader.worker.loader import SubmissionLoader


def test_a_module_imported_by_another_is_reused_after_its_stage_is_removed(tmp_path):
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "loaderdep_b.py").write_text("VALUE = 7\n")
    (stage / "loaderdep_a.py").write_text("from loaderdep_b import VALUE\n")
    loader = SubmissionLoader(str(stage))
    try:
        assert loader.load("loaderdep_a").VALUE == 7
        shutil.rmtree(stage)  # as after a known mistake's import: the stage is gone
        assert loader.module("loaderdep_b").VALUE == 7
        try:
            loader.load("loaderdep_c")
        except FileNotFoundError:
            pass
        else:
            raise AssertionError("a module that was never there must still be missing")
    finally:
        for name in ("loaderdep_a", "loaderdep_b"):
            sys.modules.pop(name, None)
        if str(stage.resolve()) in sys.path:
            sys.path.remove(str(stage.resolve()))
