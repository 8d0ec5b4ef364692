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

# %% tags=["parameters"]
# Which run to report on: a run id, a run directory, or "latest" (falls back to the committed sample).
run = "latest"
runs_dir = None

# %% tags=["explore"]
# In JupyterLab: the runs index and a run picker (the report is redrawn for the run picked); the export shows neither.
from pitchey_analysis.notebook import explore
from pitchey_analysis.report import figures, sections

figures.style()
view = explore.RunView(globals(), runs_dir, interactive=False, index=False)

# %% [markdown]
# # WebSocket deployment-readiness report

# %%
view.cell(sections.header)

# %% [markdown]
# ## Executive summary
# The verdict is computed from the run by fixed rules (appendix A), never typed.

# %%
view.cell(sections.verdict)

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
view.cell(sections.category_rates)

# %% [markdown]
# ## Issues identified
# One finding per defect: probes that observe the same defect are merged. **Blocking** findings come from critical
# probes or missed targets and decide the verdict; **risks** come from non-critical probes.

# %%
view.cell(sections.findings)

# %% [markdown]
# ## Capabilities validated

# %%
view.cell(sections.capabilities)

# %% [markdown]
# ## Connection flow
# Sequential connects with no other load, each stage timed on its own connection.

# %%
view.cell(sections.connection_flow)

# %% [markdown]
# ## Authentication methods

# %%
view.cell(sections.auth_methods)

# %% [markdown]
# ## Message types
# **full**: the answer has every field of the contract with the right type; **partial**: another shape, or late;
# **missing**: no answer within the timeout.

# %%
view.cell(sections.message_types)

# %%
# Dropped sessions are a finding of their own (resilience.sustained_sessions): shown only when the server closed
# held sessions.
view.cell(sections.dropped)

# %% [markdown]
# ## Performance against targets
# A percentile target is **met** when the upper end of its 95% interval is below the target, **missed** when the
# lower end is at or above it, and **not verified** otherwise (including too few samples).

# %%
view.cell(sections.performance)

# %%
view.cell(sections.distributions)

# %% [markdown]
# ### Concurrency ramp
# Levels above the target level (100) are capacity information, not a target.

# %%
view.cell(sections.concurrency)

# %%
# A run with load over time (a `pitchey-analysis load` run) gets its soak view here: windows, drift, the target's polls.
view.cell(sections.soak)

# %% [markdown]
# ## Security checks

# %%
view.cell(sections.security)

# %% [markdown]
# ## Recommendation

# %%
view.cell(sections.recommendation)

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
view.cell(sections.configuration)

# %% [markdown] tags=["appendix"]
# ## Appendix C: every probe
# Each probe's outcome and one line of evidence, by category. Whether a probe is critical is part of the probe
# catalogue; the verdict depends on it.

# %%
view.cell(sections.outcomes)
