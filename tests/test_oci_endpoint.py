"""The OCI NoSQL adapter and the local endpoint beyond the conformance suite: heavy
concurrency, the cloud limits, refusals the real borneo client sees, error mapping.

Everything talks to the endpoint over HTTP through the unmodified borneo SDK.
"""

from __future__ import annotations

import threading
import uuid

import borneo
import pytest
from borneo import NoSQLHandle, NoSQLHandleConfig, PrepareRequest, PutRequest, QueryRequest
from borneo.kv import StoreAccessTokenProvider

from pagedlist.adapters import open_store
from pagedlist.adapters.oci import ROW_BYTES, OCINoSQLStore
from pagedlist.conformance.history import Recorder, check_list
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
    """A bare borneo handle on the endpoint, to send what the adapter never sends."""
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
