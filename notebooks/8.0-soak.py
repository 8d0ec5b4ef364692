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

# %%
from IPython.display import display

from pitchey_analysis.analysis.soak import analyze_soak
from pitchey_analysis.capture.dataset import load_events
from pitchey_analysis.explore import open_load_run
from pitchey_analysis.report import figures, render, soakfigures

figures.style()
r = open_load_run(run, runs_dir)  # prints which run and why; None (saying so) when there is no load run to show
soak = None
if r is not None:
    generator, polls = load_events(r, "generator"), load_events(r, "target_stats")
    soak = analyze_soak(r.samples, generator, polls, window_s=window_s, rtt_target_ms=rtt_target_ms)

# %% [markdown]
# ## Was the generator honest?
# Windows whose event-loop lag exceeded the bound, sends made late and sends not made at all.
# When the share of saturated windows is too high, the latency target is *not verified*.

# %%
if soak is not None:  # no load run: the first cell said so, and there is nothing to judge
    print(soak.saturation.note())
    display(soak.slo)
    display(render.figure(soakfigures.loop_lag(generator, soak.saturation.lag_bound_ms)))

# %% [markdown]
# ## Latency per window, and its drift

# %%
if soak is not None:
    display(soak.drift.round(4))
    for metric in sorted(set(soak.windows["metric"])):
        display(render.figure(soakfigures.windowed_latency(soak.windows, metric, rtt_target_ms if metric == "rtt_ms" else None)))

# %% [markdown]
# ## The target's sessions against the load's connections

# %%
if soak is not None:
    display(soak.sessions)
    display(render.figure(soakfigures.sessions(polls, soak.client_open)))
