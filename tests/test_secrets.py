"""No secret reaches a data file or a log line: every file a run writes, and the server's log, are searched."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from urllib.parse import quote

from pitchey_analysis.runner import SuiteConfig, arun_suite, make_options
from tests.conftest import KNOWN_SECRET

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")


def forms(secret: str) -> list[str]:
    b64 = base64.b64encode(secret.encode()).decode()
    return [
        secret,
        b64.rstrip("="),
        base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        quote(secret, safe=""),
    ]


def test_no_secret_in_any_file_or_log(tmp_path):
    log_file = tmp_path / "server.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    logger = logging.getLogger("pitchey_analysis")
    levels = {name: logging.getLogger(name).level for name in ("pitchey_analysis", "pitchey_analysis.server")}
    for name in levels:  # another test's CLI call may have raised the server logger's level
        logging.getLogger(name).setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        cfg = SuiteConfig(suite="quick", options=make_options("quick"), progress=False)
        path = asyncio.run(
            arun_suite(
                suite="quick", out=tmp_path / "runs", config=cfg, tls=True, server_options={"jwt_secret": KNOWN_SECRET}
            )
        )
    finally:
        logger.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        handler.close()
    files = [p for p in path.rglob("*") if p.is_file()] + [log_file]
    assert len(files) >= 6 and log_file.stat().st_size > 0
    assert "token=[REDACTED]" in log_file.read_text()  # the upgrades with ?token= were logged, redacted
    for f in files:
        blob = f.read_bytes().decode("utf-8", "replace")
        for secret in forms("Demo123") + forms(KNOWN_SECRET):
            assert secret not in blob, (f.name, secret)
        assert not JWT.search(blob), f.name
        assert "Bearer ey" not in blob


def test_redaction_helpers():
    from pitchey_analysis.capture.redact import redact, redact_text, redact_url

    assert redact_url("wss://h:1/ws?token=abc.def&x=1") == "wss://h:1/ws?token=[REDACTED]&x=1"
    assert redact({"password": "p", "nested": {"Authorization": "Bearer x"}, "ok": 1}) == {
        "password": "[REDACTED]",
        "nested": {"Authorization": "[REDACTED]"},
        "ok": 1,
    }
    assert "eyJ" not in redact_text("got eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig in text")
    assert redact_text("Authorization: Bearer abc.def") == "Authorization: Bearer [REDACTED]"
