"""The optional extras of the package and the modules each brings, so that a missing one is named, not guessed.

The core (``pip install pitchey-analysis``) runs the suite and analyses a run; the load generator, the HTML/PDF
report and the notebooks come with ``[load]``, ``[report]`` and ``[lab]`` (pyproject.toml). Those modules are
imported inside the functions that use them, so the core imports none of them.
"""

from __future__ import annotations

#: extra → the top-level modules it installs (kept in step with pyproject.toml by tests/test_project.py)
EXTRAS: dict[str, tuple[str, ...]] = {
    "load": ("picows", "uvloop", "distributed", "dask"),
    "report": ("matplotlib", "papermill", "nbconvert", "nbformat", "ipykernel", "IPython", "weasyprint"),
    "lab": ("ipywidgets", "jupyterlab", "ipympl"),
}


def extra_of(module: str | None) -> str | None:
    """The extra that installs ``module`` (a dotted name: its top level counts), or None when none does."""
    top = (module or "").split(".")[0]
    return next((extra for extra, modules in EXTRAS.items() if top in modules), None)


def missing_message(module: str | None) -> str:
    """One line for a module that could not be imported: the extra to install, when one brings it."""
    extra = extra_of(module)
    if extra is None:
        return f"not available in this installation ({module or 'a module'} is not installed)"
    return (
        f"needs the optional dependencies [{extra}] ({module} is not installed): pip install "
        f"'pitchey-analysis[{extra}]'"
    )
