"""The benchmarks live beside the package, not in it; their pure parts are checked here (the runs are `make bench`)."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmarks_are_not_shipped_but_linted():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = py["tool"]["setuptools"]["packages"]["find"]["include"]
    # setuptools' find: top-level folders with an __init__.py whose name matches an include pattern
    shipped = [
        d.name
        for d in ROOT.iterdir()
        if (d / "__init__.py").exists() and any(fnmatch.fnmatch(d.name, g) for g in include)
    ]
    assert "pitchey_analysis" in shipped
    assert not [p for p in shipped if p.split(".")[0] != "pitchey_analysis"], shipped
    assert (ROOT / "benchmarks" / "__main__.py").exists() and not (ROOT / "pitchey_analysis" / "bench").exists()
    assert not any("benchmarks" in p for p in py["tool"]["ruff"].get("extend-exclude", []))


def test_accounting_subtracts_the_short_run():
    from benchmarks.__main__ import accounting

    short = {"round_trips": 10_000, "process_cpu_s": 1.5, "peak_rss_mb": 100.0, "samples_kept": 10_000}
    long = {"round_trips": 110_000, "process_cpu_s": 3.5, "peak_rss_mb": 150.0, "samples_kept": 110_000}
    a = accounting(short, long)
    assert a["rt_per_cpu_s_whole"] == 110_000 / 3.5
    assert a["rt_per_cpu_s_marginal"] == 100_000 / 2.0  # start-up (in both runs) cancels out
    assert a["cpu_s_per_10k_marginal"] == 2.0 / 100_000 * 1e4
    assert a["rss_mb_per_million_samples"] == 150.0 / 110_000 * 1e6
    assert a["rss_mb_per_million_samples_marginal"] == 50.0 / 100_000 * 1e6
    # a tool that keeps no samples (Locust's histogram) gets no memory-per-sample figure; a long run that did no more
    # work, no ratio
    b = accounting({**short, "samples_kept": None}, {**short, "samples_kept": None})
    assert "rss_mb_per_million_samples" not in b and b["rt_per_cpu_s_marginal"] is None


def test_k6_is_confined_to_loopback():
    import ipaddress

    from benchmarks.k6 import SCRIPT, blocked_ranges, non_loopback

    blocked = [ipaddress.ip_network(n) for n in blocked_ranges()]
    for addr in ("8.8.8.8", "10.0.0.1", "192.168.1.1", "172.16.0.1", "126.255.255.255", "128.0.0.0", "2001:db8::1"):
        assert any(
            ipaddress.ip_address(addr) in n for n in blocked if n.version == ipaddress.ip_address(addr).version
        ), addr
    assert not any(ipaddress.ip_address("127.0.0.1") in n for n in blocked if n.version == 4)
    assert non_loopback(["127.0.0.1", "::1", "10.1.2.3", "junk"]) == ["10.1.2.3", "junk"]
    assert "k6/experimental/websockets" in SCRIPT and "blacklistIPs" in SCRIPT
    assert "new Counter('round_trips')" in SCRIPT and "new Trend('rtt', true)" in SCRIPT


def test_k6_figures_from_its_summary():
    from benchmarks.k6 import figures

    summary = {
        "state": {"testRunDurationMs": 2100.0},
        "metrics": {
            "round_trips": {"values": {"count": 4000, "rate": 1900.0}},
            "rtt": {"values": {"med": 1, "p(99)": 3, "count": 4000}},
            "pingpong_ms": {"values": {"avg": 2000.0}},
        },
    }
    f = figures(summary)
    assert f["round_trips"] == 4000 and f["round_trips_per_s"] == 2000.0 and f["samples_kept"] == 4000
    assert (f["p50_ms"], f["p99_ms"]) == (1, 3)


def test_markdown_prints_both_accountings():
    from benchmarks.__main__ import markdown

    rows = [
        {
            "tool": "ours",
            "scenario": "saturation",
            "round_trips_per_s": 5.0,
            "rt_per_cpu_s_marginal": 9.0,
            "rt_per_cpu_s_whole": 8.0,
            "round_trips": 1234,
            "note": "a|b",
        },
        {"tool": "raw", "scenario": "echo", "round_trips_per_s": 7.0, "rounds": [1, 2]},
    ]
    text = markdown(rows)
    assert text.count("| tool |") == 2 and "rt per CPU-s, marginal" in text and "1,234" in text and "a\\|b" in text


def test_k6_runs_on_loopback_only(tmp_path):
    """A real k6 run (when `make bench-peers` has installed it): round trips counted, only loopback seen."""
    import pytest

    from benchmarks.k6 import k6_bin, run_k6

    if k6_bin() is None:
        pytest.skip("k6 is not installed (make bench-peers)")
    res = run_k6(2, 0.5, tmp_path)
    assert isinstance(res, dict), res
    assert res["round_trips"] > 0 and res["process_cpu_s"] > 0 and res["peak_rss_mb"] > 0
    assert "remote addresses seen: 127.0.0.1" in res["guard"]


def test_k6_script_refuses_a_target_that_is_not_127(tmp_path):
    """The script throws in k6's init stage for any other target, before a VU could dial it (nothing is dialed here)."""
    import json
    import os
    import subprocess

    import pytest

    from benchmarks.k6 import SCRIPT, blocked_ranges, k6_bin

    if k6_bin() is None:
        pytest.skip("k6 is not installed (make bench-peers)")
    script = tmp_path / "s.js"
    script.write_text(SCRIPT)
    env = {
        **os.environ,
        "K6_NO_USAGE_REPORT": "true",
        "PITCHEY_BENCH_URL": "ws://localhost:9/",
        "PITCHEY_BENCH_SECONDS": "1",
        "PITCHEY_BENCH_CONNS": "1",
        "PITCHEY_BENCH_SUMMARY": str(tmp_path / "sum.json"),
        "PITCHEY_BENCH_BLOCKED": json.dumps(blocked_ranges()),
    }
    r = subprocess.run(
        [str(k6_bin()), "run", "--no-usage-report", "--quiet", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert r.returncode != 0 and "may only target" in r.stdout + r.stderr


def test_our_saturation_row_keeps_every_sample_and_reads_them_back(tmp_path):
    """The saturation row runs our engine as `load --workers 0` does: every sample streamed to disk, the figures read
    back."""
    from benchmarks.__main__ import Proc, W, free_port, ours_saturation

    port = free_port()
    with Proc([*W, "picows-echo-server", str(port)], "ready"):
        fig = ours_saturation(f"ws://127.0.0.1:{port}/", 3, 0.5, tmp_path)
    assert isinstance(fig, dict), fig
    assert fig["round_trips"] > 100 and fig["errors"] == {}
    assert fig["samples_kept"] == fig["round_trips"] + 3  # every round trip and every connect, none dropped
    assert fig["process_cpu_s"] > 0 and fig["peak_rss_mb"] > 0 and not list(tmp_path.iterdir())


def test_our_figures_fail_loudly_when_samples_are_missing(tmp_path):
    import numpy as np
    import pytest

    from benchmarks.ours import stream_figures
    from pitchey_analysis.capture.samplestream import SampleStreamWriter, encode_chunk

    counters = {"samples": 11, "streamed_rows": 10, "answered": 10, "wall_s": 1.0}
    empty = tmp_path / "empty.arrows"
    SampleStreamWriter(empty).close()
    with pytest.raises(ValueError, match="no sample"):
        stream_figures(counters, empty)
    some = tmp_path / "some.arrows"
    w = SampleStreamWriter(some)
    w.write(
        *encode_chunk("p#1", 1, [("rtt_ms", np.ones(10), np.arange(10.0), np.zeros(10, "int64"), np.ones(10, "uint8"))])
    )
    w.close()
    with pytest.raises(ValueError, match="11 samples but 10"):
        stream_figures(counters, some)
    assert stream_figures({**counters, "samples": 10}, some)["round_trips"] == 10


def test_a_closed_model_against_an_echo_target_needs_the_echo_request():
    """A plain echo target answers 'ping' with 'ping': ECHO_PING is answered; the Pitchey ping's 'pong' never comes
    (timeouts, counted)."""
    from benchmarks.__main__ import Proc, W, free_port
    from pitchey_analysis.load import ShardSpec, run_shard
    from pitchey_analysis.load.spec import ECHO_PING

    port = free_port()
    with Proc([*W, "picows-echo-server", str(port)], "ready"):
        echo = run_shard(
            ShardSpec(
                url=f"ws://127.0.0.1:{port}/",
                connections=2,
                duration_s=0.3,
                model="closed",
                await_first_frame=False,
                ping=ECHO_PING,
            )
        )
        pong = run_shard(
            ShardSpec(
                url=f"ws://127.0.0.1:{port}/",
                connections=2,
                duration_s=0.3,
                model="closed",
                await_first_frame=False,
                answer_timeout=0.5,
            )
        )
    assert echo.answered > 50 and echo.errors == {} and echo.samples == echo.answered + 2
    assert pong.answered == 0 and pong.errors == {"timeout": 2}


def test_the_netns_echo_target_shares_its_port_and_holds_with_the_echo_ping():
    """bench-netns --target echo: echo processes on one port (SO_REUSEPORT) hold a hold-model shard, final pings
    paced."""
    import numpy as np

    from benchmarks.__main__ import Proc, W, free_port
    from pitchey_analysis.load import ShardSpec, run_shard
    from pitchey_analysis.load.spec import ECHO_PING

    port = free_port()
    with (
        Proc([*W, "picows-echo-server", str(port), "127.0.0.1", "reuse"], "ready"),
        Proc([*W, "picows-echo-server", str(port), "127.0.0.1", "reuse"], "ready"),
    ):
        r = run_shard(
            ShardSpec(
                url=f"ws://127.0.0.1:{port}/",
                connections=40,
                duration_s=0.2,
                model="hold",
                connect_rate=100,
                await_first_frame=False,
                ping=ECHO_PING,
            )
        )
    assert r.opened == r.held == r.answered == 40 and r.errors == {}
    pings = r.t_offset_s[np.asarray(r.metric) == "rtt_ms"]
    assert pings.max() - pings.min() > 0.25  # 40 pings at 100/s go out over ~0.4 s, not in one burst


def test_the_floor_rows_bare_picows_open_and_ping_pong():
    """The physical references beside ours: bare ws_connect opens (with the machine's bound) and a bare ping-pong
    client."""
    from benchmarks.__main__ import Proc, W, client, free_port
    from benchmarks.longrun import bare_picows_opens

    row = bare_picows_opens(300, 2, batch=50)  # enough for the target's CPU to show in whole clock ticks (10 ms)
    assert row["opened"] == 300 and row["failed"] == 0 and row["opens_per_s"] > 0
    assert (
        row["client_cpu_us_per_open"] > 0 and row["target_cpu_us_per_open"] > 0 and row["machine_bound_opens_per_s"] > 0
    )
    port = free_port()
    with Proc([*W, "picows-echo-server", str(port)], "ready"):
        fig = client("picows-bare", f"ws://127.0.0.1:{port}/", "0.3")
    assert fig["round_trips"] >= 1024 and fig["round_trips_per_s"] > 0 and fig["client_us_per_rt"] > 0


def test_the_sections_of_issue_13_are_there_and_a_wrong_name_is_a_usage_error(capsys):
    import pytest

    from benchmarks.__main__ import SECTIONS, main

    assert {"analysis-100m", "soak", "opens", "starved"} <= set(SECTIONS)
    with pytest.raises(SystemExit) as exc:
        main(["--only", "soak,nope"])
    assert exc.value.code == 2 and "unknown section(s) nope" in capsys.readouterr().err


def test_a_large_run_is_generated_in_chunks_and_summarized(tmp_path):
    """The analysis-100m plumbing on 30,000 samples: every row written, the summary's figures and its own peak
    memory."""
    from benchmarks.analysis100m import generate, summarize

    run = generate(tmp_path / "20260101T000000Z-000000", 30_000, chunk=7_000)
    fig = summarize(run, 600.0)
    assert fig["samples"] == 30_000 and fig["metrics"] == 4 and fig["windows"] == 4 * 9  # 5,000 s in 600-s windows
    # VmHWM: the peak of this process so far (the kernel's RSS counters are approximate: within a MB of each other)
    assert set(fig["drift"]) == {"rtt_ms", "connect_ms"} and fig["peak_rss_mb"] >= fig["rss_at_start_mb"] - 1 > 0
    lo, est, hi = fig["p99_rtt_ms"]
    assert lo <= est <= hi


def _fake_load_run(path, *, sent, answered, errors, rows_ok, rows_failed, connects, samples):
    import json

    import numpy as np
    import pandas as pd

    path.mkdir()
    obs = {"sent": sent, "answered": answered, "errors": errors, "samples": samples, "shards": [{"shard": 0, "pid": 1}]}
    pd.DataFrame({"probe": ["load.level_2"], "observed": [json.dumps(obs)]}).to_parquet(path / "probes.parquet")
    metric = ["rtt_ms"] * (rows_ok + rows_failed) + ["connect_ms"] * connects
    ok = [True] * rows_ok + [False] * rows_failed + [True] * connects
    pd.DataFrame({"metric": metric, "ok": ok, "value_ms": np.ones(len(ok))}).to_parquet(path / "samples.parquet")
    (path / "manifest.json").write_text(json.dumps({"load_capture": {"samples_not_kept": 0}}))
    return path


def test_the_soak_accounts_for_every_sample_and_says_which_count_is_off(tmp_path):
    from benchmarks.longrun import account

    good = _fake_load_run(
        tmp_path / "good",
        sent=10,
        answered=8,
        errors={"timeout": 1, "closed_before_answer": 1, "send_on_closed": 2},
        rows_ok=8,
        rows_failed=4,
        connects=2,
        samples=14,
    )
    a = account(good)
    assert a["every_sample_kept"] and a["failed"] == 2 and a["rows"] == 14 and not a["failed_checks"]
    lost = _fake_load_run(
        tmp_path / "lost", sent=10, answered=8, errors={"timeout": 2}, rows_ok=7, rows_failed=2, connects=2, samples=12
    )
    b = account(lost)
    assert not b["every_sample_kept"]
    assert b["failed_checks"] == [
        "round-trip rows = sent + sends on closed connections",
        "answered round-trip rows = answered",
        "rows in samples.parquet = samples the shards took",
    ]  # one answer's row is missing


def test_memory_watch_takes_the_last_sample_before_a_mark():
    import os

    from benchmarks.longrun import MemoryWatch, _listen_overflows

    w = MemoryWatch(os.getpid())
    w.samples = [(10.0, 1, 100.0), (12.0, 1, 110.0), (12.0, 2, 50.0), (14.0, 1, 130.0)]
    assert w.at(1, 9.0) is None and w.at(1, 12.0) == 110.0 and w.at(1, 13.9) == 110.0 and w.at(2, 99.0) == 50.0
    assert _listen_overflows() >= 0


def test_flood_parts():
    from benchmarks.flood import FRAMES, Ending, percentile
    from pitchey_analysis.server.deadline import FrameWatcher

    for frame in FRAMES.values():
        assert frame[1] & 0x80 and not FrameWatcher().feed(frame * 3)  # masked, as a client's must be
    e = Ending()
    pong, close = bytes([0x8A, 0]), bytes([0x88, 4]) + (1008).to_bytes(2, "big") + b"RL"
    e.feed(pong + close[:3])
    assert e.close_code is None and e.frames == 1
    e.feed(close[3:] + pong)
    assert e.close_code == 1008 and e.frames == 2
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0 and percentile([1.0, 2.0, 3.0, 4.0], 0.99) == 4.0
    assert percentile([], 0.5) is None
