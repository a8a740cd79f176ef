"""The conformance suite against AWS's DynamoDB Local, plus what only DynamoDB has: its URL,
the missing-table message, table provisioning, batch splitting, consumed capacity and
many threads appending through one ``PagedList``.

DynamoDB Local runs as a Java process (``pagedlist.emulators.dynamodb``), started once per
session by the ``servers`` fixture; the Docker flavour is tried last and skipped without a
Docker engine.
"""

from __future__ import annotations

import contextlib
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from pagedlist.adapters import open_store
from pagedlist.adapters.dynamodb import DynamoDBStore
from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.emulators.dynamodb import dynamodb_url
from pagedlist.errors import ConfigError, InvalidValue, StoreUnavailable


class DynamoDBFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return dynamodb_url(servers)


class TestDynamoDB(ConformanceSuite, DynamoDBFixtures):
    """Every clause on DynamoDBStore, against DynamoDB Local."""


# --- DynamoDB-specific behaviour ----------------------------------------------------------


@pytest.fixture(scope="module")
def url(servers) -> str:
    return dynamodb_url(servers)


@pytest.fixture
def store(url):
    with open_store(url) as opened:
        yield opened


def _other_table(url: str, table: str, create: bool) -> str:
    """``url`` naming another table, with or without ``create=true``."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "create"]
    if create:
        query.append(("create", "true"))
    return urlunsplit(parts._replace(netloc=table, query=urlencode(query, safe=":/")))


@pytest.fixture
def scratch_tables(url):
    """Names of throwaway tables, deleted after the test (they cost money on AWS)."""
    names: list[str] = []
    yield names
    with open_store(url) as store:
        for name in names:
            with contextlib.suppress(Exception):
                store.client.delete_table(TableName=name)


def test_missing_table_names_the_fix(url):
    table = f"absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigError) as err:
        open_store(_other_table(url, table, create=False))
    message = str(err.value)
    assert table in message
    assert "pagedlist init" in message and "create=true" in message


def test_provision_creates_once_then_opens(url, scratch_tables):
    table = f"prov-{uuid.uuid4().hex[:8]}"
    scratch_tables.append(table)
    target = _other_table(url, table, create=False)
    assert "created" in DynamoDBStore.provision(target)
    assert "already exists" in DynamoDBStore.provision(target)
    with open_store(target) as store:
        assert store.put_if_absent("k|1", {"a": 1})
        assert store.get("k|1").doc == {"a": 1}


def test_create_flag_creates_the_table(url, scratch_tables):
    table = f"flag-{uuid.uuid4().hex[:8]}"
    scratch_tables.append(table)
    with open_store(_other_table(url, table, create=True)) as store:
        assert store.get("k|1") is None


@pytest.mark.parametrize(
    "bad",
    [
        "dynamodb://?region=us-east-1",
        "dynamodb://a?region=us-east-1",  # table names have 3+ characters
        "dynamodb://tbl?region=us-east-1&colour=red",
        "dynamodb://key:secret@tbl?region=us-east-1",
        "dynamodb://tbl?region=us-east-1&create=perhaps",
    ],
)
def test_bad_urls_are_config_errors(bad):
    with pytest.raises(ConfigError):
        open_store(bad)


def test_unreachable_endpoint_is_store_unavailable(monkeypatch):
    from pagedlist.emulators.base import free_port

    port = free_port()  # nothing listens there
    with pytest.raises(StoreUnavailable):
        open_store(f"dynamodb://pagedlist?region=us-east-1&endpoint=http://127.0.0.1:{port}")


def test_describe_has_no_credentials(store, monkeypatch):
    text = store.describe()
    assert text.startswith(f"dynamodb://{store.table}?region=")
    assert "pagedlistlocal" not in text


def test_documents_round_trip_exactly(store):
    key = f"rt-{uuid.uuid4().hex}|0"
    doc = {
        "pk": "",  # collides with the key attribute's name: escaped
        "": [0, -1, 10**37, -(10**37), 10**100, True, False, None, "", {"": "", "~x": [[]]}],
        "~v": {"nested": {"deep": [{"id": "not-a-list-entry"}]}},
        "~i.items": "looks internal",
        "text": "é ✓ \u0000 \U0001f600",
    }
    assert store.put_if_absent(key, doc)
    row = store.get(key)
    assert row.doc == doc
    assert all(type(v) is int for v in row.doc[""][:5])
    assert store.get_many([key])[key].doc == doc


def test_floats_and_oversized_numbers_are_refused(store):
    with pytest.raises(InvalidValue):
        store.put_if_absent(f"f-{uuid.uuid4().hex}|0", {"x": 1.5})
    with pytest.raises(InvalidValue):
        store.put_if_absent(f"f-{uuid.uuid4().hex}|0", {"x": 10**38 + 1})


def test_get_many_splits_and_deduplicates(store):
    prefix = f"gm-{uuid.uuid4().hex}"
    keys = [f"{prefix}|{i}" for i in range(230)]
    for k in keys[::2]:
        assert store.put_if_absent(k, {"k": k})
    calls_before = store.stats()["calls"]
    found = store.get_many(keys + keys[:50] + [f"{prefix}|missing"])
    assert set(found) == set(keys[::2])
    assert all(found[k].doc == {"k": k} for k in found)
    # 230 distinct keys (+1 missing): three BatchGetItem requests of at most 100 keys.
    assert store.stats()["calls"] - calls_before == 3


def test_consumed_capacity_is_counted(store):
    before = store.stats()
    key = f"cap-{uuid.uuid4().hex}|0"
    store.append(key, "items", [{"id": "a", "ts": 1, "v": "x"}], 10)
    store.get(key)
    after = store.stats()
    assert after["write_units"] - before["write_units"] >= 1
    assert after["read_units"] - before["read_units"] > 0
    assert after["calls"] - before["calls"] == 2


def test_append_keeps_id_set_in_step_after_replace(store):
    """A row written whole (replace) keeps duplicate detection for its list's ids."""
    key = f"rep-{uuid.uuid4().hex}|0"
    assert store.put_if_absent(key, {"items": [{"id": "a", "ts": 1, "v": "x"}]})
    row = store.get(key)
    entries = [{"id": "b", "ts": 2, "v": "y"}, {"id": "c", "ts": 3, "v": "z"}]
    assert store.replace(key, {"items": entries}, row.version)
    assert store.append(key, "items", [{"id": "c", "ts": 9, "v": ""}], 10).index == 1
    # "a" left the list with the replace, so it is no longer a duplicate.
    assert store.append(key, "items", [{"id": "a", "ts": 9, "v": ""}], 10).length == 3


def test_docker_dynamodb_local():
    """The testcontainers flavour, for users with a Docker engine."""
    from pagedlist.emulators.dynamodb import docker_dynamodb_local

    why = _no_docker()
    if why:
        pytest.skip(f"no Docker engine here ({why}): docker_dynamodb_local() not exercised")
    with docker_dynamodb_local() as docker_url, open_store(docker_url) as store:
        assert store.put_if_absent("d|1", {"a": 1})
        assert store.get("d|1").doc == {"a": 1}


def _no_docker() -> str | None:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as err:  # no SDK, no socket, daemon down: all mean "no engine"
        return f"{type(err).__name__}: {err}"[:200]
    return None


def test_db_path_server_keeps_data_across_a_kill(tmp_path):
    """``db_path`` mode: a DynamoDB Local killed with SIGKILL and restarted on the same
    directory still has every acknowledged write (what the crash tests rely on)."""
    import os
    import signal

    from pagedlist.emulators.dynamodb import DynamoDBLocalEmulator

    emulator = DynamoDBLocalEmulator(db_path=tmp_path / "data")
    server = emulator.start()
    try:
        with open_store(server.url) as store:
            assert store.put_if_absent("crash|s", {"head": 0})
            assert store.append("crash|0", "items", [{"id": "a", "ts": 1, "v": "x"}], 5).length
        for proc in server.procs:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    finally:
        server.stop()
    again = emulator.start(ports=server.ports)
    try:
        with open_store(again.url) as store:
            assert store.get("crash|s").doc == {"head": 0}
            assert store.get("crash|0").doc["items"] == [{"id": "a", "ts": 1, "v": "x"}]
            assert store.append("crash|0", "items", [{"id": "a", "ts": 2, "v": ""}], 5).index == 0
    finally:
        again.stop()
