"""JupyterLab set-up: notebooks saved from the lab keep no outputs; the config binds loopback only."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from pitchey_analysis.nbstrip import pre_save_hook

ROOT = Path(__file__).resolve().parents[1]


def test_saving_a_notebook_with_outputs_stores_it_stripped():
    nb = nbformat.read(ROOT / "notebooks" / "3.0-success-rates.ipynb", as_version=4)
    dirty = copy.deepcopy(nb)
    for i, cell in enumerate(dirty.cells):
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="x")]
            cell.execution_count = i
    dirty.metadata["papermill"] = {"parameters": {}}
    model = {"type": "notebook", "content": dirty}
    pre_save_hook(model, path="3.0-success-rates.ipynb")
    saved = model["content"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in saved.cells if c.cell_type == "code")
    assert "papermill" not in saved.metadata
    assert [c.source for c in saved.cells] == [c.source for c in nb.cells]


def test_lab_config_binds_loopback_and_installs_the_hook():
    from traitlets.config import Config

    cfg = Config()
    ns = {"get_config": lambda: cfg}
    exec(compile((ROOT / "jupyter_server_config.py").read_text(), "jupyter_server_config.py", "exec"), ns)
    assert cfg.ServerApp.ip == "127.0.0.1"
    assert cfg.ContentsManager.pre_save_hook is pre_save_hook


def test_make_lab_and_setup_install_what_the_lab_needs():
    mk = (ROOT / "Makefile").read_text()
    assert "lab:" in mk and "--config=jupyter_server_config.py" in mk and "127.0.0.1" in mk
    assert "nbstripout --install" in mk


def test_make_lab_allows_root_only_as_root():
    """Jupyter refuses to run as root without --allow-root (containers run as root); others never get the flag."""
    import os
    import shutil
    import subprocess

    import pytest

    if shutil.which("make") is None:
        pytest.skip("no make")
    # -n prints the recipe without running it; the stamp and hooks are named as up to date
    out = subprocess.run(
        ["make", "-n", "-o", "setup", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert ("--allow-root" in out) == (os.getuid() == 0), out


def test_opening_a_notebook_in_the_lab_leaves_it_unchanged():
    """JupyterLab writes the kernel's display name and Python version on save: the hook keeps the committed ones."""
    nb = nbformat.read(ROOT / "notebooks" / "3.0-success-rates.ipynb", as_version=4)
    saved = copy.deepcopy(nb)
    saved.metadata["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
    saved.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    model = {"type": "notebook", "content": saved}
    pre_save_hook(model, path="3.0-success-rates.ipynb")
    assert model["content"].metadata == nb.metadata


def test_a_lab_save_leaves_both_twins_unchanged():
    """Opening a notebook in the lab and saving it (a kernel of another display name, another Python, any jupytext
    version) rewrites neither file: the .py carries no jupytext version and no kernelspec (each notebook pins the
    jupytext metadata filter), and the pre-save hook keeps the .ipynb's."""
    import jupytext

    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 8, notebooks  # the control: the loop below has the notebooks to check
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        assert (
            nb.metadata["jupytext"]["notebook_metadata_filter"]
            == "-jupytext.text_representation.jupytext_version,-kernelspec"
        )
        opened = copy.deepcopy(nb)
        opened.metadata["kernelspec"]["display_name"] = "Python 3 (ipykernel)"
        opened.metadata["language_info"] = {"name": "python", "version": "3.12.1"}
        model = {"type": "notebook", "content": opened}
        pre_save_hook(model, path=path.name)
        assert model["content"].metadata == nb.metadata, path.name
        text = jupytext.writes(opened, "py:percent")
        assert text == path.with_suffix(".py").read_text(), path.name
        assert "jupytext_version:" not in text and "display_name" not in text
