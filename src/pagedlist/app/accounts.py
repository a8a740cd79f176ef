"""Sign-up, sign-in and sessions, shared by the pages and the JSON API.

Store calls are awaited on the event loop; password hashing (Argon2id, tens of
milliseconds of CPU) runs in a worker thread so that it never stalls the loop.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request

from pagedlist.app import security
from pagedlist.app.common import feed_of
from pagedlist.app.feed import Conflict, Feed, InvalidInput, check_password, check_username

__all__ = ["SignupRefused", "sign_in", "sign_up", "start_session"]


class SignupRefused(InvalidInput):
    """Every problem of a sign-up at once; ``taken`` when the name is one of them."""

    def __init__(self, *messages: str, taken: bool) -> None:
        super().__init__(*messages)
        self.taken = taken


async def sign_up(feed: Feed, name: object, password: object) -> str:
    """Create account ``name``; raise :class:`SignupRefused` listing every problem."""
    problems: list[str] = []
    taken = False
    try:
        name = check_username(name)
    except InvalidInput as err:
        problems.append(str(err))
    else:
        if await feed.user(name) is not None:
            problems.append(f"The username {name!r} is taken; pick another.")
            taken = True
    try:
        password = check_password(password)
    except InvalidInput as err:
        problems.append(str(err))
    if problems:
        raise SignupRefused(*problems, taken=taken)
    assert isinstance(name, str) and isinstance(password, str)
    try:
        password_hash = await asyncio.to_thread(security.hash_password, password)
        await feed.create_user(name, password_hash)
    except Conflict as err:  # taken between the check and the write
        raise SignupRefused(str(err), taken=True) from None
    return name


async def sign_in(feed: Feed, name: object, password: object) -> bool:
    """Whether ``name`` and ``password`` match an account (rehashing a weak hash)."""
    if not isinstance(name, str) or not isinstance(password, str) or len(password) > 256:
        return False
    row = await feed.user(name)
    stored = None if row is None else row["hash"]
    ok = await asyncio.to_thread(security.verify_password, stored, password)
    if ok and row is not None and security.needs_rehash(row["hash"]):
        password_hash = await asyncio.to_thread(security.hash_password, password)
        await feed.update_user(name, {"hash": password_hash})
    return ok


async def start_session(request: Request, name: str) -> str:
    """Sign ``name`` in on this browser: a new session and a new CSRF token (returned)."""
    feed = feed_of(request)
    old = request.session.get("sid")
    if old is not None:
        await feed.close_session(old)
    request.session.clear()
    request.session["sid"] = await feed.open_session(name)
    # A new CSRF token per sign-in: a token seen before signing in is worthless after.
    return security.csrf_token(request)
