"""The demo users of the reference server (README, "The reference server"): the one source.

The server's store seeds them; embedded runs, ``debug``, ``load`` and the
benchmarks log in as them. The admin logs in through the creator endpoint.
"""

from __future__ import annotations

from typing import NamedTuple


class DemoUser(NamedTuple):
    """A seeded user (a tuple: ``id, email, username, user_type``)."""

    id: int
    email: str
    username: str
    user_type: str

    @property
    def login_type(self) -> str:
        """The login endpoint's user type (``/api/auth/<login_type>/login``)."""
        return "creator" if self.user_type == "admin" else self.user_type


#: The password every demo user shares (documented in the README, "The reference server"; masked in every run like any
#: password).
DEMO_PASSWORD = "Demo123"
#: How the CLI names the password (it never prints it).
DEMO_PASSWORD_SOURCE = 'the demo password in the README ("The reference server", Demo users)'
DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(1, "alex.creator@demo.com", "alexcreator", "creator"),
    DemoUser(2, "sarah.investor@demo.com", "sarahinvestor", "investor"),
    DemoUser(3, "stellar.production@demo.com", "stellarproduction", "production"),
    DemoUser(4, "admin@demo.com", "admin", "admin"),
)
#: The demo user of each type.
BY_TYPE: dict[str, DemoUser] = {u.user_type: u for u in DEMO_USERS}
