"""``grade chat``, the capstone: the student's pipeline trained in a worker, then a chat on
stdin/stdout (issue: chat with what you built).

- the reference, with a tiny step budget, trains and answers every piped line, exit 0 on EOF;
- the untouched stubs say which exercise to finish first (English and Chinese), exit 1, no
  traceback; so does a submission whose generation alone is unfinished (at its first reply);
- a hostile submission that writes terminal escapes into its replies and its output, and
  looks for the grader's reference from inside the worker, gets neither through;
- the shipped instruction set is what its seeded script makes; ``grade chat --help`` works.

Everything is offline; each run starts its own worker factory (a few seconds).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from tests.harness import EXERCISES, ROOT, SOLUTIONS, submission_from_reference

LINES = ["Hello!", "What is 3 + 4?", "", "红色用英文怎么说？"]


def _chat(*args: str, stdin: str = "\n".join(LINES) + "\n", timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    env.pop("GRADER_LANG", None)
    return subprocess.run([sys.executable, "-m", "grader.chat", "--quick", *args], input=stdin, text=True,
                          capture_output=True, timeout=timeout, env=env, cwd=ROOT)


def test_reference_trains_and_answers_every_line():
    run = _chat("--solutions", "--lang", "en")
    assert run.returncode == 0, run.stderr
    said = [line for line in run.stdout.splitlines() if line.startswith("you> ")]
    replies = [line for line in run.stdout.splitlines() if line.startswith("model> ")]
    assert said == [f"you> {line}" for line in LINES], run.stdout
    assert len(replies) == 3, run.stdout  # the empty line gets no reply
    for stage in ("tokenizer: train_bpe: 1/1", "pretrain: pretrain_minigpt: 30/30",
                  "alignment: instruction tuning: 20/20"):
        assert stage in run.stderr, run.stderr
    assert "Traceback" not in run.stderr


def test_stubs_say_which_exercise_to_finish_first():
    for lang, words in (("en", "Finish the `tokenizer` exercise first"), ("zh", "请先完成练习 `tokenizer`")):
        run = _chat("--submission", str(EXERCISES), "--lang", lang)
        assert run.returncode == 1, (run.stdout, run.stderr)
        assert words in run.stderr, run.stderr
        assert "train_bpe" in run.stderr
        assert "Traceback" not in run.stderr + run.stdout
        assert "model> " not in run.stdout


def test_unfinished_generation_is_named_at_the_first_reply(tmp_path):
    stub = (EXERCISES / "generation.py").read_text(encoding="utf-8")
    sub = submission_from_reference(tmp_path, replace={"generation": stub})
    run = _chat("--submission", str(sub), "--lang", "en", stdin="Hello!\n")
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "Finish the `generation` exercise first" in run.stderr, run.stderr
    assert "generate_cached" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def test_hostile_replies_and_snooping_get_nothing_through(tmp_path):
    targets = [str(SOLUTIONS / "generation.py"), str(ROOT / "grader" / "course" / "generation.py"),
               str(ROOT / "grader" / "data" / "tokenizer.npz"), str(ROOT / "mistakes")]
    attack = textwrap.dedent(f'''
        import os as _os, sys as _sys

        def _snoop():
            found = []
            for p in {targets!r}:
                try:
                    if _os.path.isdir(p):
                        found.append(p + ":" + ",".join(_os.listdir(p)))
                    else:
                        with open(p, "rb") as f:
                            found.append(p + ":" + f.read(200).decode("utf-8", "replace"))
                except OSError:
                    pass
            return found

        def stream_decode(ids, vocab):
            print("\\x1b[2J\\x1b]0;pwned\\x07 printed by the worker", flush=True)
            _sys.stderr.write("\\x1b[31mstderr of the worker\\n")
            got = _snoop()
            yield "\\x1b[2J\\x1b[H"
            yield "\\x1b"
            yield "[31mFAKE SCORE 100/100\\r\\x9b1m"
            yield ("LEAKED " + " | ".join(got)) if got else "NOTHING-FOUND"
        ''')
    sub = submission_from_reference(tmp_path, {"generation": attack})
    run = _chat("--submission", str(sub), "--lang", "en", stdin="Hello!\n")
    assert run.returncode == 0, run.stderr
    out = run.stdout + run.stderr
    assert "\x1b" not in out and "\x9b" not in out and "\r" not in out, repr(out)
    assert "printed by the worker" not in out and "stderr of the worker" not in out
    assert "NOTHING-FOUND" in run.stdout, run.stdout
    assert "LEAKED" not in out and "BEGIN SOLUTION" not in out


def test_shipped_instruction_set_is_what_its_script_makes():
    script = ROOT / "grader" / "data" / "make_chat_data.py"
    spec = importlib.util.spec_from_file_location("make_chat_data", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shipped = module.load(ROOT / "grader" / "data" / "chat.npz")
    assert shipped == module.build()
    pairs = shipped["pairs"]
    assert 200 <= len(pairs) <= 1000
    assert all(isinstance(p, str) and isinstance(r, str) and p and r for p, r in pairs)
    zh = sum(bool(re.search(r"[\u4e00-\u9fff]", p)) for p, _ in pairs)
    assert 0.3 < zh / len(pairs) < 0.7  # both languages
    assert (ROOT / "grader" / "data" / "chat.npz").stat().st_size < 64 << 10


def test_help_and_module_entry():
    from grader.cli import main

    result = CliRunner().invoke(main, ["chat", "--help"])
    assert result.exit_code == 0
    assert "--submission" in result.output and "--solutions" in result.output and "--quick" in result.output
    run = subprocess.run([sys.executable, "-m", "grader.chat", "--help"], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=ROOT, timeout=60)
    assert run.returncode == 0 and "Chat with the model you built" in run.stdout


def test_worker_side_is_in_the_worker_copy(tmp_path):
    from grader.host.sandbox import Sandbox

    lib = Sandbox("process").install_worker(tmp_path)
    assert (lib / "grader" / "worker" / "chat.py").is_file()
    assert Path(ROOT / "grader" / "chat.py").is_file()


def test_ctrl_c_during_training_stops_cleanly():
    import signal
    import time

    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    proc = subprocess.Popen([sys.executable, "-m", "grader.chat", "--solutions", "--steps", "100000", "--lang", "en"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    try:
        time.sleep(8)  # the worker factory has started; training is under way
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Stopped." in err and "Traceback" not in err + out
