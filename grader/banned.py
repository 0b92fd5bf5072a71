"""Banned APIs: read the submission's source as text (never import it) and find the names
an exercise must implement itself, inside the function or class they are banned in.

The worker also blocks the same APIs at run time during calls into that scope, so an
alias the text scan misses still fails (``BannedAPIError``); this check reports both.
"""

from __future__ import annotations

import ast
from pathlib import Path

from grader.checks import Check, Ctx, fail


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted name for imports (``F`` -> ``torch.nn.functional``)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                out[a.asname or a.name] = f"{node.module}.{a.name}"
    return out


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
        return ".".join(reversed(parts))
    return None


def _normal(name: str) -> str:
    return name.replace("torch.nn.functional.", "F.").replace("torch.nn.modules.", "nn.")


def scan(source: str, scope: str, banned: list[str]) -> list[tuple[int, str]]:
    """(line, api) for every use of a banned API inside ``scope`` (a function or class)."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    targets = {_normal(b) for b in banned}
    methods = {b.rsplit(".", 1)[1] for b in banned if b.startswith("torch.Tensor.")}
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == scope:
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Attribute, ast.Name)):
                    dotted = _dotted(sub, aliases)
                    if dotted and _normal(dotted) in targets:
                        found.append((sub.lineno, dotted))
                    elif (isinstance(sub, ast.Attribute) and sub.attr in methods
                          and not (isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"))
                          and not (dotted and dotted.split(".")[0] in aliases.values())):
                        found.append((sub.lineno, f"Tensor.{sub.attr}"))
    return sorted(set(found))


def banned_check(exercise) -> Check:
    """The check appended to every exercise whose metadata bans APIs."""

    def run(ctx: Ctx) -> None:
        path = Path(ctx.submission) / f"{exercise.id}.py"
        try:
            source = read_source(path)
            ast.parse(source)
        except (OSError, SyntaxError, ValueError) as exc:
            fail(f"could not read {path.name}: {exc}")
        stubbed = []
        for scope, names in exercise.banned.items():
            if not _defines(source, scope) or _raises_not_implemented(source, scope):
                stubbed.append(scope)
                continue
            hits = scan(source, scope, names)
            if hits:
                line, api = hits[0]
                fail(f"{scope} uses {api}, which this exercise asks you to implement yourself",
                     frames=[[path.name, line, scope, source.splitlines()[line - 1].strip()[:200]]])
        blocked = [s for s in ctx.banned_seen if s]
        if blocked:
            fail(f"your code called a banned API at run time: {blocked[0]}")
        if stubbed and len(stubbed) == len(exercise.banned):
            fail("not implemented yet", not_implemented=True)
        if stubbed:
            fail(f"{stubbed[0]} is not implemented yet (or missing)", not_implemented=True)

    return Check("banned_apis", "uses no banned API (" + ", ".join(exercise.banned) + ")",
                 "banned", tuple(exercise.banned), run=run)


def read_source(path: Path) -> str:
    """A module's text decoded as Python decodes it: a byte-order mark or a coding line is
    honoured, UTF-8 otherwise (``UnicodeDecodeError``, a ``ValueError``, when it is not)."""
    import io
    import tokenize

    data = path.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


def _defines(source: str, scope: str) -> bool:
    return any(isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == scope
               for n in ast.walk(ast.parse(source)))


def _raises_not_implemented(source: str, scope: str) -> bool:
    """True when ``scope``'s body is still the stub's ``raise NotImplementedError``."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == scope:
            body = node.body
            if isinstance(node, ast.ClassDef):
                return all(_raises_not_implemented_fn(f) for f in body if isinstance(f, ast.FunctionDef))
            return _raises_not_implemented_fn(node)
    return False


def _raises_not_implemented_fn(fn: ast.FunctionDef) -> bool:
    for stmt in fn.body:
        if isinstance(stmt, ast.Raise) and "NotImplementedError" in ast.unparse(stmt):
            return True
    return False
