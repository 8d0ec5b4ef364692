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
# # 8.0 Soak: a load run over time
# A run written by `pitchey-analysis load` (every sample kept, streamed to the run as it went).
# Per-window percentiles with 95% intervals, a Theil–Sen drift test with the interval of its slope,
# the generator's own health (was the client the bottleneck?), and the target's session count
# against the load's open connections (a leak shows as a gap that grows or does not close).

# %% tags=["parameters"]
run = "latest"  # a load run: run id, run directory or "latest"
runs_dir = None
window_s = 60.0  # soak window in seconds
rtt_target_ms = 50.0
interactive = True  # ipympl figures in JupyterLab (static PNGs headless or without ipympl)

# %% [markdown]
# ## Load runs
# Every load run of the project. Choosing one in the picker loads it and redraws every table and figure below;
# the `run` parameter does the same for papermill.

# %%
from pitchey_analysis.notebook import explore, views
from pitchey_analysis.report import figures

figures.style()
view = explore.RunView(
    globals(), runs_dir, interactive=interactive, opener=explore.open_load_run, only=lambda row: row.suite == "load"
)

# %% [markdown]
# ## Was the generator honest?
# Windows whose event-loop lag exceeded the bound, sends made late and sends not made at all.
# When the share of saturated windows is too high, the latency target is *not verified*.

# %%
view.cell(views.soak_generator(window_s, rtt_target_ms))

# %% [markdown]
# ## Latency per window, and its drift

# %%
view.cell(views.soak_drift(window_s, rtt_target_ms))

# %% [markdown]
# ## The target's sessions against the load's open connections

# %%
view.cell(views.soak_sessions(window_s, rtt_target_ms))
