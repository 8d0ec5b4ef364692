"""The user store: one SQLite database read by both login and ``/ws``.

Passwords are stored as salted PBKDF2 hashes. The demo users are seeded at
start (PROTOCOL.md, "Demo users"). Under defect 7 the WebSocket side reads a
second table that lacks the investor and production users, as the 2025-11
deployment did.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import sqlite3
import threading
from dataclasses import dataclass

from ..demo import DEMO_PASSWORD, DEMO_USERS

_ITERATIONS = 20_000
#: the salt an unknown email's password is hashed with (equal_time): any fixed value does
_UNKNOWN_SALT = os.urandom(16)


@dataclass(frozen=True)
class User:
    """A user row, without its password hash."""

    id: int
    email: str
    username: str
    user_type: str

    def public(self) -> dict[str, object]:
        """The user as the login answer shows it."""
        return {"id": self.id, "email": self.email, "username": self.username, "userType": self.user_type}


def _hash(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)


@functools.cache
def _demo_salted_hash(uid: int, iterations: int) -> tuple[bytes, bytes]:
    """A demo user's salt and password hash, made once per process: every server started in it
    (the tests start hundreds) seeds the same public demo password without hashing it again."""
    salt = os.urandom(16)
    return salt, _hash(DEMO_PASSWORD, salt, iterations)


class UserStore:
    """SQLite-backed users; thread-safe for the server's short queries."""

    def __init__(self, path: str = ":memory:", iterations: int = _ITERATIONS) -> None:
        self.iterations = iterations  # of every hash in this store (seeded and verified with the same count)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT UNIQUE,"
                " username TEXT, user_type TEXT, salt BLOB, pw_hash BLOB)"
            )
            # The separate, out-of-step table of defect 7: no investor/production rows.
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS ws_users (id INTEGER PRIMARY KEY, email TEXT,"
                " username TEXT, user_type TEXT)"
            )
        self.seed()

    def seed(self) -> None:
        """Insert the demo users (idempotent)."""
        with self._lock, self._db:
            for uid, email, username, utype in DEMO_USERS:
                self._db.execute(
                    "INSERT OR IGNORE INTO users VALUES (?,?,?,?,?,?)",
                    (uid, email, username, utype, *_demo_salted_hash(uid, self.iterations)),
                )
                if utype not in ("investor", "production"):
                    self._db.execute("INSERT OR IGNORE INTO ws_users VALUES (?,?,?,?)", (uid, email, username, utype))

    def verify(self, email: str, password: str, *, equal_time: bool = False) -> User | None:
        """The user whose email and password match, else None.

        With ``equal_time`` an unknown email costs a hash too, so the answer's time does not tell whether it exists.
        """
        with self._lock:
            row = self._db.execute(
                "SELECT id, email, username, user_type, salt, pw_hash FROM users WHERE email = ?",
                (email,),
            ).fetchone()
        if row is None:
            if equal_time:
                hmac.compare_digest(_hash(password, _UNKNOWN_SALT, self.iterations), _UNKNOWN_SALT)
            return None
        if not hmac.compare_digest(_hash(password, row[4], self.iterations), row[5]):
            return None
        return User(row[0], row[1], row[2], row[3])

    def stored_hash(self, user_id: int) -> str | None:
        """A user's stored password hash as Django writes PBKDF2 (``pbkdf2_sha256$<iterations>$<salt>$<hash>``):
        what a login answer that serialises the whole user row leaks (knob ``password_hash_for``)."""
        with self._lock:
            row = self._db.execute("SELECT salt, pw_hash FROM users WHERE id = ?", (user_id,)).fetchone()
        if row is None:
            return None
        salt, digest = (base64.b64encode(v).decode() for v in row)
        return f"pbkdf2_sha256${self.iterations}${salt.rstrip('=')}${digest}"

    def get(self, user_id: int, *, ws_table: bool = False) -> User | None:
        """Look a user up by id, in the login table or (defect 7) the ws table."""
        table = "ws_users" if ws_table else "users"
        with self._lock:
            row = self._db.execute(
                f"SELECT id, email, username, user_type FROM {table} WHERE id = ?", (user_id,)
            ).fetchone()
        return User(*row) if row else None

    def close(self) -> None:
        """Close the database."""
        self._db.close()
