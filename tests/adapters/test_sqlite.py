"""The conformance suite against SQLite (a file shared by threads and processes): lists in
layout 2 (entry rows, push), the store's default; layout 1 again, as lists written by 0.1
are; and the asyncio clients (the sync adapter in a thread pool)."""

import pytest

from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.conformance.blocking import AsyncAdapterFixtures
from pagedlist.conformance.fixtures import LayoutOneFixtures
from pagedlist.conformance.history_clauses import AbstractHistoryTests
from pagedlist.conformance.lifecycle_clauses import AbstractLifecycleTests
from pagedlist.conformance.list_clauses import AbstractListTests


class SQLiteFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, tmp_path_factory) -> str:  # one file per test class run
        return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'conformance.db'}"


class TestSQLite(ConformanceSuite, SQLiteFixtures):
    """Every clause on SQLiteStore, lists in layout 2."""


class TestSQLiteLayoutOne(
    AbstractListTests,
    AbstractHistoryTests,
    AbstractLifecycleTests,
    LayoutOneFixtures,
    SQLiteFixtures,
):
    """The list and history clauses again on layout 1 (page rows), and D10 (layout 1
    refuses edits, naming the fix)."""


class TestSQLiteAsync(ConformanceSuite, AsyncAdapterFixtures, SQLiteFixtures):
    """Every clause through ``open_async_store`` (SQLiteStore in a thread pool)."""
