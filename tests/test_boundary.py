"""The trust boundary, attacked (issue: official grading you can trust).

One hostile submission per class of attack: reading reference-derived code (known-mistake
replays), reading the host's files and sockets outside the allowlist, staging through links,
sharing files between workers and between submissions of a batch, flooding /tmp and time,
and regaining privileges. Each gains nothing, the rest is graded as without the attacker,
and nothing is left running or on disk. The ``uid`` level (root, no namespaces: Docker,
Gradescope) is tested by running the grader as root with a bubblewrap that fails as it does
in such a container.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.host.sandbox import bwrap_works
from tests.harness import MISTAKES, ROOT, SOLUTIONS, exercises, submission_from_reference

needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap sandbox not available here")
needs_root = pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root")


def _grade(zygote, sub: Path, ids: list[str], **kw):
    from grader.host.sandbox import choose
    from grader.runner import Runner

    return Runner(sub, exercises(ids), mode="official", reference=SOLUTIONS, seed=kw.pop("seed", None),
                  sandbox=zygote.sandbox if zygote else choose(), zygote=zygote, **kw).run()


def _check(result, ex_id: str, check_id: str):
    return next(c for e in result.exercises if e.id == ex_id for c in e.checks if c.id == check_id)


# A scan of everything the worker can see for reference-derived modules: any attention.py
# that is not the submission's own and holds the reference's code, any solutions/ or
# mistakes/ folder, any snapshot or course data file.
SCAN = r'''
import os, time
def _scan(limit=8.0):
    own = os.path.realpath(__file__)
    found, t0, n = [], time.monotonic(), 0
    for top in ["/"]:
        for d, dirs, files in os.walk(top):
            if d in ("/proc", "/sys", "/dev") or time.monotonic() - t0 > limit:
                dirs[:] = []
                continue
            n += len(files)
            for name in dirs:
                if name in ("solutions", "mistakes"):
                    found.append(os.path.join(d, name))
            for name in files:
                p = os.path.join(d, name)
                if name.endswith((".snap", ".npz")) and "grader" in p:
                    found.append(p)
                if name == "attention.py" and os.path.realpath(p) != own:
                    try:
                        text = open(p, errors="replace").read()
                    except OSError:
                        continue
                    if "def cosine_attention" in text or "known mistake" in text:
                        found.append(p)
    return found, n
'''


@needs_bwrap
def test_known_mistake_replays_are_out_of_reach(zygote, tmp_path):
    """attention carries a known mistake whose property failure is replayed (official mode);
    masking, graded after it in the same run and zygote, searches everything it can see."""
    attack = SCAN + textwrap.dedent('''
        def causal_mask(L, device=None):
            found, n = _scan()
            if found:
                raise RuntimeError("found " + ", ".join(found[:5]))
            raise RuntimeError(f"nothing found in {n} files")
        ''')
    mistake = (MISTAKES / "attention" / "softmax_no_max_shift.py").read_text()
    sub = submission_from_reference(tmp_path, {"attention": mistake, "masking": attack})
    result = _grade(zygote, sub, ["attention", "masking"], name_mistakes=True, jobs=1)
    props = _check(result, "attention", "softmax_properties")
    assert props.status == "failed" and props.diagnosis, "the replay (naming the mistake) did not run"
    msg = _check(result, "masking", "causal_mask_pattern").message
    assert "nothing found in" in msg, msg


HOST_FILES = r'''
import os, socket
def _try_all(paths, sockets, abstract):
    got = []
    for p in paths:
        try:
            if os.path.isdir(p):
                os.listdir(p)
            else:
                open(p, "rb").read(1)
            got.append(p)
        except OSError:
            pass
    for s in sockets:
        c = socket.socket(socket.AF_UNIX)
        try:
            c.connect(s)
            got.append(s)
        except OSError:
            pass
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect("\0" + abstract)
        got.append("@" + abstract)
    except OSError:
        pass
    return got
'''


@needs_bwrap
def test_allowlist_root_shows_nothing_of_the_host(zygote, tmp_path):
    """A copy of the course elsewhere on disk, the grader's source (checks, snapshots, data),
    a build/ folder, host files and host unix sockets (path and abstract) do not exist."""
    outside = Path("/var/tmp") / f"course-copy-{os.getpid()}"
    shutil.copytree(SOLUTIONS, outside / "solutions", dirs_exist_ok=True)
    sock_path = str(outside / "host.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(sock_path)
    srv.listen(1)
    abstract = f"grader-test-{os.getpid()}"
    srv2 = socket.socket(socket.AF_UNIX)
    srv2.bind("\0" + abstract)
    srv2.listen(1)
    paths = [str(outside / "solutions" / "attention.py"), str(ROOT / "grader" / "course" / "attention.py"),
             str(ROOT / "grader" / "course" / "snapshots"), str(ROOT / "grader" / "data"),
             str(ROOT / "solutions"), str(ROOT / "build"), "/etc/passwd", "/home", "/var",
             "/run/grader", "/root/.cache", "/root/.ssh"]
    # README's setup puts the virtualenv inside the course folder: then that folder exists in
    # the sandbox, holding the virtualenv alone
    venv = Path(sys.prefix).resolve()
    inside = sys.prefix != sys.base_prefix and venv.is_relative_to(ROOT.resolve())
    allowed = {venv.relative_to(ROOT.resolve()).parts[0]} if inside else set()
    if not inside:
        paths.append(str(ROOT))
    attack = HOST_FILES + textwrap.dedent(f'''
        def causal_mask(L, device=None):
            got = _try_all({paths!r}, [{sock_path!r}], {abstract!r})
            there = sorted(os.listdir({str(ROOT)!r})) if os.path.isdir({str(ROOT)!r}) else []
            if set(there) - {allowed!r}:
                got.append({str(ROOT)!r} + " holding " + ",".join(there))
            raise RuntimeError("reached " + ", ".join(got) if got else "reached nothing; top: "
                               + ",".join(sorted(os.listdir("/"))))
        ''')
    try:
        (ROOT / "build").mkdir(exist_ok=True)
        sub = submission_from_reference(tmp_path, {"masking": attack})
        result = _grade(zygote, sub, ["masking", "attention"])
    finally:
        srv.close()
        srv2.close()
        shutil.rmtree(outside, ignore_errors=True)
        with __import__("contextlib").suppress(OSError):
            (ROOT / "build").rmdir()
    msg = _check(result, "masking", "causal_mask_pattern").message
    assert "reached nothing" in msg, msg
    top = set(msg.split("top: ")[1].split(" ")[0].strip().split(","))
    assert top <= {"dev", "proc", "tmp", "run", "usr", "lib", "lib64", "lib32", "libx32", "etc", "root",
                   "opt", "bin", "home", "srv", "work", "var"} - {"home", "srv", "work", "var"}, top
    att = next(e for e in result.exercises if e.id == "attention")
    assert att.score == att.max_score


def test_links_and_special_files_are_refused(zygote, tmp_path):
    """A module that is a link (to the reference, to a root-only file) or a FIFO is refused
    with a clear message, never read; the rest is graded; the seed comes from staged bytes."""
    from grader.host.staging import read_submission

    sub = submission_from_reference(tmp_path)
    (sub / "attention.py").unlink()
    (sub / "attention.py").symlink_to(SOLUTIONS / "attention.py")
    (sub / "embedding.py").unlink()
    (sub / "embedding.py").symlink_to("/etc/shadow" if os.path.exists("/etc/shadow") else "/etc/hostname")
    os.mkfifo(sub / "helpers.py")  # reading it would block forever
    staged = read_submission(sub)
    assert "attention.py" not in staged.files and "symbolic link" in staged.refused["attention.py"]
    assert "regular file" in staged.refused["helpers.py"]
    result = _grade(zygote, sub, ["attention", "embedding", "masking"])
    for ex_id in ("attention", "embedding"):
        ex = next(e for e in result.exercises if e.id == ex_id)
        assert ex.score == 0
        assert all("symbolic link" in c.message for c in ex.checks), ex.checks[0].message
    m = next(e for e in result.exercises if e.id == "masking")
    assert m.score == m.max_score
    assert result.seed == staged.digest([e.id for e in exercises(["attention", "embedding", "masking"])])


def test_staged_bytes_are_what_is_hashed_and_graded(zygote, tmp_path):
    """Changing a file after staging changes nothing: the worker imports the staged copy."""
    from grader.runner import Runner

    sub = submission_from_reference(tmp_path)
    runner = Runner(sub, exercises(["masking"]), mode="official", reference=SOLUTIONS, seed=None,
                    sandbox=zygote.sandbox, zygote=zygote)
    (sub / "masking.py").write_text("raise SystemExit('swapped after staging')\n")
    result = runner.run()
    assert result.exercises[0].score == result.exercises[0].max_score


PLANT = r'''
import os, glob
def _plant_and_look(tag):
    seen = []
    for d in ("/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp"), os.getcwd()):
        for f in glob.glob(os.path.join(d, "**", "planted-*"), recursive=True):
            if tag not in f:
                seen.append(f)
        try:
            with open(os.path.join(d, f"planted-{tag}"), "w") as fh:
                fh.write("hello")
        except OSError:
            pass
    for d in glob.glob("/run/grader/*") + glob.glob("/tmp/*/"):
        for f in glob.glob(os.path.join(d, "*.py")):
            try:
                text = open(f).read()
            except OSError:
                continue
            if tag not in text:
                seen.append(f)
    return seen
'''


@needs_bwrap
@needs_root
def test_workers_of_one_run_share_nothing(zygote, tmp_path):
    """Two exercises graded at once: each worker plants files in every writable place and
    looks for the other's files and stage."""
    def attack(tag: str, fn: str, sig: str) -> str:
        return PLANT + textwrap.dedent(f'''
            # {tag}
            import time
            def {fn}({sig}):
                seen = []
                for _ in range(6):
                    seen += _plant_and_look({tag!r})
                    time.sleep(0.25)
                raise RuntimeError("saw " + ", ".join(sorted(set(seen))[:4]) if seen else "saw nothing")
            ''')
    sub = submission_from_reference(tmp_path, {"masking": attack("tagA", "causal_mask", "L, device=None"),
                                               "attention": attack("tagB", "softmax", "x, dim=-1")})
    result = _grade(zygote, sub, ["attention", "masking"], jobs=2)
    for ex_id, cid in (("masking", "causal_mask_pattern"), ("attention", "softmax_reference")):
        msg = _check(result, ex_id, cid).message
        assert "saw nothing" in msg, msg


def _batch_env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TMPDIR"] = str(tmp)
    env["PYTHONPATH"] = str(ROOT)
    return env


@needs_bwrap
def test_batch_submissions_share_nothing_and_leave_nothing(tmp_path):
    """Graded one after the other by one pool process: the first plants files and stays
    alive as long as it can; the second looks for the first's files and code. Afterwards
    nothing of either is left in the temporary folder."""
    subs = tmp_path / "subs"
    first = submission_from_reference(subs / "a", {"masking": PLANT + textwrap.dedent('''
        import subprocess
        def causal_mask(L, device=None):
            _plant_and_look("first-secret")
            subprocess.Popen(["sleep", "600.25"], start_new_session=True)
            raise RuntimeError("planted")
        ''')})
    second = submission_from_reference(subs / "b", {"masking": PLANT + textwrap.dedent('''
        def causal_mask(L, device=None):
            seen = _plant_and_look("second")
            raise RuntimeError("saw " + ", ".join(seen[:4]) if seen else "saw nothing")
        ''')})
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "out"
    code = textwrap.dedent(f'''
        from pathlib import Path
        from grader.batch import run_batch
        rows = run_batch([Path({str(first)!r}), Path({str(second)!r})], Path({str(out)!r}), jobs=1,
                         mode="official", reference=Path({str(SOLUTIONS)!r}), seed=None,
                         exercises=["masking"], formats=["json"], lang="en")
        print([r["status"] for r in rows])
        ''')
    res = subprocess.run([sys.executable, "-c", code], env=_batch_env(tmp), capture_output=True, text=True,
                         timeout=600, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads((out / "submission-2" / "report.json").read_text()) \
        if (out / "submission-2").exists() else json.loads((out / "submission" / "report.json").read_text())
    checks = {c["name"]: c for e in doc["exercises"] for c in e["checks"]}
    assert "saw nothing" in checks["causal_mask_pattern"]["message"], checks["causal_mask_pattern"]["message"]
    time.sleep(0.5)
    left = [p for p in tmp.rglob("*")]
    assert not left, f"left on disk: {left[:5]}"
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sleep 600.25" not in ps


def test_report_folder_names_never_collide_or_escape(tmp_path):
    from grader.batch import names_for

    for n in ("alice.zip", "alice-2.zip", "...zip", "..", ".hidden.zip"):
        (tmp_path / n).touch() if n != ".." else None
    (tmp_path / "alice").mkdir()
    sources = [tmp_path / "alice.zip", tmp_path / "alice", tmp_path / "alice-2.zip", tmp_path / "...zip",
               tmp_path / ".hidden.zip", tmp_path / "Alice.zip"]
    names = names_for(sources)
    assert len(set(n.lower() for n in names)) == len(names), names
    for n in names:
        assert n and "/" not in n and not n.startswith(".") and n not in ("grades.csv", "grades.json")
        assert (tmp_path / "out" / n).resolve().parent == (tmp_path / "out").resolve()


@needs_bwrap
def test_tmp_and_shm_are_size_limited(zygote, tmp_path):
    """Writing GiBs into /tmp or /dev/shm stops at the tmpfs size; the rest is graded."""
    attack = textwrap.dedent('''
        import os
        def causal_mask(L, device=None):
            sizes = {}
            for d in ("/tmp", "/dev/shm", os.environ.get("TMPDIR", "/tmp")):
                total = 0
                try:
                    with open(os.path.join(d, "flood"), "wb") as f:
                        block = b"x" * (1 << 20)
                        for _ in range(2048):
                            f.write(block)
                            total += len(block)
                except OSError:
                    pass
                sizes[d] = total >> 20
            raise RuntimeError(f"wrote {sizes}")
        ''')
    sub = submission_from_reference(tmp_path, {"masking": attack})
    result = _grade(zygote, sub, ["masking", "attention"])
    msg = _check(result, "masking", "causal_mask_pattern").message
    assert "wrote" in msg, msg
    sizes = eval(msg.split("wrote ", 1)[1].split("}")[0] + "}")  # noqa: S307 - our own message
    assert all(v <= 300 for v in sizes.values()), sizes
    att = next(e for e in result.exercises if e.id == "attention")
    assert att.score == att.max_score


def test_exercise_time_budget(zygote, tmp_path):
    """Every call answers just under the call timeout: the exercise's budget ends it, the
    remaining checks fail as timeout, and the next exercise is graded normally."""
    from grader.runner import Runner

    slow = textwrap.dedent('''
        import time
        _orig = softmax
        def softmax(x, dim=-1):
            time.sleep(1.5)
            return _orig(x, dim)
        ''')
    sub = submission_from_reference(tmp_path, {"attention": slow})
    exs = exercises(["attention", "masking"])
    exs[0].budget = 6.0
    t0 = time.monotonic()
    result = Runner(sub, exs, mode="official", reference=SOLUTIONS, seed=None, sandbox=zygote.sandbox,
                    zygote=zygote, call_timeout=2.0).run()
    elapsed = time.monotonic() - t0
    att = next(e for e in result.exercises if e.id == "attention")
    budget_fails = [c for c in att.checks if c.status == "timeout" and "time budget" in c.message]
    assert budget_fails, [(c.id, c.status, c.message) for c in att.checks]
    assert elapsed < 60, elapsed
    m = next(e for e in result.exercises if e.id == "masking")
    assert m.score == m.max_score


@needs_bwrap
@needs_root
def test_no_privileges_in_the_sandbox(zygote, tmp_path):
    """The worker has no capability and cannot become root; the zygote keeps only the few
    capabilities it needs to start workers."""
    from grader.host.sandbox import ZYGOTE_CAPS

    attack = textwrap.dedent('''
        import os
        def causal_mask(L, device=None):
            caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapPrm"))]
            zyg = [l.split()[1] for l in open(f"/proc/{os.getppid()}/status") if l.startswith("CapEff")] \
                if os.path.exists(f"/proc/{os.getppid()}/status") else ["?"]
            try:
                os.setuid(0)
                became = "root"
            except OSError:
                became = "no"
            try:
                os.kill(os.getppid(), 9)
                killed = "yes"
            except OSError:
                killed = "no"
            raise RuntimeError(f"caps={caps} zygote={zyg} became={became} killed={killed} uid={os.getuid()}")
        ''')
    sub = submission_from_reference(tmp_path, {"masking": attack})
    result = _grade(zygote, sub, ["masking"])
    msg = _check(result, "masking", "causal_mask_pattern").message
    assert "caps=['0000000000000000', '0000000000000000']" in msg, msg
    assert "became=no" in msg and "killed=no" in msg and "uid=0" not in msg, msg
    bits = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6,
            "CAP_SETUID": 7}
    want = sum(1 << bits[c] for c in ZYGOTE_CAPS)
    zyg = msg.split("zygote=['")[1].split("'")[0]
    assert int(zyg, 16) == want, (zyg, hex(want))


# --- the uid level: root, bubblewrap refused (as in Docker) ---------------------------------

FAKE_BWRAP = "#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n"


def _uid_course(tmp_path: Path) -> tuple[Path, dict[str, str], list[str]]:
    """A copy of the course (as Gradescope's source folder would hold it), an environment in
    which bubblewrap fails like in a container, and a command prefix that makes the Python
    installation readable by others (as in a Docker image) for the test's duration."""
    course = tmp_path / "source"
    for name in ("grader", "solutions", "mistakes", "exercises"):
        shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", course / "pyproject.toml")
    fake = tmp_path / "bwrap"
    fake.write_text(FAKE_BWRAP)
    fake.chmod(0o755)
    env = dict(os.environ)
    env.update(GRADER_BWRAP=str(fake), PYTHONPATH=str(course), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir(mode=0o777)
    os.chmod(tmp_path / "tmp", 0o1777)
    for p in [tmp_path, *tmp_path.parents]:  # pytest's folders are 0700: let workers traverse
        if p != Path("/"):
            os.chmod(p, os.stat(p).st_mode | 0o711)
    prefix: list[str] = []
    # the folder others cannot enter: the interpreter's own installation (a virtualenv's base
    # Python included, whose standard library the worker reads), then the virtualenv's
    closed, home = _closed_folder()
    if closed is not None:
        if shutil.which("unshare") is None:
            pytest.skip("the Python installation is closed to others and `unshare` is missing")
        real = tmp_path / "real"
        real.mkdir()
        inner = home.relative_to(closed).parts[0]
        script = (f'mount --bind {closed} {real} && mount -t tmpfs -o mode=0755 tmpfs {closed} && '
                  f'mkdir -p {closed / inner} && mount --bind {real / inner} {closed / inner} && exec "$@"')
        prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    return course, env, prefix


def _closed_folder() -> tuple[Path | None, Path]:
    """(the outermost folder of the Python installation that other users cannot enter, that
    installation): the base installation of a virtualenv first (the worker reads its standard
    library), then the virtualenv; (None, sys.prefix) when others can read both."""
    for home in dict.fromkeys([Path(sys.base_prefix), Path(sys.prefix)]):
        found = next((p for p in [*home.parents[::-1], home] if p != Path("/") and not os.stat(p).st_mode & 0o001),
                     None)
        if found is not None:
            return found, home
    return None, Path(sys.prefix)


@needs_root
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_uid_level_hides_the_reference_side(tmp_path):
    course, env, prefix = _uid_course(tmp_path)
    sub = tmp_path / "sub"
    sub.mkdir()
    for f in (course / "solutions").glob("*.py"):
        shutil.copy(f, sub / f.name)
    mistake = (MISTAKES / "attention" / "softmax_no_max_shift.py").read_text()
    (sub / "attention.py").write_text((sub / "attention.py").read_text() + "\n" + mistake)
    attack = SCAN + HOST_FILES + textwrap.dedent(f'''
        def causal_mask(L, device=None):
            found, n = _scan(6.0)
            got = _try_all([{str(course / "solutions")!r}, {str(course / "solutions" / "attention.py")!r},
                            {str(course / "mistakes")!r}, {str(course / "grader" / "course" / "attention.py")!r},
                            {str(course / "grader" / "data")!r}], [], "x")
            try:
                os.kill(os.getppid(), 9)
                got.append("killed the zygote")
            except OSError:
                pass
            # world-readable copies of a course elsewhere are out of this level's reach (README)
            found = [f for f in found if f.startswith({str(tmp_path)!r})
                     or any(x in f for x in ("/grader-run-", "/grader-mistakes-", "/grader-view-"))]
            raise RuntimeError(f"uid={{os.getuid()}} found={{found[:3]}} got={{got}}")
        ''')
    (sub / "masking.py").write_text((sub / "masking.py").read_text() + "\n" + attack)
    out = tmp_path / "report.json"
    cmd = [*prefix, sys.executable, "-m", "grader.cli", "attention", "masking", "embedding", "--submission",
           str(sub), "--reference", str(course / "solutions"), "--require-sandbox", "--format", "json",
           "--output", str(out)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["sandbox"] == "uid"
    checks = {(e["id"], c["name"]): c for e in doc["exercises"] for c in e["checks"]}
    msg = checks[("masking", "causal_mask_pattern")]["message"]
    assert "uid=0" not in msg and "found=[]" in msg and "got=[]" in msg, msg
    assert checks[("attention", "softmax_properties")]["diagnosis"], "the mistake replay did not run"
    emb = next(e for e in doc["exercises"] if e["id"] == "embedding")
    assert emb["score"] == emb["max_score"], [(c["name"], c["message"][:300]) for c in emb["checks"]]
    assert not list((tmp_path / "tmp").iterdir()), list((tmp_path / "tmp").iterdir())


@needs_root
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_require_sandbox_says_exactly_why(tmp_path):
    """bubblewrap refused and the uid level impossible: exit 3 with both reasons, bwrap's own
    words included; without --require-sandbox, official grading as root refuses as well."""
    fake = tmp_path / "bwrap"
    fake.write_text(FAKE_BWRAP)
    fake.chmod(0o755)
    env = dict(os.environ, GRADER_BWRAP=str(fake), PYTHONPATH=str(ROOT))
    sub = submission_from_reference(tmp_path)
    cmd = [sys.executable, "-m", "grader.cli", "masking", "--submission", str(sub), "--reference",
           str(SOLUTIONS), "--sandbox", "uid", "--format", "json", "--output", str(tmp_path / "r.json")]
    # make the uid level impossible: a worker uid cannot read this interpreter's folder
    closed, _home = _closed_folder()
    if closed is None:
        pytest.skip("the interpreter is readable by others here: the uid level would run")
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 3, res.stderr
    assert "not readable by an unprivileged user" in res.stderr, res.stderr
    res = subprocess.run([*cmd[:-6], "--require-sandbox", *cmd[-4:]], env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 3
    assert "Creating new namespace failed" in res.stderr and "uid:" in res.stderr, res.stderr


def test_a_killed_grader_leaves_nothing_behind(tmp_path):
    """SIGKILL to the grader mid-run: its workers die with it, and the next run removes the
    folders it left (nothing of a submission stays on disk)."""
    import signal

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = _batch_env(tmp)
    sub = submission_from_reference(tmp_path, {"masking": "import time\ndef causal_mask(L, device=None):\n"
                                                          "    time.sleep(60)\n"})
    cmd = [sys.executable, "-m", "grader.cli", "masking", "--submission", str(sub), "--reference", str(SOLUTIONS),
           "--format", "json", "--output", str(tmp_path / "r.json")]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(p.name.startswith("grader-run-") and (p / "s1").exists()
                                                  for p in tmp.iterdir()):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(tmp.iterdir()), "the run had not started"
    time.sleep(1.0)
    res = subprocess.run([*cmd[:3], "masking", "--submission", str(SOLUTIONS), "--reference", str(SOLUTIONS),
                          "--format", "json", "--output", str(tmp_path / "r2.json")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert not list(tmp.iterdir()), list(tmp.iterdir())
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(sub) not in ps


def test_allowlist_never_takes_the_cwd_or_tmp(monkeypatch, tmp_path):
    """sys.path holds the cwd (``python -m`` from /tmp, a home folder, a checkout): none of
    them is mounted, only the interpreter's own and package folders."""
    from grader.host import sandbox

    monkeypatch.setattr(sys, "path", ["/tmp", str(tmp_path), str(Path.home()), str(ROOT), *sys.path])
    sandbox.allowlist.cache_clear()
    try:
        paths = sandbox.allowlist()
    finally:
        sandbox.allowlist.cache_clear()
    for bad in (Path("/tmp"), tmp_path, Path.home(), ROOT):
        assert bad not in paths, (bad, paths)


@needs_bwrap
def test_a_virtualenv_inside_the_course_folder_runs_and_shows_nothing_else(tmp_path):
    """README's setup (`python -m venv .venv` in the course folder, then an editable install):
    the sandbox mounts that environment's interpreter files although they lie inside the
    checkout, and nothing else of the checkout: a submission scanning the sandbox finds no
    solutions, mistakes, snapshots or reference code, and the reference grades in full."""
    from tests.envs import clean_env, make_venv, rmtree, venv_parent

    parent = venv_parent(tmp_path)
    course = parent / "course"
    try:
        for name in ("grader", "solutions", "mistakes", "exercises"):
            shutil.copytree(ROOT / name, course / name, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "pyproject.toml", course / "pyproject.toml")
        py = make_venv(course / ".venv")
        purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True, env=clean_env()).stdout.strip()
        Path(purelib, "__editable__course.pth").write_text(f"{course}\n")  # what `pip install -e .` does
        attack = SCAN + textwrap.dedent('''
            def causal_mask(L, device=None):
                found, n = _scan()
                raise RuntimeError("found " + ", ".join(found[:5]) if found else f"found nothing in {n} files")
            ''')
        sub = submission_from_reference(tmp_path, {"masking": attack})
        out = tmp_path / "r.json"
        run = subprocess.run([str(py), "-m", "grader.cli", "masking", "attention", "--submission", str(sub),
                              "--mode", "local", "--format", "json", "--output", str(out)],
                             cwd=course, env=clean_env(), capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        report = json.loads(out.read_text())
        assert report["sandbox"] == "bwrap" and not report["grader_errors"], report["grader_errors"]
        exs = {e["id"]: e for e in report["exercises"]}
        masking = {c["name"]: c for c in exs["masking"]["checks"]}
        assert "found nothing" in masking["causal_mask_pattern"]["message"], masking["causal_mask_pattern"]["message"]
        assert exs["attention"]["score"] == exs["attention"]["max_score"] > 0
    finally:
        rmtree(parent)
