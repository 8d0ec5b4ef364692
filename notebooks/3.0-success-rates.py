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
# # 3.0 Success rates per category
# Rates leave skips out and carry a Wilson 95% interval; the overall score is a fixed weighting printed with its
# formula.

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
# ## Pass rate per category

# %%
view.cell(views.success_rates)

# %% [markdown]
# ## Outcomes per probe, by category

# %%
view.cell(views.outcomes_by_category)

# %% [markdown]
# ## Failures grouped by reason
# One row per reason code; notebook 6.0 shows each failing probe's session frame by frame.

# %%
view.cell(views.failures_by_reason)
