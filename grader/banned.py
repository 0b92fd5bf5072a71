"""Banned APIs: read the submission's source as text (never import it) and find the names an
exercise must implement itself, in the function or class the exercise module exposes.

What the static scan judges, all on the trusted side:

- the object the exercise module *exposes* under the banned scope's name, wherever it was
  defined: the module's own ``def`` / ``class``, or a name it imports from another module of
  the submission folder (``from helpers import softmax``, ``from helpers import *``,
  ``import helpers`` then ``softmax = helpers.softmax``), or an assignment
  (``softmax = _impl``); the last binding at module level wins, as it does in Python. A
  scope that is imported from outside the submission (``from torch.nn.functional import
  softmax``) is not the student's code and fails;
- everything that object uses, transitively: module-level helpers it calls, module-level
  aliases (``_sm = torch.softmax``), helpers in other modules of the submission;
- every spelling of a banned API the scan can resolve: import aliases, ``getattr(torch,
  "softmax")`` with a constant name, ``torch.__dict__["softmax"]``, and the same operator
  under torch's other names: ``torch._softmax``, ``torch._C._VariableFunctions.softmax``,
  ``torch._VF.*``, ``torch._C.TensorBase.softmax`` / ``_TensorBase``, ``torch._C._nn.*`` (the
  functional ops), ``torch.ops.aten.softmax`` / ``_softmax`` / ``native_*`` (with any
  overload, ``.default``), ``torch.nn.modules.<sub>.<Class>``.

What it cannot see: names built at run time (``getattr(torch, "soft" + "max")``, ``eval``),
aliases made outside any scanned code (``globals()[...] = ...``), and operators with
unrelated names (``torch.ops.aten._scaled_dot_product_flash_attention``). The worker also
blocks the banned APIs at run time during calls into the scope, and this check reports
what it blocked (``BannedAPIError``).
"""

from __future__ import annotations

import ast
import collections
import io
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from grader.checks import Check, Ctx, fail

MAX_NODES = 2000  # scanned definitions and expressions per scope (a bound on hostile sources)

# torch's other names for the same things, mapped to one canonical spelling
_PREFIXES = [
    ("torch.nn.functional.", "F."),
    ("torch._C._nn.", "F."),
    ("torch._C._VariableFunctionsClass.", "torch."),
    ("torch._C._VariableFunctions.", "torch."),
    ("torch._VF.", "torch."),
    ("torch._C.TensorBase.", "Tensor."),
    ("torch._C._TensorBase.", "Tensor."),
    ("torch.Tensor.", "Tensor."),
    ("torch._tensor.Tensor.", "Tensor."),
    ("torch._ops.ops.aten.", "aten."),
    ("torch.ops.aten.", "aten."),
    ("torch.nn.modules.", "nn."),
    ("torch.nn.", "nn."),
]


def canonical(dotted: str) -> str:
    """One spelling per operator: ``torch.ops.aten._softmax.default`` -> ``aten._softmax``,
    ``torch.nn.modules.rnn.RNN`` -> ``nn.RNN``, ``torch._VF.rnn_tanh_cell`` -> ``torch.rnn_tanh_cell``."""
    for old, new in _PREFIXES:
        if dotted.startswith(old):
            rest = dotted[len(old):]
            if new == "aten.":  # drop the overload: aten.softmax.int -> aten.softmax
                rest = rest.split(".")[0]
            elif new == "nn." and old == "torch.nn.modules.":  # torch.nn.modules.rnn.RNN -> nn.RNN
                rest = rest.split(".")[-1]
            return new + rest
    return dotted


def expand(banned: list[str]) -> tuple[set[str], set[str]]:
    """(canonical names, Tensor method names) that count as a use of ``banned``.

    A banned function ``B`` (``torch.B``, ``F.B``, ``Tensor.B``) also bans the operator under
    torch's other names: ``torch._B``, ``torch.native_B``, ``F.B``, ``Tensor.B`` / ``_B``,
    ``aten.B`` / ``_B`` / ``native_B``. A banned class bans the class under any module path."""
    names: set[str] = set()
    methods: set[str] = set()
    for b in banned:
        c = canonical(b)
        names.add(c)
        head, _, base = c.rpartition(".")
        if head.split(".")[0] in ("torch", "F", "Tensor", "aten") and base[:1].islower():
            for v in (base, f"_{base}", f"native_{base}"):
                names.update({f"torch.{v}", f"F.{v}", f"Tensor.{v}", f"aten.{v}"})
            if head == "Tensor":
                methods.update({base, f"_{base}"})
    return names, methods


# --- the submission's modules, parsed -----------------------------------------------------------


def read_source(path: Path) -> str:
    """A module's text decoded as Python decodes it: a byte-order mark or a coding line is
    honoured, UTF-8 otherwise (``UnicodeDecodeError``, a ``ValueError``, when it is not)."""
    data = path.read_bytes()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding)


@dataclass
class Module:
    name: str
    path: Path
    lines: list[str]
    tree: ast.Module
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> dotted name
    submodules: dict[str, str] = field(default_factory=dict)  # local name -> submission module


class Submission:
    """The modules of one submission folder, parsed once, never imported."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._cache: dict[str, Module | None] = {}
        self.bindings: dict[tuple[str, str], Binding | None] = {}

    def module(self, name: str) -> Module | None:
        """The parsed module, or None when the folder has no such module or it does not
        parse (then importing it fails too, which the other checks report)."""
        if name not in self._cache:
            try:
                self._cache[name] = self._load(name)
            except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
                self._cache[name] = None
        return self._cache[name]

    def has(self, name: str) -> bool:
        return name.isidentifier() and (self.folder / f"{name}.py").is_file()

    def _load(self, name: str) -> Module | None:
        if not self.has(name):
            return None
        path = self.folder / f"{name}.py"
        source = read_source(path)
        mod = Module(name, path, source.splitlines(), ast.parse(source))
        for node in ast.walk(mod.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    local = a.asname or a.name.split(".")[0]
                    full = a.name if a.asname else a.name.split(".")[0]
                    mod.aliases[local] = full
                    if self.has(full):
                        mod.submodules[local] = full
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if a.name != "*":
                        mod.aliases[a.asname or a.name] = f"{node.module}.{a.name}"
        for stmt in _top_level(mod.tree.body):  # module-level aliases: _sm = torch.softmax
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                dotted = _dotted(stmt.value, mod.aliases)
                if dotted and dotted.split(".")[0] not in mod.submodules:
                    for t in targets:
                        if isinstance(t, ast.Name) and t.id not in mod.aliases:
                            mod.aliases[t.id] = dotted
        return mod


def _top_level(body: list[ast.stmt]):
    """Module-level statements in order, looking inside if / try / with blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _top_level(stmt.body)
            yield from _top_level(stmt.orelse)
        elif isinstance(stmt, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            for part in (stmt.body, *[h.body for h in stmt.handlers], stmt.orelse, stmt.finalbody):
                yield from _top_level(part)
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _top_level(stmt.body)


@dataclass(frozen=True)
class Binding:
    """What a module-level name is bound to: a definition or an expression in a submission
    module, or a name from outside the submission (``external``: its dotted name)."""

    kind: str  # "def" | "expr" | "external"
    module: str = ""
    node: ast.AST | None = None
    external: str = ""
    line: int = 0


def _exports(mod: Module) -> list[str] | None:
    for stmt in _top_level(mod.tree.body):
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                for t in stmt.targets):
            try:
                value = ast.literal_eval(stmt.value)
            except Exception:  # noqa: BLE001 - not a literal: no declared exports
                return None
            return [str(v) for v in value] if isinstance(value, (list, tuple)) else None
    return None


def resolve(sub: Submission, module: str, name: str, seen: frozenset = frozenset()) -> Binding | None:
    """The last module-level binding of ``name`` in ``module``, followed through imports from
    other modules of the submission."""
    key = (module, name)
    if key in seen:
        return None
    if key not in sub.bindings:
        sub.bindings[key] = _resolve(sub, module, name, seen | {key})
    return sub.bindings[key]


def _resolve(sub: Submission, module: str, name: str, seen: frozenset) -> Binding | None:
    mod = sub.module(module)
    if mod is None:
        return None
    found: Binding | None = None
    for stmt in _top_level(mod.tree.body):
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name == name:
            found = Binding("def", module, stmt, line=stmt.lineno)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                found = Binding("expr", module, stmt.value, line=stmt.lineno)
        elif isinstance(stmt, ast.Import):
            for a in stmt.names:
                if (a.asname or a.name.split(".")[0]) == name:
                    found = Binding("external", module, external=a.name, line=stmt.lineno)
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            for a in stmt.names:
                if a.name == "*":
                    if sub.has(stmt.module):
                        other = sub.module(stmt.module)
                        exports = _exports(other) if other else None
                        public = name in exports if exports is not None else not name.startswith("_")
                        inner = resolve(sub, stmt.module, name, seen) if public else None
                        if inner is not None:
                            found = inner
                    continue
                if (a.asname or a.name) != name:
                    continue
                if sub.has(stmt.module):
                    inner = resolve(sub, stmt.module, a.name, seen)
                    found = inner or Binding("external", module, external=f"{stmt.module}.{a.name}",
                                             line=stmt.lineno)
                else:
                    found = Binding("external", module, external=f"{stmt.module}.{a.name}", line=stmt.lineno)
    return found


def _dotted(node: ast.AST, aliases: dict[str, str], local: set[str] | frozenset = frozenset()) -> str | None:
    """``a.b.c`` with the head resolved through import aliases; ``getattr(x, "name")`` and
    ``x.__dict__["name"]`` with a constant name count as ``x.name``."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str)):
            parts.append(node.args[1].value)
            node = node.args[0]
        elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute)
              and node.value.attr == "__dict__" and isinstance(node.slice, ast.Constant)
              and isinstance(node.slice.value, str)):
            parts.append(node.slice.value)
            node = node.value.value
        else:
            break
    if isinstance(node, ast.Name):
        parts.append(node.id if node.id in local else aliases.get(node.id, node.id))
        return ".".join(reversed(parts))
    return None


def _code(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` (the same order), without the type annotations that call nothing: they
    name a type, they do not use it (``rnn: nn.RNN`` in a signature; never even evaluated
    under ``from __future__ import annotations``)."""
    todo = collections.deque([node])
    while todo:
        n = todo.popleft()
        yield n
        for name, value in ast.iter_fields(n):
            if name in ("annotation", "returns") and isinstance(value, ast.AST) and \
                    not any(isinstance(x, ast.Call) for x in ast.walk(value)):
                continue
            todo.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, ast.AST))


def _names_submission_object(sub: Submission, module: str, value: ast.AST, local: set[str]) -> bool:
    """``Ops.softmax`` where ``Ops`` is a module-level definition of the submission (its own
    class or object): its attribute, not a tensor method. The scan follows ``Ops`` itself, so a
    banned API inside it is still found."""
    if not isinstance(value, ast.Name) or value.id in local:
        return False
    target = resolve(sub, module, value.id)
    return target is not None and target.kind != "external"


def _locals(node: ast.AST) -> set[str]:
    """Names a definition binds itself (arguments, assignments): not module-level references."""
    out: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            out.add(sub.arg)
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, (ast.Store, ast.Del)):
            out.add(sub.id)
    return out


@dataclass
class Hit:
    file: str
    line: int
    where: str
    api: str
    code: str


def scan_scope(sub: Submission, exercise: str, scope: str, banned: list[str]) -> tuple[Binding | None, list[Hit]]:
    """The binding the exercise module exposes as ``scope``, and every use of a banned API in
    it or in what it uses (in the order found)."""
    root = resolve(sub, exercise, scope)
    if root is None:
        return None, []
    targets, methods = expand(banned)
    # an entry ``pkg.*`` bans a whole package: ``pkg`` itself and every name beneath it
    packages = tuple(b[:-2] for b in banned if b.endswith(".*"))

    def banned_name(dotted: str) -> bool:
        return canonical(dotted) in targets or any(dotted == p or dotted.startswith(p + ".") for p in packages)

    hits: list[Hit] = []
    todo = [root]
    seen: set[tuple[str, int]] = set()
    while todo and len(seen) < MAX_NODES:
        b = todo.pop(0)
        mod = sub.module(b.module)
        if mod is None:
            continue
        if b.kind == "external":
            if banned_name(b.external):
                hits.append(Hit(mod.path.name, b.line, scope, b.external, _line(mod, b.line)))
            continue
        key = (b.module, id(b.node))
        if key in seen or b.node is None:
            continue
        seen.add(key)
        local = _locals(b.node) if b.kind == "def" else set()
        where = getattr(b.node, "name", scope)
        for node in _code(b.node):
            if not isinstance(node, (ast.Attribute, ast.Name, ast.Call, ast.Subscript)):
                continue
            dotted = _dotted(node, mod.aliases, local)
            if dotted is None:
                continue
            line = getattr(node, "lineno", b.line)
            if banned_name(dotted):
                hits.append(Hit(mod.path.name, line, where, dotted, _line(mod, line)))
                continue
            if (isinstance(node, ast.Attribute) and node.attr in methods
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                    and not _names_submission_object(sub, b.module, node.value, local)
                    and dotted.split(".")[0] not in mod.aliases.values()):
                hits.append(Hit(mod.path.name, line, where, f"Tensor.{node.attr}", _line(mod, line)))
                continue
            # follow what the scope uses: a helper or alias of this module, or of another module
            # of the submission (``helpers.fn``)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                target = resolve(sub, b.module, node.id)
                if target is not None and target.kind != "external":
                    todo.append(target)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in mod.submodules and node.value.id not in local:
                target = resolve(sub, mod.submodules[node.value.id], node.attr)
                if target is not None:
                    todo.append(target)
    return root, hits


def definitions_used(sub: Submission, exercise: str, scope: str) -> list[tuple[str, str]]:
    """(module, name) of every definition of the submission that ``scope`` (a function or
    class the exercise module exposes) uses, transitively, nearest first: what a failure of
    ``scope`` may be caused by (``multihead.MultiHeadAttention`` -> ``attention.scaled_dot_product_attention``)."""
    root = resolve(sub, exercise, scope.split(".")[0])
    out: list[tuple[str, str]] = []
    if root is None or root.kind == "external":
        return out
    todo: list[Binding] = [root]
    seen: set[tuple[str, int]] = set()
    while todo and len(seen) < MAX_NODES:
        b = todo.pop(0)
        mod = sub.module(b.module)
        key = (b.module, id(b.node))
        if mod is None or b.kind == "external" or b.node is None or key in seen:
            continue
        seen.add(key)
        local = _locals(b.node) if b.kind == "def" else set()
        for node in _code(b.node):
            target, name = None, ""
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in local:
                target, name = resolve(sub, b.module, node.id), node.id
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in mod.submodules and node.value.id not in local:
                target, name = resolve(sub, mod.submodules[node.value.id], node.attr), node.attr
            if target is None or target.kind == "external":
                continue
            found = (target.module, getattr(target.node, "name", name))
            if found not in out and target is not root:
                out.append(found)
                todo.append(target)
    return out


def _line(mod: Module, line: int) -> str:
    return mod.lines[line - 1].strip()[:200] if 0 < line <= len(mod.lines) else ""


def banned_check(exercise) -> Check:
    """The check appended to every exercise whose metadata bans APIs."""

    def run(ctx: Ctx) -> None:
        sub = Submission(Path(ctx.submission))
        path = sub.folder / f"{exercise.id}.py"
        try:
            ast.parse(read_source(path))
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            fail("banned_check.could_read_name", name=path.name, exc=exc)
        stubbed = []
        for scope, names in exercise.banned.items():
            root, hits = scan_scope(sub, exercise.id, scope, names)
            if root is None or (root.kind == "def" and _raises_not_implemented(root.node)):
                stubbed.append(scope)
                continue
            if hits:
                h = hits[0]
                fail("banned_check.scope_uses_api", scope=scope, api=h.api,
                     frames=[[h.file, h.line, h.where, h.code]])
            if root.kind == "external":
                mod = sub.module(root.module)
                fail("banned_check.scope_imported_outside", scope=scope, external=root.external,
                     frames=[[mod.path.name if mod else path.name, root.line, "<module>",
                              _line(mod, root.line) if mod else ""]])
        blocked = [s for s in ctx.banned_seen if s]
        if blocked:
            fail("banned_check.code_called_banned", blocked=blocked[0])
        if stubbed and len(stubbed) == len(exercise.banned):
            fail("runner.not_implemented", not_implemented=True)
        if stubbed:
            fail("banned_check.stubbed_implemented_yet", stubbed=stubbed[0], not_implemented=True)

    names = ", ".join(exercise.banned)
    return Check("banned_apis", f"uses no banned API ({names})", "banned", tuple(exercise.banned), run=run,
                 points=exercise.banned_points, title_zh=f"没有使用被禁止的 API（{names}）")


def _raises_not_implemented(node: ast.AST | None) -> bool:
    """True when a definition is still the stub's ``raise NotImplementedError`` (for a class:
    every method is)."""
    if isinstance(node, ast.ClassDef):
        fns = [f for f in node.body if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
        return bool(fns) and all(_raises_not_implemented(f) for f in fns)  # no methods: all inherited
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        # the stub's layout: a docstring, bare calls (super().__init__()), then the raise; a
        # working body that raises NotImplementedError for a case it leaves out is no stub
        body = node.body
        return bool(body) and isinstance(body[-1], ast.Raise) and \
            "NotImplementedError" in ast.unparse(body[-1]) and \
            all(isinstance(stmt, (ast.Expr, ast.Pass)) for stmt in body[:-1])
    return False
