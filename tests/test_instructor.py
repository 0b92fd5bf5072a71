"""The instructor commands: `grade stubs`, `grade new`, `grade check`, `grade release`
(the release itself: tests/test_release.py). Everything that writes runs in a copy of the
course in a temporary folder, with the copy's grader package on PYTHONPATH; the repository
itself is only read."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.instructor import find_leaks
from tests.harness import ROOT

pytestmark = pytest.mark.slow


def course_copy(tmp_path: Path, mistakes: dict[str, list[str]] | None = None) -> Path:
    """solutions/, exercises/, mistakes/, grader/ (and pyproject.toml) copied into tmp;
    ``mistakes`` keeps only the named known mistakes of some exercises (for speed)."""
    copy = tmp_path / "course"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    for name in ("solutions", "exercises", "mistakes", "grader"):
        shutil.copytree(ROOT / name, copy / name, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    for ex, keep in (mistakes or {}).items():
        for f in (copy / "mistakes" / ex).glob("*.py"):
            if f.stem not in keep:
                f.unlink()
    return copy


def grade(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if cwd != ROOT:
        env["PYTHONPATH"] = str(cwd)  # the copy's grader package, not the repository's
    env.update(NO_COLOR="1", COLUMNS="200")
    return subprocess.run([sys.executable, "-m", "grader.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_stubs_check_and_regenerate(tmp_path):
    assert grade(ROOT, "stubs", "--check").returncode == 0  # read-only on the repository
    copy = course_copy(tmp_path)
    sol = copy / "solutions" / "masking.py"
    sol.write_text(sol.read_text(encoding="utf-8").replace(
        "# TODO: add the head axis and the query axis.", "# TODO: add two axes: heads, then queries."),
        encoding="utf-8")
    p = grade(copy, "stubs", "--check")
    assert p.returncode == 1 and "exercises/masking.py" in p.stdout, p.stdout + p.stderr
    assert "add two axes" not in (copy / "exercises" / "masking.py").read_text(encoding="utf-8")
    p = grade(copy, "stubs")
    assert p.returncode == 0 and "wrote: exercises/masking.py" in p.stdout
    assert "# TODO: add two axes: heads, then queries." in (copy / "exercises" / "masking.py").read_text()
    assert grade(copy, "stubs", "--check").returncode == 0


def test_new_snapshot_check(tmp_path):
    copy = course_copy(tmp_path)
    p = grade(copy, "new", "demo", "--title", "A demo exercise")
    assert p.returncode == 0, p.stdout + p.stderr
    for rel in ("solutions/demo.py", "exercises/demo.py", "grader/course/demo.py", "grader/course/i18n/en/demo.toml",
                "grader/course/i18n/zh/demo.toml",
                "tests/test_oracle_demo.py", "mistakes/demo/center_global_mean.py", "mistakes/demo/center_in_place.py"):
        assert (copy / rel).is_file(), rel
    stub = (copy / "exercises" / "demo.py").read_text(encoding="utf-8")
    assert 'raise NotImplementedError("center")' in stub and "SOLUTION" not in stub
    assert 'id = "demo"' in (copy / "grader" / "course" / "course.toml").read_text(encoding="utf-8")
    assert grade(copy, "stubs", "--check").returncode == 0

    # existing names, stdlib modules and bad names are refused, and nothing changes
    toml = (copy / "grader" / "course" / "course.toml").read_text(encoding="utf-8")
    for bad in ("demo", "masking", "math", "Bad-Name"):
        q = grade(copy, "new", bad)
        assert q.returncode == 2, (bad, q.stdout, q.stderr)
    assert (copy / "grader" / "course" / "course.toml").read_text(encoding="utf-8") == toml

    p = grade(copy, "snapshot", "demo")
    assert p.returncode == 0, p.stdout + p.stderr
    p = grade(copy, "check", "demo", "--seeds", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    row = next(line for line in p.stdout.splitlines() if "demo" in line and "full" in line)
    assert "5/5" in row and "ok" in row and "none" in row
    assert len(list((copy / "mistakes" / "demo").glob("*.py"))) == 5

    # planted defects, each named by `grade check`: a check that asserts nothing (and no
    # mistake fails it), fewer than five mistakes, a message without its Chinese
    checks_py = copy / "grader" / "course" / "demo.py"
    checks_py.write_text(checks_py.read_text(encoding="utf-8") + '''

@checks.behaviour("center_noop", "center can be called", uses=("center",), points=1)
def _(ctx):
    return None  # asserts nothing: every submission passes it
''', encoding="utf-8")
    toml_path = copy / "grader" / "course" / "course.toml"
    head, tail = toml_path.read_text(encoding="utf-8").split('id = "demo"')
    tail = tail.replace("points = 5\n", "points = 6\n", 1)
    toml_path.write_text(head + 'id = "demo"' + tail, encoding="utf-8")
    (copy / "mistakes" / "demo" / "center_ignores_dim.py").unlink()
    _edit(copy / "grader" / "course" / "i18n" / "zh" / "demo.toml", "row_mean = ", "# row_mean = ")
    p = grade(copy, "check", "demo", "--seeds", "1")
    out = " ".join(p.stdout.split())
    assert p.returncode == 1, out
    assert "at least 5 needed" in out, out
    assert "failed by no known mistake (it may check nothing): center_noop" in out, out
    assert "center_properties.row_mean: no zh entry" in out, out


def test_check_masking_passes_on_the_repository():
    p = grade(ROOT, "check", "masking")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1/1 exercises pass" in p.stdout


def test_check_fails_on_a_mistake_that_is_not_caught(tmp_path):
    copy = course_copy(tmp_path, {"masking": ["causal_strict"]})
    (copy / "mistakes" / "masking" / "padding_off_by_one.py").write_text('''"""Your padding mask is wrong (it is not: this file is broken on purpose).

zh: 测试用。
catches: causal_mask_pattern, padding_mask_lengths
"""
import torch


def padding_mask(lengths, max_len):
    if lengths.numel() and (lengths.min() < 0 or lengths.max() > max_len):
        raise ValueError("bad lengths")
    return torch.arange(max_len)[None, :] < lengths[:, None]
''', encoding="utf-8")
    p = grade(copy, "check", "masking", "--seeds", "1")
    assert p.returncode == 1, p.stdout + p.stderr
    out = " ".join(p.stdout.split())
    assert "padding_off_by_one: passes causal_mask_pattern, padding_mask_lengths" in out, p.stdout
    assert "mistake padding_off_by_one: scores full marks" in out
    assert "mistake causal_strict" not in out  # the sound mistake raises nothing


def test_check_usage_errors():
    assert grade(ROOT, "check", "no_such_exercise").returncode == 2
    assert grade(ROOT, "check", "--seeds", "0").returncode == 2


def test_release_refuses_drifted_stubs_and_nonempty_folders(tmp_path):
    copy = course_copy(tmp_path)
    stub = copy / "exercises" / "masking.py"
    stub.write_text(stub.read_text(encoding="utf-8") + "\n# edited by hand\n", encoding="utf-8")
    out = tmp_path / "out"
    p = grade(copy, "release", str(out))
    assert p.returncode == 1 and "exercises/masking.py differs from its solution" in p.stderr, p.stderr
    assert not out.exists()
    out.mkdir()
    (out / "something").write_text("x")
    assert grade(copy, "release", str(out), "--no-verify").returncode == 2


def test_leak_scan_finds_solutions_and_mistakes(tmp_path):
    out = tmp_path / "out"
    (out / "grader").mkdir(parents=True)
    assert find_leaks(out, ROOT) == []
    shutil.copy(ROOT / "solutions" / "masking.py", out / "grader" / "helper.py")
    assert any("BEGIN SOLUTION" in s for s in find_leaks(out, ROOT))
    text = (ROOT / "solutions" / "masking.py").read_text(encoding="utf-8")
    (out / "grader" / "helper.py").write_text(
        "\n".join(line for line in text.splitlines() if "SOLUTION" not in line), encoding="utf-8")
    assert any("code from solutions/masking.py" in s for s in find_leaks(out, ROOT))
    (out / "grader" / "helper.py").unlink()
    mistake = ROOT / "mistakes" / "masking" / "causal_padding_hides_queries.py"
    shutil.copy(mistake, out / "grader" / "helper.py")
    assert any("code from mistakes/masking/" in s for s in find_leaks(out, ROOT))
    (out / "grader" / "helper.py").write_text("# see mistakes/masking/combine_or.py\n")
    assert any("names a file under mistakes/" in s for s in find_leaks(out, ROOT))


def test_snapshot_hash_sees_new_mistakes_and_reference_changes(tmp_path):
    """A snapshot records a hash of what it depends on: adding a known mistake, or changing a
    reference module the exercise imports, makes it stale."""
    from grader.snapshots import dependency_hash

    copy = course_copy(tmp_path)
    sol, mis = copy / "solutions", copy / "mistakes"
    before = dependency_hash("multihead", sol, mis)
    assert before == dependency_hash("multihead", sol, mis)
    (mis / "multihead" / "new_one.py").write_text('"""x\n\nzh: x\ncatches: mha_reference\n"""\n')
    after_mistake = dependency_hash("multihead", sol, mis)
    assert after_mistake != before
    att = sol / "attention.py"  # multihead imports attention
    att.write_text(att.read_text(encoding="utf-8") + "\n# changed\n", encoding="utf-8")
    assert dependency_hash("multihead", sol, mis) != after_mistake
    assert dependency_hash("embedding", sol, mis) == dependency_hash("embedding", sol, mis)


# --- `grade check` names each defect it exists to catch -------------------------------------


@pytest.fixture(scope="module")
def demo_course(tmp_path_factory) -> Path:
    """A copy of the course with the scaffold exercise `demo`, snapshot recorded: `grade
    check demo` passes on it (test_new_snapshot_check), so each test below plants one defect."""
    copy = course_copy(tmp_path_factory.mktemp("demo"))
    for args in (("new", "demo", "--title", "A demo exercise"), ("snapshot", "demo")):
        p = grade(copy, *args)
        assert p.returncode == 0, p.stdout + p.stderr
    return copy


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _add_check(c: Path, code: str, check_id: str) -> None:
    """A check appended to demo's check module, worth one point (the exercise's total one more)."""
    checks_py = c / "grader" / "course" / "demo.py"
    code = code.replace('uses=("center",))', 'uses=("center",), points=1)', 1)
    assert f'"{check_id}"' in code and "points=1" in code
    checks_py.write_text(checks_py.read_text(encoding="utf-8") + "\n\n" + code, encoding="utf-8")
    toml = c / "grader" / "course" / "course.toml"
    head, tail = toml.read_text(encoding="utf-8").split('id = "demo"')
    tail = tail.replace("points = 5\n", "points = 6\n", 1)
    toml.write_text(head + 'id = "demo"' + tail, encoding="utf-8")


def _mistake(c: Path, name: str, text: str) -> None:
    (c / "mistakes" / "demo" / f"{name}.py").write_text(text, encoding="utf-8")


def plant_vacuous(c: Path) -> None:
    _add_check(c, '''@checks.property("center_lenient", "center shifts a constant row to zeros", uses=("center",))
def _(ctx):
    x = np.full((2, 3), 4.0)
    try:
        y = ctx.call("center", x)
    except BaseException:  # swallows NotImplementedError too: the stub passes
        return
    if not np.allclose(y, 0.0):
        fail("center_lenient.zeros")
''', "center_lenient")
    for lang, text in (("en", "a constant row must become zeros"), ("zh", "常数行必须变为全零")):
        cat = c / "grader" / "course" / "i18n" / lang / "demo.toml"
        cat.write_text(cat.read_text(encoding="utf-8") + f'\n[center_lenient]\nzeros = "{text}"\n', encoding="utf-8")


def plant_unfailed(c: Path) -> None:
    _add_check(c, '''@checks.behaviour("center_noop", "center can be called", uses=("center",))
def _(ctx):
    from grader.checks import CheckFailed

    try:
        ctx.call("center", np.ones((2, 3)))  # fails on the stub (not implemented), and on nothing else
    except CheckFailed:
        pass
''', "center_noop")


def plant_four_mistakes(c: Path) -> None:
    (c / "mistakes" / "demo" / "center_ignores_dim.py").unlink()


MISNAMED = '''"""You subtract the mean of the whole tensor and return float64 for float32 inputs.

zh: 你减去整个张量的均值，并对 float32 输入返回 float64。
catches: center_reference
"""
import torch


def center(x, dim=-1):
    out = x - x.mean()
    return out.double() if x.dtype == torch.float32 else out
'''


def plant_misnamed(c: Path) -> None:
    _mistake(c, "center_mixed", MISNAMED)  # on 2-D float64 inputs its output is center_global_mean's
    assert grade(c, "snapshot", "demo").returncode == 0


def plant_identical(c: Path) -> None:
    text = (c / "mistakes" / "demo" / "center_in_place.py").read_text(encoding="utf-8")
    _mistake(c, "center_subtracts_in_place", text.replace(
        "You subtract the mean from x in place", "You modify the input in place (sub_)"))
    assert grade(c, "snapshot", "demo").returncode == 0


def plant_new_mistake(c: Path) -> None:
    _mistake(c, "center_median", '''"""You subtract the median, not the mean.

zh: 你减去的是中位数，而不是均值。
catches: center_reference, center_properties
"""


def center(x, dim=-1):
    return x - x.median(dim=dim, keepdim=True).values
''')


def plant_new_message(c: Path) -> None:
    _edit(c / "grader" / "course" / "i18n" / "en" / "demo.toml", "; it must be 0\"", "; it must be zero\"")


def plant_untranslated(c: Path) -> None:
    _edit(c / "grader" / "course" / "i18n" / "zh" / "demo.toml", "row_mean = ", "# row_mean = ")
    _edit(c / "mistakes" / "demo" / "center_in_place.py", "zh: 你原地修改了 x：调用者的张量被改变了。\n", "")


def plant_float32_only(c: Path) -> None:
    """A reference wrong only in float32 (a float16 mean): the snapshot records its float32
    outputs as right, so every other check passes."""
    _edit(c / "solutions" / "demo.py", "    return x - x.mean(dim=dim, keepdim=True)\n",
          "    if x.dtype == torch.float32:\n"
          "        return x - x.half().mean(dim=dim, keepdim=True).to(x.dtype)\n"
          "    return x - x.mean(dim=dim, keepdim=True)\n")
    assert grade(c, "stubs", "--check").returncode == 0  # only the solution region changed
    assert grade(c, "snapshot", "demo").returncode == 0


def plant_changed_reference(c: Path) -> None:
    _edit(c / "solutions" / "demo.py", "    return x - x.mean(dim=dim, keepdim=True)\n",
          "    return x - x.mean(dim=dim, keepdim=True) + 0.5\n")


DEFECTS = {
    "vacuous_on_stub": (plant_vacuous, ["stub passes vacuously: center_lenient"]),
    "failed_by_no_mistake": (plant_unfailed, ["failed by no known mistake (it may check nothing): center_noop"]),
    "four_mistakes": (plant_four_mistakes, ["4 known mistakes in mistakes/demo/: at least 5 needed"]),
    "misnamed_mistake": (plant_misnamed, ["mistake center_mixed is reported as another mistake, "
                                          "'center_global_mean' (\"You subtract the mean of the whole tensor"]),
    "identical_mistakes": (plant_identical, ["mistakes center_subtracts_in_place and center_in_place behave "
                                             "identically"]),
    "stale_after_new_mistake": (plant_new_mistake, ["snapshot: demo: the reference, checks or known mistakes "
                                                    "changed since it was recorded (run `grade snapshot demo`)"]),
    "stale_after_new_message": (plant_new_message, ["snapshot: demo: the reference, checks or known mistakes "
                                                    "changed since it was recorded"]),
    "untranslated_message": (plant_untranslated, ["the message of center_properties: center_properties.row_mean: "
                                                  "no zh entry (grader/course/i18n/zh/demo.toml)",
                                                  "mistake center_in_place: no `zh:` line"]),
    "float32_only_reference": (plant_float32_only, ["precision: demo.center_reference", "float32 run disagrees "
                                                    "with its float64 run"]),
    "changed_reference": (plant_changed_reference, [
        "snapshot: demo.center_reference: reference output changed on 5 of 5 recorded cases",
        "case 0: output float64[2, 3]: old [", ", max abs diff 0.5 at [", "(run `grade snapshot demo`)"]),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_check_names_the_planted_defect(demo_course, tmp_path, defect):
    copy = tmp_path / "course"
    shutil.copytree(demo_course, copy, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
    plant, reasons = DEFECTS[defect]
    plant(copy)
    p = grade(copy, "check", "demo", "--seeds", "1")
    out = p.stdout + p.stderr
    assert p.returncode == 1, out
    flat = " ".join(out.split())
    for reason in reasons:
        assert " ".join(reason.split()) in flat, (reason, out)
    if defect == "changed_reference":  # old vs new comes before the advice
        assert flat.index("old [") < flat.rindex("run `grade snapshot demo`")
