"""The stubs in exercises/ are generated from solutions/ and stay in sync: no solution text in
them, the same public API (names and signatures) as the reference."""

from __future__ import annotations

import ast

import pytest

from grader.stubgen import BEGIN, END, MarkerError, generate, has_markers, make_stub
from tests.harness import EXERCISES, SOLUTIONS

SOLUTION_FILES = sorted(SOLUTIONS.glob("*.py"))
IDS = [p.stem for p in SOLUTION_FILES]


def regions(source: str) -> list[list[str]]:
    out: list[list[str]] = []
    current = None
    for line in source.splitlines():
        if BEGIN.match(line):
            current = []
        elif END.match(line):
            out.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return out


def code(lines) -> list[str]:
    return [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]


def public_api(source: str) -> dict[str, str]:
    """Every public def/class (and public or dunder method) with its signature."""

    def sig(fn) -> str:
        decorators = [ast.unparse(d) for d in fn.decorator_list]
        returns = ast.unparse(fn.returns) if fn.returns else ""
        return f"{decorators} {type(fn).__name__}({ast.unparse(fn.args)}) -> {returns}"

    out: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            out[node.name] = sig(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            out[node.name] = "class(" + ", ".join(ast.unparse(b) for b in node.bases) + ")"
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                        not item.name.startswith("_") or (item.name.startswith("__") and item.name.endswith("__"))):
                    out[f"{node.name}.{item.name}"] = sig(item)
    return out


def test_committed_stubs_are_the_generated_ones():
    assert generate(SOLUTIONS, EXERCISES, check=True) == [], "run `grade stubs` and commit exercises/"


@pytest.mark.parametrize("name", IDS)
def test_every_solution_has_markers_and_a_stub(name):
    source = (SOLUTIONS / f"{name}.py").read_text(encoding="utf-8")
    assert has_markers(source), f"solutions/{name}.py has no solution region"
    assert (EXERCISES / f"{name}.py").is_file()


@pytest.mark.parametrize("name", IDS)
def test_stub_holds_no_solution_text(name):
    source = (SOLUTIONS / f"{name}.py").read_text(encoding="utf-8")
    stub = (EXERCISES / f"{name}.py").read_text(encoding="utf-8")
    assert "BEGIN SOLUTION" not in stub and "END SOLUTION" not in stub
    outside = set(code(make_stub(source).splitlines()))  # lines shown anyway (outside regions)
    stub_lines = code(stub.splitlines())
    present = set(stub_lines)
    pairs = set(zip(stub_lines, stub_lines[1:]))
    for region in regions(source):
        body = code(region)
        leaked = [s for s in body if s not in outside and s in present and len(s) >= 12]
        assert not leaked, f"exercises/{name}.py contains solution code: {leaked[:3]}"
        for a, b in zip(body, body[1:]):
            assert (a, b) not in pairs or (a in outside and b in outside), \
                f"exercises/{name}.py contains solution code: {a} / {b}"


@pytest.mark.parametrize("name", IDS)
def test_stub_has_the_reference_api(name):
    sol = public_api((SOLUTIONS / f"{name}.py").read_text(encoding="utf-8"))
    stub = public_api((EXERCISES / f"{name}.py").read_text(encoding="utf-8"))
    assert sol, f"solutions/{name}.py defines nothing public"
    missing = sorted(set(sol) - set(stub))
    assert not missing, f"exercises/{name}.py lacks {missing}"
    extra = sorted(set(stub) - set(sol))
    assert not extra, f"exercises/{name}.py defines {extra}, which the reference does not"
    for key in sol:
        assert stub[key] == sol[key], f"{name}.{key}: the stub's signature differs from the reference's"


# --- the generator itself ---


def test_make_stub_replaces_regions_with_the_enclosing_name():
    source = '''class Block:
    def forward(self, x):
        """doc"""
        # TODO: the hint
        # BEGIN SOLUTION
        y = x + 1
        return y
        # END SOLUTION


def f(x):
    # BEGIN SOLUTION (remove)
    z = 3
    # END SOLUTION
    return x
'''
    stub = make_stub(source)
    assert 'raise NotImplementedError("Block.forward")' in stub
    assert "# TODO: the hint" in stub and '"""doc"""' in stub
    assert "y = x + 1" not in stub and "z = 3" not in stub and "SOLUTION" not in stub
    assert "    return x" in stub


@pytest.mark.parametrize("bad", [
    "def f():\n    # BEGIN SOLUTION\n    return 1\n",
    "def f():\n    return 1\n    # END SOLUTION\n",
    "def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n",
])
def test_unpaired_markers_are_an_error(bad):
    with pytest.raises(MarkerError):
        make_stub(bad)
