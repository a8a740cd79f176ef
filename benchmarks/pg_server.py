"""The PostgreSQL server the ``postgres_*`` benchmark scripts run against."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    """``url`` itself, or a throw-away local server's URL (stopped afterwards)."""
    if url:
        yield url
        return
    from pagedlist.emulators.postgres import PostgresEmulator

    with PostgresEmulator().start() as running:
        yield running.url
