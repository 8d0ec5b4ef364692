"""Formatting the analysis for the report notebook: HTML fragments, no computation.

Every function takes values the analysis computed and returns something
IPython displays. Tables carry stable ids so tests (and readers' tools) can
find them in the exported HTML.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

import pandas as pd
from IPython.display import HTML, Image, Markdown
from matplotlib.figure import Figure

from .analysis import RULES, SCORE_FORMULA, Analysis

VERDICT_CLASS = {"READY": "ready", "READY WITH RISKS": "risks", "INSUFFICIENT EVIDENCE": "insufficient", "NOT READY": "not-ready"}


def _fmt(v: Any, kind: str = "") -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return "—"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%H:%M:%S")
    if kind == "pct":
        return f"{v:.1%}"
    if kind == "ms":
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _present(v: object) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _both(a: object, b: object) -> bool:
    return _present(a) and _present(b)


def with_intervals(df: pd.DataFrame, merge: dict[str, tuple[str, str, str]], kind: str) -> pd.DataFrame:
    """Columns ``est``, ``lo``, ``hi`` shown as one column 'est [lo–hi]' (formatting only)."""
    out = df.copy()
    for name, (est, lo, hi) in merge.items():
        if est not in out:
            continue
        # An interval is printed only when both of its ends exist: a half interval
        # (too few samples for the upper end) is no interval at all.
        text = [f"{_fmt(e, kind)} [{_fmt(a, kind)}–{_fmt(b, kind)}]" if _both(a, b)
                else (f"{_fmt(e, kind)} (too few samples for an interval)" if _present(e) else _fmt(e, kind))
                for e, a, b in zip(out[est], out[lo], out[hi], strict=True)]
        pos = list(out.columns).index(est)
        out = out.drop(columns=[est, lo, hi])
        out.insert(pos, name, text)
    return out


def table(df: pd.DataFrame, table_id: str, formats: dict[str, str] | None = None, caption: str | None = None,
          columns: list[str] | None = None) -> HTML:
    """An HTML table with an id; ``formats`` maps columns to 'pct' or 'ms'; ``columns`` picks and orders them."""
    formats = formats or {}
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            cls = f' class="o-{html.escape(str(v))}"' if c in ("outcome", "status", "support", "impact") else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v, formats.get(c, '')))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td class="empty" colspan="{len(df.columns)}">none</td></tr>')
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return HTML(f'<table id="{table_id}" class="data">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def figure(fig: Figure) -> Image:
    """A figure as a PNG (deterministic: no timestamp in the metadata); the figure is closed."""
    import io

    import matplotlib.pyplot as plt

    alt = " / ".join(ax.get_title() for ax in fig.axes if ax.get_title()) or "figure"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return Image(data=buf.getvalue(), format="png", metadata={"alt": alt})


def header(a: Analysis) -> HTML:
    """Title block: target, run, dates, suite."""
    m = a.manifest
    t = m.get("target", {})
    server = m.get("server") or {}
    prof = (server.get("profile") or {}).get("name")
    items = [
        ("Target", t.get("ws_url", "?") + (" (embedded reference server, profile " + str(prof) + ")" if t.get("embedded") else "")),
        ("Run", m.get("run_id", "?")),
        ("Started / ended (UTC)", f"{m.get('started_at', '?')} / {m.get('ended_at') or 'not finished'}"),
        ("Suite", f"{m.get('suite', {}).get('name')} {m.get('suite', {}).get('version')}, run status: {m.get('status')}"),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in items)
    return HTML(f'<table id="run-header" class="meta">{rows}</table>')


def verdict(a: Analysis) -> HTML:
    """The verdict banner with the score and its formula."""
    v = a.verdict
    score = "—" if math.isnan(a.score) else f"{a.score:.1%}"
    return HTML(
        f'<div id="verdict" class="verdict {VERDICT_CLASS[v.verdict]}" data-verdict="{html.escape(v.verdict)}">'
        f'<div class="verdict-word">{html.escape(v.verdict)}</div>'
        f'<div class="verdict-why">{html.escape(v.sentence())}</div>'
        f'<div class="score">Overall score <b id="score" data-score="{a.score:.6f}">{score}</b> '
        f'<span class="formula">({html.escape(SCORE_FORMULA)})</span></div></div>'
    )


def deciding(a: Analysis) -> HTML:
    """The probes and targets that decided the verdict."""
    if a.verdict.reasons.empty:
        return HTML('<p id="deciding">Nothing stands against deployment: every critical probe passed and every target is met.</p>')
    return table(a.verdict.reasons, "deciding", caption=f"What decided it (rule {a.verdict.rule}: {RULES[a.verdict.rule]})")


def recommendation(a: Analysis) -> Markdown:
    """The recommendation, from the verdict's rule (text chosen, never computed here)."""
    v = a.verdict
    names = ", ".join(f"`{n}`" for n in v.reasons["name"].head(12)) if not v.reasons.empty else ""
    text = {
        1: f"**Do not deploy.** Fix the blocking findings first ({names}), then re-run the suite and regenerate this report.",
        2: f"**Do not decide yet.** The evidence is incomplete ({names}): provide what the skipped probes need "
           "(credentials, signing secret, TLS, more samples) and re-run.",
        3: f"**Deploy with the listed risks accepted**, or fix them first: {names}.",
        4: "**Deploy.** Every critical probe passed and every service-level target is met; keep this report with the release.",
    }[v.rule]
    return Markdown(text)


def manifest(a: Analysis) -> HTML:
    """The manifest as a readable, escaped JSON block."""
    return HTML(f'<pre id="manifest" class="manifest">{html.escape(json.dumps(a.manifest, indent=2, default=str))}</pre>')
