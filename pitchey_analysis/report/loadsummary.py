"""The load command's end-of-run summary, read from the stored run: per level what opened and held, latency per
operation, errors and closes, then the soak's figures (the generator's saturation, drift, sessions, targets)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def summary_lines(path: Path, model: str, window_s: float) -> list[str]:
    """Lines from the stored run: per level opened, held, latency per operation, errors and closes; then the soak
    figures."""

    from ..analysis import percentiles
    from ..analysis.soak import analyze_soak
    from ..capture.dataset import load_events, load_run, load_samples

    # only the columns the summary reads, as codes and numpy arrays (load_samples): a soak of millions of samples
    # loaded whole into pandas took gigabytes in the load process at the very end of the run
    all_samples = load_samples(path, ["probe_id", "metric", "value_ms", "t_offset_s", "ok"])
    probes = pd.read_parquet(path / "probes.parquet") if (path / "probes.parquet").exists() else load_run(path).probes
    lines = []
    samples = all_samples[all_samples["ok"]]
    for _, probe in probes.sort_values("started_at").iterrows():
        obs = json.loads(probe["observed"])
        level = int(str(probe["probe"]).rsplit("_", 1)[1])
        line = f"level {level}: opened {obs['opened']}/{level}"
        if obs.get("left"):
            line += f" ({obs['left']} left on purpose and came back)"
        if model == "hold":
            line += f", held {obs['held']}"
        s = samples[samples["probe_id"] == probe["probe_id"]]
        for metric in sorted(m for m in s["metric"].unique() if str(m).startswith(("rtt_ms", "push_ms:"))):
            v = s.loc[s["metric"] == metric, "value_ms"].to_numpy()
            p = percentiles(v, (0.5, 0.99))
            what = (
                "round trips"
                if metric == "rtt_ms"
                else str(metric).replace("push_ms:", "pushes ").replace("rtt_ms:", "")
            )
            line += f", {v.size} {what}, p50 {p[0.5].estimate:.3f} ms, p99 {p[0.99].estimate:.3f} ms"
        if obs.get("late") or obs.get("dropped"):
            line += f", generator: {obs['late']} sends late, {obs['dropped']} not made"
        errors = obs["errors"]
        line += f", errors {errors}" if errors else ", no errors"
        if obs.get("close_codes"):
            line += f", closed by the target {obs['close_codes']}"
        lines.append(line)
    soak = analyze_soak(
        all_samples, load_events(path, "generator"), load_events(path, "target_stats"), window_s=window_s
    )
    lines.append(soak.saturation.note())
    for _, d in soak.drift.iterrows():
        lines.append(f"drift of {d['metric']} p50 per {window_s:g} s window: {d['status']} ({d['note']})")
    for _, f in soak.sessions.iterrows():
        lines.append(f"target sessions: {f['finding']} {f['status']}: {f['evidence']}")
    for _, t in soak.slo.iterrows():
        lines.append(f"{t['target']}: {t['status']} ({t['note']})")
    return lines


def opened_none(lines: list[str]) -> bool:
    """No connection opened at any level of :func:`summary_lines`: the load did not happen."""
    return all(" opened 0/" in line for line in lines if line.startswith("level "))
