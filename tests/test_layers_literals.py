"""Nothing outside the contract layer names a message type of a service (issue 27).

Every module of the package outside ``contract/`` (the one place that knows a protocol), ``contracts/`` (the
documents), ``server/`` (the embedded reference server *is* the Pitchey implementation) and ``notebooks/`` is read
(not executed) and its string constants compared with the message types of the shipped contract, read from the
contract at test time: a probe, the client, the load engine learn a service's names from its contract, so that they
work for any contract and not only Pitchey's. Docstrings are prose and are not read.
"""

from __future__ import annotations

import ast
from pathlib import Path

from pitchey_analysis.contract import default_contract

PKG = Path(__file__).resolve().parents[1] / "pitchey_analysis"

#: folders of the package allowed to name a service's messages
EXEMPT_DIRS = ("contract", "contracts", "server", "notebooks")

#: modules allowed to spell such words, with why: the suite's own record vocabulary (RFC 6455 control frames, fields
#: of observations) that is spelled like a Pitchey message, stored in every run as written, defined once there
EXEMPT_MODULES = {
    "probes/vocabulary.py",
    # the tool's outcome words (Outcome.ERROR is spelled like Pitchey's error message), defined once there
    "outcomes.py",
}

#: literals allowed everywhere, with why
EXEMPT_LITERALS: set[str] = set()

#: message types spelled like the tool's own field names (a record's ``error`` field, the contract's
#: ``limits.<name>.error``, an HTTP body's ``error``): such a literal is a message type only where a kind is judged
#: by it -- compared with ``==``/``!=``, listed in a collection compared with ``in``, or a parameter's default
FIELD_WORDS = {"error"}


def _judged_by(tree: ast.AST) -> set[int]:
    """The ids of the constants a comparison or a parameter default uses as a value (not as a field name)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if isinstance(op, (ast.Eq, ast.NotEq)):
                    out.update(id(n) for n in (node.left, right) if isinstance(n, ast.Constant))
                elif isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.Tuple, ast.List, ast.Set)):
                    out.update(id(n) for n in right.elts if isinstance(n, ast.Constant))
        elif isinstance(node, ast.arguments):
            out.update(id(d) for d in (*node.defaults, *node.kw_defaults) if isinstance(d, ast.Constant))
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the constant nodes that are docstrings (a module's, a class's, a function's)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                out.add(id(first.value))
    return out


def literals_in(source: str, words: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string constant of ``source`` equal to one of ``words``, docstrings left out."""
    tree = ast.parse(source)
    prose, judged = _docstrings(tree), _judged_by(tree)
    found = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in prose
        and (node.value not in FIELD_WORDS or id(node) in judged)
        and node.value in words
        and node.value not in EXEMPT_LITERALS
    ]
    return sorted(found)


def message_type_literals(words: set[str]) -> list[str]:
    """``file:line:literal`` for every string constant outside the exempt folders and modules equal to a word."""
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] in EXEMPT_DIRS or rel.as_posix() in EXEMPT_MODULES:
            continue
        found += [
            f"pitchey_analysis/{rel.as_posix()}:{line}:{word!r}"
            for line, word in literals_in(path.read_text(encoding="utf-8"), words)
        ]
    return found


def shipped_types() -> set[str]:
    """The message types of the shipped contract: what clients send and what the service sends."""
    c = default_contract()
    return set(c.client_types()) | set(c.server_messages())


def test_the_shipped_contract_has_message_types_to_look_for() -> None:
    """The scan below is not vacuous: the shipped contract names the kinds it is about."""
    assert {"ping", "pong", "subscribe", "connected", "auth_success", "error"} <= shipped_types()


def test_the_scan_sees_code_and_skips_prose() -> None:
    """A literal in code is found, with its line; the same word in a docstring or inside a longer string is not; a
    word the tool also uses as a field name is found only where a kind is judged by it."""
    src = (
        '"""The module: ping."""\n'
        "def f() -> dict:\n"
        '    """Send a ping."""\n'
        '    note = "a ping is sent"\n'
        '    return {"type": "ping", "outcome": "error", "note": note}\n'
    )
    assert literals_in(src, {"ping", "error"}) == [(5, "ping")]
    judged = (
        'def g(f: dict, kind: str = "error") -> bool:\n'
        '    return f.get("type") == "error" or f["type"] in ("error", "x") or "error" in str(f.get("error"))\n'
    )
    assert literals_in(judged, {"error"}) == [(1, "error"), (2, "error"), (2, "error")]


def test_no_module_outside_contract_names_a_message_type() -> None:
    bad = message_type_literals(shipped_types())
    assert not bad, "message-type literals outside contract/ (take them from the contract):\n" + "\n".join(bad)
