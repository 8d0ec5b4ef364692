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
# # Run comparison report
# A reference run (A) against a current run (B). Each change comes with a 95% interval (Newcombe for rates;
# order-statistic intervals for percentiles) and is called significant only when the interval says so.

# %% tags=["parameters"]
run_a = None  # the reference run (None: the second newest run, else the older committed sample)
run_b = None  # the current run (None: the newest run)
runs_dir = None

# %% [markdown] tags=["explore"]
# ## Runs
# Pick the reference (A) and the current run (B): every table and figure below is redrawn for the pair.

# %% tags=["explore"]
from pitchey_analysis.notebook import explore, views
from pitchey_analysis.report import figures

figures.style()
view = explore.RunView(globals(), runs_dir, names=("run_a", "run_b"))

# %% [markdown]
# ## The two runs

# %%
view.cell(views.compare_header)

# %% [markdown]
# ## Pass rates per category
# Change B − A with Newcombe's 95% interval; significant when the interval excludes 0.

# %%
view.cell(views.compare_pass_rates)

# %% [markdown]
# ## Latency percentiles (sequential and idle samples)
# Each percentile with its 95% interval in each run; a change is significant when the two intervals do not overlap.

# %%
view.cell(views.compare_percentiles)

# %%
view.cell(views.compare_figures)

# %% [markdown]
# ## Probes whose outcome changed

# %%
view.cell(views.changed_outcomes)
