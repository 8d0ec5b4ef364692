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
# # Run comparison report
# A reference run (A) against a current run (B). Each change comes with a 95% interval (Newcombe for rates;
# order-statistic intervals for percentiles) and is called significant only when the interval says so.

# %% tags=["parameters"]
run_a = None  # the reference run (None: the second newest run, else the older committed sample)
run_b = None  # the current run (None: the newest run)
runs_dir = None

# %% [markdown] tags=["explore"]
# ## Runs (pick the two, then run the cells below)

# %% tags=["explore"]
from pitchey_analysis import explore

explore.pick_run(globals(), runs_dir, names=("run_a", "run_b"))

# %%
from IPython.display import display

from pitchey_analysis.analysis import DEFAULT_TARGETS, analyze, compare_latency, compare_outcomes, compare_rates
from pitchey_analysis.explore import pick_pair
from pitchey_analysis.report import figures, render

figures.style()
A, B = pick_pair(run_a, run_b, runs_dir)
a, b = analyze(A), analyze(B)
targets = {t.metric: t.threshold for t in DEFAULT_TARGETS if t.kind == "percentile"}

# %% [markdown]
# ## The two runs

# %%
render.compare_header(a, b)

# %% [markdown]
# ## Pass rates per category
# Change B − A with Newcombe's 95% interval; significant when the interval excludes 0.

# %%
render.table(render.with_intervals(compare_rates(A.probes, B.probes), {"change [95% CI]": ("change", "lo", "hi")}, "pct"),
             "compare-rates", {"rate_a": "pct", "rate_b": "pct"})

# %% [markdown]
# ## Latency percentiles (sequential and idle samples)
# Each percentile with its 95% interval in each run; a change is significant when the two intervals do not overlap.

# %%
lat = compare_latency(A.samples, B.samples)
if len(lat):
    lat = lat.assign(a_interval=[render.interval(i) for i in lat["a_interval"]], b_interval=[render.interval(i) for i in lat["b_interval"]])
render.table(lat, "compare-latency", {"a_ms": "ms", "b_ms": "ms"},
             columns=["metric", "percentile", "a_ms", "a_interval", "b_ms", "b_interval", "ratio", "direction"])

# %%
for metric in ("connect_ms", "rtt_ms"):
    display(render.figure(figures.compare_distributions(A.samples, B.samples, metric, ("A " + A.run_id, "B " + B.run_id), targets.get(metric))))

# %% [markdown]
# ## Probes whose outcome changed

# %%
render.table(compare_outcomes(A.probes, B.probes), "compare-outcomes")
