"""Formatting the analysis for the report notebook: HTML fragments, no computation.

Every function takes values the analysis computed and returns something
IPython displays. Tables carry stable ids so tests (and readers' tools) can
find them in the exported HTML.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any

import pandas as pd
from IPython.display import HTML, Image, Markdown
from matplotlib.figure import Figure

from ..analysis import RULES, SCORE_FORMULA, Analysis
from ..outcomes import Readiness

VERDICT_CLASS = {
    Readiness.READY: "ready",
    Readiness.READY_WITH_RISKS: "risks",
    Readiness.INSUFFICIENT_EVIDENCE: "insufficient",
    Readiness.NOT_READY: "not-ready",
}


def contract_name(manifest: dict[str, Any]) -> str:
    """The contract a run was judged against (``pitchey``, the built-in one, until runs record another)."""
    c = manifest.get("contract")
    if isinstance(c, dict):
        return str(c.get("name") or c.get("title") or "pitchey")
    return str(c) if c else "pitchey"


def target_line(manifest: dict[str, Any]) -> str:
    """The target in one line: URL, and the embedded server's profile when it was ours."""
    t = manifest.get("target") or {}
    prof = ((manifest.get("server") or {}).get("profile") or {}).get("name")
    url = str(t.get("ws_url", "?"))
    return f"{url} (embedded reference server, profile {prof})" if t.get("embedded") else url


def _fmt(v: Any, kind: str = "") -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return "—"
    if isinstance(v, pd.Timestamp):
        return str(v.strftime("%H:%M:%S"))
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


def _cell(text: str) -> str:
    """Escaped cell text; dotted and slashed identifiers may wrap after '.', '/', ',' or ':' (never inside a word,
    nor inside a number). A name joined by '_' stays whole: 'tcp_connect_ms' is one word, never 'tcp_connect_ / ms'."""
    out = re.sub(r"([./,:])(?!\d)", r"\1<wbr>", html.escape(text))  # '2.136' and '1,000' stay whole
    return out.replace("\n", "<br>")


#: Marks an estimate shown without an interval; the table says once, under it, what the mark means.
NO_INTERVAL = "†"
NO_INTERVAL_NOTE = f"{NO_INTERVAL} too few samples for a 95% interval: the estimate alone is shown."


def with_intervals(df: pd.DataFrame, merge: dict[str, tuple[str, str, str]], kind: str) -> pd.DataFrame:
    """Columns ``est``, ``lo``, ``hi`` shown as one column 'est [lo–hi]' (formatting only); an estimate without
    an interval is marked :data:`NO_INTERVAL`, explained once under the table by :func:`table`."""
    out = df.copy()
    for name, (est, lo, hi) in merge.items():
        if est not in out:
            continue
        # An interval is printed only when both of its ends exist: a half interval
        # (too few samples for the upper end) is no interval at all.
        text = [
            f"{_fmt(e, kind)} [{_fmt(a, kind)}–{_fmt(b, kind)}]"
            if _both(a, b)
            else (f"{_fmt(e, kind)} {NO_INTERVAL}" if _present(e) else _fmt(e, kind))
            for e, a, b in zip(out[est], out[lo], out[hi], strict=True)
        ]
        pos = list(out.columns).index(est)
        out = out.drop(columns=[est, lo, hi])
        out.insert(pos, name, text)
    return out


def table(
    df: pd.DataFrame,
    table_id: str,
    formats: dict[str, str] | None = None,
    caption: str | None = None,
    columns: list[str] | None = None,
) -> HTML:
    """An HTML table with an id; ``formats`` maps columns to 'pct' or 'ms'; ``columns`` picks and orders them."""
    formats = formats or {}
    if columns is not None:
        df = df[[c for c in columns if c in df.columns]]
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            v = r[c]
            cls = f' class="o-{html.escape(str(v))}"' if c in ("outcome", "status", "support", "impact") else ""
            text = _fmt(v, formats.get(c, ""))
            cells.append(f"<td{cls}>{_cell(text) if isinstance(v, str) else html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        rows.append(f'<tr><td class="empty" colspan="{len(df.columns)}">none</td></tr>')
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    marked = any(isinstance(v, str) and v.endswith(f" {NO_INTERVAL}") for c in df.columns for v in df[c])
    note = f'<p class="table-note" id="{table_id}-note">{html.escape(NO_INTERVAL_NOTE)}</p>' if marked else ""
    return HTML(
        f'<table id="{table_id}" '
        f'class="data">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}'
    )


def figure(fig: Figure) -> Image:
    """A figure as a PNG (deterministic: no timestamp in the metadata); the figure is closed."""
    import io

    import matplotlib.pyplot as plt

    alt = " / ".join(ax.get_title() for ax in fig.axes if ax.get_title()) or "figure"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return Image(data=buf.getvalue(), format="png", metadata={"alt": alt})


def show(fig: Figure, *, interactive: bool = False) -> Any:
    """A figure for a notebook: its interactive ipympl canvas when ``interactive``, else the static PNG of
    :func:`figure`."""
    if interactive:
        canvas: Any = fig.canvas  # an ipympl Canvas (its header and toolbar are ipympl traits)
        canvas.header_visible = False  # no "Figure 12" above each plot
        canvas.toolbar_visible = True  # beside the plot, not floating over its axis labels
        canvas.toolbar_position = "right"
        return canvas
    return figure(fig)


def header(a: Analysis) -> HTML:
    """Title block: target, run, dates, suite, tool version and commit, contract, credentials (user types, never
    secrets)."""
    m = a.manifest
    cfg = m.get("config") or {}
    cred = cfg.get("credentials") or {}
    users = ", ".join(cred.get("user_types") or []) or "none (anonymous probes only)"
    cred_line = (
        f"user types {users}; admin account {'given' if cred.get('admin') else 'not given'}; "
        f"signing secret {'given' if cred.get('jwt_secret_given') else 'not given'}"
    )
    commit = m.get("git_commit") or "not recorded"
    items = [
        ("Target", target_line(m)),
        ("Contract", contract_name(m)),
        ("Credentials", cred_line),
        ("Run", f"{m.get('run_id', '?')} (status: {m.get('status')})"),
        (
            "Started / ended (UTC)",
            f"{str(m.get('started_at', '?'))[:19]} / {str(m.get('ended_at') or 'not finished')[:19]}",
        ),
        ("Suite", f"{(m.get('suite') or {}).get('name')} {(m.get('suite') or {}).get('version')}"),
        (
            "Tool",
            f"pitchey-analysis {(m.get('versions') or {}).get('pitchey-analysis', '?')}, commit {str(commit)[:12]}",
        ),
    ]
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(str(v))}</td></tr>" for k, v in items)
    banner = ""
    if (m.get("target") or {}).get("embedded"):
        banner = (
            '<div id="self-test" class="self-test">Self-test of the embedded reference server: this report judges '
            "pitchey-analysis's own reference implementation, not a service of yours.</div>"
        )
    return HTML(f'{banner}<table id="run-header" class="meta">{rows}</table>')


def summary(a: Analysis) -> HTML:
    """The executive summary's list: every blocking finding (never cut), then how many risks and gaps."""
    d = a.defects
    blocking = d[d["severity"] == "blocking"]
    risks = int((d["severity"] == "risk").sum())
    parts = []
    if len(blocking):
        items = "".join(
            f"<li><b>{html.escape(r.finding)}</b> {html.escape(r.title)}</li>" for r in blocking.itertuples()
        )
        parts.append(
            f'<p class="summary-head">{len(blocking)} blocking finding{"s" if len(blocking) != 1 else ""} '
            f'(details under Issues identified):</p><ol id="summary-blocking" class="summary">{items}</ol>'
        )
    gaps = a.verdict.reasons[a.verdict.reasons["rule"] == 2] if a.verdict.rule == 2 else a.verdict.reasons.iloc[0:0]
    if len(gaps):
        items = "".join(
            f"<li><code>{html.escape(str(r.name))}</code>: {html.escape(str(r.status))}</li>" for r in gaps.itertuples()
        )
        parts.append(
            f'<p class="summary-head">{len(gaps)} gap{"s" if len(gaps) != 1 else ""} in the evidence:</p>'
            f'<ul id="summary-gaps" class="summary">{items}</ul>'
        )
    if risks:
        parts.append(
            f'<p id="summary-risks">{risks} risk{"s" if risks != 1 else ""} (non-critical '
            f"failure{'s' if risks != 1 else ''}) "
            "listed under Issues identified.</p>"
        )
    if not parts:
        parts.append('<p id="summary-none">No finding: every probe that ran passed.</p>')
    return HTML("".join(parts))


def shorten(text: str, n: int) -> str:
    """``text`` cut to at most ``n`` characters at a word boundary, with an ellipsis (never mid-word)."""
    from ..analysis.defects import shorten as _shorten

    return _shorten(text, n)


def findings(a: Analysis) -> HTML:
    """The issues section: one row per finding with its severity, evidence, the contract's expectation and the fix."""
    d = a.defects
    if d.empty:
        return HTML(
            '<table id="issues" class="data findings"><thead><tr><th>finding</th></tr></thead>'
            '<tbody><tr><td class="empty">none: no probe failed and no target is missed</td></tr></tbody></table>'
        )
    rows = []
    for r in d.itertuples():
        codes = f"<br><i>close codes:</i> {html.escape(r.close_codes)}" if r.close_codes else ""
        expects = shorten(r.expects, 260)
        rows.append(
            f'<tr><td class="fid">{html.escape(r.finding)}<br><span class="o-{r.severity}">{r.severity}</span></td>'
            f'<td class="what"><b>{html.escape(r.title)}</b><br><span class="impact">{html.escape(r.impact)}</span>'
            f"<br><i>Fix:</i> {html.escape(r.remediation)}</td>"
            f'<td class="evidence">{_cell(r.evidence)}{codes}<br><i>Contract:</i> {_cell(expects)}</td></tr>'
        )
    head = "<tr><th>#</th><th>finding, impact and fix</th><th>evidence, and what the contract expects</th></tr>"
    return HTML(f'<table id="issues" class="data findings"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>')


def outcomes(a: Analysis) -> HTML:
    """Every probe with its outcome and one-line evidence, grouped by category (a heading row per category)."""
    rows = []
    for cat, grp in a.outcomes.groupby("category", sort=False):
        rows.append(f'<tr class="group"><th colspan="4">{html.escape(str(cat))} ({len(grp)})</th></tr>')
        for r in grp.itertuples():
            crit = "critical" if r.critical else ""
            rows.append(
                f"<tr><td>{_cell(r.probe)}</td><td>{crit}</td><td "
                f'class="o-{html.escape(r.outcome)}">{html.escape(r.outcome)}</td>'
                f"<td>{_cell(r.evidence)}</td></tr>"
            )
    head = "<tr><th>probe</th><th></th><th>outcome</th><th>evidence</th></tr>"
    return HTML(
        f'<table id="outcomes" class="data outcomes"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
    )


def configuration(a: Analysis, run_path: object = None) -> HTML:
    """Appendix B: the configuration as a readable table; the full manifest stays in the run directory."""
    m = a.manifest
    cfg = dict(m.get("config") or {})
    server = m.get("server") or {}
    prof = server.get("profile") or {}
    rows: list[tuple[str, str]] = [
        ("target", str((m.get("target") or {}).get("ws_url"))),
        ("HTTP base", str((m.get("target") or {}).get("http_url"))),
    ]
    if prof:
        rows.append(
            (
                "embedded profile",
                f"{prof.get('name')}; switched off: {', '.join(map(str, prof.get('disabled') or [])) or 'none'}; "
                f"defects on: {', '.join(map(str, prof.get('defects') or [])) or 'none'}",
            )
        )
    cred = cfg.pop("credentials", {}) or {}
    rows.append(
        (
            "credentials",
            f"user {cred.get('user') or '—'} ({', '.join(cred.get('user_types') or []) or 'no user types'}), "
            f"admin {'given' if cred.get('admin') else 'not given'}, signing secret "
            f"{'given' if cred.get('jwt_secret_given') else 'not given'}",
        )
    )
    if prof and cfg.get("cafile"):  # runs before the manifest said so recorded the embedded server's temporary CA file
        cfg["cafile"] = "generated by the embedded server"
    for k, v in cfg.items():
        if isinstance(v, list):
            v = ", ".join(map(str, v)) or "—"
        rows.append((k.replace("_", " "), "—" if v is None else str(v)))
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in (m.get("versions") or {}).items())))
    rows += [
        ("Python / OS / host", f"{m.get('python')} / {m.get('os')} / {m.get('host')}"),
        ("git commit", str(m.get("git_commit") or "—")),
        ("planned probes", str(len(m.get("plan") or []))),
        ("full manifest", f"{run_path}/manifest.json" if run_path else "manifest.json in the run directory"),
    ]
    return HTML(f'<table id="configuration" class="meta config">{_paired_rows(rows)}</table>')


def _paired_rows(rows: list[tuple[str, str]], short: int = 28) -> str:
    """Key/value rows, two short settings side by side (the appendix took a page and a half one per line);
    a long value keeps a whole row."""
    out, pending = [], None
    for k, v in rows:
        cells = f"<th>{html.escape(k)}</th><td>{_cell(v)}</td>"
        if len(v) > short:
            if pending is not None:
                out.append(f"<tr>{pending}<th></th><td></td></tr>")
                pending = None
            out.append(f'<tr><th>{html.escape(k)}</th><td colspan="3">{_cell(v)}</td></tr>')
        elif pending is None:
            pending = cells
        else:
            out.append(f"<tr>{pending}{cells}</tr>")
            pending = None
    if pending is not None:
        out.append(f"<tr>{pending}<th></th><td></td></tr>")
    return "".join(out)


def _why(a: Analysis) -> str:
    """The verdict's sentence, counting findings (one per defect) rather than probes for rule 1."""
    v = a.verdict
    if v.rule != 1:
        return v.sentence()
    n = int((a.defects["severity"] == "blocking").sum())
    probes, targets = int((v.reasons["kind"] == "probe").sum()), int((v.reasons["kind"] == "target").sum())
    seen = f"{probes} critical probe{'s' if probes != 1 else ''} failing" + (
        f", {targets} target{'s' if targets != 1 else ''} missed" if targets else ""
    )
    note = v.run_note()  # an interrupted or partial run says so, whatever the rule
    return (
        f"{n} blocking finding{'s' if n != 1 else ''} ({seen}; rule 1: "
        f"{RULES[1].split(': ', 1)[1]}).{' ' + note if note else ''}"
    )


def verdict(a: Analysis) -> HTML:
    """The verdict banner with the score and its formula."""
    v = a.verdict
    score = "—" if math.isnan(a.score) else f"{a.score:.1%}"
    return HTML(
        f'<div id="verdict" class="verdict {VERDICT_CLASS[v.verdict]}" data-verdict="{html.escape(v.verdict)}">'
        f'<div class="verdict-word">{html.escape(v.verdict)}</div>'
        f'<div class="verdict-why">{html.escape(_why(a))}</div>'
        f'<div class="score">Overall score <b id="score" data-score="{a.score:.6f}">{score}</b> '
        f'<span class="formula">({html.escape(SCORE_FORMULA)})</span></div></div>'
    )


def deciding(a: Analysis) -> HTML:
    """The probes and targets that decided the verdict."""
    if a.verdict.reasons.empty:
        return HTML(
            '<p id="deciding">Nothing stands against deployment: every critical probe passed and every target is '
            "met.</p>"
        )
    return table(
        a.verdict.reasons, "deciding", caption=f"What decided it (rule {a.verdict.rule}: {RULES[a.verdict.rule]})"
    )


def recommendation(a: Analysis) -> Markdown:
    """The recommendation, from the verdict's rule (text chosen, never computed here); nothing is cut."""
    v = a.verdict
    d = a.defects
    blocking = ", ".join(d.loc[d["severity"] == "blocking", "finding"])
    risks = ", ".join(d.loc[d["severity"] == "risk", "finding"])
    gaps = ", ".join(f"`{n}`" for n in v.reasons["name"]) if v.rule == 2 else ""
    self_test = bool((a.manifest.get("target") or {}).get("embedded"))
    text = {
        1: f"**Do not deploy.** Fix the blocking findings first ({blocking}), then re-run the suite and "
        "regenerate this report.",
        2: f"**Do not decide yet.** The evidence is incomplete ({gaps}): provide what the skipped probes need "
        "(credentials, signing secret, TLS, more samples) and re-run.",
        3: f"**Deploy with the listed risks accepted**, or fix them first: {risks}.",
        4: "**Deploy.** Every critical probe passed and every service-level target is met; keep this report "
        "with the release.",
    }[v.rule]
    if self_test:
        text += (
            "\n\nThis run judged the embedded reference server (a self-test of pitchey-analysis): it says nothing "
            "about "
            "a service of yours. Point `--target` at your service to judge it."
        )
    return Markdown(text)


def compare_header(a: Analysis, b: Analysis) -> HTML:
    """Both runs side by side: run, target, profile, contract, suite, tool, dates, verdict and score."""

    def col(x: Analysis) -> list[str]:
        m = x.manifest
        return [
            str(m.get("run_id")),
            target_line(m),
            contract_name(m),
            f"{(m.get('suite') or {}).get('name')} {(m.get('suite') or {}).get('version')}",
            f"pitchey-analysis {(m.get('versions') or {}).get('pitchey-analysis', '?')}, commit "
            f"{str(m.get('git_commit') or '—')[:12]}",
            str(m.get("started_at", "?"))[:19],
            x.verdict.verdict,
            "—" if math.isnan(x.score) else f"{x.score:.1%}",
        ]

    names = ["run", "target", "contract", "suite", "tool", "started (UTC)", "verdict", "overall score"]
    rows = "".join(
        f"<tr><th>{k}</th><td>{_cell(u)}</td><td>{_cell(v)}</td></tr>"
        for k, u, v in zip(names, col(a), col(b), strict=True)
    )
    head = "<tr><th></th><th>reference (A)</th><th>current (B)</th></tr>"
    return HTML(f'<table id="compare-runs" class="data compare"><thead>{head}</thead><tbody>{rows}</tbody></table>')


def interval(iv: object, kind: str = "ms") -> str:
    """A (lo, hi) pair as text, '—' when unknown."""
    lo, hi = iv if isinstance(iv, tuple) else (math.nan, math.nan)
    return (
        "—" if any(isinstance(x, float) and math.isnan(x) for x in (lo, hi)) else f"[{_fmt(lo, kind)}–{_fmt(hi, kind)}]"
    )


def manifest(a: Analysis) -> HTML:
    """The manifest as a readable, escaped JSON block."""
    return HTML(
        f'<pre id="manifest" class="manifest">{html.escape(json.dumps(a.manifest, indent=2, default=str))}</pre>'
    )
