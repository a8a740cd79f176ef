"""The OCI NoSQL adapter and the local endpoint beyond the conformance suite: heavy
concurrency, the cloud limits, refusals the real borneo client sees, error mapping.

Everything talks to the endpoint over HTTP through the unmodified borneo SDK.
"""

from __future__ import annotations

import json
import threading
import uuid

import borneo
import pytest
from borneo import NoSQLHandle, NoSQLHandleConfig, PrepareRequest, PutRequest, QueryRequest
from borneo.kv import StoreAccessTokenProvider

from pagedlist.adapters import open_store
from pagedlist.adapters.oci import ROW_BYTES, OCINoSQLStore
from pagedlist.conformance.history import Recorder, check_list
from pagedlist.core.ops import Claimed
from pagedlist.core.pagedlist import PagedList
from pagedlist.emulators.base import free_port
from pagedlist.errors import (
    ConfigError,
    InvalidListId,
    ItemTooLarge,
    StoreUnavailable,
    Throttled,
)


@pytest.fixture(scope="module")
def url(servers) -> str:
    return servers.get("oci-nosql").url


@pytest.fixture
def store(url):
    with open_store(url) as opened:
        yield opened


@pytest.fixture
def handle(url):
    """A bare borneo handle on the endpoint, to send what the adapter never sends (the
    adapter's tables created first, so a test does not depend on the ones before it)."""
    open_store(url).close()
    endpoint = url.split("://", 1)[1].split("/", 1)[0]
    h = NoSQLHandle(NoSQLHandleConfig(f"http://{endpoint}", StoreAccessTokenProvider()))
    yield h
    h.close()


def test_endpoint_refuses_a_statement_shape_the_adapter_never_sends(handle):
    """A SELECT the adapter does not send: the proxy's ILLEGAL_ARGUMENT, as borneo raises it."""
    with pytest.raises(borneo.IllegalArgumentException, match="statement shape not supported"):
        handle.prepare(PrepareRequest().set_statement("SELECT * FROM pagedlist"))
    with pytest.raises(borneo.IllegalArgumentException):
        handle.query(QueryRequest().set_statement("DELETE FROM pagedlist WHERE k = 'x'"))


def test_endpoint_refuses_an_operation_it_does_not_model(handle):
    """list tables is a real operation the stand-in does not model: OPERATION_NOT_SUPPORTED."""
    with pytest.raises(borneo.OperationNotSupportedException):
        handle.list_tables(borneo.ListTablesRequest())


def test_endpoint_enforces_cloud_limits(handle):
    """64-byte key, 512 KB row and 10 KB query text, refused with the service's errors."""
    put = PutRequest().set_table_name("pagedlist")
    with pytest.raises(borneo.exception.KeySizeLimitException):
        handle.put(put.set_value({"k": "k" * 65, "doc": {}, "sz": 0}))
    with pytest.raises(borneo.exception.RowSizeLimitException):
        handle.put(put.set_value({"k": "big", "doc": {"x": "a" * ROW_BYTES}, "sz": 0}))
    with pytest.raises(borneo.IllegalArgumentException, match="too long"):
        handle.prepare(PrepareRequest().set_statement("SELECT " + "1," * 6000 + "1"))


def test_append_over_the_row_limit_writes_nothing(store):
    """An UPDATE that would pass 512 KB is refused in its WHERE clause: ItemTooLarge, and
    the row is unchanged."""
    key = f"big-{uuid.uuid4().hex[:8]}|0"
    entry = {"id": "a", "ts": 1, "v": "x" * (ROW_BYTES - 200)}
    assert store.append(key, "items", [entry], 10).length == 1
    before = store.get(key)
    with pytest.raises(ItemTooLarge):
        store.append(key, "items", [{"id": "b", "ts": 1, "v": "y" * 500}], 10)
    after = store.get(key)
    assert after == before


def test_put_over_the_row_limit_and_long_keys(store):
    """Puts over 512 KB and keys over 64 bytes fail before anything is written."""
    with pytest.raises(ItemTooLarge):
        store.put_if_absent("too-big", {"v": "x" * ROW_BYTES})
    assert store.get("too-big") is None
    with pytest.raises(InvalidListId):
        store.put_if_absent("k" * 65, {})
    assert store.limits.key_bytes == 64 and store.limits.row_bytes == ROW_BYTES


def test_missing_table_is_a_config_error_that_says_how(url):
    """Without create=true a missing table fails at open, naming the fixes."""
    missing = url.replace("/pagedlist?create=true", f"/t{uuid.uuid4().hex[:8]}")
    with pytest.raises(ConfigError, match="pagedlist init") as info:
        open_store(missing)
    assert "create=true" in str(info.value) and "CREATE TABLE" in str(info.value)


def test_provision_creates_the_table(url):
    """provision(url) creates the table; opening it afterwards works without create."""
    fresh = url.replace("/pagedlist?create=true", f"/t{uuid.uuid4().hex[:8]}")
    assert "created table" in OCINoSQLStore.provision(fresh)
    with open_store(fresh) as s:
        assert s.put_if_absent("a", {"b": 1})


def test_stats_count_units_and_describe_has_no_secrets(store):
    """Read/write units accumulate; describe names the endpoint and table only."""
    before = store.stats()
    store.put_if_absent(f"s-{uuid.uuid4().hex}", {"a": 1})
    store.get("whatever")
    after = store.stats()
    assert after["write_units"] > before["write_units"]
    assert after["read_units"] > before["read_units"]
    assert store.describe().startswith("oci-nosql+http://127.0.0.1:")


def test_unreachable_endpoint_is_store_unavailable():
    """Nothing listening: StoreUnavailable (retryable), chained to the transport error."""
    port = free_port()
    with pytest.raises(StoreUnavailable) as info:
        open_store(f"oci-nosql+http://127.0.0.1:{port}/pagedlist?timeout=2")
    assert info.value.__cause__ is not None


def test_throttling_maps_to_throttled():
    """borneo's throttling exceptions (the endpoint does not model throttling) map to
    Throttled, which the core retries."""
    from pagedlist.adapters.oci import _map_error

    for cls in (
        borneo.ReadThrottlingException,
        borneo.WriteThrottlingException,
        borneo.OperationThrottlingException,
    ):
        assert isinstance(_map_error(cls("slow down"), "get"), Throttled)


@pytest.mark.parametrize(
    "bad",
    [
        "oci-nosql://pagedlist",
        "oci-nosql://pagedlist?region=us-ashburn-1",
        "oci-nosql://bad-name?region=r&compartment=c",
        "oci-nosql+http://127.0.0.1/pagedlist",
        "oci-nosql+http://127.0.0.1:8080/pagedlist?bogus=1",
    ],
)
def test_bad_urls_are_config_errors(bad):
    with pytest.raises(ConfigError):
        open_store(bad)


@pytest.mark.parametrize(
    "bad",
    [
        "oci-nosql+http://127.0.0.1:x/pagedlist",
        "oci-nosql+http://127.0.0.1:99999/pagedlist",
        "oci-nosql+http://127.0.0.1:0/pagedlist",
        "oci-nosql+http://[::1/pagedlist",
    ],
)
def test_bad_port_is_a_config_error_not_a_value_error(bad):
    """Found defect: urlsplit's ValueError for a bad port escaped from open_store."""
    with pytest.raises(ConfigError, match=r"port|IPv6") as caught:
        open_store(bad)
    assert "oci-nosql+http://HOST:PORT/TABLE" in str(caught.value)


@pytest.mark.parametrize("value", ["lots", "0", "2.5"])
def test_storage_gb_is_checked_once_before_any_credentials_are_read(value):
    """storage_gb is one option read once: a bad value fails before request signing is set
    up (the config file named here does not exist), naming the option."""
    with pytest.raises(ConfigError, match="storage_gb"):
        open_store(
            "oci-nosql://pagedlist?region=us-ashburn-1&compartment=ocid1.compartment.oc1..x"
            f"&config_file=/nonexistent/oci-config&storage_gb={value}"
        )


def test_cloud_signing_failure_never_echoes_the_config(tmp_path):
    """A broken OCI config file fails with ConfigError naming the profile, not its keys."""
    config = tmp_path / "config"
    config.write_text("[DEFAULT]\nuser=ocid1.user.oc1..secretuser\nkey_file=/nonexistent\n")
    with pytest.raises(ConfigError) as info:
        open_store(
            "oci-nosql://pagedlist?region=us-ashburn-1&compartment=ocid1.compartment.oc1..x"
            f"&config_file={config}"
        )
    assert "secretuser" not in str(info.value)


def test_documents_round_trip_exactly(store):
    """Ints of any size (borneo alone would truncate past 64 bits), None, unicode, control
    characters, empty containers: returned equal, ints as int."""
    key = f"rt-{uuid.uuid4().hex[:8]}"
    doc = {
        "big": 2**70,
        "neg": -(2**64) - 5,
        "max64": 2**63 - 1,
        "s": "é\u0000\u2028",
        "b": True,
        "n": None,
        "e": "",
        "m": {"x": []},
    }
    assert store.put_if_absent(key, doc)
    got = store.get(key).doc
    assert got == doc and type(got["big"]) is int
    entry = {"id": "a", "ts": 2**65, "v": ""}
    assert store.append(key + "p", "items", [entry], 5).length == 1
    assert store.append(key + "p", "items", [{**entry, "id": "b"}], 5).length == 2
    assert store.get(key + "p").doc["items"][1] == {**entry, "id": "b"}


def test_append_round_trips(store):
    """Steady state 1 request; a new page, a Duplicate and a Full 2 each (prepare excluded)."""
    key = f"rt-{uuid.uuid4().hex[:8]}|0"
    store.append(key + "warm", "items", [{"id": "w", "ts": 1, "v": ""}], 5)  # prepares

    def requests(call) -> int:
        before = store.stats()["requests"]
        call()
        return store.stats()["requests"] - before

    first = [{"id": "a", "ts": 1, "v": ""}]
    assert requests(lambda: store.append(key, "items", first, 2)) == 2
    assert requests(lambda: store.append(key, "items", [{"id": "b", "ts": 1, "v": ""}], 2)) == 1
    assert requests(lambda: store.append(key, "items", first, 2)) == 2
    assert requests(lambda: store.append(key, "items", [{"id": "c", "ts": 1, "v": ""}], 2)) == 2


def _raw_post(url: str, path: str, body: bytes) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    endpoint = url.split("://", 1)[1].split("/", 1)[0]
    request = urllib.request.Request(f"http://{endpoint}{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_garbled_body_and_wrong_path(url):
    """A body that is not NSON gets BAD_PROTOCOL_MESSAGE in an NSON error map (what borneo
    parses); a path other than /V2/nosql/data gets 404."""
    from borneo.common import ByteInputStream
    from borneo.nson import FieldValueCreator, Nson
    from borneo.serdeutil import SerdeUtil

    status, body = _raw_post(url, "/V2/nosql/data", b"\x00\x04garbage")
    assert status == 200
    creator = FieldValueCreator()
    Nson.generate_events_from_nson(ByteInputStream(bytearray(body)), creator)
    reply = creator.get_current_value()
    assert reply["e"] == SerdeUtil.USER_ERROR.BAD_PROTOCOL_MESSAGE and reply["x"]
    assert _raw_post(url, "/V0/other", b"")[0] == 404


def test_silent_endpoint_is_deadline_exceeded(silent_port):
    """A server that accepts and never answers: DeadlineExceeded after the URL's timeout."""
    from pagedlist.errors import DeadlineExceeded

    with pytest.raises(DeadlineExceeded):
        open_store(f"oci-nosql+http://127.0.0.1:{silent_port}/pagedlist?timeout=1")


def test_two_endpoints_share_one_database_file(tmp_path):
    """Two endpoint servers on one SQLite file: appends through both stay exactly-once."""
    from pagedlist.emulators.oci_server import make_server

    db = str(tmp_path / "shared.db")
    servers, urls = [], []
    for _ in range(2):
        port = free_port()
        server = make_server(port, db)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls.append(f"oci-nosql+http://127.0.0.1:{port}/shared?create=true")
    stores = [open_store(urls[i % 2]) for i in range(4)]
    try:
        PagedList.create(stores[0], "two", capacity=10)
        recorder = Recorder()

        def worker(i: int) -> None:
            plist = PagedList.open(stores[i], "two")
            for j in range(50):
                recorder.append(plist, f"w{i}", j, f"w{i}-{j}")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(recorder.acked) == 200
        assert check_list(stores[1], "two", recorder) == []
    finally:
        for s in stores:
            s.close()
        for server in servers:
            server.shutdown()
            server.server_close()


# --- layout 2: the entry table, as the endpoint runs what the adapter sends -------------------

ENTRIES = "pagedlist_e"


def _entry(item_id: str, v: str = '"x"') -> dict:
    return {"id": item_id, "ts": 1_700_000_000_000, "v": v}


def _claim_put(list_id: str, pos: int, item_id: str) -> PutRequest:
    return (
        PutRequest()
        .set_table_name(ENTRIES)
        .set_value({"l": list_id, "p": pos, "e": json.dumps(_entry(item_id))})
        .set_option(borneo.PutOption.IF_ABSENT)
        .set_return_row(True)
    )


def _units(store, call) -> tuple[int, int]:
    before = store.stats()
    call()
    after = store.stats()
    return after["read_units"] - before["read_units"], after["write_units"] - before["write_units"]


def test_write_multiple_runs_in_key_order_and_aborts_at_the_lowest_taken(store, handle):
    """As the engine's ExecuteHandler: operations run in key order whatever their order
    in the request, the first failing one aborts the batch (nothing written) and is
    reported by its index in the request, with the occupant asked back."""
    lid = f"wm-{uuid.uuid4().hex[:8]}"
    for pos in (3, 5):
        assert handle.put(_claim_put(lid, pos, f"old{pos}")).get_version() is not None
    batch = borneo.WriteMultipleRequest()
    for pos in (6, 5, 4, 3):
        batch.add(_claim_put(lid, pos, f"new{pos}"), True)
    result = handle.write_multiple(batch)
    assert not result.get_success()
    assert result.get_failed_operation_index() == 3  # position 3, the lowest taken
    occupant = result.get_failed_operation_result().get_existing_value()
    assert json.loads(occupant["e"]) == _entry("old3") and occupant["p"] == 3
    assert [p for p, _ in store.scan(lid, 0, None, 10)] == [3, 5]
    fresh = borneo.WriteMultipleRequest()
    for pos in (1, 0, 2):
        fresh.add(_claim_put(lid, pos, f"n{pos}"), True)
    done = handle.write_multiple(fresh)
    assert done.get_success() and len(done.get_results()) == 3
    assert all(r.get_version() is not None for r in done.get_results())
    assert [e["id"] for _, e in store.scan(lid, 0, None, 10)] == ["n0", "n1", "n2", "old3", "old5"]


def test_write_multiple_refuses_what_the_service_refuses(handle, store):
    """Two shard keys, one key twice, more than 50 operations: refused, nothing written;
    the adapter never sends more than 50 (UsageError before any request)."""
    lid = f"wm-{uuid.uuid4().hex[:8]}"
    mixed = borneo.WriteMultipleRequest()
    mixed.add(_claim_put(lid, 0, "a"), True).add(_claim_put(lid + "x", 0, "b"), True)
    with pytest.raises(borneo.IllegalArgumentException, match="same shard key"):
        handle.write_multiple(mixed)
    twice = borneo.WriteMultipleRequest()
    twice.add(_claim_put(lid, 0, "a"), True).add(_claim_put(lid, 0, "b"), True)
    with pytest.raises(borneo.IllegalArgumentException, match="same key"):
        handle.write_multiple(twice)
    many = borneo.WriteMultipleRequest()
    for pos in range(51):
        many.add(_claim_put(lid, pos, f"m{pos}"), True)
    with pytest.raises(borneo.exception.BatchOperationNumberLimitException):
        handle.write_multiple(many)
    assert store.scan(lid, 0, None, 100) == ()
    from pagedlist.errors import UsageError

    before = store.stats()["requests"]
    with pytest.raises(UsageError, match="at most 50"):
        store.claim(lid, 0, [_entry(f"c{i}") for i in range(51)])
    assert store.stats()["requests"] == before
    assert store.claim(lid, 0, [_entry(f"c{i}") for i in range(50)]) == Claimed()
    assert len(store.scan(lid, 0, None, 100)) == 50


def test_multi_delete_is_bounded_and_continues_from_its_key(store, handle):
    """A multi-delete stops once max_write_kb is written and names where it stopped; the
    next call, from that key, goes on; a range bounds what is deleted."""
    lid = f"md-{uuid.uuid4().hex[:8]}"
    big = '"' + "x" * 2500 + '"'
    for pos in range(5):
        assert store.claim(lid, pos, [_entry(f"i{pos}", big)]) == Claimed()
    request = (
        borneo.MultiDeleteRequest()
        .set_table_name(ENTRIES)
        .set_key({"l": lid})
        .set_range(borneo.FieldRange("p").set_end(4, False))
        .set_max_write_kb(4)
    )
    first = handle.multi_delete(request)
    assert first.get_num_deletions() == 2 and first.get_continuation_key() is not None
    request.set_continuation_key(first.get_continuation_key())
    second = handle.multi_delete(request)
    assert second.get_num_deletions() == 2
    request.set_continuation_key(second.get_continuation_key())
    if second.get_continuation_key() is not None:
        assert handle.multi_delete(request).get_num_deletions() == 0
    assert [p for p, _ in store.scan(lid, 0, None, 10)] == [4]


def test_purge_is_deadline_aware_and_sends_nothing_past_it(store):
    """purge's requests take their timeout from the operation's deadline; once it has
    passed, the next request is not sent (DeadlineExceeded, retryable), and what was
    already deleted stays deleted (purge is idempotent)."""
    import time

    from pagedlist.core.deadline import active
    from pagedlist.errors import DeadlineExceeded

    lid = f"pd-{uuid.uuid4().hex[:8]}"
    store.claim(lid, 0, [_entry(f"i{i}") for i in range(4)])
    before = store.stats()["requests"]
    with active(time.monotonic() - 1), pytest.raises(DeadlineExceeded, match="not sent"):
        store.purge(lid, 2)
    assert store.stats()["requests"] == before
    with active(time.monotonic() + 5):
        store.purge(lid, 2)
    assert [p for p, _ in store.scan(lid, 0, None, 10)] == [2, 3]


def test_scan_reads_past_the_services_batch_limit(store):
    """A query batch stops at 2 MB read; the adapter follows the continuation key, so a
    scan of 5 rows of 450 KB returns all of them, in order, in two batches."""
    lid = f"sc-{uuid.uuid4().hex[:8]}"
    big = '"' + "y" * (450 * 1024) + '"'
    for pos in range(5):
        assert store.claim(lid, pos, [_entry(f"b{pos}", big)]) == Claimed()
    store.scan(lid, 0, None, 1)  # prepares the statement
    before = store.stats()["requests"]
    got = store.scan(lid, 0, None, 100)
    assert [p for p, _ in got] == [0, 1, 2, 3, 4] and got[4][1]["v"] == big
    assert store.stats()["requests"] - before == 2
    assert [p for p, _ in store.scan(lid, 0, None, 100, True)] == [4, 3, 2, 1, 0]


def test_entry_units_follow_the_engines_throughput_rules(store):
    """Read and write units of each entry operation, as the engine's handlers charge them
    (reads of a write are absolute: x2): a new claim reads the minimum and writes the row;
    a refused one with the occupant asked back reads it; a query reads each row (1 KB at
    least) or 1 KB when it finds none; a version-matched put writes new and old."""
    lid = f"u-{uuid.uuid4().hex[:8]}"
    store.scan(lid, 0, None, 1)
    store.scan(lid, 0, None, 1, True)  # both statements prepared
    assert _units(store, lambda: store.claim(lid, 0, [_entry("a")])) == (2, 1)
    assert _units(store, lambda: store.claim(lid, 0, [_entry("b")])) == (2, 0)
    three = [_entry(f"c{i}") for i in range(3)]
    assert _units(store, lambda: store.claim(lid, 1, three)) == (6, 3)
    assert _units(store, lambda: store.claim(lid, 5, [_entry("d")])) == (2, 1)
    # Aborted at 5 (taken, its occupant read); 4 was written first, and stays charged.
    assert _units(store, lambda: store.claim(lid, 4, three)) == (4, 1)
    assert store.get_entry(lid, 4) is None
    assert _units(store, lambda: store.scan(lid, 0, None, 3, True)) == (6, 0)
    assert _units(store, lambda: store.scan(lid, 9, None, 3)) == (2, 0)
    assert _units(store, lambda: store.get_entry(lid, 0)) == (2, 0)
    assert _units(store, lambda: store.get_entry(lid, 9)) == (2, 0)
    version = store.get_entry(lid, 0).version
    assert _units(store, lambda: store.replace_entry(lid, 0, _entry("a", '"e"'), version)) == (
        2,
        2,
    )
    assert _units(store, lambda: store.purge(lid, 4)) == (10, 4)


def test_layout_1_append_bills_the_old_row_too(store):
    """An UPDATE reads its row and puts it back: the engine's put over an existing record
    writes the new record and the old one."""
    key = f"l1-{uuid.uuid4().hex[:8]}|0"
    store.append(key, "items", [_entry("a", '"' + "z" * 2000 + '"')], 10)
    store.append(key, "items", [_entry("w")], 10)  # the statement is prepared
    read, write = _units(store, lambda: store.append(key, "items", [_entry("b")], 10))
    assert (read, write) == (6, 3 + 3)  # a 2.1 KB row read (x2), 3 KB new + 3 KB old


def test_endpoint_refuses_statements_on_the_wrong_table_and_row_deletes(handle):
    """An entry scan against the rows table fails as a compile error would; a statement
    the adapter does not send is refused on the entry table too; single-row deletes of
    entry rows are not modelled (the adapter multi-deletes)."""
    from pagedlist.adapters.oci import SCAN_NEWEST_FIRST

    with pytest.raises(borneo.IllegalArgumentException, match="does not apply"):
        handle.prepare(PrepareRequest().set_statement(SCAN_NEWEST_FIRST.format(table="pagedlist")))
    with pytest.raises(borneo.IllegalArgumentException, match="statement shape not supported"):
        handle.prepare(PrepareRequest().set_statement(f"SELECT * FROM {ENTRIES}"))
    with pytest.raises(borneo.OperationNotSupportedException):
        handle.delete(borneo.DeleteRequest().set_table_name(ENTRIES).set_key({"l": "x", "p": 0}))


def test_endpoint_runs_the_native_feed_design(handle):
    """The bench's native design: a table keyed (SHARD(feed), seq) with seq an identity
    column; a put without seq draws the next value and returns it; its queries read one
    feed newest first, keyset-paged on seq."""
    from pagedlist.bench.native.oci import NATIVE_DDL, NATIVE_LATEST

    table = f"nat{uuid.uuid4().hex[:8]}"
    handle.do_table_request(
        borneo.TableRequest().set_statement(NATIVE_DDL.format(table=table)), 30_000, 100
    )
    seqs = []
    for i in range(3):
        value = {"feed": "f", "id": f"i{i}", "ts": i, "v": '"v"'}
        result = handle.put(PutRequest().set_table_name(table).set_value(value))
        seqs.append(int(result.get_generated_value()))
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    prepared = handle.prepare(
        PrepareRequest().set_statement(NATIVE_LATEST.format(table=table))
    ).get_prepared_statement()
    prepared.set_variable("$f", "f").set_variable("$n", 2)
    rows = handle.query(QueryRequest().set_prepared_statement(prepared)).get_results()
    assert [r["id"] for r in rows] == ["i2", "i1"]
