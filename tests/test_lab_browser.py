"""JupyterLab driven in a headless browser (opt-in: PITCHEY_LAB_TEST=1, Playwright and a system Chromium).

Opens notebook 3.0, runs every cell, and picks another run in the picker: the cells below redraw for it; in 2.0
a pick redraws every figure as a drawn ipympl canvas (never a static PNG), and Run All keeps the pick.
Skipped in CI and wherever the browser is missing; the rest of the suite needs pip packages only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    os.environ.get("PITCHEY_LAB_TEST") != "1" or CHROMIUM is None,
    reason="opt-in: PITCHEY_LAB_TEST=1 with a system Chromium",
)


@pytest.fixture
def lab(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--allow-root",
            "--config=jupyter_server_config.py",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.root_dir=notebooks",
            f"--IdentityProvider.token={token}",
            "--no-browser",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(1)
        yield base, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _open_and_run_all(page: Any, base: str, token: str, notebook: str) -> Any:
    """Open ``notebook`` in the lab, Run All, wait for the kernel; returns the first picker's <select>."""
    page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook", timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    time.sleep(2)
    news = page.get_by_role("button", name="No", exact=True)  # "get notified about Jupyter news?"
    if news.count():
        news.first.click(timeout=3_000)
    page.locator(".jp-Notebook").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells").first.click()
    select = page.locator(".widget-dropdown select").first
    select.wait_for(timeout=120_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    assert not page.locator("[data-mime-type='application/vnd.jupyter.stderr']").count()
    return select


def _pick_another(page: Any, select: Any) -> str:
    """Choose another run in the picker and wait until the view says it loaded it; returns its run id."""
    current = select.evaluate("s => s.value")
    other = next(v for v in select.evaluate("s => [...s.options].map(o => o.value)") if v and v != current)
    select.select_option(other)
    run_id = other.split(" ")[0]  # an option reads "<run id> · <profile> · <verdict>"
    page.get_by_text(f"Loaded run {run_id}").first.wait_for(timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
    return run_id


def _launch(p: Any) -> Any:
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def test_the_picker_redraws_notebook_3_in_jupyterlab(lab):
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = lab
    with sync_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            select = _open_and_run_all(page, base, token, "3.0-success-rates.ipynb")
            before = page.locator(".jp-OutputArea").all_inner_texts()
            _pick_another(page, select)
            assert page.locator(".jp-OutputArea").all_inner_texts() != before  # the tables below were redrawn
        finally:
            browser.close()


#: An ipympl figure drawn: its canvas holds pixels other than the background (a blank widget is one colour).
DRAWN = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  const seen = new Set();
                  for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]);
                  return c.width > 50 && seen.size > 3; }"""


#: Every ipympl figure on the page drawn (the notebook's whole, off-screen cells too), and at least one.
EVERY_DRAWN = (
    f"() => {{ const f = [...document.querySelectorAll('.jupyter-matplotlib-canvas-div')];"
    f" return f.length > 0 && f.every(d => ({DRAWN})(d.querySelector('canvas'))); }}"
)


def _mark_figures(page: Any) -> None:
    """Mark the figures on the page: :func:`_interactive_figures` then waits until each has been replaced."""
    page.evaluate(
        "() => document.querySelectorAll('.jupyter-matplotlib-canvas-div').forEach(d => d.dataset.before = '1')"
    )


def _interactive_figures(page: Any) -> None:
    """Wait until every figure marked before is gone and every figure is a drawn ipympl canvas, down to the last
    cell's; no output is a static image."""
    page.wait_for_function(
        "() => !document.querySelector('.jupyter-matplotlib-canvas-div[data-before]')", timeout=120_000
    )
    page.wait_for_function(EVERY_DRAWN, timeout=60_000)
    page.locator(".jp-Cell").last.scroll_into_view_if_needed()
    page.locator(".jp-Cell").last.locator(".jupyter-matplotlib-canvas-div canvas").first.wait_for(timeout=60_000)
    page.wait_for_function(EVERY_DRAWN, timeout=60_000)
    assert not page.locator(".jp-OutputArea-output img").count()  # no PNG in place of a figure


def test_picking_a_run_in_notebook_2_redraws_interactive_figures_and_run_all_keeps_it(lab):
    """2.0: a pick redraws every cell for the run picked, its figures as drawn interactive ipympl canvases (not PNGs;
    they were blank when a canvas answered its frontend from the kernel's subshell thread while the pick still drew);
    Run All keeps the pick (the parameters cell still says 'latest'), interactive too; a save rewrites neither twin."""
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token = lab
    with sync_api.sync_playwright() as p:
        browser = _launch(p)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            select = _open_and_run_all(page, base, token, "2.0-latency-distributions.ipynb")
            _interactive_figures(page)
            page.locator(".jp-Cell").first.scroll_into_view_if_needed()
            _mark_figures(page)
            run_id = _pick_another(page, select)
            _interactive_figures(page)  # the figures the pick drew, off screen ones included
            _mark_figures(page)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells").first.click()
            time.sleep(1)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            _interactive_figures(page)
            page.locator(".jp-Cell").first.scroll_into_view_if_needed()
            page.get_by_text("picked: in the run picker").first.wait_for(timeout=60_000)
            assert page.get_by_text(f"Loaded run {run_id}").count()
            assert page.locator(".widget-dropdown select").first.evaluate("s => s.value").split(" ")[0] == run_id
            # saved with its outputs on screen: neither twin changes on disk (outputs stripped, metadata pinned)
            twins = {f: f.read_bytes() for f in (ROOT / "notebooks").glob("2.0-latency-distributions.*")}
            saved_at = {f: f.stat().st_mtime_ns for f in twins}
            page.keyboard.press("Control+s")
            page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)
            time.sleep(2)
            written = [f.name for f in twins if f.stat().st_mtime_ns != saved_at[f]]
            changed = [f.name for f, data in twins.items() if f.read_bytes() != data]
            print("written by the save:", written)
            for f, data in twins.items():
                f.write_bytes(data)
            assert written and not changed, (written, changed)  # the lab wrote the notebook, and wrote it unchanged
        finally:
            browser.close()
