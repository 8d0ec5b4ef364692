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
# # 1.0 Capture a run
# Run the probe suite against a target (by default the embedded reference server) and load the run dataset.
# Every observation lands in `data/runs/<run_id>/` as it happens; the tables below are read back from disk.

# %% tags=["parameters"]
target = None  # a ws:// or wss:// URL; None starts the embedded reference server
profile = "complete"  # embedded server: "complete" or "pitchey-2025-11"
suite = "quick"  # "quick" (<= 20 s) or "full"
out = None  # runs directory (default: data/runs of the project, whatever the working folder)
tls = True  # embedded server: serve wss:// (as `pitchey-analysis run` does), so the TLS probe and target are judged

# %%
from pitchey_analysis import run_suite
from pitchey_analysis.notebook import explore, views

path = run_suite(target, profile=profile, suite=suite, out=out, tls=tls)

# %% [markdown]
# ## Every run in the project
# The run just captured is picked; pick another to read it below (notebooks 2.0–8.0 pick any of them too).

# %%
run = str(path)
view = explore.RunView(globals(), out, interactive=False)
view.cell(views.capture_summary)

# %% [markdown]
# ## Pass counts per category

# %%
view.cell(views.pass_counts)

# %% [markdown]
# ## The probes table (first rows) and what its columns mean

# %%
view.cell(views.probes_head)

# %%
from pitchey_analysis.capture.records import describe

describe("probes")

# %%
describe("samples")
