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

# %% tags=["parameters"]
# Which run to report on: a run id, a run directory, or "latest" (falls back to the committed sample).
run = "latest"
runs_dir = None

# %%
from IPython.display import display

from pitchey_analysis.analysis import DEFAULT_TARGETS, analyze
from pitchey_analysis.analysis.defects import close_codes
from pitchey_analysis.explore import open_run
from pitchey_analysis.report import figures, render

figures.style()
r = open_run(run, runs_dir)
a = analyze(r)
targets = {t.metric: t.threshold for t in DEFAULT_TARGETS if t.kind == "percentile"}

# %% [markdown]
# # WebSocket deployment-readiness report

# %%
render.header(a)

# %% [markdown]
# ## Executive summary
# The verdict is computed from the run by fixed rules (appendix A), never typed.

# %%
display(render.verdict(a))
render.summary(a)

# %% [markdown] tags=["toc"]
# <nav class="toc">
#
# **Contents**
#
# - [Results per category](#Results-per-category)
# - [Issues identified](#Issues-identified)
# - [Capabilities validated](#Capabilities-validated)
# - [Connection flow](#Connection-flow)
# - [Authentication methods](#Authentication-methods)
# - [Message types](#Message-types)
# - [Performance against targets](#Performance-against-targets)
# - [Security checks](#Security-checks)
# - [Recommendation](#Recommendation)
# - [Appendix A: the verdict rules](#Appendix-A:-the-verdict-rules)
# - [Appendix B: configuration](#Appendix-B:-configuration)
# - [Appendix C: every probe](#Appendix-C:-every-probe)
#
# </nav>

# %% [markdown]
# ## Results per category
# Pass rates leave skipped probes out and carry a Wilson 95% interval.

# %%
rates = render.with_intervals(a.rates, {"pass rate [95% CI]": ("rate", "lo", "hi")}, "pct")
display(render.table(rates, "category-rates"))
render.figure(figures.category_rates(a.rates))

# %% [markdown]
# ## Issues identified
# One finding per defect: probes that observe the same defect are merged. **Blocking** findings come from critical
# probes or missed targets and decide the verdict; **risks** come from non-critical probes.

# %%
render.findings(a)

# %% [markdown]
# ## Capabilities validated

# %%
render.table(a.capabilities, "capabilities", columns=["capability", "status", "passed", "judged", "failing_probes"])

# %% [markdown]
# ## Connection flow
# Sequential connects with no other load, each stage timed on its own connection.

# %%
flow = render.with_intervals(a.connection_flow, {"p95 ms [95% CI]": ("p95", "p95_lo", "p95_hi")}, "ms")
display(render.table(flow, "connection-flow", {"mean": "ms", "p50": "ms", "share": "pct"}))
render.figure(figures.connection_stages(a.connection_flow))

# %% [markdown]
# ## Authentication methods

# %%
render.table(a.auth_methods, "auth-methods", {"latency_ms": "ms"}, columns=["method", "status", "latency_ms", "samples"])

# %% [markdown]
# ## Message types
# **full**: the answer has every field of the contract with the right type; **partial**: another shape, or late;
# **missing**: no answer within the timeout.

# %%
render.table(a.message_types, "message-types", columns=["message_type", "support", "detail"])

# %%
# Dropped sessions are a finding of their own (resilience.sustained_sessions): shown only when the server closed held sessions.
from IPython.display import Markdown

from pitchey_analysis.analysis.sessions import dropped_sessions, session_lifetimes

drops = dropped_sessions(r.samples, r.probes)
if drops is not None:
    display(Markdown(f"### {drops.title()}\n\n{drops.sentence()}"))
    display(render.figure(figures.session_lifetimes(session_lifetimes(r.samples, r.probes), drops.window_s)))

# %% [markdown]
# ## Performance against targets
# A percentile target is **met** when the upper end of its 95% interval is below the target, **missed** when the
# lower end is at or above it, and **not verified** otherwise (including too few samples).

# %%
slo = render.with_intervals(a.slo, {"observed [95% CI]": ("observed", "lo", "hi")}, "ms")
display(render.table(slo, "slo", columns=["target", "goal", "judged_on", "observed [95% CI]", "samples", "needed", "status", "note"]))
lat = render.with_intervals(a.latency, {f"p{q} [95% CI]": (f"p{q}", f"p{q}_lo", f"p{q}_hi") for q in (50, 90, 95, 99)}, "ms")
render.table(lat, "latency", {"mean": "ms", "max": "ms"}, columns=["metric", "count", "mean", "p50 [95% CI]", "p95 [95% CI]", "p99 [95% CI]", "max"],
             caption="Latency per metric in ms (sequential and idle samples), percentiles with 95% intervals")

# %%
for metric in ("connect_ms", "rtt_ms", "tls_handshake_ms"):
    if metric in set(a.latency.get("metric", [])):
        display(render.figure(figures.latency_distribution(r.samples, metric, targets.get(metric))))

# %% [markdown]
# ### Concurrency ramp
# Levels above the target level (100) are capacity information, not a target.

# %%
conc = render.with_intervals(a.concurrency, {"success [95% CI]": ("success_rate", "lo", "hi")}, "pct")
display(render.table(conc, "concurrency", {c: "ms" for c in ("connect_p50", "connect_p95", "rtt_p50", "rtt_p95")},
                     columns=["level", "connections", "answered", "success [95% CI]", "connect_p50", "connect_p95", "rtt_p50", "rtt_p95"]))
display(render.figure(figures.concurrency(a.concurrency)))
display(render.figure(figures.close_timeline(r.frames, r.probes, r.manifest)))
render.table(close_codes(r.frames, r.probes), "close-codes", caption="Close codes the server sent (RFC 6455 §7.4.1)")

# %%
# A run with load over time (a `pitchey-analysis load` run) gets its soak view here: windows, drift, the target's polls.
from pitchey_analysis.report.soak import soak_section

for part in soak_section(r):
    display(part)

# %% [markdown]
# ## Security checks

# %%
render.table(a.security, "security", columns=["check", "outcome", "detail"])

# %% [markdown]
# ## Recommendation

# %%
render.recommendation(a)

# %% [markdown] tags=["appendix"]
# ## Appendix A: the verdict rules
# Applied in this order:
# 1. **NOT READY** if a critical probe ended `fail` or `error`, or a target is missed;
# 2. **INSUFFICIENT EVIDENCE** if a critical probe was skipped or never ran, or a target is not verified;
# 3. **READY WITH RISKS** if a non-critical probe failed;
# 4. **READY** otherwise.

# %% [markdown] tags=["appendix"]
# ## Appendix B: configuration
# What was measured and how. Secrets are redacted before anything is written; the full manifest stays in the run
# directory.

# %%
render.configuration(a, r.path)

# %% [markdown] tags=["appendix"]
# ## Appendix C: every probe
# Each probe's outcome and one line of evidence, by category. Whether a probe is critical is part of the probe
# catalogue; the verdict depends on it.

# %%
render.outcomes(a)
