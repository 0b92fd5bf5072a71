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
