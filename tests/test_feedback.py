"""Feedback that teaches: named mistakes, staged diagnosis, heatmaps, both languages, 80 columns,
plain output without a TTY, the next step and "fix X first"."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from grader.reports import make_console, next_step, render
from tests.harness import ROOT, grade, submission_from_reference

NO_SCALE = (ROOT / "mistakes" / "attention" / "sdpa_no_scale.py").read_text()


@pytest.fixture(scope="module")
def failing(zygote, tmp_path_factory):
    sub = submission_from_reference(tmp_path_factory.mktemp("fb"), {"attention": NO_SCALE})
    return grade(zygote, sub, ["attention", "masking"], "official", name_mistakes=True)


def rendered(result, lang: str) -> str:
    buf = io.StringIO()
    render(result, make_console(file=buf, width=80), lang, {})
    return buf.getvalue()


def test_report_names_the_mistake_and_stage(failing):
    text = rendered(failing, "en")
    assert "→ Your scores are not divided by sqrt(dk)." in text
    assert "stage 2 of 6 fails (stage: one query, several keys)" in text
    assert "smallest failing input" in text and "expected" in text and "max abs error" in text
    assert any(ch in text for ch in "░▒▓█")  # the expected-vs-got heatmap
    assert "next: exercises/attention.py · scaled_dot_product_attention" in text


def test_report_in_chinese(failing):
    text = rendered(failing, "zh")
    assert "你的注意力分数没有除以 sqrt(dk)。" in text
    assert "从余弦注意力到缩放点积注意力" in text
    assert "最小的失败输入" in text and "下一步" in text


def test_report_fits_80_columns_without_colour(failing):
    for lang in ("en", "zh"):
        text = rendered(failing, lang)
        assert "\x1b[" not in text
        from rich.cells import cell_len

        assert max(cell_len(line.rstrip()) for line in text.splitlines()) <= 80


def test_property_failure_is_named_by_replay(zygote, tmp_path):
    combine_or = (ROOT / "mistakes" / "masking" / "combine_or.py").read_text()
    sub = submission_from_reference(tmp_path, {"masking": combine_or})
    for mode in ("official", "local"):
        result = grade(zygote, sub, ["masking"], mode, name_mistakes=True)
        check = [c for c in result.exercises[0].checks if c.id == "combine_masks_broadcast"][0]
        assert check.status == "failed"
        assert check.failure.diagnosis == "You combine masks with OR; both conditions must hold, so it is AND."


def test_fix_dependency_first(zygote, tmp_path):
    broken = (ROOT / "mistakes" / "masking" / "causal_transposed.py").read_text()
    sub = submission_from_reference(tmp_path, {"masking": broken})
    result = grade(zygote, sub, ["masking", "blocks"], "official")
    assert result.exercises[0].score < result.exercises[0].max_score
    # blocks builds on masking (course.toml `after`): the next step names the dependency
    assert "masking" in next_step(result, "en")


def test_plain_output_when_piped():
    env = os.environ | {"NO_COLOR": "1"}
    p = subprocess.run([sys.executable, "-m", "grader.cli", "attention", "--mode", "local"], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0
    assert "\x1b[" not in p.stdout
    assert "start here: exercises/attention.py · softmax" in p.stdout


def test_hints_are_progressive_and_bilingual():
    from grader.metadata import load_exercises

    for ex in load_exercises():
        assert ex.hints, f"{ex.id} has no hints"
        for fn, levels in ex.hints.items():
            assert levels, (ex.id, fn)
            for h in levels:
                assert h.get("en") and h.get("zh"), (ex.id, fn, h)


def test_terminal_heatmap_with_non_finite_values():
    """nan, inf and -inf in an output (the cosine_no_eps mistake) never crash the heatmap."""
    import io

    from rich.console import Console

    from grader.reports import render_heatmap

    buf = io.StringIO()
    console = Console(file=buf, width=80, color_system=None)
    heat = {"expected": [[0.5, 0.5], [1.0, 0.0]], "got": [[float("nan"), float("inf")], [float("-inf"), 0.2]]}
    render_heatmap(console, heat, "  ", "en")
    render_heatmap(console, {"expected": [[float("nan")]], "got": [[float("nan")]]}, "  ", "zh")
    assert "!" in buf.getvalue()
