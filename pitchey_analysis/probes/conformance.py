"""Contract conformance: every frame the suite receives, validated against the contract (pure).

The message is chosen by the frame's ``type``; a frame whose type the contract
never has the service send, or that fails its message's schema, is a
``contract_violation`` observation naming the JSON path of the error in the
frame. Conformance is reported beside readiness ("the service breaks its own
contract"), never as a probe outcome: a service whose answers are shaped
differently is judged on its own contract.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..contract import Contract, SchemaIssue

#: frames that the json_frames invariant judges instead (not JSON, binary, no type)
_PARSE_ARTEFACTS = ("_raw", "_size", "_value")


@dataclass
class Conformance:
    """Per-run counters: frames checked, violations by (type, path), the first few as examples."""

    frames: int = 0
    violations: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)
    max_examples: int = 20

    def summary(self) -> dict[str, Any]:
        """What the manifest keeps: counts and the distinct (type, path) pairs."""
        return {
            "frames_checked": self.frames,
            "violations": sum(self.violations.values()),
            "by_type_and_path": [{"type": t, "path": p, "count": n} for (t, p), n in self.violations.most_common()],
        }


def frame_issues(
    contract: Contract, frames: Sequence[tuple[float, dict[str, Any]]]
) -> list[tuple[int, dict[str, Any], SchemaIssue]]:
    """(position, frame, issue) for every received frame that does not conform to the contract (pure)."""
    out = []
    for i, (_, frame) in enumerate(frames):
        if (
            not isinstance(frame, dict)
            or not isinstance(frame.get("type"), str)
            or any(k in frame for k in _PARSE_ARTEFACTS)
        ):
            continue
        issue = contract.check_frame(frame)
        if issue is not None:
            out.append((i, frame, issue))
    return out


def violation_event(position: int, frame: dict[str, Any], issue: SchemaIssue) -> dict[str, Any]:
    """A contract violation as a flat record (the recorder redacts and the caller truncates)."""
    return {
        "position": position,
        "type": frame.get("type"),
        "path": issue.path,
        "error": issue.error,
        "message": issue.message,
        "schema_path": issue.schema_path,
    }
