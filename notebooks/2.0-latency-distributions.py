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
# # 2.0 Latency distributions
# Percentiles with distribution-free 95% intervals (order statistics), per metric and per concurrency level.

# %% tags=["parameters"]
run = "latest"  # run id, run directory or "latest" (falls back to the committed sample)
runs_dir = None
interactive = True  # ipympl figures in JupyterLab (static PNGs when ipympl is absent)

# %% [markdown]
# ## Runs (pick one, then run the cells below)

# %%
from pitchey_analysis import explore

explore.pick_run(globals(), runs_dir)

# %%
from IPython.display import display

from pitchey_analysis.analysis import DEFAULT_TARGETS, concurrency_table, latency_summary, slo_checks
from pitchey_analysis.report import figures, render

figures.style()
explore.use_widgets(interactive)
r = explore.open_run(run, runs_dir)
targets = {t.metric: t.threshold for t in DEFAULT_TARGETS if t.kind == "percentile"}

# %% [markdown]
# ## Sequential and idle samples, per metric

# %%
latency_summary(r.samples[r.samples["concurrency"] == 1]).round(3)

# %% [markdown]
# ## Service-level targets

# %%
slo_checks(r.samples, r.probes, tls=bool(r.manifest.get("target", {}).get("tls")))

# %% [markdown]
# ## Distributions (log axis when the values span more than a factor 3; targets dashed, or noted when off scale)

# %%
for metric in sorted(m for m in set(r.samples["metric"]) if m.endswith("_ms")):  # session_lifetime_s is in the report
    display(render.show(figures.latency_distribution(r.samples, metric, targets.get(metric))))

# %% [markdown]
# ## Against concurrency

# %%
conc = concurrency_table(r.samples, r.probes)
display(conc.round(3))
render.show(figures.concurrency(conc))
