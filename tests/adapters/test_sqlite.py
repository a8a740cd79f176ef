"""The conformance suite against SQLite (a file shared by threads and processes)."""

import pytest

from pagedlist.conformance import ConformanceSuite, StoreFixtures


class SQLiteFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, tmp_path_factory) -> str:  # one file per test class run
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'conformance.db'}"


class TestSQLite(ConformanceSuite, SQLiteFixtures):
    """Every clause on SQLiteStore."""
