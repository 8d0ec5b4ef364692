"""Who may call the service's push triggers: HTTP calls that make it push to users' sessions.

The contract declares each trigger with the role it needs (``role``: the admin alone; a user for their own
``{userId}`` only -- ``owner``; any logged-in user), on a channel (``channels.<name>.trigger``) or on its own
(``x-readiness.triggers``). The probe calls every trigger as callers who should be refused -- without a token, as
each non-admin user for an admin trigger, as each user naming another user's id for an owner trigger -- and then
once as a caller who may (the control: the route exists and works, so a refusal is the role check's doing).

The decision is a pure function of the calls made (:func:`judge`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..contract import Channel, Contract, HttpCall
from ..contract.requests import fill_template
from ..contract.wire import set_pointer
from .base import ProbeContext, Result, probe
from .common import every_credential, http, login, login_refused, login_user_id

#: statuses that say the route is not there (the trigger cannot be judged), not a refusal
MISSING = (404, 405)


@dataclass(frozen=True)
class Call:
    """One trigger call and its answer."""

    trigger: str  # "POST /api/ws/notify"
    role: str  # the role the contract says the trigger needs
    caller: str  # "no token", or the credential's name
    target: str | None  # whose id the call named (a credential's name)
    target_id: Any  # that id
    allowed: bool  # whether the contract allows this caller this call (the control)
    status: int

    def record(self) -> list[Any]:
        """The call as one row of the record: [trigger, as whom, whose id, the id, allowed, status]."""
        return [self.trigger, self.caller, self.target, self.target_id, self.allowed, self.status]


def _accepted(status: int) -> bool:
    return 200 <= status < 300


def _what_it_lets(c: Call) -> str:
    """What an attacker can do when this call was let in (for the finding's detail)."""
    if c.caller == "no token":
        return "anyone who can reach the service can make it push to users' sessions"
    if c.role == "admin":
        return "any logged-in user can make the service push what only the admin may (to any user's sessions)"
    return "any logged-in user can make the service push to another user's sessions"


def judge(calls: list[Call]) -> Result:
    """The outcome from every trigger call (pure).

    Fail ``trigger_unauthorized`` (critical): a call the contract does not allow was accepted (2xx). A trigger is
    judged when its route answered (not 404/405) and its control -- the allowed caller -- was accepted where one
    was made; the pass needs at least one refusal of a judged trigger.
    """
    obs: dict[str, Any] = {
        "columns": ["trigger", "as", "for", "id", "allowed", "status"],
        "calls": [c.record() for c in calls],
    }
    let_in = [c for c in calls if not c.allowed and _accepted(c.status)]
    if let_in:
        c = let_in[0]
        named = f" for the {c.target}'s id ({c.target_id})" if c.target and c.target != c.caller else ""
        who = (
            "a caller without a token"
            if c.caller == "no token"
            else f"the {c.caller}{', not an admin,' if c.role == 'admin' else ''}"
        )
        more = f" ({len(let_in) - 1} more such calls let in)" if len(let_in) > 1 else ""
        return Result.fail(
            "trigger_unauthorized",
            f"{c.trigger} (role {c.role}) accepted {who}{named} with HTTP {c.status}: {_what_it_lets(c)}{more}",
            {**obs, "let_in": len(let_in)},
            critical=True,
        )
    triggers = list(dict.fromkeys(c.trigger for c in calls))
    missing = [t for t in triggers if all(c.status in MISSING for c in calls if c.trigger == t)]
    failed_control = [
        t
        for t in triggers
        if t not in missing and any(c.allowed and not _accepted(c.status) for c in calls if c.trigger == t)
    ]
    judged = [t for t in triggers if t not in missing and t not in failed_control]
    refused = sum(1 for c in calls if c.trigger in judged and not c.allowed)
    obs.update(judged=judged, refused=refused, missing=missing, control_failed=failed_control)
    if not judged:
        if missing and not failed_control:
            return Result.skip(
                "trigger_missing",
                f"every declared trigger answered {'/'.join(map(str, MISSING))}: "
                f"{', '.join(missing)}; no route to judge",
                obs,
            )
        return Result.skip(
            "control_failed",
            f"the allowed caller was refused too ({', '.join(failed_control)}): a refusal "
            "proves nothing about who may call",
            obs,
        )
    if not refused:
        return Result.skip(
            "no_evidence", "no call a trigger should refuse could be made (no second user, no token to withhold)", obs
        )
    note = f"; not judged: {', '.join(missing + failed_control)}" if missing or failed_control else ""
    return Result.ok(
        f"{refused} calls without the role refused on {', '.join(judged)}, the allowed caller served{note}", obs
    )


def _values(contract: Contract, call: HttpCall, channel: Channel | None, user_id: Any) -> Any:
    """The call's body, its template filled: ``{userId}``, ``{channel}`` (a pattern's ``{id}`` as 42), ``{message}``
    (of a kind the channel pushes; for a trigger beside the channels, the user's push channel's, else the contract's
    first push)."""
    if call.body is None:
        return None
    name = re.sub(r"\{[^}]*\}", "42", channel.name) if channel is not None else None
    mine = contract.user_push_channel()
    kinds = [
        *(channel.pushes if channel is not None else ()),
        *(mine.pushes if mine is not None else ()),
        *(m.type for o in contract.pushes() for m in o.messages if m.type),
    ]
    # the kind where the contract reads it
    kind = set_pointer({}, contract.kind_pointer, kinds[0]) if kinds and contract.kind_pointer else {}
    message = {**kind, "note": "pitchey-analysis authorization check"}
    return fill_template(call.body, {"userId": user_id, "channel": name, "message": message})


@probe(
    "readiness.trigger_authorization",
    category="readiness",
    critical=True,
    disruptive=True,
    evidence=("refused",),
    expected="every push trigger the contract declares refuses callers without its role (no token; a non-admin for an "
    "admin trigger; a user naming another user's id for an owner trigger) and serves the caller who has it",
)
async def trigger_authorization(ctx: ProbeContext) -> Result:
    triggers = ctx.contract.http_triggers()
    if not triggers:
        return Result.skip("not_in_contract", "the contract declares no push trigger (channels.*.trigger, triggers)")
    creds = every_credential(ctx)
    users: list[tuple[str, str, Any]] = []  # (name, token, user id) of the non-admins who logged in
    admin_token = None
    first_refusal = None
    for name, c in creds:
        token, ans = await login(ctx, c)
        if token is None:
            first_refusal = first_refusal or (c, ans)
            continue
        if c is ctx.admin:
            admin_token = token
        else:
            users.append((name, token, login_user_id(ctx, ans)))
    if not users:
        if first_refusal is not None:
            return login_refused(*first_refusal)
        return Result.skip("no_credentials", "needs a non-admin user to call the triggers as")
    calls: list[Call] = []

    async def call(
        trig: HttpCall,
        channel: Channel | None,
        caller: str,
        token: str | None,
        target: tuple[str, Any] | None,
        allowed: bool,
    ) -> None:
        uid = target[1] if target is not None else None
        ans = await http(ctx, trig.method, trig.path, token=token, json_body=_values(ctx.contract, trig, channel, uid))
        calls.append(
            Call(
                f"{trig.method} {trig.path}", trig.role, caller, target[0] if target else None, uid, allowed, ans.status
            )
        )

    for _, trig, channel in triggers:
        own = (users[0][0], users[0][2])
        await call(trig, channel, "no token", None, own, False)
        for i, (name, token, uid) in enumerate(users):
            others = [(n, u) for n, _, u in users[i + 1 :] + users[:i] if u is not None and u != uid]
            if trig.role == "admin":
                await call(trig, channel, name, token, (name, uid), False)
            elif trig.role == "owner" and others:
                await call(trig, channel, name, token, others[0], False)
        # the control: the caller the contract allows (the admin for an admin trigger, a user for their own id)
        if trig.role != "admin":
            await call(trig, channel, users[0][0], users[0][1], own, True)
        elif admin_token is not None:
            await call(trig, channel, "admin", admin_token, own, True)
    return judge(calls)
