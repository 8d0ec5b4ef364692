"""``pitchey-analysis contract check``: validate a service contract and print what the suite will test with it."""

from __future__ import annotations

import argparse
import sys

from ..textsafe import printable
from . import outputs
from .exits import Exit


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ct = sub.add_parser("contract", help="check a service contract and print what the suite will test with it")
    ct.add_argument("action", choices=("check",), help="check: validate the document and print the plan")
    ct.add_argument(
        "contract", metavar="FILE|NAME", help="a contract file (YAML or JSON) or a shipped name, e.g. pitchey"
    )
    ct.add_argument("--suite", default="full", choices=("quick", "full"), help="the suite to plan (default full)")
    ct.add_argument("--target", help="plan for this target URL (default: a loopback target)")


def cmd_contract(a: argparse.Namespace) -> Exit:
    from ..contract.lint import lint
    from ..probes import ProbeContext
    from ..runner import plan
    from .plan import plan_line

    c = outputs.contract(a.contract, check=True)
    ctx = ProbeContext(ws_url=a.target or "ws://127.0.0.1:0/ws", http_url="", recorder=None, contract=c)
    steps = plan(a.suite, ctx)
    issues = lint(c)
    errors = [i for i in issues if i.is_error]
    if errors:
        for i in issues:
            print(f"contract {printable(a.contract)}: {printable(i.line())}", file=sys.stderr)
        return Exit.USAGE
    # every name below is the contract's text: printed escaped (a title may hold a terminal's control sequences)
    print(
        printable(
            f"contract {c.name} ({c.title} {c.version}): valid AsyncAPI 3.0 + x-readiness, sha256 {c.sha256[:12]}"
        )
    )
    if c.kind_pointer != "/type":
        print(
            printable(
                f"message kinds: {c.kind_pointer or 'told apart by their schemas'}"
                + (f"; answers matched by id at {', '.join(c.answer_pointers)}" if c.answer_pointers else "")
            )
        )
    for i in issues:
        print(printable(i.line()))
    ops = c.request_answers()
    print(
        printable(
            f"{len(ops)} request/answer operations generate probes: "
            + ", ".join(f"{o.label()} [{o.probe_name}]" for o in ops)
        )
    )
    if c.first_frame:
        print(printable(f"first frame: {c.kind_word(c.first_frame.type)}"))
    run = [(s, w) for s, w in steps if not (w or "").startswith("not_in_contract")]
    skipped = [(s, w) for s, w in steps if (w or "").startswith("not_in_contract")]
    print(f"\n{len(run)} probes will run ({a.suite} suite):")
    for spec, why in run:
        print(plan_line(spec, f"skip ({why})" if why else "run"))
    print(f"\n{len(skipped)} probes will not run (skip not_in_contract):")
    for spec, why in skipped:
        print(plan_line(spec, (why or "").partition(":")[2]))
    crit = [s.name for s, _ in skipped if s.critical]
    if crit:
        print(
            f"\n{len(crit)} critical probes are not in the contract: the verdict counts them as gaps "
            "(INSUFFICIENT EVIDENCE at best)."
        )
    return Exit.OK
