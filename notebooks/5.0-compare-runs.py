# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5.0 Comparing two runs
# Each change comes with a 95% interval (Newcombe for rates; non-overlapping order-statistic intervals for
# percentiles) and is flagged only when significant.

# %% tags=["parameters"]
run_a = None  # the reference run (None: the second newest run, else the older committed sample)
run_b = None  # the current run (None: the newest run)
runs_dir = None

# %%
from IPython.display import Markdown, display

from pitchey_analysis import render
from pitchey_analysis.analysis import analyze, compare_latency, compare_outcomes, compare_rates
from pitchey_analysis.explore import pick_pair

A, B = pick_pair(run_a, run_b, runs_dir)
va, vb = analyze(A).verdict, analyze(B).verdict

# %% [markdown]
# # Run comparison

# %%
Markdown(f"**Reference** {A.run_id}: **{va.verdict}** → **current** {B.run_id}: **{vb.verdict}**")

# %% [markdown]
# ## Success rates

# %%
render.table(render.with_intervals(compare_rates(A.probes, B.probes), {"change [95% CI]": ("change", "lo", "hi")}, "pct"),
             "compare-rates", {"rate_a": "pct", "rate_b": "pct"})

# %% [markdown]
# ## Latency (sequential and idle samples)

# %%
lat = compare_latency(A.samples, B.samples)
render.table(lat.drop(columns=["a_interval", "b_interval"]) if len(lat) else lat, "compare-latency", {"a_ms": "ms", "b_ms": "ms"})

# %% [markdown]
# ## Probes whose outcome changed

# %%
display(render.table(compare_outcomes(A.probes, B.probes), "compare-outcomes"))
