"""The conformance suite against a throw-away PostgreSQL server, plus what is PostgreSQL's
own: URL forms, passwords (never in the URL), the size the SQL keeps, U+0000, errors."""

from __future__ import annotations

import pytest

from pagedlist.conformance import ConformanceSuite, StoreFixtures


class PostgresFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return servers.get("postgres").url


class TestPostgres(ConformanceSuite, PostgresFixtures):
    """Every clause on one local PostgreSQL server (Debian's binaries)."""
