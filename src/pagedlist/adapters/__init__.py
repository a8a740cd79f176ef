"""Backend adapters, one module each, chosen by URL scheme.

``import pagedlist`` loads no SDK: an adapter module is imported the first time a URL
with its scheme is opened, and a missing SDK fails with the ``pip install`` line that
brings it.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pagedlist.adapters._toolkit import redact, tallied
from pagedlist.core.store import Store

if TYPE_CHECKING:
    from pagedlist.core.astore import AsyncStore
from pagedlist.errors import ConfigError

__all__ = [
    "ADAPTERS",
    "ENV_VAR",
    "AdapterInfo",
    "adapter_for",
    "check_store",
    "open_async_store",
    "open_store",
    "redact",
    "scheme_of",
]

ENV_VAR = "PAGEDLIST_STORE"


@dataclass(frozen=True, slots=True)
class AdapterInfo:
    """Where an adapter lives, which extra installs its SDK, and its URL form.

    ``async_target`` names the scheme's asyncio adapter (an ``AsyncStore`` subclass with an
    async ``from_url``); without one, ``open_async_store`` serves the sync adapter through
    a bounded thread pool (``ThreadedAsyncStore``).
    """

    target: str
    extra: str | None
    form: str
    async_target: str | None = None


ADAPTERS: dict[str, AdapterInfo] = {
    "memory": AdapterInfo(
        "pagedlist.adapters.memory:MemoryStore",
        None,
        "memory://[?push=false]",
        "pagedlist.adapters.memory:AsyncMemoryStore",
    ),
    "sqlite": AdapterInfo(
        "pagedlist.adapters.sqlite:SQLiteStore", None, "sqlite:///path/to/file.db"
    ),
    "redis": AdapterInfo(
        "pagedlist.adapters.redis:RedisStore",
        "redis",
        "redis://[:password@]host:port[/db]",
        "pagedlist.adapters.redis:AsyncRedisStore",
    ),
    "rediss": AdapterInfo(
        "pagedlist.adapters.redis:RedisStore",
        "redis",
        "rediss://[:password@]host:port[/db]",
        "pagedlist.adapters.redis:AsyncRedisStore",
    ),
    "redis+cluster": AdapterInfo(
        "pagedlist.adapters.redis:RedisStore",
        "redis",
        "redis+cluster://[:password@]host:port[,host:port...][?ssl=true]",
        "pagedlist.adapters.redis:AsyncRedisStore",
    ),
    "dynamodb": AdapterInfo(
        "pagedlist.adapters.dynamodb:DynamoDBStore",
        "dynamodb",
        "dynamodb://TABLE?region=REGION[&endpoint=http://host:port][&create=true]",
        "pagedlist.adapters.dynamodb:AsyncDynamoDBStore",
    ),
    "cosmos": AdapterInfo(
        "pagedlist.adapters.cosmos:CosmosStore",
        "cosmos",
        "cosmos://HOST:PORT/DATABASE/CONTAINER[?create=true&tls=false]",
        "pagedlist.adapters.cosmos:AsyncCosmosStore",
    ),
    # No async_target: borneo has no asyncio client, so open_async_store serves OCI NoSQL
    # through a bounded thread pool (ThreadedAsyncStore), tested as TestOCINoSQLAsync.
    "oci-nosql": AdapterInfo(
        "pagedlist.adapters.oci:OCINoSQLStore",
        "oci",
        "oci-nosql://TABLE?region=REGION&compartment=OCID",
    ),
    "oci-nosql+http": AdapterInfo(
        "pagedlist.adapters.oci:OCINoSQLStore", "oci", "oci-nosql+http://HOST:PORT/TABLE"
    ),
    "postgresql": AdapterInfo(
        "pagedlist.adapters.postgres:PostgresStore",
        "postgres",
        "postgresql://[user@]host[:port]/database[?table=NAME&sslmode=MODE]",
        "pagedlist.adapters.postgres:AsyncPostgresStore",
    ),
    "postgres": AdapterInfo(
        "pagedlist.adapters.postgres:PostgresStore",
        "postgres",
        "postgres://[user@]host[:port]/database[?table=NAME&sslmode=MODE]",
        "pagedlist.adapters.postgres:AsyncPostgresStore",
    ),
}


def accepted_forms() -> str:
    """Every accepted URL form, one per line, for error messages."""
    return "\n".join(f"  {info.form}" for info in ADAPTERS.values())


def adapter_class(scheme: str) -> type[Store]:
    """Import and return the adapter class for ``scheme``."""
    info = ADAPTERS[scheme]
    module_name, _, class_name = info.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if info.extra is None or module_name in str(err.name or ""):
            raise
        raise ConfigError(
            f"the {scheme}:// adapter needs {err.name!r}, which is not installed: "
            f"pip install 'pagedlist[{info.extra}]'"
        ) from None
    # Every adapter's stats() gets the common keys, whether or not its module declares it.
    store_class: type[Store] = tallied(getattr(module, class_name))
    return store_class


def scheme_of(url: str) -> str:
    """The adapter scheme a store URL names (``redis+cluster``, ``sqlite``...), lower-cased.

    Raises ``ConfigError`` naming the accepted forms for a malformed URL or an unknown
    scheme (any password in the URL redacted).
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(
            f"store URL {url!r} is malformed (no scheme://). Accepted forms:\n{accepted_forms()}"
        )
    try:
        scheme = urlsplit(url).scheme.lower() if "," not in url else url.split("://")[0].lower()
    except ValueError as err:  # e.g. "Invalid IPv6 URL" from urlsplit
        raise ConfigError(
            f"store URL {redact(url)!r} is malformed: {err}. Accepted forms:\n{accepted_forms()}"
        ) from None
    if scheme not in ADAPTERS:
        raise ConfigError(
            f"unknown store scheme {scheme + '://'!r} in {redact(url)!r}. "
            f"Accepted forms:\n{accepted_forms()}"
        )
    return scheme


def adapter_for(url: str) -> type[Store]:
    """The adapter class that serves ``url`` (its module imported on first use)."""
    return adapter_class(scheme_of(url))


def open_store(url: str | None = None, *, check: bool | float = False) -> Store:
    """Open the store a URL names; with no URL, the one in ``$PAGEDLIST_STORE``.

    With ``check`` (``True``, or the seconds it may take; ``True`` is one second),
    :func:`check_store` makes one round trip before returning, so an unreachable store or
    bad credentials raise at once rather than on the first operation.

    Accepted forms: ``memory://``, ``sqlite:///path.db``, ``redis://host:port``,
    ``redis+cluster://host:port,...``, ``dynamodb://TABLE?region=...``,
    ``cosmos://HOST:PORT/DB/CONTAINER``, ``oci-nosql://TABLE?...``,
    ``postgresql://user@host:port/database``. Raises ``ConfigError``
    for an unknown scheme or a malformed URL, naming the accepted forms.
    """
    if url is None:
        url = os.environ.get(ENV_VAR)
        if not url:
            raise ConfigError(
                f"no store URL given and ${ENV_VAR} is not set: pass a URL, e.g. "
                f"sqlite:///feed.db, or export {ENV_VAR}. Accepted forms:\n{accepted_forms()}"
            )
    store = adapter_for(url).from_url(url)
    if check:
        try:
            check_store(store, within=1.0 if check is True else float(check))
        except BaseException:
            store.close()
            raise
    return store


def check_store(store: Store, *, within: float = 1.0) -> None:
    """Fail fast: one round trip to ``store`` (its ``ping``, else a read of an absent row),
    not retried, within ``within`` seconds.

    Adapters connect lazily, so an open store may be one nobody can reach; the first list
    operation would then retry until its deadline (10 s by default). This raises at once
    instead: ``StoreUnavailable`` for a name that does not resolve or a refused connection,
    ``DeadlineExceeded`` for a server that does not answer, ``ConfigError`` for bad
    credentials, each saying what to check.
    """
    import time

    from pagedlist.core import deadline as _deadline
    from pagedlist.errors import DeadlineExceeded, StoreUnavailable

    ping = getattr(store, "ping", None)
    try:
        with _deadline.active(time.monotonic() + within):
            if callable(ping):
                ping()
            else:
                store.get("pagedlist-check|0")
    except StoreUnavailable as err:
        said = str(err).rstrip(". ")
        if "cannot reach" not in said:
            said = f"cannot reach {store.describe()}: {said}"
        raise StoreUnavailable(
            f"{said}. Check that the server is running and that the URL's host and port are "
            "right ('pagedlist doctor URL' checks each step)"
        ) from err
    except DeadlineExceeded as err:
        raise DeadlineExceeded(
            f"{store.describe()} did not answer within {within:g}s ({str(err).rstrip('. ')}). "
            "Check that the server is healthy and reachable ('pagedlist doctor URL' measures "
            "its round trip)"
        ) from err


def _store_url(url: str | None) -> str:
    if url is None:
        url = os.environ.get(ENV_VAR)
        if not url:
            raise ConfigError(
                f"no store URL given and ${ENV_VAR} is not set: pass a URL, e.g. "
                f"sqlite:///feed.db, or export {ENV_VAR}. Accepted forms:\n{accepted_forms()}"
            )
    return url


async def open_async_store(url: str | None = None) -> AsyncStore:
    """Open, for asyncio, the store a URL names (``$PAGEDLIST_STORE`` without one).

    Schemes with a native asyncio adapter (``redis.asyncio``, ``azure.cosmos.aio``,
    ``aiobotocore``, psycopg's async pool) use it; the others (SQLite, OCI NoSQL) run the
    sync adapter in a bounded pool of threads, so no call blocks the event loop. Use it as
    ``async with await open_async_store(url) as store: ...``.
    """
    import asyncio

    from pagedlist.core.astore import ThreadedAsyncStore

    url = _store_url(url)
    scheme = scheme_of(url)
    info = ADAPTERS[scheme]
    if info.async_target is None:
        return ThreadedAsyncStore(await asyncio.to_thread(open_store, url))
    module_name, _, class_name = info.async_target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if info.extra is None or module_name in str(err.name or ""):
            raise
        raise ConfigError(
            f"the asyncio {scheme}:// adapter needs {err.name!r}, which is not installed: "
            f"pip install 'pagedlist[{info.extra}]'"
        ) from None
    opened: AsyncStore = await tallied(getattr(module, class_name)).from_url(url)
    return opened
