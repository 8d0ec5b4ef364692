"""The readiness report (notebook 4.0), one function per section: a run in, what the section shows out.

Each function takes the loaded run and returns what its cell displays, so that
:class:`pitchey_analysis.notebook.explore.RunView` draws the report for the run its parameters name (papermill,
``pitchey-analysis report``) and redraws it when the run picker chooses another in JupyterLab. The analysis of
a run is computed once (:func:`analysis`); nothing here computes a statistic, the rendering is :mod:`.render`'s.
"""

from __future__ import annotations

from typing import Any

from IPython.display import Markdown

from ..analysis import DEFAULT_TARGETS, Analysis, analyze
from ..analysis.defects import close_codes
from ..analysis.sessions import dropped_sessions, session_lifetimes
from ..capture.dataset import Run
from . import figures, render

_LAST: dict[str, tuple[int, Analysis]] = {}


def analysis(r: Run) -> Analysis:
    """The analysis of ``r``, computed once for every section of its report (the newest run only is kept)."""
    key = str(r.path)
    if key not in _LAST or _LAST[key][0] != id(r):
        _LAST.clear()
        _LAST[key] = (id(r), analyze(r))
    return _LAST[key][1]


def header(r: Run) -> Any:
    return render.header(analysis(r))


def verdict(r: Run) -> list[Any]:
    a = analysis(r)
    return [render.verdict(a), render.summary(a)]


def category_rates(r: Run) -> list[Any]:
    a = analysis(r)
    rates = render.with_intervals(a.rates, {"pass rate [95% CI]": ("rate", "lo", "hi")}, "pct")
    return [render.table(rates, "category-rates"), render.figure(figures.category_rates(a.rates))]


def findings(r: Run) -> Any:
    return render.findings(analysis(r))


def capabilities(r: Run) -> Any:
    return render.table(
        analysis(r).capabilities, "capabilities", columns=["capability", "status", "passed", "judged", "failing_probes"]
    )


def connection_flow(r: Run) -> list[Any]:
    a = analysis(r)
    flow = render.with_intervals(a.connection_flow, {"p95 ms [95% CI]": ("p95", "p95_lo", "p95_hi")}, "ms")
    return [
        render.table(flow, "connection-flow", {"mean": "ms", "p50": "ms", "share": "pct"}),
        render.figure(figures.connection_stages(a.connection_flow)),
    ]


def auth_methods(r: Run) -> Any:
    return render.table(
        analysis(r).auth_methods,
        "auth-methods",
        {"latency_ms": "ms"},
        columns=["method", "status", "latency_ms", "samples"],
    )


def message_types(r: Run) -> Any:
    return render.table(analysis(r).message_types, "message-types", columns=["message_type", "support", "detail"])


def dropped(r: Run) -> list[Any]:
    """Dropped sessions, a finding of their own (resilience.sustained_sessions): only when the server closed held
    ones."""
    drops = dropped_sessions(r.samples, r.probes)
    if drops is None:
        return []
    return [
        Markdown(f"### {drops.title()}\n\n{drops.sentence()}"),
        render.figure(figures.session_lifetimes(session_lifetimes(r.samples, r.probes), drops.window_s)),
    ]


def performance(r: Run) -> list[Any]:
    a = analysis(r)
    slo = render.with_intervals(a.slo, {"observed [95% CI]": ("observed", "lo", "hi")}, "ms")
    lat = render.with_intervals(
        a.latency, {f"p{q} [95% CI]": (f"p{q}", f"p{q}_lo", f"p{q}_hi") for q in (50, 90, 95, 99)}, "ms"
    )
    return [
        render.table(
            slo,
            "slo",
            columns=["target", "goal", "judged_on", "observed [95% CI]", "samples", "needed", "status", "note"],
        ),
        render.table(
            lat,
            "latency",
            {"mean": "ms", "max": "ms"},
            columns=["metric", "count", "mean", "p50 [95% CI]", "p95 [95% CI]", "p99 [95% CI]", "max"],
            caption="Latency per metric in ms (sequential and idle samples), percentiles with 95% intervals",
        ),
    ]


def distributions(r: Run) -> list[Any]:
    targets = {t.metric: t.threshold for t in DEFAULT_TARGETS if t.kind == "percentile"}
    present = set(analysis(r).latency.get("metric", []))
    return [
        render.figure(figures.latency_distribution(r.samples, m, targets.get(m)))
        for m in ("connect_ms", "rtt_ms", "tls_handshake_ms")
        if m in present
    ]


def concurrency(r: Run) -> list[Any]:
    a = analysis(r)
    conc = render.with_intervals(a.concurrency, {"success [95% CI]": ("success_rate", "lo", "hi")}, "pct")
    return [
        render.table(
            conc,
            "concurrency",
            {c: "ms" for c in ("connect_p50", "connect_p95", "rtt_p50", "rtt_p95")},
            columns=[
                "level",
                "connections",
                "answered",
                "success [95% CI]",
                "connect_p50",
                "connect_p95",
                "rtt_p50",
                "rtt_p95",
            ],
        ),
        render.figure(figures.concurrency(a.concurrency)),
        render.figure(figures.close_timeline(r.frames, r.probes, r.manifest)),
        render.table(
            close_codes(r.frames, r.probes, (a.declared or {}).get("closes") if a.declared is not None else None),
            "close-codes",
            caption="Close codes the run observed, and whether the contract declares them (RFC 6455 §7.4.1)",
        ),
    ]


def soak(r: Run) -> list[Any]:
    """A run with load over time (a ``pitchey-analysis load`` run) gets its soak view: windows, drift, the target's
    polls."""
    from .soak import soak_section

    return soak_section(r)


def security(r: Run) -> Any:
    return render.table(analysis(r).security, "security", columns=["check", "outcome", "detail"])


def recommendation(r: Run) -> Any:
    return render.recommendation(analysis(r))


def configuration(r: Run) -> Any:
    return render.configuration(analysis(r), r.path)


def outcomes(r: Run) -> Any:
    return render.outcomes(analysis(r))
