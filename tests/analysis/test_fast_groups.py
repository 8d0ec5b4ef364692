"""The numpy paths of the summaries give the same numbers as the pandas groupby they replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pitchey_analysis.analysis import columns, latency_summary
from pitchey_analysis.analysis.latency import METRIC_ORDER, QS
from pitchey_analysis.analysis.soak import analyze_soak, latency_drift, windowed_percentiles
from pitchey_analysis.analysis.stats import percentiles, select


def _old_windowed(samples: pd.DataFrame, window_s: float, qs: tuple[float, ...]) -> pd.DataFrame:
    """windowed_percentiles as it was (a pandas groupby of the metric's strings and the window)."""
    ok = samples[samples["ok"].eq(True) & samples["value_ms"].notna()]
    window = np.floor(ok["t_offset_s"].to_numpy() / window_s).astype("int64")
    frame = pd.DataFrame(
        {"metric": ok["metric"].astype(str).to_numpy(), "window": window, "v": ok["value_ms"].to_numpy()}
    )
    rows = []
    for (metric, w), g in frame.groupby(["metric", "window"], sort=True):
        for q, iv in percentiles(g["v"].to_numpy(), qs).items():
            rows.append((metric, int(w), w * window_s, (w + 0.5) * window_s, iv.n, q, iv.estimate, iv.lo, iv.hi))
    return pd.DataFrame(rows, columns=["metric", "window", "t_start_s", "t_mid_s", "n", "q", "estimate", "lo", "hi"])


def _old_summary(samples: pd.DataFrame) -> pd.DataFrame:
    """latency_summary by metric as it was (a pandas groupby)."""
    ok = samples[samples["ok"].eq(True) & samples["value_ms"].notna()]
    rows = []
    for key, grp in ok.groupby(["metric"], sort=False, observed=True):
        v = grp["value_ms"].to_numpy()
        row = {"metric": key[0], "count": len(v), "mean": float(v.mean()), "max": float(v.max())}
        for q, iv in percentiles(v, QS).items():
            tag = f"p{int(q * 100)}"
            row[tag], row[f"{tag}_lo"], row[f"{tag}_hi"] = iv.estimate, iv.lo, iv.hi
        rows.append(row)
    order = {m: i for i, m in enumerate(METRIC_ORDER)}
    return pd.DataFrame(rows).sort_values(["metric"], key=lambda s: s.map(order).fillna(99)).reset_index(drop=True)


def _frame(n: int, categorical: bool, nullable_ok: bool, in_time_order: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    names = np.array(["rtt_ms", "connect_ms", "push_ms:alert", "rtt_ms:get", "zz_other"])
    value = rng.lognormal(0, 0.7, n)
    value[rng.random(n) < 0.02] = np.nan
    ok = rng.random(n) > 0.03
    df = pd.DataFrame(
        {
            "metric": names[rng.integers(1, 5, n)],
            "value_ms": value,
            "t_offset_s": rng.uniform(0, 900, n) - 3.0,
            "ok": ok,
        }
    )
    df.loc[rng.integers(0, n, n // 3), "metric"] = "rtt_ms"  # first seen somewhere in the middle of the table
    df.loc[0, "metric"] = "zz_other"
    if in_time_order:  # a load run's samples, stored as they were taken: windows need no sort
        df["t_offset_s"] = np.sort(df["t_offset_s"].to_numpy())
    if categorical:
        df["metric"] = df["metric"].astype("category")
    if nullable_ok:
        df["ok"] = df["ok"].astype("boolean")
        df.loc[5, "ok"] = pd.NA
    return df


@pytest.mark.parametrize(
    ("categorical", "nullable_ok", "in_time_order", "threads"),
    [
        (True, True, False, False),
        (False, False, False, False),
        (True, False, True, False),
        (False, True, True, False),
        (True, False, True, True),
        (False, True, False, True),
    ],
)
def test_the_numpy_paths_give_the_same_numbers(categorical, nullable_ok, in_time_order, threads, monkeypatch):
    if threads:  # the path of large tables (groups and windows summarized on several threads) on a small one
        monkeypatch.setattr(columns, "PARALLEL_ROWS", 0)
    df = _frame(60_000, categorical, nullable_ok, in_time_order)
    new, old = windowed_percentiles(df, 60.0), _old_windowed(df, 60.0, (0.5, 0.95, 0.99))
    pd.testing.assert_frame_equal(new, old, check_exact=True)
    assert (new["window"] == -1).any()  # negative offsets make their own window, as before
    s_new, s_old = latency_summary(df), _old_summary(df)
    pd.testing.assert_frame_equal(s_new, s_old, check_exact=True)
    assert list(s_new["metric"])[:2] == ["connect_ms", "rtt_ms"]
    # the drift from precomputed windows is the drift computed afresh
    pd.testing.assert_frame_equal(latency_drift(df, 60.0, windows=new), latency_drift(df, 60.0), check_exact=True)


def test_metrics_filter_and_empty_frames():
    df = _frame(5_000, True, False)
    only = windowed_percentiles(df, 30.0, (0.5,), metrics=["rtt_ms"])
    assert set(only["metric"]) == {"rtt_ms"}
    pd.testing.assert_frame_equal(
        only.reset_index(drop=True), _old_windowed(df[df["metric"] == "rtt_ms"], 30.0, (0.5,))
    )
    none_ok = df.assign(ok=False)
    assert windowed_percentiles(none_ok).empty and latency_summary(none_ok).empty
    assert windowed_percentiles(df.iloc[:0]).empty
    soak = analyze_soak(df, pd.DataFrame(), pd.DataFrame())
    assert len(soak.windows) and set(soak.drift["metric"]) == {"connect_ms", "rtt_ms", "rtt_ms:get"}


def test_windows_of_samples_in_time_order_split_where_the_per_row_formula_does():
    """Offsets on and beside the edges of windows whose length is not a binary fraction (0.1 s), ties, gaps."""
    edges = np.arange(-5, 40) * 0.1
    t = np.sort(
        np.concatenate(
            [
                edges,
                np.nextafter(edges, -np.inf),
                np.nextafter(edges, np.inf),
                np.full(50, 1.2),
                np.linspace(7.0, 9.0, 101),
            ]
        )
    )
    starts = columns.window_starts(t, 0.1)
    assert starts is not None
    w0, at = starts
    per_row = np.floor(t / 0.1).astype("int64")
    assert w0 == per_row[0] and at[-1] == t.size
    for i in range(at.size - 1):
        assert (per_row[at[i] : at[i + 1]] == w0 + i).all()
    assert columns.window_starts(t[::-1], 0.1) is None and columns.window_starts(np.array([0.0, np.nan]), 1.0) is None
    assert columns.window_starts(np.array([0.0, 1e9]), 1.0) is None  # far more windows than rows: the general path
    n = t.size
    rng = np.random.default_rng(3)
    df = pd.DataFrame(
        {
            "metric": np.array(["rtt_ms", "connect_ms"])[rng.integers(0, 2, n)],
            "value_ms": rng.random(n),
            "t_offset_s": t,
            "ok": True,
        }
    )
    pd.testing.assert_frame_equal(
        windowed_percentiles(df, 0.1, (0.5,)), _old_windowed(df, 0.1, (0.5,)), check_exact=True
    )


@pytest.mark.parametrize("n", [3_000, 100_001, 1_000_003])
def test_the_clustered_selection_puts_every_order_statistic_where_a_sort_does(n):
    rng = np.random.default_rng(n)
    for x in (rng.lognormal(size=n), np.round(rng.lognormal(size=n), 1)):  # continuous, and heavy ties
        ref = np.sort(x)
        ks = sorted(
            {int(n * q) + d for q in (0.0, 0.5, 0.9, 0.95, 0.99, 0.999) for d in (-40, -3, 0, 1, 25)} & set(range(n))
        )
        ks += [n - 1] if ks[-1] != n - 1 else []
        y = select(x.copy(), ks)
        np.testing.assert_array_equal(y[ks], ref[ks])
        np.testing.assert_array_equal(np.sort(y), ref)  # a reordering: nothing lost or made up
        kept = x.copy()
        assert percentiles(x, (0.5, 0.99)) == percentiles(kept.copy(), (0.5, 0.99), overwrite_input=True)
        np.testing.assert_array_equal(x, kept)  # without overwrite_input the caller's array is left as it was


@pytest.mark.parametrize("threads", [False, True])
def test_map_codes_lends_each_groups_values_in_table_order(threads, monkeypatch):
    """Many stretches (on threads, sharing buffers): the values boolean indexing gives per code, codes in order of first
    appearance, absent and masked-out codes left out."""
    if threads:
        monkeypatch.setattr(columns, "PARALLEL_ROWS", 0)
    rng = np.random.default_rng(5)
    n = 70_001
    codes = rng.integers(-1, 4, n).astype("int8")
    codes[:30_000][codes[:30_000] == 2] = 1  # code 2 first appears late
    ok = rng.random(n) > 0.2
    ok[codes == 3] = False  # present, but never ok
    values = rng.random(n)
    values[rng.random(n) < 0.05] = np.nan
    usable = ok & ~np.isnan(values)

    def lent(c: int, v: np.ndarray) -> tuple[int, np.ndarray]:
        kept = v.copy()
        v.sort()  # fn may reorder what it is lent
        return c, kept

    got = columns.map_codes(lent, codes, ok, values, 5, step=1_000)
    assert [c for c, _ in got] == [c for c in dict.fromkeys(codes[usable]) if c >= 0] and {c for c, _ in got} == {
        0,
        1,
        2,
    }
    for c, v in got:
        np.testing.assert_array_equal(v, values[usable & (codes == c)])
    assert columns.map_codes(lent, codes[:0], ok[:0], values[:0], 5) == []


def test_the_vectorized_order_statistics_are_the_ones_of_each_q():
    from pitchey_analysis.analysis.stats import _order_stat_bounds, order_stat_indices

    qs = (0.5, 0.9, 0.95, 0.99, 0.999)
    for n in (*range(1, 400), 1_000, 12_345, 10**6, 10**8):
        for conf in (0.95, 0.8):
            assert _order_stat_bounds(n, qs, conf) == [order_stat_indices(n, q, conf) for q in qs], (n, conf)
    assert _order_stat_bounds(0, qs, 0.95) == [(None, None)] * len(qs)


def test_load_samples_reads_the_columns_asked_for_as_load_run_does(tmp_path):
    """Batches with different dictionaries, a missing ok: the same values as load_run's, the metric as one
    categorical."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pitchey_analysis.capture.dataset import load_run, load_samples
    from pitchey_analysis.capture.records import frame_from_rows

    run = tmp_path / "20260101T000000Z-000000"
    run.mkdir()
    n = 3 * (1 << 20) // 2  # two batches of load_samples
    rng = np.random.default_rng(1)
    metric = np.where(
        np.arange(n) < n // 2, "rtt_ms", np.array(["connect_ms", "rtt_ms:get", "rtt_ms"])[rng.integers(0, 3, n)]
    )
    ok = pa.array(rng.random(n) > 0.1, pa.bool_()).to_pylist()
    ok[7] = None
    t = pa.table(
        {
            "run_id": ["r"] * n,
            "probe_id": ["p#1"] * n,
            "metric": metric,
            "value_ms": rng.random(n),
            "t_offset_s": np.arange(n) / 1e3,
            "concurrency": np.ones(n, "int64"),
            "conn_index": np.zeros(n, "int64"),
            "ok": pa.array(ok, pa.bool_()),
        }
    )
    pq.write_table(t, run / "samples.parquet", row_group_size=1 << 19)
    frame_from_rows("probes", []).to_parquet(run / "probes.parquet", index=False)
    frame_from_rows("frames", []).to_parquet(run / "frames.parquet", index=False)
    (run / "manifest.json").write_text(json.dumps({"run_id": run.name, "status": "complete"}))
    cols = ["metric", "value_ms", "t_offset_s", "ok"]
    fast, full = load_samples(run, cols), load_run(run).samples
    assert (
        list(fast.columns) == cols
        and isinstance(fast["metric"].dtype, pd.CategoricalDtype)
        and fast["ok"].dtype == bool
    )
    assert (fast["metric"].astype(str).to_numpy() == full["metric"].astype(str).to_numpy()).all()
    np.testing.assert_array_equal(fast["value_ms"].to_numpy(), full["value_ms"].to_numpy())
    np.testing.assert_array_equal(fast["ok"].to_numpy(), full["ok"].fillna(False).to_numpy(dtype=bool))
    assert not fast["ok"].iloc[7]
    pd.testing.assert_frame_equal(latency_summary(fast), latency_summary(full), check_exact=True)
    pd.testing.assert_frame_equal(windowed_percentiles(fast, 60.0), windowed_percentiles(full, 60.0), check_exact=True)
    with pytest.raises(ValueError, match="no samples column nope"):
        load_samples(run, ["nope"])


@pytest.mark.parametrize("categories", [3, 300, 40_000])
def test_load_samples_codes_missing_metrics_and_many_categories(tmp_path, categories):
    """A missing metric is a missing category; more categories than 8- or 16-bit codes hold widen the codes."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from pitchey_analysis.capture.dataset import load_samples

    run = tmp_path / "20260101T000000Z-000000"
    run.mkdir()
    n = 100_000
    metric = pa.array([None if i % 997 == 0 else f"m{i % categories}" for i in range(n)], pa.string())
    # every documented column (the reader refuses a table missing one)
    pq.write_table(
        pa.table(
            {
                "run_id": ["r"] * n,
                "probe_id": ["p#1"] * n,
                "metric": metric,
                "value_ms": np.arange(n, dtype="float64"),
                "t_offset_s": np.arange(n) / 1e3,
                "concurrency": np.ones(n, "int64"),
                "conn_index": np.zeros(n, "int64"),
                "ok": np.ones(n, bool),
            }
        ),
        run / "samples.parquet",
        row_group_size=7_000,
    )
    (run / "manifest.json").write_text(json.dumps({"run_id": run.name, "status": "complete"}))
    got = load_samples(run, ["metric", "value_ms", "ok"])
    expected = pd.Series(metric.to_pylist(), dtype=object)
    assert got["metric"].isna().sum() == expected.isna().sum() == len(range(0, n, 997))
    assert [None if pd.isna(m) else m for m in got["metric"]] == metric.to_pylist()
    # the categories in the order the file has them (row groups are read on several threads, in any order)
    assert list(got["metric"].cat.categories) == list(dict.fromkeys(m for m in metric.to_pylist() if m is not None))
    assert got["metric"].cat.codes.dtype == (
        "int8" if categories < 100 else "int16" if categories < 30_000 else "int32"
    )
    np.testing.assert_array_equal(got["value_ms"].to_numpy(), np.arange(n, dtype="float64"))
