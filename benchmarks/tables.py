"""The benchmark rows as tables: one for every row, one for the accounting of the saturation rows.

Pure functions of the rows of ``reports/bench.json``; the console (rich) and the
README (Markdown) print the same cells.
"""

from __future__ import annotations

from typing import Any

MAIN = ["tool", "scenario", "round_trips_per_s", "cpu_s_per_10k", "peak_rss_mb", "p50_ms", "p99_ms"]

# (key in the row, column title) of the accounting table
ACCOUNTING = [
    ("tool", "tool"),
    ("round_trips", "round trips (long run)"),
    ("short_round_trips", "round trips (short run)"),
    ("round_trips_per_s", "round trips/s"),
    ("rt_per_cpu_s_whole", "rt per CPU-s, whole process"),
    ("rt_per_cpu_s_marginal", "rt per CPU-s, marginal"),
    ("ours_vs_this_whole", "ours ÷ this, whole"),
    ("ours_vs_this_marginal", "ours ÷ this, marginal"),
    ("process_cpu_s", "CPU s (long)"),
    ("short_process_cpu_s", "CPU s (short)"),
    ("peak_rss_mb", "peak RSS MB (long)"),
    ("short_peak_rss_mb", "peak RSS MB (short)"),
    ("rss_vs_k6", "RSS ÷ k6's"),
    ("rss_mb_per_million_samples", "MB per M samples kept, whole"),
    ("rss_mb_per_million_samples_marginal", "MB per M samples kept, marginal"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
]
ACCOUNTING_KEYS = {k for k, _ in ACCOUNTING} | {"cpu_s_per_10k_whole", "cpu_s_per_10k_marginal", "samples_kept"}


def fmt(v: Any) -> str:
    """One cell: thousands separators, three decimals below 100, a dash for nothing."""
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def is_accounted(r: dict) -> bool:
    """A row measured with both accountings (a saturation row that ran)."""
    return "rt_per_cpu_s_marginal" in r


def main_table(rows: list[dict], sep: str = ", ") -> tuple[list[str], list[list[str]]]:
    """Every row: the bench.json keys, then the rest in one 'other' cell (accounting figures left to their table)."""
    out = []
    for r in rows:
        skip = set(MAIN) | {"_meta"} | (ACCOUNTING_KEYS if is_accounted(r) else set())
        other = sep.join(f"{k}={fmt(v)}" for k, v in r.items() if k not in skip and v not in (None, {}, ""))
        out.append([fmt(r.get(c)) for c in MAIN] + [other])
    return MAIN + ["other"], out


def accounting_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The saturation rows, whole-process and marginal side by side."""
    return [t for _, t in ACCOUNTING], [[fmt(r.get(k)) for k, _ in ACCOUNTING] for r in rows if is_accounted(r)]


def markdown(headers: list[str], cells: list[list[str]]) -> str:
    """A Markdown table."""
    esc = [[c.replace("|", "\\|") for c in row] for row in cells]
    return "\n".join(
        ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)] + ["| " + " | ".join(r) + " |" for r in esc]
    )
