"""Saving a notebook without its outputs: the Jupyter server's pre-save hook.

Notebooks are committed without outputs (tests check it); JupyterLab saves
what is on screen. ``jupyter_server_config.py`` at the project root installs
:func:`pre_save_hook`, so a notebook saved from ``make lab`` is stripped on
disk while the outputs stay on screen. ``make setup`` also installs
nbstripout as a git filter, for notebooks saved by other means.
"""

from __future__ import annotations

from typing import Any


def strip(nb: dict[str, Any]) -> dict[str, Any]:
    """Remove outputs and execution counts of code cells, and metadata a run or a machine adds (in place).

    Opening a notebook in JupyterLab and saving it unchanged leaves the committed file as it was.
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        meta = cell.get("metadata", {})
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            meta.pop(key, None)
    meta = nb.get("metadata", {})
    for key in ("papermill", "widgets", "language_info"):  # language_info: the kernel's Python version, per machine
        meta.pop(key, None)
    spec = meta.get("kernelspec") or {}
    if spec.get("name") == "python3":  # JupyterLab writes the kernel's own display name: keep the committed one
        spec["display_name"] = "Python 3"
    return nb


def pre_save_hook(model: dict[str, Any], **_: Any) -> None:
    """``ContentsManager.pre_save_hook``: strip a notebook's outputs before it is written."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        strip(model["content"])
