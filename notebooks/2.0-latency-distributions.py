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
# # 2.0 Latency distributions
# Percentiles with distribution-free 95% intervals (order statistics), per metric and per concurrency level.

# %% tags=["parameters"]
run = "latest"  # run id, run directory or "latest" (falls back to the committed sample)
runs_dir = None
interactive = True  # ipympl figures in JupyterLab (static PNGs headless or without ipympl)

# %% [markdown]
# ## Runs
# Every run in the project. Choosing one in the picker loads it and redraws every table and figure below;
# the `run` parameter does the same for papermill and the report.

# %%
from pitchey_analysis.notebook import explore, views
from pitchey_analysis.report import figures

figures.style()
view = explore.RunView(globals(), runs_dir, interactive=interactive)

# %% [markdown]
# ## Sequential and idle samples, per metric

# %%
view.cell(views.sequential_latency)

# %% [markdown]
# ## Service-level targets

# %%
view.cell(views.service_targets)

# %% [markdown]
# ## Distributions
# Log axis when the values span more than a factor 3; targets dashed, or noted when off scale.

# %%
view.cell(views.distributions)

# %% [markdown]
# ## Against concurrency

# %%
view.cell(views.against_concurrency)
