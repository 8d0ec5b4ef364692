"""The meeting pack: one folder with everything a review meeting is handed, reproducible from what it holds.

``pitchey-analysis report --meeting RUN [--baseline RUN]`` writes ``<reports>/meeting-<run_id>/``: the readiness
report (HTML, PDF), the comparison with the baseline (by default the previous run of the same target and contract),
the history figure of the target, and ``SHA256SUMS`` of the run dataset's files, so that the meeting can be
re-made from the dataset it names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..analysis.history import contract_id, target_key
from ..capture.dataset import list_runs, load_run
from .export import build_report


def previous_run(current: Any, runs: list[Path]) -> Any | None:
    """The newest run before ``current`` of the same target and contract among ``runs``, or None."""
    key, contract = target_key(current.manifest), contract_id(current.manifest)
    started = str(current.manifest.get("started_at", current.run_id))
    best = None
    for p in runs:
        if p.resolve() == current.path.resolve():
            continue
        r = load_run(p)
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


def build_meeting_pack(run: str, *, baseline: str | None = None, runs_dir: Path | None = None, out: Path,
                       formats: tuple[str, ...] = ("html", "pdf")) -> list[Path]:
    """Write the meeting folder ``out/meeting-<run_id>/``; returns the paths written (the folder's files)."""
    from ..analysis.history import history, trend_key, trends
    from . import figures

    current = load_run(run, runs_dir=runs_dir)
    folder = Path(out) / f"meeting-{current.run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = build_report(str(current.path), out=folder, formats=formats)
    siblings = list_runs(current.path.parent)
    base = load_run(baseline, runs_dir=runs_dir) if baseline else previous_run(current, siblings)
    notes = [f"run: {current.run_id} ({current.path})", f"target: {target_key(current.manifest)}",
             f"contract: {contract_id(current.manifest)}"]
    if base is not None:
        paths += build_report(str(current.path), compare=str(base.path), out=folder, formats=formats, notebook="compare")
        notes.append(f"baseline: {base.run_id}" + ("" if baseline else " (the previous run of the same target and contract)"))
    else:
        notes.append("baseline: none (no earlier run of the same target and contract; give --baseline RUN)")
    # the target's history up to this run: what the meeting knew, not what came after
    started = str(current.manifest.get("started_at", current.run_id))
    earlier = [p for p in siblings if str(load_run(p).manifest.get("started_at", p.name)) <= started]
    if current.path.resolve() not in {p.resolve() for p in earlier}:
        earlier.append(current.path)
    h = history([load_run(p) for p in earlier], target_key(current.manifest))
    h = dict(trends(h)).get(trend_key(current.manifest), h)  # the trend of this target and contract alone
    figures.style()
    fig = figures.history(h)
    png = folder / f"history-{current.run_id}.png"
    fig.savefig(png, metadata={"Software": None})
    paths.append(png)
    sums = folder / "SHA256SUMS"
    sums.write_text(dataset_checksums(current.path))
    paths.append(sums)
    notes.append("SHA256SUMS: the run dataset's files (check with: cd RUN_DIR && sha256sum -c SHA256SUMS)")
    readme = folder / "README.txt"
    readme.write_text("Meeting pack\n" + "\n".join(notes) + "\n")
    paths.append(readme)
    return paths
