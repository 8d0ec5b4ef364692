"""Hostile arguments: every value a command cannot use is one usage error line and exit 2, before anything starts.

The table covers the classes of bad value for each typed option (not a number, not finite, out of range, not an
integer), malformed URLs, knobs and formats, files that are not what the option needs (a folder, a device, binary,
nested without end, the wrong shape), and output paths that cannot be written. Nothing is written by any of them.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from .common import files_under, one_line_error, run_cli

NUMBERS = [  # (command and option, value, text of the error)
    (["run", "--timeout-scale"], "nan", "finite"),
    (["run", "--timeout-scale"], "inf", "finite"),
    (["run", "--timeout-scale"], "0", ">= 0.05"),
    (["run", "--timeout-scale"], "-1", ">= 0.05"),
    (["run", "--timeout-scale"], "1e-300", ">= 0.05"),  # every wait shorter than a loopback answer: the target blamed
    (["run", "--parallel"], "0", ">= 1"),
    (["run", "--parallel"], "1e3", "an integer expected"),
    (["run", "--repeat"], "0", ">= 1"),
    (["run", "--repeat"], "1000000000", "<= 10,000,000"),
    (["run", "--timeout-scale"], "1e9", "<= 1,000"),
    (["run", "--deadline"], "nan", "finite"),
    (["run", "--deadline"], "-inf", "finite"),
    (["run", "--deadline"], "-5", "> 0"),
    (["run", "--samples"], "0", ">= 1"),
    (["run", "--samples"], "1.5", "an integer expected"),
    (["run", "--samples"], "1e99", "an integer expected"),
    (["run", "--connect-samples"], "-3", ">= 1"),
    (["run", "--lockout-attempts"], "ten", "an integer expected"),
    (["run", "--concurrency"], "0,5", "must be positive"),
    (["run", "--concurrency"], "99999999999", "at most 10,000,000"),
    (["load", "--rate"], "inf", "finite"),
    (["load", "--rate"], "nan", "finite"),
    (["load", "--rate"], "-1", ">= 0"),
    (["load", "--settle"], "inf", "finite"),
    (["load", "--settle"], "-1", ">= 0"),
    (["load", "--duration"], "inf", "finite"),
    (["load", "--duration"], "0", "> 0"),
    (["load", "--duration"], "1e12", "<= 604,800"),
    (["load", "--window"], "-5", ">= 0"),
    (["load", "--window"], "nan", "finite"),
    (["load", "--connections"], "1000000000", "<= 10,000,000"),
    (["load", "--connections"], "0", ">= 1"),
    (["load", "--workers"], "-1", ">= 0"),
    (["load", "--levels"], "10,-1", "must be positive"),
    (["serve", "--port"], "99999", "<= 65,535"),
    (["serve", "--port"], "-1", ">= 0"),
    (["serve", "--port"], "http", "a port number expected"),
    (["serve", "--workers"], "-3", ">= 1"),
    (["serve", "--workers"], "0", ">= 1"),
    (["debug", "--duration"], "inf", "finite"),
    (["debug", "--duration"], "-1", ">= 0"),
    (["report", "--format"], "exe", "--format takes html, pdf"),
    (["report", "--format"], ",", "--format takes html, pdf"),
    (["compare", "a", "b", "--format"], "exe", "--format takes html, pdf"),
    (["serve", "--knob"], "foo", "--knob takes NAME=VALUE"),
    (["serve", "--knob"], "=3", "--knob takes NAME=VALUE"),
    (["serve", "--knob"], "a b=3", "--knob takes NAME=VALUE"),
    (["serve", "--knob"], "ping_interval=NaN", "finite"),
    (["serve", "--knob"], "ping_interval=Infinity", "finite"),
]


@pytest.mark.parametrize("option, value, message", NUMBERS, ids=[f"{' '.join(o)} {v}" for o, v, _ in NUMBERS])
def test_a_bad_value_is_a_usage_error(capsys, tmp_path, monkeypatch, option, value, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(capsys, *option[:-1], f"{option[-1]}={value}")  # the = form: "-inf" is no option
    line = one_line_error(err)
    assert code == 2, err
    assert f"argument {option[-1]}" in line and message in line, line
    assert files_under(tmp_path) == []


COMMANDS = [  # (arguments, text of the error)
    (["run", "--target", "ws://[::1"], "malformed target URL"),
    (["run", "--target", "ws://h:99999/ws"], "malformed target URL"),
    (["run", "--target", "file:///etc/passwd"], "malformed target URL"),
    (["run", "--target", "ws://"], "malformed target URL"),
    (["run", "--dry-run", "--target", "ws://h:1/ws\n\x1b[2J"], "a space or a control character"),
    (["run", "--target", "ws://h:1/ws", "--http-url", "http://h:1/ x"], "malformed HTTP URL"),
    (["debug", "ws://[::1"], "malformed target URL"),
    (["load", "--target", "ws://[::1"], "malformed target URL"),
    (["serve", "--knob", "ping_interval=-1"], "--knob ping_interval: must be >= 0"),
    (["serve", "--knob", 'ping_interval="soon"'], '--knob ping_interval: "soon" is not'),
    (["serve", "--knob", "no_such_knob=1"], "unknown knob 'no_such_knob'"),
    (["serve", "--knob", "max_connections=1.5"], "--knob max_connections: 1.5 is not"),
    (["report", "/etc"], "/etc/manifest.json: missing: not a run directory"),
    (["report", "/proc"], "/proc/manifest.json: missing"),
    (["report", "--out", "/etc/passwd"], "--out /etc/passwd is not a folder"),
    (["compare", "a", "b", "--out", "/etc/passwd"], "--out /etc/passwd is not a folder"),
    (["report", "--out", "/proc/version/reports"], "--out /proc/version/reports"),
    (["report", "--out", ""], "--out needs a folder name"),
    (["compare", "a", "b", "--out", " "], "--out needs a folder name"),
    (["history", "--runs-dir", "{SAMPLES}", "--figure", "/proc/version"], "--figure /proc/version: cannot write"),
    (["history", "--runs-dir", "{SAMPLES}", "--figure", "/tmp"], "--figure /tmp is not a regular file"),
    (["history", "--runs-dir", "{SAMPLES}", "--figure", "/dev/zero"], "--figure /dev/zero is not a regular file"),
    (["report", "no-such-run", "--runs-dir", "/nonexistent"], "no runs in /nonexistent"),
    # names of the embedded server's switches, typed where every command takes them
    (["run", "--profile", "../../etc"], "argument --profile: unknown profile '../../etc'"),
    (["debug", "--profile", "nope"], "argument --profile: unknown profile"),
    (["serve", "--profile", "nope"], "argument --profile: unknown profile"),
    (["run", "--disable", "nope"], "argument --disable: unknown feature 'nope'"),
    (["serve", "--disable", "nope"], "argument --disable: unknown feature"),
    # headers and paths that would add a header of their own or send a login to another host
    (["run", "--dry-run", "--header", "X: a\r\nInjected: 1"], "the value holds a line break"),
    (["run", "--dry-run", "--header", ": empty"], "Name an HTTP field name"),
    (["run", "--dry-run", "--header", "X Y: z"], "Name an HTTP field name"),
    (
        ["run", "--dry-run", "--admin-login-path", "@evil.example/steal"],
        "argument --admin-login-path: a path on the target",
    ),
    (
        ["run", "--dry-run", "--admin-login-path", "http://evil.example/"],
        "argument --admin-login-path: a path on the target",
    ),
    (
        ["run", "--dry-run", "--admin-login-path", "//evil.example/"],
        "argument --admin-login-path: a path on the target",
    ),
    (["run", "--dry-run", "--admin-login-path", "/a\r\nX: y"], "argument --admin-login-path: a path on the target"),
    (["run", "--dry-run", "--user", "creator:a\n@b"], "argument --user: --user takes TYPE:EMAIL"),
    (["run", "--dry-run", "--user", "cre/../ator:a@b"], "argument --user: --user takes TYPE:EMAIL"),
    (["run", "--dry-run", "--token", "abc\r\nX-Evil: 1"], "argument --token: the value holds a line break"),
    (["serve", "--host", "no such host", "--port", "0"], "cannot serve on no such host:0"),
    # outputs of run, load and debug, checked before anything starts
    (["run", "--out", "/dev/null"], "--out /dev/null is not a folder"),
    (["run", "--out", "/proc/self"], "--out /proc/self: cannot write into /proc/self"),
    (["run", "--out", ""], "--out needs a folder name"),
    (["run", "--json", "/tmp"], "--json /tmp is not a regular file (a folder)"),
    (["run", "--junit", "/proc/version/x.xml"], "--junit /proc/version/x.xml: /proc/version is not a folder"),
    (["load", "--out", "/dev/null"], "--out /dev/null is not a folder"),
    (["debug", "--save", "/tmp"], "--save /tmp is not a regular file (a folder)"),
]


@pytest.mark.parametrize(
    "args, message", COMMANDS, ids=[" ".join(a).encode("unicode_escape").decode() for a, _ in COMMANDS]
)
def test_a_command_that_cannot_work_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, args, message):
    from .common import SAMPLE

    monkeypatch.chdir(tmp_path)
    for var in ("PITCHEY_EMAIL", "PITCHEY_PASSWORD"):
        monkeypatch.delenv(var, raising=False)
    code, _, err = run_cli(capsys, *[a.replace("{SAMPLES}", str(SAMPLE.parent)) for a in args])
    line = one_line_error(err)
    assert code == 2, err
    assert message in line, line
    assert files_under(tmp_path) == []


def _credentials(tmp_path: Path, kind: str) -> str:
    p = tmp_path / "creds.yaml"
    if kind == "binary":
        p.write_bytes(os.urandom(512) + b"\xff\xfe")
    elif kind == "nested":
        p.write_text("[" * 50_000 + "]" * 50_000)
    elif kind == "users 5":
        p.write_text("users: 5\n")
    elif kind == "users strings":
        p.write_text("users: [a, b]\n")
    elif kind == "a list":
        p.write_text("- a\n- b\n")
    elif kind == "not YAML":
        p.write_text("users: [\n  {:\n")
    elif kind == "folder":
        p.mkdir()
    elif kind == "device":
        return "/dev/zero"
    elif kind == "login path elsewhere":  # the host would be evil.example: the password sent there
        p.write_text('admin: {email: a@b.c, password: x, login_path: "@evil.example/steal"}\n')
    elif kind == "missing":
        return str(tmp_path / "nope.yaml")
    elif kind == "aliases":  # a billion laughs: refused for its size or its nesting, never expanded
        p.write_text(
            'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nusers: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        )
    return str(p)


CREDENTIALS = [
    ("login path elsewhere", "admin.login_path: a path on the target"),
    ("binary", "is not UTF-8 text"),
    ("nested", "nested too deeply"),
    ("users 5", "users must be a list"),
    ("users strings", "users[0] needs type, email and password"),
    ("a list", "expected a mapping"),
    ("not YAML", "is not YAML/JSON"),
    ("folder", "is not a regular file"),
    ("device", "is not a regular file"),
    ("missing", "cannot read --credentials"),
    ("aliases", "users[0] needs type, email and password"),
]


@pytest.mark.parametrize("kind, message", CREDENTIALS, ids=[k for k, _ in CREDENTIALS])
def test_a_credentials_file_that_is_not_one_is_one_line(capsys, tmp_path, kind, message):
    code, _, err = run_cli(capsys, "run", "--dry-run", "--credentials", _credentials(tmp_path, kind))
    assert code == 2, err
    assert message in one_line_error(err)


def test_more_connections_than_a_worker_may_open_files_is_refused(capsys, tmp_path):
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft > 5_000_000:
        pytest.skip(f"the open files limit ({soft}) is above what --connections takes")
    code, _, err = run_cli(
        capsys, "load", "--connections", str(soft + 1), "--workers", "1", "--out", str(tmp_path / "runs")
    )
    assert code == 2 and "a worker may open" in one_line_error(err)
    assert files_under(tmp_path) == []


@pytest.mark.parametrize(
    "exc, code, text",
    [
        (RuntimeError("boom with hunter2 \x1b[2J"), 1, "RuntimeError: boom with"),
        (PermissionError(13, "Permission denied", "/root/x"), 2, "/root/x: Permission denied"),
        (ConnectionResetError(104, "Connection reset by peer"), 1, "ConnectionResetError"),
    ],
    ids=["a bug", "a file", "the network"],
)
def test_a_failure_no_rule_foresaw_is_still_one_line(capsys, monkeypatch, exc, code, text):
    """The last resort: whatever a command raises, the user reads one line (escaped, secrets redacted), never a
    traceback; a file that cannot be used is a usage error naming it."""
    from pitchey_analysis import cli

    def fails(a):
        raise exc

    monkeypatch.setenv("PITCHEY_PASSWORD", "hunter2")
    monkeypatch.setitem(cli.COMMANDS, "history", fails)
    got, _, err = run_cli(capsys, "history")
    line = one_line_error(err)
    assert got == code and text in line and len(err.strip().splitlines()) == 1, err
    assert "hunter2" not in err and "\x1b" not in err


def test_a_token_from_the_environment_with_its_file_s_newline_is_a_usage_error(capsys, monkeypatch):
    """``PITCHEY_TOKEN=$(cat token)`` keeps no newline, ``PITCHEY_TOKEN="$(cat token)\n"`` or a CRLF file does: the
    token would be refused by every target (the target blamed) or add a header of its own."""
    monkeypatch.setenv("PITCHEY_TOKEN", "tok\r\n")
    code, _, err = run_cli(capsys, "run", "--dry-run")
    assert code == 2 and "argument --token: the value holds a line break" in one_line_error(err)
