"""Leak detection judges what an error answer holds, not its format (pure)."""

from __future__ import annotations

import json

import pytest

from pitchey_analysis.probes.leaks import find_leak

LEAKS = {
    "python": 'Traceback (most recent call last):\n  File "/srv/app/views.py", line 42, in login\nValueError: bad',
    "python in json": json.dumps(
        {"error": "internal", "detail": 'Traceback (most recent call last):\n  File "/a.py", line 3'}
    ),
    "java": "java.lang.NullPointerException\n\tat com.acme.web.Login.handle(Login.java:57)",
    "javascript": "TypeError: x is undefined\n    at Object.dispatch (/srv/app/src/ws.ts:214:13)",
    "node internal": "Error: boom\n    at node:internal/process/task_queues:95:5",
    "go": "panic: runtime error: index out of range\n\ngoroutine 7 [running]:\nmain.handler()",
    ".net": "System.InvalidOperationException: nope\n   at Acme.Web.LoginController.Post() in C:\\src\\Login.cs:line "
    "31",
    "ruby": "app/controllers/session_controller.rb:12:in `create'",
    "php": "Fatal error: Uncaught Exception: x in /var/www/index.php:17",
    "django debug page": "<p>You're seeing this error because you have <code>DEBUG = True</code> in your settings</p>",
    "werkzeug": "<title>Werkzeug Debugger</title>",
}
CLEAN = {
    "aiohttp 404": "404: Not Found",
    "json error": json.dumps({"success": False, "error": "body must be JSON", "code": "invalid_format"}),
    "ticker": json.dumps({"ok": False, "why": "bad json"}),
    "html": "<html><body><h1>404 Not Found</h1><hr>nginx</body></html>",
    "plain error": "Error: not found",
    "error code": json.dumps(
        {"type": "error", "code": "rate_limited", "message": "slow down", "timestamp": 1764464400000}
    ),
}


@pytest.mark.parametrize("name", sorted(LEAKS))
def test_traces_of_common_runtimes_are_leaks(name):
    assert find_leak(LEAKS[name]) is not None, name


@pytest.mark.parametrize("name", sorted(CLEAN))
def test_error_bodies_without_a_trace_are_not_leaks(name):
    assert find_leak(CLEAN[name]) is None, (name, find_leak(CLEAN[name]))
