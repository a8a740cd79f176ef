"""The example adapter's tests (``docs/adapters.md`` §6): the whole conformance suite, plus
what is the adapter's own. Self-contained: no fixture from the project's ``tests/``.

Run with ``pytest docs/examples`` (``make test`` runs it too).
"""

from __future__ import annotations

import sqlite3

import pytest
from example_adapter import FORM, ExampleStore

from pagedlist.adapters import ADAPTERS, AdapterInfo, open_store
from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.errors import ConfigError, Throttled

# An adapter outside the package registers its scheme once, when its module is imported;
# inside the package it is one line of pagedlist/adapters/__init__.py instead.
ADAPTERS.setdefault("example", AdapterInfo("example_adapter:ExampleStore", None, FORM))


class ExampleFixtures(StoreFixtures):
    """The store under test: a fresh file for each test class."""

    @pytest.fixture
    def store_url(self, tmp_path_factory: pytest.TempPathFactory) -> str:
        return f"example:///{tmp_path_factory.mktemp('example') / 'rows.db'}"


class TestExample(ConformanceSuite, ExampleFixtures):
    """Every clause of docs/contract.md against ExampleStore."""


# --- what is the adapter's own ---------------------------------------------------------


def test_unknown_options_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown option.*colour.*accepted: timeout"):
        open_store(f"example:///{tmp_path / 'a.db'}?colour=red")
    with pytest.raises(ConfigError, match="three slashes"):
        open_store("example://host/a.db")


def test_a_file_that_is_not_a_database_is_a_config_error(tmp_path):
    (tmp_path / "text.db").write_text("not a database " * 100)
    with pytest.raises(ConfigError, match="not a SQLite database"):
        open_store(f"example:///{tmp_path / 'text.db'}")


def test_a_busy_database_is_throttled_by_its_result_code(tmp_path):
    """Another connection holds the write lock and the busy timeout is 0: SQLITE_BUSY,
    mapped through the table to Throttled (retryable), chained to SQLite's error."""
    path = tmp_path / "busy.db"
    store = open_store(f"example:///{path}?timeout=0")
    assert isinstance(store, ExampleStore)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Throttled) as caught:
            store.increment("k|1", "n")
        assert caught.value.retryable
        assert caught.value.__cause__.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.increment("k|1", "n") == 1
    store.close()
