"""The trust boundary in the import graph: the worker side imports only the protocol."""

from __future__ import annotations

import ast
from pathlib import Path

GRADER = Path(__file__).resolve().parent.parent / "grader"


def _grader_imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "grader"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "grader":
                out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level:
            out.add("<relative import>")
    return out


def _allowed(name: str, own: str) -> bool:
    return name.startswith(("grader.protocol", own)) or name == "grader"


def test_worker_imports_only_protocol_and_itself():
    files = sorted((GRADER / "worker").glob("*.py"))
    assert files
    for f in files:
        bad = {n for n in _grader_imports(f) if not _allowed(n, "grader.worker")}
        assert not bad, f"{f.name} imports {sorted(bad)}: the worker side may import only grader.protocol"


def test_protocol_imports_only_itself():
    for f in sorted((GRADER / "protocol").glob("*.py")):
        bad = {n for n in _grader_imports(f) if not _allowed(n, "grader.protocol")}
        assert not bad, f"{f.name} imports {sorted(bad)}"


def test_worker_copy_holds_no_course_files(tmp_path):
    from grader.host.sandbox import Sandbox

    lib = Sandbox("process").install_worker(tmp_path)
    names = {p.relative_to(lib).as_posix() for p in lib.rglob("*") if p.is_file()}
    assert names, "nothing copied"
    assert all(n.startswith(("grader/protocol/", "grader/worker/")) or n == "grader/__init__.py" for n in names), names
    assert not any("course" in n or n.endswith((".snap", ".npz", ".toml")) for n in names)
