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
# # 6.0 Frames: a session frame by frame
# Pick a failing probe and read its session as the wire saw it (direction, time, type, size, payload; secrets are
# redacted at the recorder), then see every sample of the run against the time it was taken.

# %% tags=["parameters"]
run = "latest"  # run id, run directory or "latest" (falls back to the committed sample)
runs_dir = None
probe = None  # a probe name; None: the first failing probe
interactive = True  # ipympl figures in JupyterLab (static PNGs headless or without ipympl)

# %% [markdown]
# ## Runs
# Every run in the project. Choosing one in the picker loads it and redraws the cells below.

# %%
from pitchey_analysis.notebook import explore, views
from pitchey_analysis.report import figures

figures.style()
view = explore.RunView(globals(), runs_dir, interactive=interactive)

# %% [markdown]
# ## The session of one probe
# The probe's outcome, reason and what the contract expected, then its frames in order. In JupyterLab, choose
# another failing probe in the list.

# %%
view.cell(views.sessions(probe))

# %% [markdown]
# ## Samples over time
# A slow stretch, a burst of failures or a drift shows here before it shows in a percentile.

# %%
view.cell(views.samples_over_time)
