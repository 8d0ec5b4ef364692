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
from pitchey_analysis import load_run, run_suite
from pitchey_analysis.analysis import verdict_for_run
from pitchey_analysis.capture.records import describe
from pitchey_analysis.report.summary import category_table

path = run_suite(target, profile=profile, suite=suite, out=out, tls=tls)
r = load_run(path)
print(f"run {r.run_id}: {r.manifest['status']}, {len(r.probes)} probes, {len(r.samples)} samples, {len(r.frames)} frames")
print(f"written to {path}")
print(f"verdict: {verdict_for_run(r).verdict}  (notebook 4.0 says why; a quick suite rarely has the samples to verify a target)")

# %% [markdown]
# ## Pass counts per category

# %%
category_table(r.probes)

# %% [markdown]
# ## The probes table (first rows) and what its columns mean

# %%
r.probes[["probe", "outcome", "reason", "detail"]].head(12)

# %%
describe("probes")

# %%
describe("samples")

# %% [markdown]
# ## Every run in the project (notebooks 2.0–7.0 can pick any of them)

# %%
from pitchey_analysis.explore import runs_index

runs_index().drop(columns=["path"])
