"""`grade batch`: folders and zips in parallel, one report each, grades.csv; a broken or
hostile submission never stops the batch."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import zipfile

from tests.harness import ROOT, SOLUTIONS, submission_from_reference


def test_batch_of_mixed_submissions(tmp_path):
    good = submission_from_reference(tmp_path / "good")
    mistake = (ROOT / "mistakes" / "masking" / "combine_or.py").read_text()
    wrong = submission_from_reference(tmp_path / "wrong", {"masking": mistake})
    hostile = submission_from_reference(tmp_path / "hostile",
                                        {"masking": "import os\nos.kill(os.getppid(), 9)\n"})
    zipped = tmp_path / "zipped.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for f in good.glob("*.py"):
            zf.write(f, f"student/exercises/{f.name}")
        zf.writestr("../../escape.py", "print('no')")
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "grader.cli", "batch", str(good), str(wrong), str(hostile),
                        str(zipped), str(broken), "--jobs", "2", "--exercise", "masking", "--output-dir",
                        str(out), "--format", "json", "--format", "gradescope", "--reference", str(SOLUTIONS)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    rows = {r["submission"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == {"submission", "submission-2", "submission-3", "zipped", "broken"}
    assert float(rows["submission"]["percent"]) == 100.0
    assert 0 < float(rows["submission-2"]["percent"]) < 100.0
    assert float(rows["submission-3"]["percent"]) == 0.0
    assert float(rows["zipped"]["percent"]) == 100.0
    assert rows["broken"]["status"] == "bad submission"
    assert not (tmp_path / "escape.py").exists()
    doc = json.loads((out / "submission" / "report.json").read_text())
    assert doc["mode"] == "official" and doc["sandbox"] in ("bwrap", "process")
    assert (out / "submission" / "results.json").exists()


def test_batch_staff_shows_hidden_checks_students_do_not(tmp_path):
    """A hidden check is a placeholder in the reports `grade batch` writes, unless --staff."""
    from tests.test_instructor import course_copy, grade

    copy = course_copy(tmp_path, {"masking": ["combine_or"]})
    toml = copy / "grader" / "course" / "course.toml"
    text = toml.read_text(encoding="utf-8")
    head, tail = text.split('id = "masking"', 1)
    toml.write_text(head + 'id = "masking"' + tail.replace("timeout = 10\n", 'timeout = 10\nhidden = ["combine_masks_broadcast"]\n', 1),
                    encoding="utf-8")
    mistake = (copy / "mistakes" / "masking" / "combine_or.py").read_text(encoding="utf-8")
    wrong = submission_from_reference(tmp_path / "wrong", {"masking": mistake})
    checks = {}
    for view, extra in (("student", []), ("staff", ["--staff"])):
        out = tmp_path / view
        p = grade(copy, "batch", str(wrong), "--exercise", "masking", "--mode", "local", "--output-dir", str(out),
                  "--format", "json", *extra)
        assert p.returncode == 0, p.stdout + p.stderr
        doc = json.loads(next(out.glob("*/report.json")).read_text(encoding="utf-8"))
        checks[view] = {c["name"]: c for ex in doc["exercises"] for c in ex["checks"]}
    assert "combine_masks_broadcast" not in checks["student"] and "hidden-1" in checks["student"]
    assert checks["student"]["hidden-1"]["status"] == checks["staff"]["combine_masks_broadcast"]["status"] == "failed"
    assert "hidden-1" not in checks["staff"]
