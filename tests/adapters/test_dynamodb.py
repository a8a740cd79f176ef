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
from pagedlist.conformance import (
    AbstractHistoryTests,
    AbstractListTests,
    ConformanceSuite,
    StoreFixtures,
)
from pagedlist.conformance.blocking import AsyncAdapterFixtures
from pagedlist.conformance.fixtures import LayoutOneFixtures
from pagedlist.emulators.dynamodb import dynamodb_url
from pagedlist.errors import ConfigError, InvalidValue, StoreUnavailable


class DynamoDBFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return dynamodb_url(servers)


class TestDynamoDB(ConformanceSuite, DynamoDBFixtures):
    """Every clause on DynamoDBStore, against DynamoDB Local (layout 2: entry rows)."""


class TestDynamoDBLayoutOne(
    AbstractListTests, AbstractHistoryTests, LayoutOneFixtures, DynamoDBFixtures
):
    """The list and history clauses on DynamoDBStore in layout 1 (page rows)."""


class TestDynamoDBAsync(ConformanceSuite, AsyncAdapterFixtures, DynamoDBFixtures):
    """Every clause on AsyncDynamoDBStore (aiobotocore), through a blocking bridge."""


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
        "dynamodb://tbl?region=us-east-1&claim_entries=11",  # over what one transaction takes
        "dynamodb://tbl?region=us-east-1&claim_entries=0",
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
    calls_before = store.stats()["requests"]
    found = store.get_many(keys + keys[:50] + [f"{prefix}|missing"])
    assert set(found) == set(keys[::2])
    assert all(found[k].doc == {"k": k} for k in found)
    # 230 distinct keys (+1 missing): three BatchGetItem requests of at most 100 keys.
    assert store.stats()["requests"] - calls_before == 3


def test_consumed_capacity_is_counted(store):
    before = store.stats()
    key = f"cap-{uuid.uuid4().hex}|0"
    store.append(key, "items", [{"id": "a", "ts": 1, "v": "x"}], 10)
    store.get(key)
    after = store.stats()
    assert after["write_units"] - before["write_units"] >= 1
    assert after["read_units"] - before["read_units"] > 0
    assert after["requests"] - before["requests"] == 2


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


# --- layout 2 on DynamoDB: the table, entry rows, what each call costs --------------------


def _entry(item_id: str, value_bytes: int = 200) -> dict:
    return {"id": item_id, "ts": 1_764_000_000_000, "v": '"' + "x" * (value_bytes - 2) + '"'}


def _calls(store) -> int:
    return store.stats()["requests"]


def test_new_tables_have_the_sort_key_and_offer_entry_rows(url, scratch_tables):
    table = f"sk-{uuid.uuid4().hex[:8]}"
    scratch_tables.append(table)
    with open_store(_other_table(url, table, create=True)) as store:
        schema = store.client.describe_table(TableName=table)["Table"]["KeySchema"]
        assert schema == [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ]
        assert store.features.entries and not store.features.push
        assert store.features.claim_entries == 10


def _make_01_table(url: str, table: str) -> None:
    """A table the way pagedlist 0.1 made it: the string partition key ``pk`` only."""
    with open_store(url) as store:
        store.client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        store.client.get_waiter("table_exists").wait(TableName=table)


def test_a_table_of_01_keeps_working_in_layout_one(url, scratch_tables):
    """A 0.1 table (no sort key): entries=False, its lists (written the 0.1 way, by row
    items keyed on pk alone) are read and appended, and new lists there use layout 1."""
    from pagedlist import PagedList

    table = f"old-{uuid.uuid4().hex[:8]}"
    scratch_tables.append(table)
    _make_01_table(url, table)
    target = _other_table(url, table, create=False)
    with open_store(target) as store:
        assert store.features.entries is False
        # pagedlist 0.1's rows for a list "old" of capacity 2 holding a, b, c: summary and
        # two pages, written as raw items keyed by pk alone, exactly as 0.1 wrote them.
        old = PagedList.create(store, "old", capacity=2)
        old.extend(["a", "b", "c"])
        assert "0.1" in DynamoDBStore.provision(target)  # already there: says it is a 0.1 table
    with open_store(target) as again:
        old = PagedList.open(again, "old")
        assert [i.value for i in old.latest(10)] == ["c", "b", "a"]
        assert old.append("d") == 3
        assert [i.value for i in old.after(-1, 10)] == ["a", "b", "c", "d"]
        new = PagedList.create(again, f"new-{uuid.uuid4().hex[:8]}")
        new.append("x")
        assert again.get(f"{new.id}|s").doc.get("format", 1) == 1
        with pytest.raises(ConfigError, match="layout"):
            PagedList.create(again, f"two-{uuid.uuid4().hex[:8]}", layout=2)
        item = again.client.get_item(TableName=table, Key={"pk": {"S": "old|s"}})["Item"]
        assert set(item) >= {"pk", "~v"} and "sk" not in item


def test_a_layout_one_list_on_a_new_table_is_read_and_appended(store):
    """Lists written in layout 1 (page rows at sk=-1) stay layout 1 on the new table."""
    from pagedlist import PagedList

    list_id = f"l1-{uuid.uuid4().hex[:10]}"
    first = PagedList.create(store, list_id, capacity=3, layout=1)
    first.extend([0, 1, 2, 3])
    with open_store(store.describe()) as other:
        again = PagedList.open(other, list_id)
        assert again.append(4) == 4
        assert [i.value for i in again.latest(10)] == [4, 3, 2, 1, 0]
        assert other.get(f"{list_id}|1").doc["items"][0]["v"] == "3"
        assert other.scan(list_id, 0, None, 10) == ()  # no entry rows: pages only


def test_a_row_field_named_sk_round_trips(store):
    key = f"skf-{uuid.uuid4().hex}|0"
    assert store.put_if_absent(key, {"sk": 5, "pk": "p", "items": []})
    assert store.get(key).doc == {"sk": 5, "pk": "p", "items": []}
    assert store.increment(key, "sk", 2) == 7
    assert store.get_many([key])[key].doc["sk"] == 7


def test_claim_of_one_entry_is_one_put_of_one_write_unit(store):
    list_id = f"c1-{uuid.uuid4().hex[:10]}"
    before = store.stats()
    assert store.claim(list_id, 0, [_entry("a")]).__class__.__name__ == "Claimed"
    after = store.stats()
    assert after["requests"] - before["requests"] == 1
    assert after["write_units"] - before["write_units"] == 1.0
    # The refusal carries the occupant in the same call.
    taken = store.claim(list_id, 0, [_entry("b")])
    assert taken.position == 0 and taken.entry == _entry("a")
    assert _calls(store) - after["requests"] == 1


def test_claim_of_several_entries_is_one_transaction(store):
    list_id = f"cn-{uuid.uuid4().hex[:10]}"
    before = _calls(store)
    assert store.claim(list_id, 0, [_entry(f"e{i}") for i in range(10)]).__class__.__name__ == (
        "Claimed"
    )
    assert _calls(store) - before == 1
    # A later position of the claim taken (not the first): that one is named, nothing written.
    assert store.claim(list_id, 11, [_entry("late")]).__class__.__name__ == "Claimed"
    before = _calls(store)
    taken = store.claim(list_id, 10, [_entry("x"), _entry("y"), _entry("z")])
    assert (taken.position, taken.entry["id"]) == (11, "late")
    assert _calls(store) - before == 1
    assert [p for p, _ in store.scan(list_id, 0, None, 100)] == [*range(10), 11]


def test_claim_over_claim_entries_and_foreign_fields_are_refused(store):
    from pagedlist.errors import UsageError

    list_id = f"cr-{uuid.uuid4().hex[:10]}"
    with pytest.raises(UsageError, match="at most 10"):
        store.claim(list_id, 0, [_entry(f"e{i}") for i in range(11)])
    with pytest.raises(InvalidValue, match="entry field"):
        store.claim(list_id, 0, [{**_entry("a"), "extra": 1}])
    assert store.scan(list_id, 0, None, 100) == ()


def test_insert_of_an_existing_row_is_one_call(store):
    key = f"ins-{uuid.uuid4().hex}|i|x"
    assert store.insert(key, {"id": "x", "p": 1}) is None
    before = _calls(store)
    found = store.insert(key, {"id": "x", "p": 9})
    assert found.doc == {"id": "x", "p": 1} and found.version == store.get(key).version
    assert _calls(store) - before - 1 == 1  # the insert, then the get of this assert


def test_scan_follows_pages_only_as_needed(store):
    """A Query page stops at 1 MB: a scan asking for more follows with ExclusiveStartKey;
    one asking for less sends one request."""
    list_id = f"pg-{uuid.uuid4().hex[:10]}"
    big = '"' + "y" * 300_000 + '"'
    for pos in range(5):
        assert store.claim(list_id, pos, [_entry(f"b{pos}") | {"v": big}]).__class__.__name__ == (
            "Claimed"
        )
    before = _calls(store)
    assert [p for p, _ in store.scan(list_id, 0, None, 2, True)] == [4, 3]
    assert _calls(store) - before == 1
    before = _calls(store)
    assert [p for p, _ in store.scan(list_id, 0, None, 100)] == [0, 1, 2, 3, 4]
    assert _calls(store) - before >= 2  # 1.5 MB: more than one page


def test_scan_many_sends_its_queries_at_once(store):
    """scan_many's Queries overlap in time: one round trip of wall time, not one each."""
    import threading
    import time

    from pagedlist.core.ops import Scan

    ids = [f"sm-{uuid.uuid4().hex[:10]}" for _ in range(6)]
    for list_id in ids:
        store.claim(list_id, 0, [_entry("a")])
    active, most = [0], [0]
    lock = threading.Lock()

    def slow(**_: object) -> None:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.3)
        with lock:
            active[0] -= 1

    store.client.meta.events.register("before-send.dynamodb.Query", slow)
    try:
        got = store.scan_many(tuple(Scan(i, 0, None, 5, True) for i in ids))
    finally:
        store.client.meta.events.unregister("before-send.dynamodb.Query", slow)
    assert [[e["id"] for _, e in rows] for rows in got] == [["a"]] * 6
    assert most[0] == 6, f"at most {most[0]} of 6 queries were in flight at once"


def test_purge_stops_at_the_operation_deadline_and_resumes(store):
    import time

    from pagedlist.core.deadline import active
    from pagedlist.errors import DeadlineExceeded

    list_id = f"pu-{uuid.uuid4().hex[:10]}"
    for first in range(0, 60, 10):
        store.claim(list_id, first, [_entry(f"e{first + i}") for i in range(10)])
    before = _calls(store)
    with active(time.monotonic()), pytest.raises(DeadlineExceeded, match="deadline passed"):
        store.purge(list_id, 55)
    assert _calls(store) - before == 1  # the Query; no delete once the deadline had passed
    assert len(store.scan(list_id, 0, None, 100)) == 60
    store.purge(list_id, 55)
    assert [p for p, _ in store.scan(list_id, 0, None, 100)] == list(range(55, 60))
    store.drop_entries(list_id)
    assert store.scan(list_id, 0, None, 100) == ()


def test_append_bills_one_write_unit_and_latest_what_a_native_query_bills(store):
    """Layout 2's billing on DynamoDB Local: an append of a 200-byte value is one PutItem
    of 1 WCU; latest(50) is one Query billing no more than the native design's
    Query(Limit=50, ConsistentRead=True) over the same entries (native items carry a longer
    sort key than the entry rows, so never less either by more than a unit)."""
    from pagedlist import PagedList
    from pagedlist.bench.native.dynamodb import DynamoDBItemsSubject
    from pagedlist.bench.subjects import make_entry

    list_id = f"bill-{uuid.uuid4().hex[:10]}"
    plist = PagedList.create(store, list_id)
    plist.append("warm")  # learns the tail: later appends are one claim each
    before = store.stats()
    for _ in range(60):
        plist.append("x" * 198)
    after = store.stats()
    assert after["requests"] - before["requests"] == 60
    assert after["write_units"] - before["write_units"] == 60.0
    native = DynamoDBItemsSubject(store.client, f"{store.table}_bench_native")
    feed = f"nat-{uuid.uuid4().hex[:10]}"
    native.populate(feed, [make_entry(200) for _ in range(60)])
    start = native.units().get("read_units", 0.0)
    assert native.latest(feed, 50) == 50
    native_units = native.units()["read_units"] - start
    before = store.stats()
    assert len(plist.latest(50)) == 50
    after = store.stats()
    assert after["requests"] - before["requests"] == 1
    ours = after["read_units"] - before["read_units"]
    assert ours <= native_units, (ours, native_units)


def test_claim_entries_option_trades_throughput_for_single_write_units(url):
    """``claim_entries=1``: every claim is one PutItem of 1 WCU (no transaction, which
    DynamoDB bills twice); the core then writes an extend item by item."""
    from pagedlist import PagedList

    with open_store(url.replace("create=true", "create=true&claim_entries=1")) as one:
        assert one.features.claim_entries == 1
        plist = PagedList.create(one, f"ce-{uuid.uuid4().hex[:10]}")
        plist.append("warm")
        before = one.stats()
        assert plist.extend(["a", "b", "c"]) == [1, 2, 3]
        after = one.stats()
        assert after["requests"] - before["requests"] == 3
        assert after["write_units"] - before["write_units"] == 3.0
