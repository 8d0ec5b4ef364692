"""Load scenarios: who connects, what they send, what they subscribe to, how long they stay, in which stages.

A scenario is a YAML document (``load --scenario FILE``)::

    name: dashboard
    ramp: continuous             # connections join and leave at the stage bounds ("levels": one level per stage)
    stages:
      - {connections: 20, duration_s: 30}
      - {connections: 100, duration_s: 60}
      - {connections: 100, duration_s: 60, rate_scale: 3}   # the same users sending 3x as often
    users:
      - name: creator-dashboard
        weight: 3                # share of the connections
        login: creator           # an authenticated user of this type (omit: anonymous)
        rate_per_s: 0.5          # messages per second per connection, on a fixed schedule
        channels: [dashboard, notifications]
        session_s: 120           # churn: leave after 120 s and connect again (omit: stay)
        rejoin_s: 1.0
        operations:              # what it sends, by weight; the contract's answer ends the round trip
          - {type: get_dashboard_metrics, weight: 2}
          - {type: ping, weight: 1}
          - {type: typing_start, answer: null}   # no answer: counted, not timed

Operations are the contract's (``load --contract``; Pitchey's by default): a
scenario may only send what the contract says clients send, log in as its user
types and subscribe to its channels. Each request is the contract's example
(``fields`` set over its top-level fields), its id stamped by the contract's id
rule, and its answer is known the contract's way (by correlation id where the
contract declares one, else by the answer's kind; ``answer: null``: none, the
message is counted, not timed; see :mod:`.plan`). Without ``--scenario`` a
contract other than Pitchey's gets a scenario made from its request/answer
operations (:func:`contract_scenario`). Latency is recorded per operation type
(metric ``rtt_ms`` for the contract's round trip, ``rtt_ms:<type>`` otherwise);
pushes that carry the server's ``timestamp`` give their delivery delay per
push type (``push_ms:<type>``; the server's clock, so across machines it
includes their clock skew).
Parsing is pure; logging in (to turn ``login`` into a token) is the caller's job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ..contract import DEFAULT, Contract, default_contract
from ..exceptions import UsageError
from .plan import contract_operation, make
from .spec import Operation, UserSpec

#: a made scenario (:func:`contract_scenario`) logs users in only for contracts whose upgrade takes ``?token=``; for
#: others its users stay anonymous, so that loading with a made scenario asks for no credentials (the engine itself
#: carries a token wherever the contract says: :func:`.plan.connect`)
TOKEN_QUERY = "token"

#: the login of a scenario's user who carries the credential the user supplies (``load --token``, $PITCHEY_TOKEN)
#: where the contract carries one, instead of logging in
TOKEN_LOGIN = "token"

#: the built-in scenario: mostly authenticated dashboard users, a few anonymous visitors, some churn
DEFAULT_SCENARIO = """
name: dashboard
# no stages: one stage of --connections for --duration
users:
  - name: creator-dashboard
    weight: 3
    login: creator
    rate_per_s: 1.0
    channels: [dashboard, notifications]
    operations:
      - {type: get_dashboard_metrics, weight: 2}
      - {type: ping, weight: 2}
      - {type: request_initial_data, weight: 1}
  - name: investor-browsing
    weight: 1
    login: investor
    rate_per_s: 0.5
    session_s: 5
    rejoin_s: 0.5
    channels: [notifications]
    operations:
      - {type: ping, weight: 1}
      - {type: request_initial_data, weight: 1}
  - name: visitor
    weight: 1
    rate_per_s: 0.5
    operations:
      - {type: ping}
"""


@dataclass(frozen=True)
class Scenario:
    """A parsed scenario: its name, its stages (connections, seconds) and its users (``login`` not yet a token)."""

    name: str
    stages: tuple[tuple[int, float], ...]
    users: tuple[UserSpec, ...]
    logins: tuple[str | None, ...]  # per user: the user type to log in as, or None (anonymous)
    ramp: bool = True  # continuous: one level whose connections follow the stages; False: one level per stage
    stage_rates: tuple[float, ...] = ()  # per stage: every user's rate_per_s times this (empty: 1 throughout)

    def with_tokens(self, tokens: dict[str, str | None]) -> tuple[UserSpec, ...]:
        """The users with the tokens of their login types."""
        return tuple(
            replace(u, token=tokens.get(k) if k else None) for u, k in zip(self.users, self.logins, strict=True)
        )

    def describe(self) -> dict[str, Any]:
        """The scenario as recorded in the manifest (no secrets: it holds none)."""
        return {
            "name": self.name,
            "ramp": "continuous" if self.ramp else "levels",
            "stages": [list(s) for s in self.stages],
            "stage_rates": list(self.stage_rates) or None,
            "users": [
                {
                    "name": u.name,
                    "weight": u.weight,
                    "login": k,
                    "rate_per_s": u.rate_per_s,
                    "channels": list(u.channels),
                    "session_s": u.session_s,
                    "rejoin_s": u.rejoin_s,
                    "operations": [{"type": o.type, "weight": o.weight, "answer": o.answer} for o in u.operations],
                }
                for u, k in zip(self.users, self.logins, strict=True)
            ],
        }


def _number(d: dict[str, Any], key: str, default: float | None, *, minimum: float = 0.0) -> float | None:
    v = d.get(key, default)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or v < minimum:
        raise UsageError(f"scenario: {key} must be a number >= {minimum:g}, got {v!r}")
    return float(v)


def _operation(d: Any, contract: Contract) -> Operation:
    """A scenario's operation made from the contract: its request (the example, ``fields`` set over it) and answer."""
    if isinstance(d, str):
        d = {"type": d}
    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise UsageError(f"scenario: an operation needs a 'type', got {d!r}")
    contract_operation(contract, d["type"])  # a UsageError naming what the contract has, before anything else
    given = d.get("fields") or {}
    if not isinstance(given, dict):
        raise UsageError(f"scenario: fields must be a mapping, got {given!r}")
    op = make(contract, Operation(d["type"], _number(d, "weight", 1.0) or 1.0, fields=tuple(given.items())))
    if "answer" in d and d["answer"] != op.answer:  # the scenario says otherwise: no answer, or another kind
        answer = d["answer"]
        if answer is not None and not isinstance(answer, str):
            raise UsageError(f"scenario: answer must be a message type or null, got {answer!r}")
        op = replace(op, answer=answer, answers=(answer,) if answer is not None else (), correlated=False)
    return op


def contract_scenario(contract: Contract, *, token: bool = False) -> dict[str, Any]:
    """A scenario made from a contract (pure): anonymous visitors sending its request/answer operations that need
    no authentication (where it serves anonymous sessions), and, with a supplied ``token`` where the contract carries
    a credential, users carrying it (:data:`TOKEN_LOGIN`) sending all of them; else, when it says how to log in and
    takes the token as ``?token=`` on the upgrade (:data:`TOKEN_QUERY`), users of its first user type."""
    # (message type, needs authentication) of each operation with a typed request and no setup
    ops = [
        (o.request.type, o.auth)
        for o in contract.request_answers()
        if not o.setup and o.request is not None and o.request.type
    ]
    anonymous = [{"type": typ} for typ, auth in ops if not auth]
    users: list[dict[str, Any]] = []
    lg, up = contract.login, contract.upgrade
    if token and ops and _carries(contract):
        users.append(
            {
                "name": "token-user",
                "weight": 3,
                "login": TOKEN_LOGIN,
                "rate_per_s": 1.0,
                "operations": [{"type": typ} for typ, _ in ops],
            }
        )
        if up is not None and not up.anonymous:
            anonymous = []  # the service serves no anonymous session
    elif lg is not None and lg.paths and ops and up is not None and up.query == TOKEN_QUERY:
        users.append(
            {
                "name": f"{next(iter(lg.paths))}-user",
                "weight": 3,
                "login": next(iter(lg.paths)),
                "rate_per_s": 1.0,
                "operations": [{"type": typ} for typ, _ in ops],
            }
        )
    if anonymous and (up is None or up.anonymous):  # visitors only where the service serves anonymous sessions
        users.append({"name": "visitor", "weight": 1, "rate_per_s": 0.5, "operations": anonymous})
    if not users and ops and _carries(contract) and not token:
        raise UsageError(
            f"the operations of the contract {contract.name} need a credential: give --token (or set PITCHEY_TOKEN)"
        )
    if not users:
        raise UsageError(
            f"the contract {contract.name} declares no request/answer operation with an example to load with"
        )
    return {"name": f"{contract.name}-operations", "users": users}


def _carries(contract: Contract) -> bool:
    """Whether the contract carries a session's credential (on the upgrade or in the first message; pure)."""
    up = contract.upgrade
    return up is not None and any((up.query, up.header, up.cookie, up.subprotocol is not None, up.first_message))


def _check_against(contract: Contract, logins: list[str | None], channels: list[str]) -> None:
    """A scenario's logins and channels must be the contract's (``token``: the supplied credential, where the contract
    carries one)."""
    lg = contract.login
    for k in {k for k in logins if k}:
        if k == TOKEN_LOGIN and _carries(contract) and (lg is None or k not in lg.paths):
            continue
        if lg is None or k not in lg.paths:
            raise UsageError(
                f"scenario: login {k!r}: the contract {contract.name} logs in "
                f"{', '.join(lg.paths) if lg and lg.paths else 'nobody'}"
            )
    for ch in channels:
        if contract.channel_for(ch) is None:
            raise UsageError(f"scenario: channel {ch!r} is not a channel of the contract {contract.name}")


def parse_scenario(
    doc: str | dict[str, Any],
    *,
    duration_s: float | None = None,
    connections: int | None = None,
    contract: Contract | None = None,
) -> Scenario:
    """Parse a scenario document (YAML text or a dict); ``duration_s``/``connections`` give a scenario without stages
    one.

    Operations, logins and channels must be the contract's (Pitchey's when None), and requests and answers come from it.
    """
    contract = contract or default_contract()
    data = yaml.safe_load(doc) if isinstance(doc, str) else doc
    if not isinstance(data, dict):
        raise UsageError("scenario: expected a mapping with 'users' (and 'stages')")
    users: list[UserSpec] = []
    logins: list[str | None] = []
    for u in data.get("users") or []:
        if not isinstance(u, dict):
            raise UsageError(f"scenario: a user must be a mapping, got {u!r}")
        ops = tuple(_operation(o, contract) for o in (u.get("operations") or [{"type": ""}]))  # "": the round trip
        channels = u.get("channels") or []
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise UsageError("scenario: channels must be a list of names")
        users.append(
            UserSpec(
                name=str(u.get("name", f"user{len(users)}")),
                weight=_number(u, "weight", 1.0) or 1.0,
                rate_per_s=_number(u, "rate_per_s", 1.0) or 0.0,
                operations=ops,
                channels=tuple(channels),
                session_s=_number(u, "session_s", None),
                rejoin_s=_number(u, "rejoin_s", 0.0) or 0.0,
            )
        )
        login = u.get("login")
        if login is not None and not isinstance(login, str):
            raise UsageError("scenario: login must be a user type such as creator")
        logins.append(login)
    if not users:
        raise UsageError("scenario: no users")
    _check_against(contract, logins, [c for u in users for c in u.channels])
    stages, rates = [], []
    for s in data.get("stages") or [{}]:
        if not isinstance(s, dict):
            raise UsageError(f"scenario: a stage must be a mapping, got {s!r}")
        n = s.get("connections", connections)
        d = s.get("duration_s", duration_s)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1 or not isinstance(d, int | float) or d <= 0:
            raise UsageError(f"scenario: a stage needs connections >= 1 and duration_s > 0, got {s!r}")
        stages.append((n, float(d)))
        rate = _number(s, "rate_scale", 1.0)
        if not rate:
            raise UsageError(f"scenario: rate_scale must be > 0 (fewer connections make a quieter stage), got {s!r}")
        rates.append(rate)
    ramp = data.get("ramp", "continuous")
    if ramp not in ("continuous", "levels"):
        raise UsageError(f"scenario: ramp must be continuous or levels, got {ramp!r}")
    return Scenario(
        str(data.get("name", "scenario")),
        tuple(stages),
        tuple(users),
        tuple(logins),
        ramp == "continuous",
        tuple(rates) if any(r != 1.0 for r in rates) else (),
    )


def load_scenario(
    path: str | Path | None, *, contract: Contract | None = None, token: bool = False, **defaults: Any
) -> Scenario:
    """A scenario from a YAML file, or, when ``path`` is None or ``"default"``, the built-in dashboard scenario
    (the Pitchey contract) or one made from the contract (:func:`contract_scenario`; ``token``: the user supplies
    a credential)."""
    if path is None or str(path) == "default":
        if contract is None or contract.name == DEFAULT:
            return parse_scenario(DEFAULT_SCENARIO, contract=contract, **defaults)
        return parse_scenario(contract_scenario(contract, token=token), contract=contract, **defaults)
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"scenario file {p} not found")
    return parse_scenario(p.read_text(), contract=contract, **defaults)
