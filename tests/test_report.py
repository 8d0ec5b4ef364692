"""The exported report: HTML equals the analysis, PDF renders, reproducible, no secrets, defects named."""

from __future__ import annotations

import asyncio
import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pypdfium2 as pdfium
import pytest

from pitchey_analysis import load_run
from pitchey_analysis.analysis import analyze
from pitchey_analysis.report.export import build_report
from pitchey_analysis.report.render import _fmt
from tests.conftest import KNOWN_SECRET, once_per_session
from tests.test_suite import EXPECTED_2025_11


class Tables(HTMLParser):
    """Collects tables by id (cell texts) and the verdict's data attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.verdict: str | None = None
        self.scripts: list[dict] = []
        self._id: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._id = a["id"]
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "div" and a.get("id") == "verdict":
            self.verdict = a.get("data-verdict")
        elif tag == "script":
            self.scripts.append(a)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._id:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag == "table":
            self._id = None


def parse(html: str) -> Tables:
    t = Tables()
    t.feed(html)
    return t


def report_once(tmp_path_factory: pytest.TempPathFactory, name: str, run: Path) -> tuple[Path, Path]:
    """The HTML and PDF report of ``run``, exported once per test session whatever the number of pytest-xdist
    workers (a module fixture is rebuilt on every worker that runs one of its tests, and after any test whose
    successor the worker does not know yet)."""
    folder = once_per_session(tmp_path_factory, name, lambda out: build_report(run, out=out)[0].parent)
    return next(folder.glob("*.html")), next(folder.glob("*.pdf"))


@pytest.fixture(scope="session")
def sample_report(tmp_path_factory, sample_run):
    return report_once(tmp_path_factory, "sample-report", sample_run)


def test_html_equals_the_analysis(sample_report, sample_run):
    html_path, pdf_path = sample_report
    t = parse(html_path.read_text())
    a = analyze(load_run(sample_run))
    assert t.verdict == a.verdict.verdict
    rows = t.tables["category-rates"][1:]
    assert [r[0] for r in rows] == list(a.rates["category"])
    assert [int(r[1]) for r in rows] == list(a.rates["passed"])
    assert [int(r[2]) for r in rows] == list(a.rates["failed"])
    for r, (_, want) in zip(rows, a.rates.iterrows(), strict=True):
        assert r[-1].startswith(_fmt(want["rate"], "pct"))
    slo = t.tables["slo"][1:]
    assert [r[0] for r in slo] == list(a.slo["target"])
    assert [r[6] for r in slo] == list(a.slo["status"])
    for r, (_, want) in zip(slo, a.slo.iterrows(), strict=True):
        assert r[3].startswith(_fmt(want["observed"], "ms"))


def test_html_is_self_contained(sample_report):
    html = sample_report[0].read_text()
    t = parse(html)
    assert t.scripts == []  # no scripts at all, so none from a CDN
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", html)
    assert "<img" in html and 'src="data:image/png;base64,' in html


def test_pdf_has_pages_and_a_first_page_that_is_not_blank(sample_report):
    pdf = pdfium.PdfDocument(str(sample_report[1]))
    assert len(pdf) >= 3
    img = np.asarray(pdf[0].render(scale=0.5).to_pil().convert("L"), dtype=float)
    assert img.std() > 10 and (img < 128).mean() > 0.01


def test_same_dataset_exported_twice_gives_the_same_report(sample_report, sample_run, tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)  # the user's working directory: the kernel's IPC sockets must not be left there
    again = build_report(sample_run, out=tmp_path, formats=("html",))[0]
    assert again.read_text() == sample_report[0].read_text()
    assert list(work.iterdir()) == []


def _secret_forms(secret: str) -> list[str]:
    return [secret, base64.b64encode(secret.encode()).decode().rstrip("="), quote(secret, safe="")]


def _pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


@pytest.fixture(scope="session")
def defect_report(tmp_path_factory, defect_run):
    return report_once(tmp_path_factory, "defect-report", defect_run)


def test_no_secret_reaches_the_pdf_or_any_file(defect_run, defect_report):
    html_path, pdf_path = defect_report
    text = _pdf_text(pdf_path)
    files = [
        p.read_bytes().decode("utf-8", "replace")
        for p in list(Path(defect_run).iterdir()) + list(html_path.parent.iterdir())
        if p.is_file()
    ]
    for blob in [text, *files]:
        for s in _secret_forms("Demo123") + _secret_forms(KNOWN_SECRET):
            assert s not in blob
        assert not re.search(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.", blob)


def test_pitchey_2025_11_is_not_ready_naming_each_defect(defect_report):
    t = parse(defect_report[0].read_text())
    assert t.verdict == "NOT READY"
    failing = {r[0] for r in t.tables["outcomes"][1:] if len(r) == 4 and r[2] == "fail"}
    assert failing == set(EXPECTED_2025_11)
    evidence = "\n".join(r[2] for r in t.tables["issues"][1:])
    for probe in EXPECTED_2025_11:
        assert f"{probe}:" in evidence
    titles = [r[1] for r in t.tables["issues"][1:]]
    assert not any("wrong_answer" in x or "no_answer" in x for x in titles)  # findings in words, not reason codes


def test_every_blocking_finding_is_in_the_executive_summary(defect_report, defect_run):
    html = defect_report[0].read_text()
    listed = [r for r in parse(html).tables["issues"][1:] if "blocking" in r[0]]
    summary = re.search(r'<ol[^>]*id="summary-blocking"[^>]*>(.*?)</ol>', html, re.S)
    assert summary is not None
    assert (
        summary.group(1).count("<li>")
        == len(listed)
        == int((analyze(load_run(defect_run)).defects["severity"] == "blocking").sum())
    )


STATUS_WORDS = (
    "pass",
    "fail",
    "skip",
    "met",
    "missed",
    "missing",
    "partial",
    "full",
    "validated",
    "failing",
    "working",
    "blocking",
    "risk",
    "critical",
    "authentication",
    "verified",
    "probe",
    "rule",
)


def test_pdf_words_are_whole_and_pages_fit(defect_report, sample_report):
    for pdf_path, limit in ((defect_report[1], 12), (sample_report[1], 8)):
        assert len(pdfium.PdfDocument(str(pdf_path))) <= limit, pdf_path
        text = _pdf_text(pdf_path)
        for word in STATUS_WORDS:
            for k in range(1, len(word)):  # e.g. "missi\nng": a line break inside the word
                broken = re.search(rf"\b{word[:k]}[ \t]*\r?\n[ \t]*{word[k:]}\b", text)
                assert broken is None, f"{word!r} broken inside itself in {pdf_path.name}: {broken.group(0)!r}"
        assert re.search(r"\bpass\b", text)


def test_page_one_says_what_was_judged(sample_report):
    page1 = pdfium.PdfDocument(str(sample_report[1]))[0].get_textpage().get_text_range()
    for want in (
        "pitchey-analysis 0.",
        "commit",
        "Contract",
        "pitchey",
        "user types",
        "Self-test of the embedded reference server",
        "Contents",
    ):
        assert want in page1, want
    assert not list(sample_report[0].parent.glob("*.ipynb"))  # the executed notebook is not left behind


def test_switching_one_defect_off_removes_it_from_the_report(tmp_path):
    """Named from the probes' outcomes, never from the profile in the manifest."""
    from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options
    from pitchey_analysis.server import Defect

    def run(disable):
        cfg = SuiteConfig(
            suite="quick",
            options=make_options("quick"),
            progress=False,
            only=["connection.login_no_password", "readiness.health_endpoint"],
        )
        return asyncio.run(
            arun_suite(
                profile="pitchey-2025-11",
                suite="quick",
                out=tmp_path / "runs",
                config=cfg,
                server_options={"disable_defects": disable},
            )
        )

    with_all = analyze(load_run(run([])))
    without_13 = analyze(load_run(run([Defect.PASSWORD_ECHO])))
    assert set(with_all.findings["probe"]) == {"connection.login_no_password", "readiness.health_endpoint"}
    assert set(without_13.findings["probe"]) == {"readiness.health_endpoint"}
    assert without_13.manifest["server"]["profile"]["name"] == "pitchey-2025-11"  # same profile name, different outcome


def test_complete_run_is_ready_and_gives_no_reason_against(sample_run):
    """The committed sample run is of the complete profile: READY, with nothing held against it (the test used to
    accept any verdict that came with reasons, so it could not fail)."""
    a = analyze(load_run(sample_run))
    assert a.verdict.verdict == "READY", a.verdict.reasons
    assert a.verdict.reasons.empty, a.verdict.reasons


def test_comparison_report_is_its_own_document(sample_run, defect_run, tmp_path):
    html_path = build_report(defect_run, compare=str(sample_run), out=tmp_path, formats=("html",))[0]
    html = html_path.read_text()
    t = parse(html)
    assert "<title>Comparison of two runs" in html and "5.0" not in html.split("<main", 1)[1][:2000]
    runs = {r[0]: r[1:] for r in t.tables["compare-runs"][1:]}
    assert runs["verdict"] == ["READY", "NOT READY"] and "pitchey-2025-11" in runs["target"][1]
    assert "[" in "".join(r[3] for r in t.tables["compare-latency"][1:])  # intervals shown
    assert "<img" in html  # the overlaid distributions
    assert f"pitchey-analysis compare {Path(sample_run).name} {Path(defect_run).name}" in html
    assert "widget" not in html and not list(tmp_path.glob("*.ipynb"))  # no picker in the export, no notebook left


def test_importing_the_figures_leaves_the_users_matplotlib_backend_alone():
    import os
    import subprocess
    import sys

    code = "import matplotlib; import pitchey_analysis.report.figures; print(matplotlib.get_backend())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "MPLBACKEND": "svg"},
    ).stdout.strip()
    assert out == "svg"


def test_report_strings_say_what_happened():
    """Evidence is cut at a word, a token refused without its error code is not a 'fail', the configuration appendix
    prints no
    temporary path and the verdict rules' rule 2 names probes that never ran."""
    import json

    from pitchey_analysis.analysis.defects import shorten
    from pitchey_analysis.analysis.tables import security_outcome
    from pitchey_analysis.config import sample_run_dir
    from pitchey_analysis.report import render

    text = (
        "the connected frame for a token of a deleted user carries error user_not_found and the session stays anonymous"
    )
    cut = shorten(text, 60)
    assert len(cut) <= 60 and cut.endswith("…") and text.startswith(cut[:-1]) and text[len(cut) - 1] == " "
    refused = json.dumps({"security": "refused", "first_frame": {"type": "connected", "authenticated": False}})
    assert security_outcome("fail", "wrong_answer", refused) == "refused (no error code)"
    wrong = json.dumps({"security": "refused", "first_frame": {"type": "connected", "authError": "bad"}})
    assert security_outcome("fail", "wrong_answer", wrong).startswith("refused, but not in the contract's form")
    a = analyze(load_run(sample_run_dir()))
    a.manifest.setdefault("config", {})["cafile"] = "/tmp/pitchey-tls-abc123/ca.pem"
    html = str(render.configuration(a).data)
    assert "/tmp/pitchey-tls" not in html and "generated by the embedded server" in html
    nb = (
        Path(__file__).resolve().parents[1] / "pitchey_analysis" / "notebooks" / "4.0-readiness-report.ipynb"
    ).read_text()
    assert "skipped or never ran" in nb


def test_meeting_pack_is_one_folder(tmp_path, capsys):
    """`report --meeting RUN`: the readiness report, the comparison with the previous run of the same target and
    contract (found by itself), the target's history figure and the dataset's checksums, in one folder."""
    import json
    import shutil

    from pitchey_analysis.cli import main
    from pitchey_analysis.config import sample_run_dir

    src = sample_run_dir()
    runs = tmp_path / "runs"
    shutil.copytree(src, runs / src.name)
    later = runs / "29990101T000000Z-abcdef"
    shutil.copytree(src, later)
    m = json.loads((later / "manifest.json").read_text())
    m.update(run_id=later.name, started_at="2261-01-01T00:00:00+00:00")  # the latest time a report can place
    (later / "manifest.json").write_text(json.dumps(m))
    assert (
        main(
            [
                "report",
                "--meeting",
                later.name,
                "--runs-dir",
                str(runs),
                "--out",
                str(tmp_path / "out"),
                "--format",
                "html",
            ]
        )
        == 0
    ), capsys.readouterr().err
    folder = tmp_path / "out" / f"meeting-{later.name}"
    names = {p.name for p in folder.iterdir()}
    assert {
        f"{later.name}.html",
        f"{src.name}_vs_{later.name}.html",
        f"history-{later.name}.png",
        "SHA256SUMS",
        "README.txt",
    } <= names, names
    sums = (folder / "SHA256SUMS").read_text()
    assert "manifest.json" in sums and "probes.parquet" in sums
    assert "previous run of the same target" in (folder / "README.txt").read_text()
    assert main(["report", "--baseline", src.name]) == 2  # --baseline alone is misuse


def test_report_kernel_is_shut_down_without_an_interrupt(tmp_path):
    """jupyter_client's shutdown sends SIGINT first; landing in ipykernel's last handler it printed
    "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel" after a report that succeeded. The report's kernel
    manager shuts down by request alone; an interrupt asked for still reaches the kernel."""
    import signal

    from pitchey_analysis.report.export import ipc_kernel_manager

    async def main() -> tuple[list[int], bool]:
        km = ipc_kernel_manager(tmp_path)(kernel_name="python3")
        sent: list[int] = []
        signal_kernel = km._async_signal_kernel

        async def recorded(sig: int) -> None:
            sent.append(sig)
            await signal_kernel(sig)

        km._async_signal_kernel = recorded
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            await km.interrupt_kernel()
        finally:
            kc.stop_channels()
            await km.shutdown_kernel()
        return sent, await km.is_alive()

    sent, alive = asyncio.run(main())
    assert sent == [signal.SIGINT] and not alive  # the one interrupt asked for; none from the shutdown


def test_names_stay_whole_and_a_missing_interval_is_explained_once(defect_report, sample_report):
    """'tcp_connect_ms' never wraps as 'tcp_connect_ / ms'; an estimate without its interval carries a mark that a
    note under its table explains once (the sentence repeated in some twenty cells before); the last page is
    more than a stub."""
    from pitchey_analysis.report.render import NO_INTERVAL

    for html_path, pdf_path in (defect_report, sample_report):
        html = html_path.read_text()
        assert "_<wbr>" not in html
        tables = parse(html).tables
        cells = [c for rows in tables.values() for row in rows for c in row]
        assert not any("for an interval" in c or "for a 95% interval" in c for c in cells)
        marked = [t for t, rows in tables.items() if any(c.endswith(f" {NO_INTERVAL}") for row in rows for c in row)]
        assert marked and all(html.count(f'id="{t}-note"') == 1 for t in marked)
        assert html.count("too few samples for a 95% interval") == len(marked)
        text = _pdf_text(pdf_path)
        assert "tcp_connect_ms" in text and "tcp_connect_\n" not in text
        doc = pdfium.PdfDocument(str(pdf_path))
        last = doc[len(doc) - 1].get_textpage().get_text_range()
        assert len([line for line in last.splitlines() if line.strip()]) >= 8, last  # never one row and the colophon


def test_concurrency_ticks_do_not_overlap():
    """Levels 1 to 1000 on a log axis: no '5001000', and a y axis of a few labels, not one per 1-2-5 step."""
    import pandas as pd

    from pitchey_analysis.report import figures

    figures.style()
    conc = pd.DataFrame(
        {
            "level": [1, 10, 100, 1000],
            "connections": [1, 10, 100, 1000],
            "rtt_p50": [0.2, 0.3, 2, 30],
            "rtt_p95": [0.3, 0.5, 5, 80],
            "connect_p50": [1, 2, 20, 300],
            "connect_p95": [2, 4, 60, 9000],
            "error_rate": [0, 0, 0, 0.8],
            "lo": [0.2, 0.7, 0.96, 0.18],
            "hi": [1, 1, 1, 0.23],
            "success_rate": [1, 1, 1, 0.2],
        }
    )
    fig = figures.concurrency(conc)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [t.get_window_extent(renderer) for t in labels if t.get_text() and t.get_visible()]
            assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :]), [
                t.get_text() for t in labels
            ]
            assert len(boxes) <= 8
