"""The `hf` exercise's Hugging Face side runs in an oracle worker, never in the grading process.

- grading hf leaves transformers and peft unimported in the grading process (the memory that
  keeps a whole-course run under Gradescope's 768 MB);
- what a submission's `export_pretrained` returns reaches the loaders only as JSON and
  model.safetensors: a pickled checkpoint, a Python modeling file and a name that climbs out of
  the folder are dropped, so none of them is ever unpickled, run or written.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.harness import ROOT, SOLUTIONS, exercises, submission_from_reference

pytest.importorskip("transformers")
pytest.importorskip("peft")


def test_the_grading_process_never_imports_transformers():
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from grader.host.sandbox import choose
        from grader.metadata import load_exercises
        from grader.runner import Runner
        exs = [e for e in load_exercises() if e.id == "hf"]
        result = Runner(Path({str(SOLUTIONS)!r}), exs, mode="official", reference=Path({str(SOLUTIONS)!r}),
                        seed=None, sandbox=choose(), jobs=1).run()
        ex = result.exercises[0]
        print(ex.score, ex.max_score, "transformers" in sys.modules, "peft" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    score, max_score, transformers, peft = out.stdout.split()[-4:]
    assert float(score) == float(max_score) > 0
    assert (transformers, peft) == ("False", "False")


# export_pretrained's files, plus a pickle that kills whoever unpickles it, a modeling file that
# does the same when imported, and a JSON name that climbs out of the folder
HOSTILE = '''
import os as _os
import pickle as _pickle

_reference_export = export_pretrained


class _Boom:
    def __reduce__(self):
        return (_os._exit, (13,))


def export_pretrained(model, vocab, merges, special_tokens=[]):
    files = dict(_reference_export(model, vocab, merges, special_tokens))
    files["pytorch_model.bin"] = _pickle.dumps({"transformer.wte.weight": _Boom()})
    files["model.bin"] = files["pytorch_model.bin"]
    files["modeling_gpt2.py"] = b"import os\\nos._exit(13)\\n"
    files["../../escaped.json"] = b"{}"
    return files
'''


def test_exported_files_are_never_unpickled_run_or_written_outside(zygote, tmp_path):
    from grader.course.hf import _writable
    from grader.runner import Runner

    sub = submission_from_reference(tmp_path, {"hf": HOSTILE})
    result = Runner(sub, exercises(["hf"]), mode="official", reference=SOLUTIONS,
                    seed=None, sandbox=zygote.sandbox, zygote=zygote).run()
    checks = {c.id: c for c in result.exercises[0].checks}
    for cid in ("export_files", "export_model", "export_tokenizer"):
        assert checks[cid].status == "passed", (cid, checks[cid].message)
    assert set(_writable({"config.json": b"", "model.safetensors": b"", "pytorch_model.bin": b"",
                          "modeling_gpt2.py": b"", "../../escaped.json": b"", "a/b.json": b""})) == \
        {"config.json", "model.safetensors"}
