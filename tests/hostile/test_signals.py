"""Signals and files: SIGTERM stops ``run``, ``load`` and ``report`` as Ctrl-C does (a run ``interrupted`` with its
Parquet tables, exit 143, no partial file left); a full disk is one line and exit 4 with nothing partial written.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .common import SAMPLE, files_under, one_line_error, run_cli

CLI = [sys.executable, "-m", "pitchey_analysis"]


def _terminate_when(
    args: list[str], ready: Callable[[], bool], *, sigint_ignored: bool, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Start the CLI, send SIGTERM once ``ready()`` holds, and return its result. ``sigint_ignored``: as a background
    job of a non-interactive shell starts it (SIGINT ignored), else as CI runners and systemd do."""
    pre = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    p = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=pre)
    try:
        end = time.monotonic() + 60
        while not ready() and time.monotonic() < end and p.poll() is None:
            time.sleep(0.1)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=timeout)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _probes_recorded(out: Path, n: int) -> Callable[[], bool]:
    def ready() -> bool:
        ev = list(out.glob("*/events.jsonl"))
        return bool(ev) and ev[0].read_text().count('"kind":"probe"') >= n

    return ready


@pytest.mark.parametrize("sigint_ignored", [False, True], ids=["sigint-default", "sigint-ignored"])
def test_sigterm_leaves_an_interrupted_run_with_its_parquet_and_exits_143(tmp_path, sigint_ignored):
    out = tmp_path / "runs"
    r = _terminate_when(
        ["run", "--suite", "quick", "--out", str(out), "--no-progress"],
        _probes_recorded(out, 3),
        sigint_ignored=sigint_ignored,
    )
    assert r.returncode == 143, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1].endswith("terminated (SIGTERM)")
    (run,) = list(out.iterdir())
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert {"probes.parquet", "samples.parquet", "frames.parquet"} <= {p.name for p in run.iterdir()}
    from pitchey_analysis.analysis import verdict_for_run
    from pitchey_analysis.capture.dataset import load_run

    assert verdict_for_run(load_run(run)).verdict != "READY"


def test_sigterm_stops_a_load_run_as_interrupted(tmp_path):
    out = tmp_path / "runs"
    r = _terminate_when(
        ["load", "--duration", "60", "--connections", "5", "--workers", "0", "--settle", "0", "--out", str(out)],
        lambda: any(p.stat().st_size > 0 for p in out.glob("*/samples.arrows")),
        sigint_ignored=False,
    )
    assert r.returncode == 143, r.stderr[-2000:]
    (run,) = list(out.iterdir())
    assert json.loads((run / "manifest.json").read_text())["status"] == "interrupted"
    assert (run / "probes.parquet").exists() and (run / "samples.parquet").exists()


def test_sigterm_during_a_report_leaves_no_partial_file(tmp_path):
    out = tmp_path / "reports"

    def executing() -> bool:  # the notebook is being written under its temporary name
        return any(p.name.startswith(".") for p in out.glob("*")) if out.exists() else False

    r = _terminate_when(["report", str(SAMPLE), "--out", str(out)], executing, sigint_ignored=False)
    assert r.returncode == 143, r.stderr[-2000:]
    assert files_under(out) == []
    # the kernel stopped mid-cell printed a traceback of its closed sockets under the command's one line
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr[-2000:]


@pytest.mark.parametrize("signal_at", ["the manifest", "the events file"])
def test_a_run_stopped_as_it_is_created_leaves_no_directory_without_a_manifest(tmp_path, monkeypatch, signal_at):
    """A SIGTERM (KeyboardInterrupt here) or a full disk between the run directory and its manifest: the directory is
    removed, so every run directory a report meets has its manifest."""
    from pitchey_analysis.capture import recorder

    def stopped(*a, **k):
        raise KeyboardInterrupt

    if signal_at == "the manifest":
        monkeypatch.setattr(recorder.Recorder, "_write_manifest", stopped)
    else:
        monkeypatch.setattr(recorder.threading, "Thread", stopped)
    with pytest.raises(KeyboardInterrupt):
        recorder.Recorder(tmp_path / "runs", {})
    assert files_under(tmp_path) == [] and list((tmp_path / "runs").iterdir()) == []


@contextlib.contextmanager
def full_disk(where: Path, size: str = "64k") -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only; skipped elsewhere)."""
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.mark.parametrize(
    "args",
    [
        ["report", str(SAMPLE), "--format", "html", "--out", "{FULL}"],
        ["report", str(SAMPLE), "--format", "pdf", "--out", "{FULL}"],
        ["compare", str(SAMPLE), str(SAMPLE), "--format", "html", "--out", "{FULL}"],
        ["history", "--runs-dir", str(SAMPLE.parent), "--figure", "{FULL}/trend.png"],
    ],
    ids=["report html", "report pdf", "compare", "history figure"],
)
def test_a_full_disk_is_one_line_exit_4_and_nothing_partial(capsys, tmp_path, args):
    with full_disk(tmp_path / "full") as full:
        filler = full / "filler"
        with contextlib.suppress(OSError), open(filler, "wb") as f:
            f.write(b"\0" * (60 << 10))  # leaves a few kB: the first real write fails
        code, _, err = run_cli(capsys, *[a.replace("{FULL}", str(full)) for a in args])
        left = files_under(full)
    assert code == 4, err
    assert "the disk is full" in one_line_error(err)
    assert left == ["filler"], left


def test_a_full_disk_anywhere_else_is_one_line_and_exit_4(capsys, monkeypatch, tmp_path):
    """A write the command did not foresee failing for a full disk still ends in one line and exit 4."""
    from pitchey_analysis import cli

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "x"))

    monkeypatch.setitem(cli.COMMANDS, "history", full)
    code, _, err = run_cli(capsys, "history")
    assert code == 4 and "the disk is full" in one_line_error(err)


def test_every_report_file_is_written_under_a_temporary_name_and_renamed(tmp_path, monkeypatch):
    """While a report is exported, no file under its final name exists until it is whole."""
    from pitchey_analysis.report import export

    seen: list[list[str]] = []
    real = export.to_html

    def spy(*a, **k):
        seen.append(files_under(tmp_path / "out"))
        return real(*a, **k)

    monkeypatch.setattr(export, "to_html", spy)
    paths = export.build_report(SAMPLE, out=tmp_path / "out", formats=("html",))
    assert [p.name for p in paths] == [f"{SAMPLE.name}.html"]
    assert seen == [[f"{SAMPLE.name}.ipynb"]]  # the executed notebook, whole (renamed) before it is read
    assert files_under(tmp_path / "out") == [f"{SAMPLE.name}.html"]


@pytest.mark.parametrize("left_kb", [8, 200], ids=["at once", "mid-run"])
@pytest.mark.slow
def test_a_run_on_a_full_disk_is_exit_4_and_leaves_no_temporary_file(tmp_path, left_kb):
    """The disk fills as the run begins or while it runs: one line, exit 4, and of what was written only whole files
    (the manifest, the contract copy, Parquet tables: each written under a temporary name, removed when it failed)."""
    with full_disk(tmp_path / "full", "2m") as full:
        with contextlib.suppress(OSError), open(full / "filler", "wb") as f:
            f.write(b"\0" * ((2 << 20) - (left_kb << 10) - (16 << 10)))
        r = subprocess.run(
            [*CLI, "run", "--suite", "quick", "--out", str(full / "runs"), "--no-progress"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        left = files_under(full)
    assert r.returncode == 4, r.stderr[-2000:]
    assert "the disk is full" in one_line_error(r.stderr)
    assert not [f for f in left if ".tmp" in f or ".partial" in f or Path(f).name.startswith(".")], left


def test_a_sigterm_at_any_moment_of_start_up_ends_143_never_by_sigint(tmp_path):
    """SIGTERM at moments through the start-up (imports of extension modules, the embedded server, the first probes):
    the program ends 143 once it handles SIGTERM (or by SIGTERM itself before), never killed by SIGINT after saying
    'terminated' (CPython's unhandled-KeyboardInterrupt mark, set inside an extension's import)."""
    for i, delay in enumerate((0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2)):
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pitchey_analysis",
                "run",
                "--suite",
                "quick",
                "--no-progress",
                "--out",
                str(tmp_path / str(i)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(delay)
        p.terminate()
        _, err = p.communicate(timeout=60)
        assert p.returncode in (143, -signal.SIGTERM), (delay, p.returncode, err[-400:])
