"""Every run of a target over time, as a table (and a figure on request): ``pitchey-analysis history``, notebook 7.0."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

# pandas and the analysis are imported where they are used: importing this module (the notebook 7.0, the CLI's
# history command) costs nothing until a history is loaded
if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


def load_history(
    runs_dir: Path | None = None,
    target: str | None = None,
    *,
    samples: bool = False,
    on_skip: Callable[[Path, Exception], None] | None = None,
) -> dict[str, pd.DataFrame]:
    """Load every run under ``runs_dir`` (and the committed samples if asked) and compute their history.

    A run that cannot be read (:class:`~pitchey_analysis.exceptions.DatasetError`) is passed to ``on_skip`` and
    left out; without ``on_skip`` it raises."""
    from ..analysis.history import history
    from ..capture.dataset import list_runs, readable_runs
    from ..config import sample_run_dirs

    return history(readable_runs(list_runs(runs_dir) + (sample_run_dirs() if samples else []), on_skip), target)


def _iv(est: float, lo: float, hi: float, fmt: str) -> str:
    if est is None or (isinstance(est, float) and math.isnan(est)):
        return "—"
    known = not any(isinstance(x, float) and math.isnan(x) for x in (lo, hi))
    return f"{est:{fmt}} [{lo:{fmt}}–{hi:{fmt}}]" if known else f"{est:{fmt}}"


def history_tables(h: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two tables, one row per run: verdict, score and pass rate per category [95% interval]; p95 per metric
    [interval]."""
    cols = [c for c in ("run_id", "started", "target", "contract", "suite", "verdict", "score") if c in h["runs"]]
    base = h["runs"][cols].copy()
    base["started"] = base["started"].astype(str).str[:16]
    base["score"] = [("—" if math.isnan(s) else f"{s:.1%}") for s in base["score"]]
    rates = base.copy()
    for cat, grp in h["categories"].groupby("category", sort=False):
        g = grp.set_index("run_id")
        rates[str(cat)] = [
            _iv(g.at[r, "rate"], g.at[r, "lo"], g.at[r, "hi"], ".0%")
            if r in g.index and g.loc[r, "judged"] > 0
            else "—"
            for r in rates["run_id"]
        ]
    p95 = base[[c for c in ("run_id", "started", "target", "contract") if c in base]].copy()
    for metric, grp in h["p95"].groupby("metric", sort=False):
        g = grp.set_index("run_id")
        p95[f"{metric} p95"] = [
            _iv(g.at[r, "p95"], g.at[r, "lo"], g.at[r, "hi"], ".2f") if r in g.index else "—" for r in p95["run_id"]
        ]
    return rates, p95


def _lines(text: str) -> str:
    """A printed table whose cells hold dataset text (a target URL): each line made printable."""
    from ..textsafe import printable

    return "\n".join(printable(line) for line in text.splitlines())


def print_history(h: dict[str, pd.DataFrame], target: str | None = None) -> None:
    """Print the history tables of ``h`` (:func:`load_history`), one trend per target and contract; ``target`` is
    the filter it was loaded with, named when no run matched."""
    import pandas as pd

    if h["runs"].empty:
        print("no runs" + (f" of a target matching {target!r}" if target else ""))
        return
    from ..analysis.history import trends

    parts = trends(h)
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.max_colwidth", 60):
        for i, (name, part) in enumerate(parts):
            rates, p95 = history_tables(part)
            if len(parts) > 1:  # one trend per target and contract: a score is followed only against its own kind
                print(("\n" if i else "") + _lines(f"== trend {i + 1} of {len(parts)}: {name} =="))
            print("Verdict, score and pass rate per category [Wilson 95% interval]")
            print(_lines(rates.to_string(index=False)))
            print(
                "\np95 per metric in ms [order-statistic 95% interval; none printed where the samples cannot support "
                "it]"
            )
            print(_lines(p95.to_string(index=False)))


def write_history_figure(h: dict[str, pd.DataFrame], path: Path) -> None:
    """Draw the trend of ``h`` into the PNG file ``path``, written under a temporary name and renamed (an
    :class:`OSError` when it cannot be written)."""
    from ..atomic import atomic_path
    from . import figures

    figures.style()
    fig = figures.history(h)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
