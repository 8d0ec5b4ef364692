"""JWT issue and verification for the reference server (RFC 7519, RFC 8725)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from ..exceptions import UsageError

ISSUER = "pitchey"
AUDIENCE = "pitchey-ws"
MIN_SECRET_BYTES = 32


def new_secret() -> str:
    """A random 32-byte secret, hex encoded."""
    return secrets.token_hex(32)


def check_secret(secret: str) -> None:
    """Refuse a secret shorter than 32 bytes (PROTOCOL.md, 'Upgrade and authentication')."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise UsageError(f"JWT secret must be at least {MIN_SECRET_BYTES} bytes")


def issue(
    secret: str, *, sub: int, email: str, user_type: str, ttl_s: float = 86400.0, full_claims: bool = True
) -> str:
    """Sign an HS256 token with the contract's claims (only sub and exp without ``full_claims``)."""
    now = int(time.time())
    if not full_claims:
        return jwt.encode({"sub": str(sub), "exp": now + int(ttl_s)}, secret, algorithm="HS256")
    claims = {
        "sub": str(sub),
        "email": email,
        "userType": user_type,
        "iat": now,
        "exp": now + int(ttl_s),
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True)
class Verified:
    """Outcome of verifying a token: claims, or an error code."""

    claims: dict[str, Any] | None
    error: str | None  # None, "invalid_token" or "expired_token"


def verify(
    token: str,
    secret: str,
    *,
    check_exp: bool = True,
    check_aud: bool = True,
    alg_allowlist: bool = True,
    check_signature: bool = True,
) -> Verified:
    """Verify a token; the ``check_*`` switches exist to build defective servers."""
    try:
        if not check_signature:
            claims = jwt.decode(token, options={"verify_signature": False})
            return Verified(claims, None)
        if not alg_allowlist:
            header = jwt.get_unverified_header(token)
            if header.get("alg") == "none":
                claims = jwt.decode(token, options={"verify_signature": False})
                return Verified(claims, None)
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            audience=AUDIENCE if check_aud else None,
            issuer=ISSUER if check_aud else None,
            options={
                "verify_exp": check_exp,
                "verify_aud": check_aud,
                "verify_iss": check_aud,
                "require": ["sub", "exp"],
            },
        )
        return Verified(claims, None)
    except jwt.ExpiredSignatureError:
        return Verified(None, "expired_token")
    except jwt.PyJWTError:
        return Verified(None, "invalid_token")
