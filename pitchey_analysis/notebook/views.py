"""What the exploration notebooks show of a run, one function per cell.

Each function takes the run (two runs, for a comparison) and returns what the
cell displays, so that :class:`pitchey_analysis.notebook.explore.RunView` can redraw it
when another run is picked. The statistics come from :mod:`~pitchey_analysis.analysis`
and the figures from :mod:`~pitchey_analysis.report.figures`; nothing is computed here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from IPython.display import Markdown

from ..analysis import (
    DEFAULT_TARGETS,
    SCORE_FORMULA,
    analyze,
    category_rates,
    compare_latency,
    compare_outcomes,
    compare_rates,
    concurrency_table,
    issues,
    latency_summary,
    latest,
    overall_score,
    slo_checks,
)
from ..analysis.compare import contracts_differ
from ..capture.dataset import Run
from ..outcomes import FAILED
from ..report import figures, render
from . import explore

#: percentile targets by metric (the dashed lines of the distributions)
TARGETS = {t.metric: t.threshold for t in DEFAULT_TARGETS if t.kind == "percentile"}


def _show(fig: Any) -> Any:
    """A figure as this kernel shows it: an ipympl widget after :func:`explore.use_widgets`, else a static PNG."""
    return render.show(fig, interactive=explore.interactive())


# -- 2.0 latency distributions ---------------------------------------------------------------------------------------


def sequential_latency(r: Run) -> pd.DataFrame:
    """Percentiles with intervals per metric, sequential and idle samples (concurrency 1)."""
    return latency_summary(r.samples[r.samples["concurrency"] == 1]).round(3)


def service_targets(r: Run) -> pd.DataFrame:
    """Each service-level target: met, missed or not verified."""
    return slo_checks(r.samples, r.probes, tls=bool((r.manifest.get("target") or {}).get("tls")))


#: fewer sequential samples than this draw no distribution (a histogram of one or two values reads as noise)
MIN_SAMPLES_FOR_A_FIGURE = 5


def distributions(r: Run) -> list[Any]:
    """A distribution figure per latency metric with enough samples (session lifetimes are in the report)."""
    seq = r.samples[(r.samples["concurrency"] == 1) & (r.samples["ok"] == True)]  # noqa: E712
    counts = seq.groupby("metric").size()
    metrics = sorted(m for m in counts.index if str(m).endswith("_ms"))
    few = [m for m in metrics if counts[m] < MIN_SAMPLES_FOR_A_FIGURE]
    if few:
        print(f"No figure for {', '.join(few)}: fewer than {MIN_SAMPLES_FOR_A_FIGURE} samples (see the table above).")
    return [_show(figures.latency_distribution(r.samples, m, TARGETS.get(m))) for m in metrics if m not in few]


def against_concurrency(r: Run) -> list[Any]:
    """Success and latency per concurrency level: the table and its figure."""
    conc = concurrency_table(r.samples, r.probes)
    return [conc.round(3), _show(figures.concurrency(conc))]


# -- 3.0 success rates ------------------------------------------------------------------------------------------------


def success_rates(r: Run) -> list[Any]:
    """Pass rate per category with Wilson intervals, the overall score with its formula, and the figure."""
    rates = category_rates(latest(r.probes))
    print(f"overall score {overall_score(rates):.1%}\n{SCORE_FORMULA}")
    return [rates.round(3), _show(figures.category_rates(rates))]


def outcomes_by_category(r: Run) -> pd.DataFrame:
    """How many probes of each category ended in each outcome."""
    return latest(r.probes).pivot_table(
        index="category", columns="outcome", values="probe", aggfunc="count", fill_value=0
    )


def failures_by_reason(r: Run) -> Any:
    """Failing probes grouped by reason code (a sentence when none failed)."""
    table = issues(latest(r.probes))
    return table if len(table) else Markdown("No probe failed or raised an error in this run.")


# -- 5.0 comparison ---------------------------------------------------------------------------------------------------


def compare_header(a: Run, b: Run) -> Any:
    """Both runs' target, profile, contract, version and verdict; a warning first when their contracts differ."""
    header = render.compare_header(analyze(a), analyze(b))
    warning = contracts_differ(a.manifest, b.manifest)
    return [Markdown(f"**Warning.** {warning}"), header] if warning else header


def compare_pass_rates(a: Run, b: Run) -> Any:
    """Change in pass rate per category with Newcombe's interval."""
    rates = render.with_intervals(compare_rates(a.probes, b.probes), {"change [95% CI]": ("change", "lo", "hi")}, "pct")
    return render.table(rates, "compare-rates", {"rate_a": "pct", "rate_b": "pct"})


def compare_percentiles(a: Run, b: Run) -> Any:
    """Each latency percentile in both runs with its interval, and whether it moved."""
    lat = compare_latency(a.samples, b.samples)
    if len(lat):
        lat = lat.assign(
            a_interval=[render.interval(i) for i in lat["a_interval"]],
            b_interval=[render.interval(i) for i in lat["b_interval"]],
        )
    return render.table(
        lat,
        "compare-latency",
        {"a_ms": "ms", "b_ms": "ms"},
        columns=["metric", "percentile", "a_ms", "a_interval", "b_ms", "b_interval", "ratio", "direction"],
    )


def compare_figures(a: Run, b: Run) -> list[Any]:
    """Connect and round-trip distributions of both runs, overlaid."""
    names = ("A " + a.run_id, "B " + b.run_id)
    return [
        render.figure(figures.compare_distributions(a.samples, b.samples, m, names, TARGETS.get(m)))
        for m in ("connect_ms", "rtt_ms")
    ]


def changed_outcomes(a: Run, b: Run) -> Any:
    """Probes whose outcome differs between the runs."""
    return render.table(compare_outcomes(a.probes, b.probes), "compare-outcomes")


# -- 6.0 frames -------------------------------------------------------------------------------------------------------


def failing_probes(r: Run) -> list[str]:
    """Names of the probes that ended ``fail`` or ``error``, in run order."""
    names: list[str] = r.probes[r.probes["outcome"].isin(FAILED)]["probe"].drop_duplicates().tolist()
    return names


def probe_session(r: Run, probe: str) -> list[Any]:
    """A probe's outcome, reason and expectation, then its session frame by frame."""
    from .explore import session_frames

    cols = ["probe", "outcome", "reason", "detail", "expected", "close_code"]
    rows = r.probes[r.probes["probe"] == probe]
    frames = session_frames(r, probe)
    return [
        rows[[c for c in cols if c in rows.columns]],
        _whole_payloads(frames)
        if len(frames)
        else Markdown(f"`{probe}` recorded no WebSocket frame (an HTTP check, or no connection)."),
    ]


def _whole_payloads(frames: pd.DataFrame) -> Any:
    """The frames table with each payload whole (pandas would cut it at 50 characters), left-aligned."""
    return (
        frames.style.hide(axis="index")
        .format(precision=3)
        .set_properties(**{"text-align": "left"})
        .set_properties(
            subset=["payload"], **{"font-family": "monospace", "white-space": "pre-wrap", "word-break": "break-all"}
        )
    )


def sessions(probe: str | None = None) -> Any:
    """The view of 6.0: a picker of the run's failing probes above the session of ``probe`` (default: the first)."""

    def view(r: Run) -> list[Any]:
        from .explore import frames_browser, live_frontend

        failing = failing_probes(r)
        # those with frames first (an HTTP check has none); with no failure to read, any probe can be browsed
        choices = _with_frames_first(r, failing or r.probes["probe"].drop_duplicates().tolist())
        shown = probe if probe is not None and probe in set(r.probes["probe"]) else choices[0]
        print(
            f"{len(failing)} failing probe(s); showing {shown}"
            + ("" if failing else " (nothing failed in this run: every probe can be picked)")
        )
        browser = (
            frames_browser(r, choices, lambda p: render_all(probe_session(r, p)), value=shown)
            if live_frontend()
            else None
        )
        return [browser] if browser is not None else probe_session(r, shown)

    return view


def _with_frames_first(r: Run, names: list[str]) -> list[str]:
    with_frames = set(r.probes[r.probes["probe_id"].isin(set(r.frames["probe_id"]))]["probe"])
    return [p for p in names if p in with_frames] + [p for p in names if p not in with_frames]


def render_all(items: list[Any]) -> None:
    """Display each item (the frames browser's callback)."""
    from IPython.display import display

    for item in items:
        display(item)


def samples_over_time(r: Run) -> Any:
    """Every sample of the run against the time it was taken."""
    return _show(figures.samples_over_time(r.samples))


# -- 8.0 soak ---------------------------------------------------------------------------------------------------------

_SOAK: dict[tuple[str, int, float, float], Any] = {}


def _soak(r: Run, window_s: float, rtt_target_ms: float) -> tuple[pd.DataFrame, pd.DataFrame, Any]:
    """The load run's generator windows, the target's polls and its soak analysis (computed once per run and
    settings)."""
    from ..analysis.soak import analyze_soak
    from ..capture.dataset import load_events

    key = (str(r.path), id(r), window_s, rtt_target_ms)
    if key not in _SOAK:
        _SOAK.clear()
        generator, polls = load_events(r, "generator"), load_events(r, "target_stats")
        _SOAK[key] = (
            generator,
            polls,
            analyze_soak(r.samples, generator, polls, window_s=window_s, rtt_target_ms=rtt_target_ms),
        )
    generator_, polls_, result = _SOAK[key]
    return generator_, polls_, result


def soak_generator(window_s: float = 60.0, rtt_target_ms: float = 50.0) -> Any:
    """The view of 8.0's first section: was the generator honest (saturation, the target judged, its loop lag)?
    Nothing for no load run (the picker's status said why)."""

    def view(r: Run | None) -> list[Any]:
        from ..report import soakfigures

        if r is None:
            return []
        generator, _, soak = _soak(r, window_s, rtt_target_ms)
        print(soak.saturation.note())
        return [soak.slo, _show(soakfigures.loop_lag(generator, soak.saturation.lag_bound_ms))]

    return view


def soak_drift(window_s: float = 60.0, rtt_target_ms: float = 50.0) -> Any:
    """Latency per window of each metric, and its drift."""

    def view(r: Run | None) -> list[Any]:
        from ..report import soakfigures

        if r is None:
            return []
        soak = _soak(r, window_s, rtt_target_ms)[2]
        return [
            soak.drift.round(4),
            *[
                _show(soakfigures.windowed_latency(soak.windows, m, rtt_target_ms if m == "rtt_ms" else None))
                for m in sorted(set(soak.windows["metric"]))
            ],
        ]

    return view


def soak_sessions(window_s: float = 60.0, rtt_target_ms: float = 50.0) -> Any:
    """The target's sessions against the load's open connections."""

    def view(r: Run | None) -> list[Any]:
        from ..report import soakfigures

        if r is None:
            return []
        _, polls, soak = _soak(r, window_s, rtt_target_ms)
        return [soak.sessions, _show(soakfigures.sessions(polls, soak.client_open))]

    return view


# -- 7.0 history ------------------------------------------------------------------------------------------------------


def history_trend(h: dict[str, pd.DataFrame]) -> Any:
    """The view of one trend (a target judged against one contract): its runs' verdicts and pass rates, p95 per
    metric, and the figure."""
    from ..analysis.history import trends
    from ..report.history import history_tables

    parts = dict(trends(h))

    def view(key: str) -> list[Any]:
        rates, p95 = history_tables(parts[key])
        return [
            Markdown(f"### {key}\n\nVerdict, score and pass rate per category [Wilson 95% interval]"),
            rates,
            Markdown("p95 per metric in ms [order-statistic 95% interval; none where the samples cannot support one]"),
            p95,
            _show(figures.history(parts[key])),
        ]

    return view


# -- 1.0 capture ------------------------------------------------------------------------------------------------------


def capture_summary(r: Run) -> None:
    """What a run holds, where it is, and its verdict."""
    from ..analysis import verdict_for_run

    print(
        f"run {r.run_id} (status: {r.manifest.get('status')}): {len(r.probes)} probes, {len(r.samples)} samples, "
        f"{len(r.frames)} frames\nwritten to {r.path}"
    )
    print(
        f"verdict: {verdict_for_run(r).verdict}  (notebook 4.0 says why; a quick suite rarely has the samples to "
        "verify a target)"
    )


def pass_counts(r: Run) -> Any:
    """Pass counts per category."""
    from ..report.summary import category_table

    return category_table(r.probes)


def probes_head(r: Run) -> pd.DataFrame:
    """The probes table's first rows."""
    return r.probes[["probe", "outcome", "reason", "detail"]].head(12)
