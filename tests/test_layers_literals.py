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
EXEMPT_MODULES = {"probes/vocabulary.py"}

#: literals allowed everywhere, with why
EXEMPT_LITERALS = {
    # mostly the OUTCOME word of a record ("pass"/"fail"/"error"), not the error message: exempt until Outcome.ERROR
    # lands (h27enum); the lead tightens this after merging
    "error",
}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the constant nodes that are docstrings (a module's, a class's, a function's)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def literals_in(source: str, words: set[str]) -> list[tuple[int, str]]:
    """(line, literal) of every string constant of ``source`` equal to one of ``words``, docstrings left out."""
    tree = ast.parse(source)
    prose = _docstrings(tree)
    found = [(node.lineno, node.value) for node in ast.walk(tree)
             if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
             and node.value in words and node.value not in EXEMPT_LITERALS]
    return sorted(found)


def message_type_literals(words: set[str]) -> list[str]:
    """``file:line:literal`` for every string constant outside the exempt folders and modules equal to a word."""
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG)
        if rel.parts[0] in EXEMPT_DIRS or rel.as_posix() in EXEMPT_MODULES:
            continue
        found += [f"pitchey_analysis/{rel.as_posix()}:{line}:{word!r}"
                  for line, word in literals_in(path.read_text(encoding="utf-8"), words)]
    return found


def shipped_types() -> set[str]:
    """The message types of the shipped contract: what clients send and what the service sends."""
    c = default_contract()
    return set(c.client_types()) | set(c.server_messages())


def test_the_shipped_contract_has_message_types_to_look_for() -> None:
    """The scan below is not vacuous: the shipped contract names the kinds it is about."""
    assert {"ping", "pong", "subscribe", "connected", "auth_success", "error"} <= shipped_types()


def test_the_scan_sees_code_and_skips_prose() -> None:
    """A literal in code is found, with its line; the same word in a docstring, inside a longer string or as the
    exempt outcome word is not."""
    src = ('"""The module: ping."""\n'
           'def f() -> dict:\n'
           '    """Send a ping."""\n'
           '    note = "a ping is sent"\n'
           '    return {"type": "ping", "outcome": "error", "note": note}\n')
    assert literals_in(src, {"ping", "error"}) == [(5, "ping")]


def test_no_module_outside_contract_names_a_message_type() -> None:
    bad = message_type_literals(shipped_types())
    assert not bad, "message-type literals outside contract/ (take them from the contract):\n" + "\n".join(bad)
