"""Hostile targets and secrets: a password echoed back in any encoding is never written; a login is never sent on to
another origin by a redirect; a password in a URL's userinfo is never printed or stored.
"""

from __future__ import annotations

import base64
import html
import json
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from pitchey_analysis.capture.redact import MASK, redact_text, redact_url

from . import servers as S
from .common import run_cli

#: a password with every kind of character an encoding changes: non-ASCII (Latin-1 and beyond the BMP), a quote, a
#: slash, a space, HTML's specials
PASSWORD = 'PWÜn"/ ä😀x<&>'


def encodings(secret: str) -> dict[str, str]:
    """The forms a target may echo ``secret`` in."""
    return {
        "literal": secret,
        "JSON \\u escapes": json.dumps(secret)[1:-1],
        "JSON \\u escapes, upper-case hex": json.dumps(secret)[1:-1]
        .replace("\\u00dc", "\\u00DC")
        .replace("\\ud83d", "\\uD83D"),
        "JSON, UTF-8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "JSON with \\/": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "JSON in a JSON string": json.dumps(json.dumps(secret)[1:-1])[1:-1],
        "percent-encoded": urllib.parse.quote(secret, safe=""),
        "percent-encoded, lower-case": urllib.parse.quote(secret, safe="").replace("%C3%9C", "%c3%9c"),
        "form-encoded": urllib.parse.quote_plus(secret),
        "HTML-escaped": html.escape(secret),
        "HTML numeric entities": "".join(f"&#{ord(c)};" if not c.isascii() else c for c in secret),
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64, URL-safe": base64.urlsafe_b64encode(secret.encode()).decode(),
    }


@pytest.mark.parametrize("form, echoed", encodings(PASSWORD).items(), ids=list(encodings(PASSWORD)))
def test_redaction_finds_the_secret_in_every_form_it_is_echoed_in(form, echoed):
    text = f'{{"echo": "{echoed}", "ok": 1}}'
    out = redact_text(text, (PASSWORD,))
    assert MASK in out and out.replace(MASK, "") == '{"echo": "", "ok": 1}', out


@pytest.mark.parametrize(
    "before", ["", "a", "ab", "alex@example.com:"], ids=["aligned", "shifted 1", "shifted 2", "Basic"]
)
def test_a_secret_inside_base64_text_is_redacted_at_any_alignment(before):
    """Base64 of text holding the secret (a Basic credential echoed, a body echoed encoded): the secret's bytes take
    one of three alignments; what only they decide is masked, what is left cannot give it back."""
    from pitchey_analysis.capture.redact import base64_cores

    for enc in (base64.b64encode, base64.urlsafe_b64encode):
        echoed = enc((before + PASSWORD).encode()).decode()
        out = redact_text(f'{{"authorization": "Basic {echoed}"}}', (PASSWORD,))
        assert MASK in out and not any(core in out for core in base64_cores(PASSWORD)), out
        assert len(out.replace(MASK, "")) < len('{"authorization": "Basic "}') + len(enc(before.encode())) + 4, out


def _reply(body: dict) -> bytes:
    pw = body.get("password", "") if isinstance(body, dict) else ""
    return json.dumps(
        {
            "type": "login_echo",
            "success": True,
            "token": "opaque-" + "t" * 24,
            "user": {"id": 1},
            **{f"echo {k}": v for k, v in encodings(pw).items() if pw},
        }
    ).encode()


def _texts(run_dir: Path) -> dict[str, str]:
    """Every file of a run as text; Parquet tables cell by cell (their pages are compressed)."""
    out = {}
    for f in run_dir.iterdir():
        if f.suffix == ".parquet":
            out[f.name] = "\n".join(map(str, pd.read_parquet(f).astype(str).to_numpy().ravel()))
        else:
            out[f.name] = f.read_text(encoding="utf-8", errors="replace")
    return out


@pytest.mark.slow
def test_a_password_echoed_back_encoded_is_written_nowhere(tmp_path):
    with S.hostile(S.echo_login(_reply)) as srv:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pitchey_analysis",
                "run",
                "--target",
                srv.ws_url,
                "--email",
                "a@b.c",
                "--no-preflight",
                "--suite",
                "quick",
                "--only",
                "connection",
                "--out",
                str(tmp_path),
                "--no-progress",
                "--fail-on",
                "never",
                "--json",
                str(tmp_path / "summary.json"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PITCHEY_PASSWORD": PASSWORD},
        )
        logins = [b for line, _, b in srv.requests if "login" in line]
    assert r.returncode == 0, r.stderr[-2000:]
    assert logins and all(json.loads(b)["password"] == PASSWORD for b in logins)  # it was sent, and echoed
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    texts = {
        **_texts(run_dir),
        "stdout": r.stdout,
        "stderr": r.stderr,
        "summary.json": (tmp_path / "summary.json").read_text(),
    }
    assert any("login_echo" in t for t in texts.values())  # the echoing frame was recorded, redacted
    leaks = [(name, form) for name, t in texts.items() for form, v in encodings(PASSWORD).items() if v in t]
    assert leaks == []


@pytest.mark.parametrize("status", ["307 Temporary Redirect", "308 Permanent Redirect", "302 Found"])
def test_a_login_is_never_sent_on_to_another_origin(tmp_path, status):
    with (
        S.hostile(S.echo_login(_reply)) as elsewhere,
        S.hostile(S.redirect_to(lambda srv: elsewhere.http_url + "/steal", status)) as target,
    ):
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pitchey_analysis",
                "run",
                "--target",
                target.ws_url,
                "--email",
                "a@b.c",
                "--no-preflight",
                "--suite",
                "quick",
                "--only",
                "connection",
                "--only",
                "auth",
                "--out",
                str(tmp_path),
                "--no-progress",
                "--fail-on",
                "never",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PITCHEY_PASSWORD": PASSWORD},
        )
        logins_sent = [line for line, _, _ in target.requests if "login" in line]
        stolen = list(elsewhere.requests)
    assert r.returncode == 0, r.stderr[-2000:]
    assert logins_sent  # the suite did log in at the target
    assert stolen == []  # and nothing, a login or any other request, reached the other origin


def test_preflight_says_a_login_redirect_is_not_followed(capsys):
    with (
        S.hostile(S.echo_login(_reply)) as elsewhere,
        S.hostile(S.redirect_to(lambda srv: elsewhere.http_url + "/steal")) as target,
    ):
        code, _, err = run_cli(
            capsys,
            "run",
            "--target",
            target.ws_url,
            "--http-url",
            target.http_url,
            "--email",
            "a@b.c",
            "--password",
            PASSWORD,
            "--suite",
            "quick",
            "--only",
            "connection.login",
        )
        stolen = list(elsewhere.requests)
    assert stolen == []
    assert code == 2 and "not followed" in err.strip().splitlines()[-1], err


@pytest.mark.parametrize(
    "url",
    [
        "ws://bob:hunter2@127.0.0.1:9/ws",
        "wss://bob:hunter2@example.com/ws?token=abc",
        "ws://:hunter2@[::1]:9/ws",
        "ws://hunter2@127.0.0.1:9/ws",
    ],
)
def test_userinfo_is_never_printed_or_stored(capsys, url):
    code, out, err = run_cli(capsys, "run", "--dry-run", "--target", url)
    assert code == 0 and "hunter2" not in out + err and "bob" not in out + err and "abc" not in out
    assert "hunter2" not in redact_url(url) and "bob" not in redact_url(url)
    assert "hunter2" not in redact_text(f"connecting to {url} failed")
    from pitchey_analysis.capture.manifest import target_record

    assert "hunter2" not in json.dumps(target_record(url, url.replace("ws", "http", 1), embedded=False))


def test_a_url_that_does_not_parse_is_redacted_not_raised_on():
    assert "hunter2" not in redact_url("ws://bob:hunter2@[::1")
