"""The conformance suite against AWS's DynamoDB Local, plus what only DynamoDB has: its URL,
the missing-table message, table provisioning, batch splitting, consumed capacity and
many threads appending through one ``PagedList``.

DynamoDB Local runs as a Java process (``pagedlist.emulators.dynamodb``), started once per
session by the ``servers`` fixture; the Docker flavour is tried last and skipped without a
Docker engine.
"""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from pagedlist.adapters import open_store
from pagedlist.adapters.dynamodb import DynamoDBStore
from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.core.ops import Appended
from pagedlist.core.pagedlist import PagedList
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


def test_same_answers_as_the_memory_store(store):
    """A seeded random mix of every primitive, with ids repeating within and across
    batches, gives the same outcomes and documents as the reference MemoryStore."""
    from pagedlist.adapters.memory import MemoryStore

    rng = random.Random(11)
    ref = MemoryStore()
    keys = [f"diff-{uuid.uuid4().hex}|{n}" for n in range(3)]

    def step(target, k: str, op: int, arg: object) -> object:
        row = target.get(k)
        if op == 0:
            return target.put_if_absent(k, {"items": [], "n": 1, "meta": {"a": []}})
        if op == 1:
            if row is None:
                return None
            doc = {"items": row.doc.get("items", [])[:2], "n": -5, "other": [[], {}]}
            return target.replace(k, doc, row.version if arg else "stale") is not None
        if op == 2:
            batch, max_len = arg
            return target.append(k, "items", batch, max_len)
        if op == 3:
            by, expect = arg
            return target.increment(k, "n" if row else "m", by, expect)
        target.delete(k)
        return None

    # An id twice in one batch (the core never does this): both stores keep both entries
    # and a later duplicate answers with the last position.
    twice = [{"id": "a", "ts": 1, "v": ""}, {"id": "a", "ts": 2, "v": ""}]
    for target in (ref, store):
        assert target.append(keys[0], "items", twice, 9) == Appended(2)
    assert step(store, keys[0], 2, ([twice[0]], 9)) == step(ref, keys[0], 2, ([twice[0]], 9))

    seen: set[str] = set()
    for _ in range(400):
        k = rng.choice(keys)
        op = rng.choice([0, 1, 2, 2, 2, 3, 3, 4])
        arg: object = None
        if op == 1:
            arg = rng.random() < 0.8
        elif op == 2:
            batch = [
                {"id": f"i{rng.randrange(12)}", "ts": rng.randrange(2**62), "v": "x" * i}
                for i in range(rng.randrange(1, 4))
            ]
            arg = (batch, rng.randrange(0, 9))
        elif op == 3:
            arg = (rng.randrange(-2, 3), rng.choice([None, 0, 1, 2, -4]))
        expected, got = step(ref, k, op, arg), step(store, k, op, arg)
        assert got == expected, (op, arg)
        seen.add(type(got).__name__ if op != 3 else f"increment-{got is None}")
        for k2 in keys:
            mine, theirs = store.get(k2), ref.get(k2)
            assert (mine and mine.doc) == (theirs and theirs.doc), k2
    assert {"Appended", "Duplicate", "Full", "increment-True", "increment-False"} <= seen


def test_eight_threads_append_through_pagedlist(url):
    """8 threads x 200 appends, capacity 50: nothing lost or doubled, full pages."""
    threads, per_thread, capacity = 8, 200, 50
    list_id = f"mt-{uuid.uuid4().hex[:12]}"
    stores = [open_store(url) for _ in range(threads)]
    try:
        PagedList.create(stores[0], list_id, capacity=capacity)
        errors: list[BaseException] = []
        acked: list[list[int]] = [[] for _ in range(threads)]

        def work(n: int) -> None:
            try:
                handle = PagedList(stores[n], list_id, deadline=60)
                for i in range(per_thread):
                    acked[n].append(handle.append({"t": n, "i": i}))
            except BaseException as err:  # reported below, with the thread's number
                errors.append(err)

        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert not errors, errors
        total = threads * per_thread
        items = list(PagedList(stores[0], list_id).iter())
        assert [it.position for it in items] == list(range(total))
        values = [(it.value["t"], it.value["i"]) for it in items]
        assert sorted(values) == [(n, i) for n in range(threads) for i in range(per_thread)]
        assert sorted(p for per in acked for p in per) == list(range(total))
        for n in range(threads):  # each thread's own appends keep their order
            mine = [it.value["i"] for it in items if it.value["t"] == n]
            assert mine == list(range(per_thread))
        pages = stores[0].get_many([f"{list_id}|{p}" for p in range(total // capacity + 1)])
        sizes = [len(pages[f"{list_id}|{p}"].doc["items"]) for p in range(total // capacity)]
        assert sizes == [capacity] * (total // capacity)
    finally:
        for s in stores:
            s.close()


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
