"""``grade chat``: chat with the model you built (the course's capstone; not graded).

The student's own pipeline runs in one sandboxed worker (the same levels as grading): their
byte-level BPE trained on the shipped corpus (``grader/data/tokenizer.npz``) and the shipped
instruction set (``grader/data/chat.npz``), their ``pretrain_minigpt``, instruction tuning
with their ``alignment`` functions, then replies from their ``generate_cached`` and
``stream_decode``. The worker side is ``grader/worker/chat.py``; this side never imports
student code, and everything the worker sends is checked for form and sanitised before it
reaches the terminal. Nothing is downloaded.

Exit codes: 0 the chat ended (EOF or Ctrl-C at the prompt); 1 a needed exercise is not
finished or failed (the message says which); 2 usage error; 3 the grader itself failed;
130 stopped with Ctrl-C during training.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

EXIT_OK, EXIT_STUDENT, EXIT_USAGE, EXIT_GRADER, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
NEEDED = ("tokenizer", "pretrain", "generation", "alignment")  # loaded in this order
DATA = Path(__file__).resolve().parent / "data"
FULL = {"merges": 200, "pretrain_steps": 1500, "sft_steps": 600}
QUICK = {"merges": 40, "pretrain_steps": 30, "sft_steps": 20}
BASE = {"max_len": 64, "d_model": 64, "n_heads": 4, "n_layers": 2, "sft_lr": 3e-3, "batch_size": 16,
        "top_k": 20, "top_p": 0.95, "max_new_tokens": 48, "min_reply_tokens": 16, "chat_repeats": 2}
MAX_REPLY_CHARS = 4000
POLL = 0.2  # seconds between status requests while training

TEXT = {
    "en": {
        "import": "Could not import exercises/{module}.py ({error}).\n"
                  "Finish the `{ex}` exercise first, then run grade chat again.",
        "unfinished": "Finish the `{ex}` exercise first: {function} is not implemented yet{at}.\n"
                      "(grade chat needs tokenizer, pretrain, generation and alignment, and what they use.)",
        "failed": "Your `{ex}` code failed while grade chat ran {function}{at}:\n  {error}\n"
                  "Fix it first (`grade {ex}` shows what is wrong), then run grade chat again.",
        "lost": "Your code stopped the worker while grade chat ran {function} of `{ex}`: {error}.\n"
                "Fix the `{ex}` exercise first (`grade {ex}`), then run grade chat again.",
        "refused": "The submission cannot be used: {error}",
        "missing": "No exercise modules found: {problem}",
        "training": "Training your model (tokenizer → pretraining → instruction tuning); Ctrl-C stops.",
        "tokenizer": "tokenizer: train_bpe",
        "pretrain": "pretrain: pretrain_minigpt",
        "sft": "alignment: instruction tuning",
        "trained": "Trained: {vocab_size} tokens in the vocabulary, {tokens} training tokens; "
                   "instruction-tuning loss {sft_loss} per answer token.",
        "ready": "Chat with your model (English or 中文). An empty line is ignored; Ctrl-D or Ctrl-C ends, "
                 "Ctrl-C during a reply stops it.\nIt learned small talk, one-digit addition, colour words "
                 "and counting: try \"What is 3 + 4?\" or \"红色用英文怎么说？\"",
        "stopped": "Stopped.",
        "bye": "Bye!",
    },
    "zh": {
        "import": "无法导入 exercises/{module}.py（{error}）。\n请先完成练习 `{ex}`，再运行 grade chat。",
        "unfinished": "请先完成练习 `{ex}`：{function} 还没有实现{at}。\n"
                      "（grade chat 需要 tokenizer、pretrain、generation、alignment 以及它们用到的练习。）",
        "failed": "grade chat 运行 {function}{at} 时，你的 `{ex}` 代码出错：\n  {error}\n"
                  "请先修好它（`grade {ex}` 会告诉你哪里不对），再运行 grade chat。",
        "lost": "grade chat 运行 `{ex}` 的 {function} 时，你的代码让工作进程停止了：{error}。\n"
                "请先修好练习 `{ex}`（`grade {ex}`），再运行 grade chat。",
        "refused": "无法使用这份提交：{error}",
        "missing": "没有找到练习模块：{problem}",
        "training": "正在训练你的模型（分词器 → 预训练 → 指令微调）；按 Ctrl-C 停止。",
        "tokenizer": "分词器：train_bpe",
        "pretrain": "预训练：pretrain_minigpt",
        "sft": "对齐：指令微调",
        "trained": "训练完成：词表 {vocab_size} 个词，训练文本 {tokens} 个词；指令微调损失（每个回答词）{sft_loss}。",
        "ready": "和你的模型聊天吧（中文或 English）。空行会被忽略；Ctrl-D 或 Ctrl-C 结束，回答时按 Ctrl-C "
                 "停止这次回答。\n它学过寒暄、一位数加法、颜色词和数数：试试 \"3 加 4 等于几？\" 或 "
                 "\"How do you say 红色 in English?\"",
        "stopped": "已停止。",
        "bye": "再见！",
    },
}


class ChatFailed(Exception):
    """The chat cannot go on: ``message`` for the student, ``code`` the exit code."""

    def __init__(self, message: str, code: int = EXIT_STUDENT) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def load_data() -> tuple[str, list[list[str]]]:
    """The shipped corpus (tokenizer exercise) and instruction set, read without pickle."""
    import numpy as np

    with np.load(DATA / "tokenizer.npz", allow_pickle=False) as f:
        corpus = f["corpus"].tobytes().decode("utf-8")
    with np.load(DATA / "chat.npz", allow_pickle=False) as f:
        pairs = [[str(p), str(r)] for p, r in zip(f["prompts"], f["responses"], strict=True)]
    return corpus, pairs


def config_for(quick: bool, steps: int | None, seed: int, temperature: float) -> dict:
    cfg = dict(BASE, **(QUICK if quick else FULL))
    if steps is not None:
        cfg["pretrain_steps"], cfg["sft_steps"] = steps, max(1, steps // 2)
    return cfg | {"seed": seed, "temperature": temperature}


# --- what went wrong, in the student's words -------------------------------------------------


def explain(kind: str, lang: str, where: list, err: Any = None, course: tuple[str, ...] = ()) -> str:
    """The message for a failed step: the exercise to finish (the innermost frame in a course
    module of the student's, else the exercise the step belongs to) and what failed."""
    from grader.sanitize import clean

    ex, function = (str(where[0]), str(where[1])) if len(where) == 2 else ("?", "?")
    if isinstance(err, dict):  # a description from the session's status (checked for form here)
        frames, error = err.get("frames"), f"{err.get('type', 'Error')}: {err.get('message', '')}"
    elif hasattr(err, "frames"):  # a StudentError
        frames, error = err.frames, f"{err.type}: {err.message}"
    else:
        frames, error = [], str(err or "")
    frames = [f for f in frames or [] if isinstance(f, list) and len(f) == 4]
    at = ""
    if frames:
        file, line, name = str(frames[-1][0]), frames[-1][1], str(frames[-1][2])
        stem = file[:-3] if file.endswith(".py") else file
        if stem in course or stem in NEEDED:
            ex = stem
        at = f" ({file}:{line}, {name})"
        if kind == "unfinished" and name != "<module>":
            function = name
    text = TEXT[lang][kind].format(ex=ex, function=function, at=at, error=error[:600], module=ex)
    return clean(text)


def _course_ids() -> tuple[str, ...]:
    try:
        from grader.metadata import load_exercises

        return tuple(e.id for e in load_exercises())
    except Exception:  # noqa: BLE001 - the list only sharpens a message
        return NEEDED


# --- the session -------------------------------------------------------------------------------


class Chat:
    """One worker, one trained model, one conversation loop."""

    def __init__(self, folder: Path, lang: str, sandbox_level: str, hide: list[Path], memory: int) -> None:
        self.folder = folder
        self.lang = lang
        self.sandbox_level = sandbox_level
        self.hide = hide
        self.memory = memory
        self.zygote: Any = None
        self.worker: Any = None
        self.course = _course_ids()
        self._stop = False

    def t(self, key: str, **kw: Any) -> str:
        return TEXT[self.lang][key].format(**kw)

    # -- worker requests --

    def request(self, req: dict, timeout: float, where: list) -> Any:
        from grader.host.pool import StudentError, WorkerLost

        try:
            return self.worker.request(req, timeout)
        except StudentError as err:
            kind = "unfinished" if err.not_implemented else "failed"
            raise ChatFailed(explain(kind, self.lang, self._where(where), err, self.course)) from None
        except WorkerLost as lost:
            raise ChatFailed(explain("lost", self.lang, where, lost.message, self.course)) from None

    def _where(self, fallback: list) -> list:
        """Which step the session was in (it says so itself; checked for form)."""
        with contextlib.suppress(Exception):
            got = self.worker.request({"op": "attr", "target": {"ref": "session", "attr": "where"}}, 10)
            if isinstance(got, list) and len(got) == 2 and all(isinstance(x, str) for x in got):
                return [got[0][:40], got[1][:80]]
        return fallback

    def start(self) -> None:
        from grader.host.pool import GraderError, Zygote
        from grader.host.sandbox import SandboxUnavailable, choose
        from grader.host.staging import read_submission
        from grader.sanitize import clean

        staged = read_submission(self.folder)
        if staged.error:
            raise ChatFailed(clean(self.t("refused", error=staged.error)))
        try:
            sandbox = choose(hide=self.hide, prefer=self.sandbox_level)
            self.zygote = Zygote(sandbox)
            limits = {"memory": self.memory, "cpu_seconds": 3600, "processes": 64}
            if sandbox.level == "bwrap":
                from grader.host.sandbox import SHM_BYTES, TMP_BYTES

                limits["memory"] = max(self.memory - TMP_BYTES - SHM_BYTES, self.memory // 2)
            self.worker = self.zygote.spawn(staged.files, limits)
        except (GraderError, SandboxUnavailable) as err:
            raise ChatFailed(clean(f"grader error: {err}"), EXIT_GRADER) from None
        from grader.host.pool import StudentError, WorkerLost

        for module in NEEDED:
            if f"{module}.py" in staged.refused:
                raise ChatFailed(explain("import", self.lang, [module, module],
                                         f"{module}.py {staged.refused[module + '.py']}"))
            try:
                self.worker.request({"op": "load", "module": module}, 120)
            except StudentError as err:
                kind = "unfinished" if err.not_implemented else "import"
                raise ChatFailed(explain(kind, self.lang, [module, "import"], err, self.course)) from None
            except WorkerLost as lost:
                raise ChatFailed(explain("lost", self.lang, [module, "import"], lost.message)) from None

    def train(self, corpus: str, pairs: list, config: dict, console: Any) -> dict:
        self.request({"op": "call", "target": {"worker": "chat", "attr": "Session"},
                      "args": [corpus, pairs, config], "store": "session", "seed": config["seed"]},
                     60, ["tokenizer", "train_bpe"])
        self.request({"op": "call", "target": {"ref": "session", "attr": "start"}}, 30, ["tokenizer", "train_bpe"])
        names = ("tokenizer", "pretrain", "sft")
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console) as bar:
                tasks = {n: bar.add_task(self.t(n), total=1) for n in names}

                def show(stages: dict) -> None:
                    for n in names:
                        done, total = stages[n]
                        bar.update(tasks[n], completed=done, total=max(total, 1))

                status = self._wait(show)
        else:
            shown: set[str] = set()
            t0 = time.monotonic()

            def show(stages: dict) -> None:
                for n in names:
                    done, total = stages[n]
                    if n not in shown and done >= total:
                        shown.add(n)
                        print(f"{self.t(n)}: {done}/{total} ({time.monotonic() - t0:.1f} s)",
                              file=sys.stderr, flush=True)

            status = self._wait(show)
        return status

    def _wait(self, show: Any) -> dict:
        """Poll the session's status until training ends; the student's error, if any, raised."""
        while True:
            status = self.request({"op": "attr", "target": {"ref": "session", "attr": "status"}}, 30,
                                  ["pretrain", "pretrain_minigpt"])
            stages, where = self._check_status(status)
            show(stages)
            if status["error"] is not None:
                err = status["error"] if isinstance(status["error"], dict) else {}
                kind = "unfinished" if err.get("not_implemented") is True else "failed"
                raise ChatFailed(explain(kind, self.lang, where, err, self.course))
            if status["finished"] is True:
                return status
            time.sleep(POLL)

    def _check_status(self, status: Any) -> tuple[dict, list]:
        bad = ChatFailed("grader error: the worker sent a malformed status", EXIT_GRADER)
        if not isinstance(status, dict) or not isinstance(status.get("stages"), dict):
            raise bad
        stages = {}
        for n in ("tokenizer", "pretrain", "sft"):
            v = status["stages"].get(n)
            if not (isinstance(v, list) and len(v) == 2 and all(type(x) is int for x in v)):
                raise bad
            stages[n] = (max(0, min(v[0], v[1])), max(0, v[1]))
        where = status.get("where")
        if not (isinstance(where, list) and len(where) == 2 and all(isinstance(x, str) for x in where)):
            raise bad
        return stages, [where[0][:40], where[1][:80]]

    def reply(self, text: str, seed: int, out: Any, typing_delay: float) -> None:
        """Stream one reply to ``out``; Ctrl-C stops it (the worker keeps its session)."""
        from grader.sanitize import clean

        self._stop = False
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            self.request({"op": "call", "target": {"ref": "session", "attr": "reply"},
                          "args": [text, seed]}, 120, ["generation", "generate_cached"])
            written = 0
            while not self._stop and written < MAX_REPLY_CHARS:
                piece = self.request({"op": "call", "target": {"ref": "session", "attr": "next_piece"}},
                                     30, ["generation", "stream_decode"])
                if piece is None:
                    break
                if not isinstance(piece, str):
                    raise ChatFailed("grader error: the worker sent a reply piece that is not text", EXIT_GRADER)
                piece = clean(piece, 1000)[: MAX_REPLY_CHARS - written]
                written += len(piece)
                out.write(piece)
                out.flush()
                if typing_delay:
                    time.sleep(typing_delay)
        finally:
            signal.signal(signal.SIGINT, previous)
        if self._stop:
            out.write(" [" + self.t("stopped") + "]")
        out.write("\n")
        out.flush()

    def _on_interrupt(self, _sig: int, _frame: Any) -> None:
        self._stop = True

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.worker is not None:
                self.worker.close()
        with contextlib.suppress(Exception):
            if self.zygote is not None:
                self.zygote.close()


def run_chat(folder: Path, *, lang: str = "en", quick: bool = False, steps: int | None = None, seed: int = 0,
             temperature: float = 0.7, sandbox_level: str = "auto", hide: list[Path] | None = None,
             memory: int = 2 << 30, stdin: Any = None, stdout: Any = None) -> int:
    """Train the submission in ``folder`` in a worker, then chat on stdin/stdout; the exit code."""
    from grader.reports import make_console

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    console = make_console(file=sys.stderr)
    interactive = stdin.isatty() and stdout.isatty()
    chat = Chat(folder, lang, sandbox_level, hide or [], memory)
    try:
        corpus, pairs = load_data()
        print(chat.t("training"), file=sys.stderr, flush=True)
        chat.start()
        status = chat.train(corpus, pairs, config_for(quick, steps, seed, temperature), console)
        info = status.get("info") if isinstance(status.get("info"), dict) else {}
        keys = ("vocab_size", "tokens", "sft_loss")
        if all(isinstance(info.get(k), (int, float)) for k in keys):
            print(chat.t("trained", **{k: info[k] for k in keys}), file=sys.stderr, flush=True)
        print(chat.t("ready"), file=sys.stderr, flush=True)
        turn = 0
        while True:
            try:
                if interactive:
                    line = input("you> ")
                else:
                    line = stdin.readline()
                    if not line:
                        break
                    line = line.rstrip("\n")
                    stdout.write(f"you> {line}\n")
            except EOFError:
                break
            except KeyboardInterrupt:
                stdout.write("\n")
                break
            if not line.strip():
                continue
            turn += 1
            stdout.write("model> ")
            stdout.flush()
            chat.reply(line.strip(), seed + turn, stdout, 0.015 if interactive else 0.0)
        print(chat.t("bye"), file=sys.stderr, flush=True)
        return EXIT_OK
    except ChatFailed as failed:
        print(failed.message, file=sys.stderr, flush=True)
        return failed.code
    except KeyboardInterrupt:
        print("\n" + chat.t("stopped"), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    finally:
        chat.close()


@click.command("chat", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--submission", type=click.Path(path_type=Path, file_okay=False),
              help="Folder with your exercise modules (default: ./exercises, as for grade).")
@click.option("--solutions", "use_solutions", is_flag=True,
              help="(Instructors) Chat with the reference solutions instead of a submission.")
@click.option("--quick", is_flag=True, help="A tiny training run (seconds): the replies are mostly noise.")
@click.option("--steps", type=click.IntRange(1, 100_000), default=None,
              help=f"Pre-training steps (instruction tuning takes half as many; default {FULL['pretrain_steps']}).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for training and sampling.")
@click.option("--temperature", type=click.FloatRange(0.0, 5.0), default=0.7, show_default=True,
              help="Sampling temperature of the replies (0: always the most likely token).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default=None, help="Message language (default: locale).")
@click.option("--memory", type=int, default=2048, show_default=True, help="Worker memory limit in MiB.")
@click.option("--sandbox", "sandbox_level", type=click.Choice(["auto", "bwrap", "uid", "process"]),
              default="auto", show_default=True, help="Confinement of your code (as for grade).")
def chat_command(submission: Path | None, use_solutions: bool, quick: bool, steps: int | None, seed: int,
                 temperature: float, lang: str | None, memory: int, sandbox_level: str) -> None:
    """Chat with the model you built (the capstone; not graded).

    Trains YOUR tokenizer on the shipped corpus, pre-trains YOUR MiniGPT with
    pretrain_minigpt, instruction-tunes it with YOUR alignment functions on a small shipped
    instruction set (1-3 minutes of CPU; --quick for seconds), then streams its replies with
    YOUR generate_cached and stream_decode. Everything runs in the grader's sandbox; nothing
    is downloaded. Reads one message a line from stdin; Ctrl-D or Ctrl-C ends.
    """
    from grader.cli import default_lang
    from grader.discover import find_modules
    from grader.metadata import find_course_root

    lang = lang or default_lang()
    root = find_course_root()
    if use_solutions:
        if submission is not None:
            raise click.UsageError("give --submission or --solutions, not both")
        if root is None or not (root / "solutions").is_dir():
            raise click.UsageError("no solutions/ folder here or above")
        folder, hide = root / "solutions", []
    else:
        if submission is None:
            if root is None:
                raise click.UsageError("no exercises/ folder here or above: run grade chat inside the course "
                                       "folder, or pass --submission DIR")
            submission = root / "exercises"
        if not submission.is_dir():
            raise click.UsageError(f"--submission {submission}: not a folder")
        found = find_modules(submission, list(NEEDED))
        if found.folder is None:
            from grader.sanitize import clean

            click.echo(clean(TEXT[lang]["missing"].format(problem=found.problem())), err=True)
            sys.exit(EXIT_STUDENT)
        folder = found.folder
        hide = [root / "solutions"] if root is not None and (root / "solutions").is_dir() else []
    code = run_chat(folder, lang=lang, quick=quick, steps=steps, seed=seed, temperature=temperature,
                    sandbox_level=sandbox_level, hide=hide, memory=memory << 20)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    chat_command.main(args=argv, prog_name="python -m grader.chat")


if __name__ == "__main__":
    main()
