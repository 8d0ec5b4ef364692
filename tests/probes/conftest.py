"""Running single probes against live reference servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pitchey_analysis.capture.recorder import Recorder
from pitchey_analysis.probes import CATALOGUE, Credentials, ProbeContext
from pitchey_analysis.runner import DEMO_ADMIN, DEMO_USERS, make_options, run_probe


@pytest.fixture
def run_one(tmp_path: Path):
    """``await run_one(name, srv, before=[...], **ctx_overrides)`` -> the probe record.

    ``before`` names probes run first on the same context (whole-run probes judge their sessions).
    """
    recorders: list[Recorder] = []

    async def run(name: str, srv: Any, *, before: tuple[str, ...] | list[str] = (), **over: Any) -> dict[str, Any]:
        rec = Recorder(tmp_path / "runs", {"test": name})
        recorders.append(rec)
        options = make_options("quick", **over.pop("options", {}))
        ctx = ProbeContext(
            ws_url=srv.ws_url,
            http_url=srv.http_url,
            recorder=rec,
            options=options,
            user=over.pop("user", DEMO_USERS["creator"]),
            users=over.pop("users", dict(DEMO_USERS)),
            admin=over.pop("admin", DEMO_ADMIN),
            jwt_secret=over.pop("jwt_secret", srv.jwt_secret),
            **over,
        )
        if srv.ca_file is not None and ctx.ssl_context is None:
            import ssl

            ctx.ssl_context = ssl.create_default_context(cafile=str(srv.ca_file))
        for other in before:
            await run_probe(CATALOGUE[other], ctx, rec)
        return await run_probe(CATALOGUE[name], ctx, rec)

    yield run
    for rec in recorders:
        rec.close()


def creds(kind: str) -> Credentials:
    """Demo credentials of a user type."""
    return DEMO_USERS[kind]
