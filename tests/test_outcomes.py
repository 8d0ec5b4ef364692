"""The closed vocabularies live in pitchey_analysis.outcomes, and nowhere else as bare strings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pitchey_analysis
from pitchey_analysis.capture.records import OUTCOMES
from pitchey_analysis.capture.schema import STATUSES
from pitchey_analysis.outcomes import FAILED, Completeness, Outcome, Readiness, RunStatus, Support, TargetStatus, Trend

PACKAGE = Path(pitchey_analysis.__file__).parent

#: values unlikely to mean anything else: a bare one anywhere is a vocabulary literal
ANYWHERE: set[str] = {
    Outcome.PASS,
    Outcome.FAIL,
    Outcome.SKIP,
    *Readiness,
    TargetStatus.MET,
    TargetStatus.MISSED,
    TargetStatus.NOT_VERIFIED,
    TargetStatus.NOT_APPLICABLE,
}
#: values that are also ordinary words ("error" is a frame type, "complete" a profile, "full" a suite): a literal
#: only where it is compared with, or stored as, an outcome or a status
OUTCOME_VALUES: set[str] = set(Outcome)
STATUS_VALUES: set[str] = {*RunStatus, *TargetStatus, *Completeness, *Trend}

#: path (relative to the package) -> {value: why it may stay}; a path ending in "/" covers a folder
EXEMPT: dict[str, dict[str, str]] = {
    "outcomes.py": {v: "the definitions" for v in ANYWHERE | OUTCOME_VALUES | STATUS_VALUES | set(Support)},
    # a plan entry's column naming why a probe will not run (a key of the stored plan, not an outcome)
    "judged.py": {"skip": "plan column"},
    "runner/": {"skip": "plan column"},
    # the count of unanswered pings in the observation (a field name, not a target status)
    "probes/performance.py": {"missed": "observation field"},
}


def _is_field(node: ast.AST, names: set[str]) -> bool:
    """``x.outcome``, ``x["outcome"]``, ``x.get("outcome")`` or a name ``outcome`` (for names in ``names``)."""
    if isinstance(node, ast.Attribute):
        return node.attr in names
    if isinstance(node, ast.Name):
        return node.id in names
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value in names
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("get", "isin"):
        if node.func.attr == "get":
            return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value in names
        return _is_field(node.func.value, names)
    return False


def _strings(node: ast.AST | None) -> list[ast.Constant]:
    """String constants in an expression, not descending into calls (a call's own arguments are other matters)."""
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [c for e in node.elts for c in _strings(e)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    return []


def vocabulary_literals(source: str) -> list[tuple[int, str]]:
    """(line, value) of each bare vocabulary string in ``source`` (pure)."""
    hits: list[tuple[int, str]] = []

    def take(consts: list[ast.Constant], values: set[str]) -> None:
        hits.extend((c.lineno, c.value) for c in consts if c.value in values)

    outcome, status = {"outcome", "oa", "ob"}, {"status", "verdict", "completeness", "how", "support"}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in ANYWHERE:
            hits.append((node.lineno, node.value))
        elif isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_is_field(s, outcome) for s in sides):
                take([c for s in sides for c in _strings(s)], OUTCOME_VALUES)
            if any(_is_field(s, status) for s in sides):
                take([c for s in sides for c in _strings(s)], STATUS_VALUES)
        elif isinstance(node, ast.Call):
            f = node.func
            if (
                isinstance(f, ast.Name)
                and f.id == "Result"
                or isinstance(f, ast.Attribute)
                and f.attr == "isin"
                and _is_field(f.value, outcome)
            ):
                take(_strings(node.args[0]) if node.args else [], OUTCOME_VALUES)
            for kw in node.keywords:
                take(
                    _strings(kw.value),
                    OUTCOME_VALUES if kw.arg in outcome else STATUS_VALUES if kw.arg in status else set(),
                )
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and k.value in outcome | status:
                    take(_strings(v), OUTCOME_VALUES if k.value in outcome else STATUS_VALUES)
        elif isinstance(node, ast.Assign) and any(_is_field(t, outcome | status) for t in node.targets):
            take(_strings(node.value), OUTCOME_VALUES | STATUS_VALUES)
    return sorted(set(hits))


def _exempt(rel: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for where, values in EXEMPT.items():
        if rel == where or where.endswith("/") and rel.startswith(where):
            out.update(values)
    return out


def test_no_vocabulary_literal_outside_outcomes() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("server/"):
            continue  # the reference server is the target: it speaks the wire protocol and never judges
        allowed = _exempt(rel)
        found += [
            f"{rel}:{line}: {value!r}" for line, value in vocabulary_literals(path.read_text()) if value not in allowed
        ]
    assert not found, "bare vocabulary strings; use pitchey_analysis.outcomes:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        'r = Result("fail", "x", "y")',
        'ok = p["outcome"] == "error"',
        'bad = p[p["outcome"].isin(["fail", "error"])]',
        'if r.outcome in ("error",): pass',
        'rows.append({"outcome": "error"})',
        'rec.probe(probe_record(outcome="error"))',
        'v = Verdict("READY", 4)',
        'x = slo[slo["status"] == "not verified"]',
        'status = "complete"',
        'if manifest.get("status") == "running": pass',
    ],
)
def test_the_check_finds_a_bare_literal(source: str) -> None:
    assert vocabulary_literals(source), source


@pytest.mark.parametrize(
    "source",
    [
        'r = Result(Outcome.FAIL, "x", "y")',
        'if frame.get("type") == "error": pass',
        'run(profile="complete", suite="full")',
        'x = {"type": "error"}',
    ],
)
def test_the_check_leaves_other_words_alone(source: str) -> None:
    assert not vocabulary_literals(source), source


def test_members_are_their_strings() -> None:
    # the dataset's values stay the same strings, whichever version wrote them
    assert OUTCOMES == ("pass", "fail", "error", "skip")
    assert STATUSES == ("running", "complete", "interrupted", "degraded")
    assert tuple(Readiness) == ("NOT READY", "INSUFFICIENT EVIDENCE", "READY WITH RISKS", "READY")
    assert FAILED == ("fail", "error")
    assert f"{Outcome.SKIP}" == str(Outcome.SKIP) == "skip"
    assert {TargetStatus.MET, TargetStatus.MISSED, TargetStatus.NOT_VERIFIED} == {"met", "missed", "not verified"}
