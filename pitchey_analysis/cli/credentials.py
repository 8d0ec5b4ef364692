"""The users and the admin of a ``run``: from --email, --user, --credentials and the environment."""

from __future__ import annotations

import argparse
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import argtypes
from ..exceptions import UsageError
from ..textsafe import printable

if TYPE_CHECKING:  # pragma: no cover - the probes are imported when a run is configured, not for --help
    from ..probes.base import Credentials

#: the largest credentials file read (a few users and an admin take a few hundred bytes)
CREDENTIALS_MAX_BYTES = 1 << 20


def user(value: str) -> tuple[str, str]:
    """``--user TYPE:EMAIL`` (an argparse type)."""
    kind, sep, email = value.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", kind.strip()) or "@" not in email or argtypes.has_control(email):
        raise argparse.ArgumentTypeError(
            f"--user takes TYPE:EMAIL, TYPE a user type of the contract's login (got {value!r})"
        )
    return kind.strip(), email.strip()


def credentials(a: argparse.Namespace, user_type: str) -> tuple[list[Credentials], Credentials | None]:
    """Users (the main one first) and the admin from --email, --user, --credentials and the environment;
    ``user_type`` is the login type of --email and --admin-email."""
    from ..probes.base import Credentials

    users = []
    if a.email:
        users.append(Credentials(a.email, a.password, user_type))
    elif getattr(a, "token", None):
        users.append(Credentials("", "", user_type, token=a.token))
    for kind, email in a.user:
        pw = os.environ.get(f"PITCHEY_PASSWORD_{kind.upper()}") or os.environ.get("PITCHEY_PASSWORD")
        if not pw:
            raise UsageError(
                f"no password for --user {kind}:{email}: set PITCHEY_PASSWORD_{kind.upper()} or PITCHEY_PASSWORD"
            )
        users.append(Credentials(email, pw, kind))
    admin = Credentials(a.admin_email, a.admin_password, user_type, a.admin_login_path) if a.admin_email else None
    if a.credentials:
        doc = credentials_file(a.credentials)
        where = f"--credentials {printable(a.credentials)}"
        for i, u in enumerate(doc.get("users") or []):
            if not isinstance(u, dict) or not all(isinstance(u.get(k), str) for k in ("type", "email", "password")):
                raise UsageError(f"{where}: users[{i}] needs type, email and password")
            users.append(Credentials(u["email"], u["password"], u["type"], _login_path(u, f"{where}: users[{i}]")))
        ad = doc.get("admin")
        if ad is not None:
            if not isinstance(ad, dict) or not all(isinstance(ad.get(k), str) for k in ("email", "password")):
                raise UsageError(f"{where}: admin needs email and password")
            admin = Credentials(
                ad["email"],
                ad["password"],
                str(ad.get("type", user_type)),
                _login_path(ad, f"{where}: admin") or a.admin_login_path,
            )
    return users, admin


def _login_path(entry: dict[str, Any], where: str) -> str | None:
    """A credential's ``login_path``, a path on the target (:func:`~.argtypes.http_path`: never another host)."""
    path = entry.get("login_path")
    if path is None:
        return None
    try:
        return argtypes.http_path(path) if isinstance(path, str) else argtypes.http_path(repr(path))
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{where}.login_path: {exc}") from None


def credentials_file(name: str) -> dict[str, Any]:
    """The --credentials file as a mapping with ``users`` (a list) and ``admin``; any other content is one line."""
    import yaml

    where = f"--credentials {printable(name)}"
    try:
        st = Path(name).stat()
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"{where} is not a regular file")
        if st.st_size > CREDENTIALS_MAX_BYTES:
            raise UsageError(
                f"{where}: {st.st_size:,} bytes, more than a credentials file ({CREDENTIALS_MAX_BYTES:,} at most)"
            )
        text = Path(name).read_bytes().decode("utf-8")
        doc = yaml.safe_load(text)
    except OSError as exc:
        raise UsageError(f"cannot read {where}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{where} is not YAML/JSON: {printable(str(exc).splitlines()[0])}") from None
    except RecursionError:
        raise UsageError(f"{where} is nested too deeply to be a credentials file") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{where}: expected a mapping with users: and admin:")
    if not isinstance(doc.get("users") or [], list):
        raise UsageError(f"{where}: users must be a list of {{type, email, password}}")
    return doc
