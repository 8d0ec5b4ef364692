# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version,-kernelspec
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
# ---

# %% [markdown]
# # 7.0 History: every run of a target over time
# Verdict, score, pass rate per category (Wilson 95% intervals) and p95 per metric (order-statistic 95% intervals)
# for each run, oldest first, so a team sees the trend across releases. The same tables are printed by
# `pitchey-analysis history [--target URL]`.

# %% tags=["parameters"]
target = None  # keep runs whose target contains this text (a URL, or "embedded:<profile>"); None: every run
trend = None  # one trend to show ("<target> · contract <name>"); None: the picker's first (headless: every trend)
runs_dir = None
samples = True  # include the committed sample runs
interactive = True

# %% [markdown]
# ## Runs

# %%
from IPython.display import display

from pitchey_analysis.notebook import explore, views
from pitchey_analysis.report import figures
from pitchey_analysis.report.history import load_history

figures.style()
explore.use_widgets(interactive and explore.live_frontend())
display(explore.index_table(explore.runs_index(runs_dir, samples=samples)))
h = load_history(runs_dir, target, samples=samples)

# %% [markdown]
# ## One trend: a target judged against one contract
# Runs of another profile, or judged against another contract, are another trend: pick it. No interval is
# printed where the sample count cannot support one.

# %%
explore.trend_view(h, views.history_trend(h), trend)
