"""Messages carry ids and live in catalogs, one per language (grader/messages.py).

Every sentence a check or the engine reports is ``fail("<id>", arg=...)`` / ``msg(...)``; these
tests fail on a sentence written into the code, an id with no English template, an id missing
from a language, or a language whose template uses other fields than the English one.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from grader.messages import ENGINE, LANGS, Msg, UnknownMessage, catalog, fields, gaps, msg, scope

GRADER = Path(__file__).resolve().parents[1] / "grader"
CATALOGS = GRADER / "course" / "i18n"
CALLS = {"fail", "failure", "new_failure", "msg", "Msg"}  # the first argument is a message id
COMMANDS = {("report", "grade_hint")}  # what a student types: the same in every language
ID = re.compile(r"^[A-Za-z_][\w-]*(\.[\w-]+)+$")


def _sources() -> list[Path]:
    return sorted(p for p in GRADER.rglob("*.py") if "data" not in p.parts)


def _scope(path: Path) -> str:
    return path.stem if path.parent == GRADER / "course" else ""


def _ids(node: ast.AST) -> tuple[list[str], list[str], list[str]]:
    """(literal ids, f-string id prefixes, sentences) in a call's first argument."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return ([node.value], [], []) if ID.match(node.value) else ([], [], [node.value])
    if isinstance(node, ast.IfExp):
        a, b = _ids(node.body), _ids(node.orelse)
        return a[0] + b[0], a[1] + b[1], a[2] + b[2]
    if isinstance(node, ast.JoinedStr):
        head = node.values[0].value if node.values and isinstance(node.values[0], ast.Constant) else ""
        return ([], [head], []) if re.match(r"^[A-Za-z_][\w-]*\.[\w.-]*$", head) else ([], [], [ast.unparse(node)])
    if isinstance(node, (ast.BinOp, ast.Call)) and not (
            isinstance(node, ast.Call) and getattr(node.func, "id", "") in CALLS):
        return [], [], [ast.unparse(node)]  # a sentence built by concatenation or a call
    return [], [], []  # a variable holding a Msg (checked where it is made)


def _calls():
    for path in _sources():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and node.args:
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in CALLS:
                    yield path, node


def test_no_sentence_is_written_into_the_code():
    found = []
    for path, node in _calls():
        for sentence in _ids(node.args[0])[2]:
            found.append(f"{path.relative_to(GRADER.parent)}:{node.lineno}: {sentence[:70]!r}")
    assert not found, "write the sentence into a catalog and pass its id:\n" + "\n".join(found)


def test_no_message_or_error_field_is_set_to_a_sentence():
    """``failure.message = f"..."`` or ``error=f"..."`` would bypass the catalogs."""
    found = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values = []
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Attribute) and t.attr in ("message", "error", "withheld") for t in targets):
                    values.append(node.value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in CALLS:
                values += [k.value for k in node.keywords if k.arg in ("message", "error")]
            for v in values:
                if isinstance(v, (ast.JoinedStr, ast.BinOp)) or (isinstance(v, ast.Constant) and isinstance(v.value, str)
                                                                 and " " in v.value):
                    found.append(f"{path.relative_to(GRADER.parent)}:{node.lineno}: {ast.unparse(v)[:70]}")
    assert not found, "\n".join(found)


def test_every_id_in_the_code_has_a_template():
    missing = []
    for path, node in _calls():
        where = _scope(path)
        known = {**catalog("en", ENGINE), **(catalog("en", where) if where else {})}
        ids, prefixes, _ = _ids(node.args[0])
        for i in ids:
            if i not in known:
                missing.append(f"{path.relative_to(GRADER.parent)}:{node.lineno}: {i}")
        for pre in prefixes:
            if not any(k.startswith(pre) for k in known):
                missing.append(f"{path.relative_to(GRADER.parent)}:{node.lineno}: {pre}*")
    assert not missing, "no English template for:\n" + "\n".join(missing)


def test_every_language_has_every_message_with_the_same_fields():
    names = sorted({p.stem for lang in LANGS for p in (CATALOGS / lang).glob("*.toml")})
    assert ENGINE in names and "attention" in names
    problems = []
    for name in names:
        en = catalog("en", name)
        for lang in LANGS:
            other = catalog(lang, name)
            problems += [f"{lang}/{name}.toml: no {k}" for k in sorted(set(en) - set(other))]
            problems += [f"{lang}/{name}.toml: {k} is not in en/{name}.toml" for k in sorted(set(other) - set(en))]
            problems += [f"{lang}/{name}.toml: {k} uses {sorted(fields(other[k]))}, English {sorted(fields(en[k]))}"
                         for k in sorted(set(en) & set(other)) if fields(other[k]) != fields(en[k])]
            if lang == "zh":  # a Chinese catalog that is English is not a translation (commands excepted)
                problems += [f"zh/{name}.toml: {k} has no Chinese" for k, v in other.items()
                             if (name, k) not in COMMANDS
                             and re.sub(r"\{[^}]*\}", "", v).strip(" :{}")
                             and not re.search(r"[\u4e00-\u9fff]", v) and re.search(r"[a-z]{3} [a-z]{3}", v)]
    assert not problems, "\n".join(problems)


def test_exercise_ids_do_not_hide_engine_ids():
    engine = set(catalog("en", ENGINE))
    clash = [f"{p.stem}: {k}" for p in (CATALOGS / "en").glob("*.toml") if p.stem != ENGINE
             for k in catalog("en", p.stem) if k in engine]
    assert not clash, clash


def test_a_message_is_its_english_text_and_renders_in_every_language():
    with scope("attention"):
        m = msg("softmax_properties.rows_softmax_sum")
        inner = msg("runner.stage_fails", k=2, n=6, stage="one query", inner=m)
    assert isinstance(m, str) and m == "rows of softmax do not sum to 1"
    assert m.text("zh") == "softmax 的每一行之和不为 1"
    assert inner.text("zh").startswith("第 2/6 阶段失败") and "softmax 的每一行之和不为 1" in inner.text("zh")
    assert str(inner).startswith("stage 2 of 6 fails (one query)")
    assert gaps(inner) == [] and gaps("a sentence") == ["not a catalog message: 'a sentence'"]
    import pickle

    assert pickle.loads(pickle.dumps(inner)).text("zh") == inner.text("zh")


def test_an_unknown_id_is_the_graders_bug_not_a_silent_english_sentence():
    with pytest.raises(UnknownMessage):
        Msg("softmax_properties.no_such_message", where="attention")
    with pytest.raises(UnknownMessage):  # a template's field not given
        msg("runner.stage_fails", k=1)


def test_arguments_are_cleaned_by_the_report_path():
    from grader.sanitize import scrub

    m = scrub(msg("runner.student_error", type="ValueError", message_="\x1b[31mred\x1b[0m"))
    assert isinstance(m, Msg) and "\x1b" not in m and "\x1b" not in m.text("zh")
