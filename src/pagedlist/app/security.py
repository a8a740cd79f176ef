"""Passwords, sessions and CSRF tokens for the feed app.

* Passwords are hashed with Argon2id (argon2-cffi); only the hash is stored.
* The browser holds a cookie signed by Starlette's ``SessionMiddleware`` (itsdangerous)
  carrying a session id and a CSRF token. The session row in the store says which user it
  belongs to, so signing out deletes the row and the cookie stops working everywhere.
* Every form carries the CSRF token in a hidden field; JSON writes carry it in the
  ``X-CSRF-Token`` header, and JSON bodies must be ``application/json`` (which a cross-site
  form cannot send without a CORS preflight, and this app answers none).
"""

from __future__ import annotations

import hmac
import secrets
import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.requests import Request

__all__ = [
    "CSRF_HEADER",
    "check_csrf",
    "csrf_token",
    "hash_password",
    "needs_rehash",
    "verify_password",
]

CSRF_HEADER = "x-csrf-token"

# RFC 9106's second recommended setting (64 MiB would be too much for a 2-core test box
# running 50 sign-ups at once); argon2-cffi's own defaults are stronger and also fine.
_hasher = PasswordHasher(time_cost=3, memory_cost=19456, parallelism=1)
# Verifying against this makes an unknown username cost as much as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


# Each hash takes 19 MiB: a flood of sign-ins must not take the server's memory with it.
_hashing = threading.BoundedSemaphore(4)


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` (salted, self-describing)."""
    with _hashing:
        return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (``None``: unknown user, still slow)."""
    try:
        with _hashing:
            ok = _hasher.verify(stored_hash or _DUMMY_HASH, password)
        return ok and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)


def csrf_token(request: Request) -> str:
    """This browser session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) != 43:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: object) -> bool:
    """Whether ``submitted`` equals this session's CSRF token (constant time)."""
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "replace"))
    )
