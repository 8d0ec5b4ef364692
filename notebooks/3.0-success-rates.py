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
# # 3.0 Success rates per category
# Rates leave skips out and carry a Wilson 95% interval; the overall score is a fixed weighting printed with its formula.

# %% tags=["parameters"]
run = "latest"
runs_dir = None
interactive = True  # ipympl figures in JupyterLab (static PNGs when ipympl is absent)

# %% [markdown]
# ## Runs (pick one, then run the cells below)

# %%
from pitchey_analysis import explore

explore.pick_run(globals(), runs_dir)

# %%
from pitchey_analysis.analysis import SCORE_FORMULA, category_rates, issues, latest, overall_score
from pitchey_analysis.report import figures, render

figures.style()
explore.use_widgets(interactive)
r = explore.open_run(run, runs_dir)
probes = latest(r.probes)
rates = category_rates(probes)
print(f"overall score {overall_score(rates):.1%}\n{SCORE_FORMULA}")

# %%
rates.round(3)

# %%
render.show(figures.category_rates(rates))

# %% [markdown]
# ## Outcomes per probe, by category

# %%
probes.pivot_table(index="category", columns="outcome", values="probe", aggfunc="count", fill_value=0)

# %% [markdown]
# ## Failures grouped by reason

# %%
issues(probes)
