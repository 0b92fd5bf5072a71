"""Official mode is not replayable: it judges on inputs the student never had.

- every compare check's fresh cases differ from every case of the released snapshot;
- the quality check with shipped data (finetune) scores on sentences drawn afresh with the
  run's seed, so a submission that looks up the shipped labels gains nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grader.checks import Case, Check, Ctx
from grader.kinds import DRAWN_CASES, case_key, drawn_entries, kind_of
from grader.metadata import load_exercises
from grader.reference import Reference
from grader.runner import Runner
from grader.snapshots import load
from tests.harness import SOLUTIONS, grade, statuses, submission_from_reference

COMPARE = [(ex, c) for ex in load_exercises() for c in ex.checks() if kind_of(c.kind).compares]


@pytest.mark.parametrize("seed", [1, 20240601, 987654321987])
def test_no_official_case_equals_a_snapshot_case(seed):
    runner = Runner.__new__(Runner)
    runner.mode, runner.seed, runner.reference = "official", seed, Reference(SOLUTIONS)
    short = []
    for ex, check in COMPARE:
        snapshot = load(ex.id)
        released = {case_key(e["case"]) for e in snapshot[check.id]}
        ctx = Ctx(ex.id, check.id, None, None, seed, 1.0, {})
        entries = kind_of(check.kind).entries(runner, ex, check, ctx, None)
        fixed, drawn = entries[:len(snapshot[check.id])], entries[len(snapshot[check.id]):]
        assert {case_key(e["case"]) for e in fixed} == released, f"{ex.id}.{check.id}: stale snapshot"
        same = [e["case"].get("label") or i for i, e in enumerate(drawn) if case_key(e["case"]) in released]
        assert not same, f"{ex.id}.{check.id}: official cases equal to released ones: {same}"
        assert drawn, f"{ex.id}.{check.id}: no fresh case in official mode"
        if len(drawn) < DRAWN_CASES:
            short.append(f"{ex.id}.{check.id}")
    # only generators with fewer random cases than DRAWN_CASES give fewer fresh ones
    assert "positional.sinusoidal_reference" not in short


def test_drawn_entries_skip_released_cases():
    def cases(rng):
        yield Case(args=(np.arange(3.0),))
        yield Case(args=(np.arange(4.0),))
        for _ in range(3):
            yield Case(args=(rng.standard_normal(3),))

    check = Check("c", "c", "compare", ("f",), fn="f", cases=cases)
    from grader.snapshots import cases_for

    fixed = [{"case": c} for c in cases_for(check, np.random.default_rng(0), 2)]
    drawn = drawn_entries(check, np.random.default_rng(1), 1, fixed)
    assert len(drawn) == 3 and all(e["rng"][1] >= 2 for e in drawn)


# --- finetune: the held-out set of official mode ---------------------------------------------------


def test_official_held_out_sentences_are_fresh():
    from grader.course.finetune import held_out_set, task

    _, _, data = task()
    shipped = {row.tobytes() for row in np.concatenate([data["train_ids"], data["test_ids"]])}

    class _C:
        mode, seed = "official", 12345

    ids, mask, labels, what = held_out_set(_C())
    assert ids.shape == (512, 16) and labels.shape == (512,) and "fresh" in what
    assert not [r for r in ids if r.tobytes() in shipped]
    assert set(np.unique(labels)) == {0, 1, 2, 3} and np.array_equal(mask, ids != 0)
    again = held_out_set(_C())
    assert np.array_equal(again[0], ids)  # the same run always scores on the same sentences
    _C.seed = 54321
    assert not np.array_equal(held_out_set(_C())[0], ids)
    _C.mode = "local"
    assert np.array_equal(held_out_set(_C())[0], data["test_ids"])


def _lookup_cheat() -> str:
    """A finetune_classifier that trains nothing and answers from the shipped labels."""
    from grader.course.finetune import task

    _, _, data = task()
    table = {tuple(int(v) for v in row): int(y) for row, y in zip(data["test_ids"], data["test_labels"])}
    return f'''
import torch
from torch import nn

_TABLE = {table!r}


class _Lookup(nn.Module):
    def forward(self, ids, attention_mask=None):
        out = torch.zeros(len(ids), 4)
        for i, row in enumerate(ids.tolist()):
            out[i, _TABLE.get(tuple(row), 0)] = 1.0
        return out


def finetune_classifier(model, train_ids, train_mask, train_labels, num_labels, r=4, alpha=8.0,
                        epochs=10, lr=5e-3, seed=0):
    return _Lookup().eval()
'''


def test_looking_up_the_shipped_labels_gains_nothing(zygote, tmp_path: Path):
    sub = submission_from_reference(tmp_path, {"finetune": _lookup_cheat()})
    local = grade(zygote, sub, ["finetune"], mode="local")
    assert statuses(local)["finetune.finetune_quality"] == "passed"  # what a student's own copy shows
    official = grade(zygote, sub, ["finetune"], mode="official")
    quality = next(c for c in official.exercises[0].checks if c.id == "finetune_quality")
    assert quality.status == "failed" and quality.score == 0, quality.message
    assert official.score == 0, statuses(official)


def test_recorded_outputs_are_read_only_from_the_reference_they_came_from(zygote, tmp_path: Path):
    """Official mode reads the reference's outputs on the fixed cases from the snapshot only
    when the snapshot was recorded from this very reference: a changed reference (a staff
    fix not recorded yet) has them computed again, and grades by what it now says."""
    import shutil

    from grader.host.sandbox import choose
    from tests.harness import exercises

    ex = exercises(["ffn"])[0]
    runner = Runner(SOLUTIONS, [ex], mode="official", reference=SOLUTIONS, seed=1, sandbox=choose(), zygote=zygote)
    assert runner.recorded(ex) is not None
    changed = tmp_path / "course" / "solutions"
    shutil.copytree(SOLUTIONS, changed)
    shutil.copytree(SOLUTIONS.parent / "mistakes", changed.parent / "mistakes")
    src = (changed / "ffn.py").read_text()
    wrong = src.replace("def ffn_param_count", "def _unused_name_only_to_change_the_hash(): pass\n\n\n"
                        "def ffn_param_count", 1)
    assert wrong != src
    (changed / "ffn.py").write_text(wrong)
    other = Runner(SOLUTIONS, [ex], mode="official", reference=changed, seed=1, sandbox=choose(), zygote=zygote)
    assert other.recorded(ex) is None
