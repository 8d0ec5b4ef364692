"""The meeting pack: one folder with everything a review meeting is handed, reproducible from what it holds.

``pitchey-analysis report --meeting RUN [--baseline RUN]`` writes ``<reports>/meeting-<run_id>/``: the readiness
report (HTML, PDF), the comparison with the baseline (by default the previous run of the same target and contract),
the history figure of the target, and ``SHA256SUMS`` of the run dataset's files, so that the meeting can be
re-made from the dataset it names.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..analysis.history import contract_id, target_key
from ..atomic import partial_name
from ..capture.dataset import list_runs, load_run, readable_runs
from ..capture.schema import safe_stem
from ..exceptions import DatasetError
from .export import build_report


def previous_run(current: Any, runs: list[Any]) -> Any | None:
    """The newest run before ``current`` of the same target and contract among ``runs`` (loaded runs), or None."""
    key, contract = target_key(current.manifest), contract_id(current.manifest)
    started = str(current.manifest.get("started_at", current.run_id))
    best = None
    for r in runs:
        if r.path.resolve() == current.path.resolve():
            continue
        if target_key(r.manifest) != key or contract_id(r.manifest) != contract:
            continue
        s = str(r.manifest.get("started_at", r.run_id))
        if s < started and (best is None or s > str(best.manifest.get("started_at", best.run_id))):
            best = r
    return best


def dataset_checksums(run_path: Path) -> str:
    """``sha256sum``-style lines for every file of a run dataset (``sha256sum -c`` checks them from the run folder)."""
    lines = []
    for f in sorted(p for p in run_path.rglob("*") if p.is_file()):
        lines.append(f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(run_path).as_posix()}")
    return "\n".join(lines) + "\n"


def build_meeting_pack(
    run: str,
    *,
    baseline: str | None = None,
    runs_dir: Path | None = None,
    out: Path,
    formats: tuple[str, ...] = ("html", "pdf"),
    on_skip: Callable[[Path, DatasetError], None] | None = None,
) -> list[Path]:
    """Write the meeting folder ``out/meeting-<run_id>/``; returns the paths written (the folder's files).

    The folder is built under a hidden temporary name beside it and renamed once whole: a pack stopped half-way (a
    signal, a full disk, a failing report) never looks like one. A sibling run that cannot be read is passed to
    ``on_skip`` (a warning) and left out of the baseline and the history."""
    from ..analysis.history import history, trend_key, trends
    from . import figures

    current = load_run(run, runs_dir=runs_dir)
    folder = Path(out) / f"meeting-{safe_stem(current.run_id)}"
    building = partial_name(folder)
    building.mkdir(parents=True)
    try:
        names = _fill(building, current, baseline, runs_dir, formats, on_skip, history, trend_key, trends, figures)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(building, folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return [folder / n for n in names]


def _fill(
    folder: Path,
    current: Any,
    baseline: str | None,
    runs_dir: Path | None,
    formats: tuple[str, ...],
    on_skip: Callable[[Path, DatasetError], None] | None,
    history: Any,
    trend_key: Any,
    trends: Any,
    figures: Any,
) -> list[str]:
    """Write the pack's files into ``folder``; returns their names."""
    paths = build_report(str(current.path), out=folder, formats=formats)
    siblings = readable_runs(
        [p for p in list_runs(current.path.parent) if p.resolve() != current.path.resolve()], on_skip
    )
    base = load_run(baseline, runs_dir=runs_dir) if baseline else previous_run(current, siblings)
    notes = [
        f"run: {current.run_id} ({current.path})",
        f"target: {target_key(current.manifest)}",
        f"contract: {contract_id(current.manifest)}",
    ]
    if base is not None:
        paths += build_report(
            str(current.path), compare=str(base.path), out=folder, formats=formats, notebook="compare"
        )
        notes.append(
            f"baseline: {base.run_id}" + ("" if baseline else " (the previous run of the same target and contract)")
        )
    else:
        notes.append("baseline: none (no earlier run of the same target and contract; give --baseline RUN)")
    # the target's history up to this run: what the meeting knew, not what came after
    started = str(current.manifest.get("started_at", current.run_id))
    earlier = [r for r in siblings if str(r.manifest.get("started_at", r.path.name)) <= started] + [current]
    h = history(earlier, target_key(current.manifest))
    h = dict(trends(h)).get(trend_key(current.manifest), h)  # the trend of this target and contract alone
    figures.style()
    fig = figures.history(h)
    png = folder / f"history-{safe_stem(current.run_id)}.png"
    fig.savefig(png, metadata={"Software": None})
    paths.append(png)
    sums = folder / "SHA256SUMS"
    sums.write_text(dataset_checksums(current.path))
    paths.append(sums)
    notes.append("SHA256SUMS: the run dataset's files (check with: cd RUN_DIR && sha256sum -c SHA256SUMS)")
    readme = folder / "README.txt"
    readme.write_text("Meeting pack\n" + "\n".join(notes) + "\n")
    paths.append(readme)
    return [p.name for p in paths]
