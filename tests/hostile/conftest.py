"""Fixtures of the hostile-input tests: a copy of a committed sample run to corrupt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .common import SAMPLE


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A fresh copy of the sample run in ``tmp_path/runs/<run_id>``."""
    dest = tmp_path / "runs" / SAMPLE.name
    shutil.copytree(SAMPLE, dest)
    return dest
