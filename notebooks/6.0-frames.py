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
# # 6.0 Frames: a session frame by frame
# Pick a failing probe and read its session as the wire saw it (direction, time, type, size, payload; secrets are
# redacted at the recorder), then see every sample of the run against the time it was taken.

# %% tags=["parameters"]
run = "latest"  # run id, run directory or "latest" (falls back to the committed sample)
runs_dir = None
probe = None  # a probe name; None: the first failing probe
interactive = True  # ipympl figures in JupyterLab (static PNGs when ipympl is absent)

# %% [markdown]
# ## Runs (pick one, then run the cells below)

# %%
from IPython.display import display

from pitchey_analysis import explore
from pitchey_analysis.report import figures, render

explore.pick_run(globals(), runs_dir)

# %%
figures.style()
explore.use_widgets(interactive)
r = explore.open_run(run, runs_dir)
failing = r.probes[r.probes["outcome"].isin(["fail", "error"])]["probe"].drop_duplicates().tolist()
probe = probe or (failing[0] if failing else r.probes["probe"].iloc[0])
print(f"{len(failing)} failing probe(s); showing {probe}")

# %% [markdown]
# ## The session of one probe
# Choose another failing probe in the list; the table below the list shows its frames.

# %%
explore.frames_browser(r, failing, lambda p: display(explore.session_frames(r, p)))

# %%
display(r.probes[r.probes["probe"] == probe][["probe", "outcome", "reason", "detail", "expected", "close_code"]])
explore.session_frames(r, probe)

# %% [markdown]
# ## Samples over time
# A slow stretch, a burst of failures or a drift shows here before it shows in a percentile.

# %%
render.show(figures.samples_over_time(r.samples))
