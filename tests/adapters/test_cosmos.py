"""The conformance suite against a local Cosmos DB server, plus what is Cosmos DB's own: the
URL and credentials, the missing-container message, provisioning, the predicate literal
encoder, hostile ids and values, the item-size bookkeeping, request charges, error mapping
and many threads appending through one ``PagedList``.

The server is ``@vercel/cosmosdb-server`` (``pagedlist.emulators.cosmos``), started once per
session by the ``servers`` fixture. Microsoft's emulator in Docker is tried last and skipped
without a Docker engine.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator

import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.adapters.cosmos import (
    COSMOS_ITEM_BYTES,
    EMULATOR_KEY,
    KEY_ENV,
    MAX_PATCH_ENTRIES,
    CosmosStore,
    sql_string_literal,
)
from pagedlist.conformance import (
    AbstractHistoryTests,
    AbstractListTests,
    ConformanceSuite,
    StoreFixtures,
)
from pagedlist.conformance.blocking import AsyncAdapterFixtures
from pagedlist.conformance.fixtures import LayoutOneFixtures
from pagedlist.core.ops import Appended, Duplicate, Full
from pagedlist.emulators.base import free_port
from pagedlist.errors import (
    ConfigError,
    DeadlineExceeded,
    ItemTooLarge,
    StoreUnavailable,
    Throttled,
    UsageError,
)

#: Set to run these tests against a real account's container instead of the local server.
REAL_URL_ENV = "PAGEDLIST_COSMOS_URL"
REAL_URL = os.environ.get(REAL_URL_ENV)
local_only = pytest.mark.skipif(
    bool(REAL_URL), reason=f"${REAL_URL_ENV} is set: this test creates containers of its own"
)


def base_url(servers) -> str:
    """``$PAGEDLIST_COSMOS_URL`` as is, or a new container on the local server.

    The local server has no indexes: every query and every patch predicate scans the whole
    container, so each test gets its own small one (created on first open) to stay fast.
    """
    if REAL_URL:
        return REAL_URL
    url = servers.get("cosmos").url
    assert "/pagedlist/rows?" in url and "create=true" in url
    return url.replace("/pagedlist/rows?", f"/pagedlist/t{uuid.uuid4().hex[:12]}?")


class CosmosFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return base_url(servers)


class TestCosmos(ConformanceSuite, CosmosFixtures):
    """Every clause on CosmosStore, against the local Cosmos DB server (layout 2: entry
    documents)."""


class TestCosmosLayoutOne(
    AbstractListTests, AbstractHistoryTests, LayoutOneFixtures, CosmosFixtures
):
    """The list and history clauses on CosmosStore in layout 1 (page rows)."""


class TestCosmosAsync(ConformanceSuite, AsyncAdapterFixtures, CosmosFixtures):
    """Every clause on AsyncCosmosStore (azure.cosmos.aio), through a blocking bridge."""


# --- fixtures for the Cosmos-specific tests ----------------------------------------------


@pytest.fixture
def url(servers) -> str:
    return base_url(servers)


@pytest.fixture
def store(url) -> Iterator[CosmosStore]:
    with open_store(url) as opened:
        assert isinstance(opened, CosmosStore)
        yield opened


@pytest.fixture
def key() -> str:
    return f"cz-{uuid.uuid4().hex[:16]}|0"


def _other_container(url: str, container: str, create: bool) -> str:
    base = url.replace(url.split("/")[4].split("?")[0] + "?", f"{container}?")
    return base if create else base.replace("&create=true", "")


def entry(item_id: str, v: str = "x", ts: int = 1_700_000_000_000) -> dict:
    return {"id": item_id, "ts": ts, "v": v}


# --- the predicate literal encoder ---------------------------------------------------------

HOSTILE = [
    "",
    "plain",
    "UPPER lower",
    'say "hi"',
    "it's",
    "back\\slash",
    "\\u0041 is not A",
    "line\nbreak\r\ttab\x00\x1f\x7f",
    '"; DROP TABLE c; --',
    "') OR 1=1 --",
    "SELECT * FROM c",
    "select value 1 from c where true or",
    "ü漢字🚀\u2028\u2029\ufeff",
    "\ud800 lone surrogate",
    "x" * 200,
]


@pytest.mark.parametrize("text", HOSTILE)
def test_literal_is_json_that_decodes_to_the_text(text):
    literal = sql_string_literal(text)
    assert json.loads(literal) == text


@pytest.mark.parametrize("text", HOSTILE)
def test_literal_cannot_escape_or_be_case_folded(text):
    """Inside the quotes only lower-case letters, digits, ``space _ . - : |`` and ``\\u``
    escapes appear: no quote can end the literal, case-folding changes nothing, and the
    text ``select`` never appears."""
    literal = sql_string_literal(text)
    assert literal[0] == literal[-1] == '"'
    assert re.fullmatch(r"(?:[a-z0-9 _.:|-]|\\u[0-9a-f]{4})*", literal[1:-1])
    assert literal.lower() == literal
    assert "select" not in literal


def test_hex_ids_and_plain_names_need_no_escapes():
    assert sql_string_literal("0123456789abcdef") == '"0123456789abcdef"'
    assert sql_string_literal("items") == '"items"'
    assert sql_string_literal("preselect") == '"pre\\u0073elect"'


def test_select_is_escaped_only_for_the_local_server():
    """``escape_select=False`` (what the adapter passes for a real account) keeps "select"
    as it is; everything else is escaped the same way."""
    assert sql_string_literal("preselect", escape_select=False) == '"preselect"'
    for text in HOSTILE:
        literal = sql_string_literal(text, escape_select=False)
        assert json.loads(literal) == text
        assert literal.replace("select", "\\u0073elect") == sql_string_literal(text)


def test_emulator_flag_is_a_url_option_off_by_default():
    real = CosmosStore._parse("cosmos://acct.documents.azure.com:443/db/coll")
    assert real["emulator"] == "none"
    local = CosmosStore._parse("cosmos://127.0.0.1:1/db/coll?tls=false&emulator=vercel")
    assert local["emulator"] == "vercel"
    with pytest.raises(ConfigError, match=r"emulator.*none, vercel"):
        CosmosStore._parse("cosmos://127.0.0.1:1/db/coll?emulator=azurite")


def test_predicates_are_spelled_for_the_local_server_only_with_the_flag():
    store = CosmosStore.__new__(CosmosStore)
    store._vercel = False
    assert store._predicate("a", "b") == "FROM c WHERE a AND b"
    assert store._field("select") == 'c.doc["select"]'
    store._vercel = True
    assert store._predicate("a", "b") == "FROM c  WHERE a AND b"
    assert store._field("select") == 'c.doc["\\u0073elect"]'


def test_the_local_servers_url_carries_the_flag(servers):
    assert "emulator=vercel" in servers.get("cosmos").url


def test_literal_refuses_non_strings():
    with pytest.raises(TypeError):
        sql_string_literal(5)  # type: ignore[arg-type]


# --- hostile ids and values through the server ---------------------------------------------


def test_hostile_ids_and_values_through_append_increment_get(store, key):
    """Quotes, backslashes, newlines, Unicode and injection-looking text as entry ids, field
    names and values: appends, duplicate detection and increments all see them exactly."""
    entries = [entry(f"id-{i}-{t}", v=t) for i, t in enumerate(HOSTILE[:9])]
    # As ids too, except "" and the lone surrogate (the core refuses both as item ids).
    entries += [entry(t, v=t) for t in HOSTILE if t and "\ud800" not in t]
    for i in range(0, len(entries), MAX_PATCH_ENTRIES):
        batch = entries[i : i + MAX_PATCH_ENTRIES]
        assert store.append(key, "items", batch, 1000) == Appended(i + len(batch))
    assert store.get(key).doc["items"] == entries
    # Every id is found again as a duplicate, at its own index.
    for index, e in enumerate(entries):
        assert store.append(key, "items", [entry("fresh"), e], 1000) == Duplicate(index, 1)
    # Ids that differ from a stored one only in case or escaping are not duplicates.
    near = [entry("PLAIN"), entry("\\\\u0041 is not A"), entry('say "hi" ')]
    assert store.append(key, "items", near, 1000) == Appended(len(entries) + 3)
    # Field names are hostile too.
    for name in ['f"; DROP', "Mixed Case", "a/b~c", "_under", "ü🚀", "select"]:
        assert store.increment(key, name, 2) == 2
        assert store.increment(key, name, 3, expect=2) == 5
        assert store.increment(key, name, 1, expect=2) is None
        assert store.append(key + "x", name, [entry(name)], 5) == Appended(1)
        assert store.append(key + "x", name, [entry(name)], 5) == Duplicate(0, 0)
    doc = store.get(key).doc
    assert doc['f"; DROP'] == 5 and doc["a/b~c"] == 5 and doc["ü🚀"] == 5
    assert store.get_many([key, key + "x"])[key].doc == doc


def test_case_matters_in_duplicate_detection(store, key):
    """A server that case-folded predicates would see "A" and "a" as one id."""
    assert store.append(key, "items", [entry("A")], 5) == Appended(1)
    assert store.append(key, "items", [entry("a")], 5) == Appended(2)
    assert store.append(key, "items", [entry("A")], 5) == Duplicate(0, 0)


# --- URLs, credentials, provisioning ----------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "cosmos://host:1/onlydb",
        "cosmos://host:1/a/b/c",
        "cosmos:///db/coll",
        "cosmos://host:port/db/coll",
        "cosmos://host:1/db/coll?colour=red",
        "cosmos://host:1/db/coll?tls=perhaps",
        "cosmos://host:1/db/coll?timeout=soon",
        "cosmos://host:1/db/coll?timeout=0",
        "cosmos://host:1/db/coll?consistency=session",
        "cosmos://user:secretkey@host:1/db/coll",
    ],
)
def test_bad_urls_are_config_errors(bad):
    with pytest.raises(ConfigError) as caught:
        open_store(bad)
    assert "secretkey" not in str(caught.value)


@local_only
def test_missing_container_names_the_fix(url):
    name = f"absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigError) as caught:
        open_store(_other_container(url, name, create=False))
    message = str(caught.value)
    assert name in message
    assert "pagedlist init" in message and "create=true" in message and "/pk" in message


@local_only
def test_provision_creates_once_then_opens(url):
    name = f"prov-{uuid.uuid4().hex[:8]}"
    target = _other_container(url, name, create=False)
    assert "created" in CosmosStore.provision(target)
    assert "already exists" in CosmosStore.provision(target)
    with open_store(target) as store:
        assert store.put_if_absent("k|1", {"a": 1})
        assert store.get("k|1").doc == {"a": 1}


@local_only
def test_weak_account_consistency_is_refused_unless_accepted(url):
    """The local server reports Session consistency: without consistency=any the store
    refuses to open, naming the account setting and the opt-out."""
    strict = url.replace("consistency=any&", "")
    assert strict != url
    with pytest.raises(ConfigError) as caught:
        open_store(strict)
    message = str(caught.value)
    assert "Session" in message and "Strong" in message and "consistency=any" in message
    with open_store(url) as store:
        assert store.get("k|1") is None


@local_only
def test_wrong_partition_key_is_refused(url, store):
    name = f"wrongpk-{uuid.uuid4().hex[:8]}"
    from azure.cosmos import PartitionKey

    db = store._client.get_database_client("pagedlist")
    db.create_container(name, PartitionKey(path="/id"))
    with pytest.raises(ConfigError, match=r"\['/pk'\]"):
        open_store(_other_container(url, name, create=False))


@local_only
def test_describe_has_no_key(url, monkeypatch):
    monkeypatch.setenv(KEY_ENV, EMULATOR_KEY)
    with open_store(url) as store:
        text = store.describe()
        assert text.startswith("cosmos://127.0.0.1:") and "/pagedlist/t" in text
        assert EMULATOR_KEY not in text and EMULATOR_KEY[:10] not in text
        assert f"${KEY_ENV}" in text
        assert store.put_if_absent(f"k-{uuid.uuid4().hex}|0", {"a": 1})
    monkeypatch.delenv(KEY_ENV)
    with open_store(url) as store:
        assert "emulator key" in store.describe()


def test_remote_endpoint_without_key_uses_azure_identity(monkeypatch):
    """No key and a non-loopback host: DefaultAzureCredential, never the emulator key."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    store = CosmosStore.__new__(CosmosStore)
    credential, how = store._credential("myaccount.documents.azure.com")
    assert how == "Azure identity" and credential != EMULATOR_KEY
    assert store._credential("127.0.0.1") == (EMULATOR_KEY, "emulator key")
    assert store._credential("::1")[1] == "emulator key"


# --- limits and the item-size bookkeeping ------------------------------------------------


def test_limits(store):
    limits = store.limits
    assert limits.row_bytes == COSMOS_ITEM_BYTES == 2 * 1024 * 1024
    assert limits.append_entries == MAX_PATCH_ENTRIES == 9
    assert limits.value_expansion == 6


def test_more_entries_than_one_patch_takes_are_refused(store, key):
    with pytest.raises(UsageError, match="at most 9 entries"):
        store.append(key, "items", [entry(f"e{i}") for i in range(10)], 100)
    assert store.get(key) is None


def test_pagedlist_splits_batches_to_patch_size(store):
    """Layout 1: extend() of 25 values fits one page but needs three appends of at most 9
    (the adapter refuses a tenth entry, so an unsplit batch would fail)."""
    plist = PagedList.create(store, f"ext-{uuid.uuid4().hex[:12]}", capacity=40, layout=1)
    assert plist.extend(range(25)) == list(range(25))
    assert [i.value for i in plist.iter()] == list(range(25))
    page = store.get(f"{plist.id}|0").doc["items"]
    assert [e["v"] for e in page] == [str(i) for i in range(25)]


def _tracked(store: CosmosStore, key: str) -> int:
    return store._read(key)["rowbytes"]


def test_row_bytes_tracks_row_size_through_appends(store, key):
    """The size every patch maintains is the size ``row_size`` reports for the row."""
    store.append(key, "items", [entry("a", "é")], 50)
    store.append(key, "items", [entry("b", '"q"'), entry("c", "\n")], 50)
    store.append(key, "other", [entry("d")], 50)
    store.increment(key, "n", 5)
    store.append(key, "items", [entry("e", "🚀")], 50)
    assert _tracked(store, key) == store.row_size(key, store.get(key).doc)
    row = store.get(key)
    assert store.replace(key, {"x": 1}, row.version)
    assert _tracked(store, key) == store.row_size(key, {"x": 1})


def test_append_over_the_item_limit_writes_nothing(store, key):
    filler = "x" * 600_000
    for i in range(3):
        assert store.append(key, "items", [entry(f"b{i}", filler)], 10) == Appended(i + 1)
    before = store.get(key)
    with pytest.raises(ItemTooLarge):
        store.append(key, "items", [entry("over", filler)], 10)
    assert store.get(key) == before
    # Duplicate and Full are still answered first.
    assert store.append(key, "items", [entry("b1", filler)], 10) == Duplicate(1, 0)
    assert store.append(key, "items", [entry("new", filler)], 3) == Full(3)


def test_new_field_over_the_item_limit_writes_nothing(store, key):
    assert store.put_if_absent(key, {"pad": "p" * 1_900_000})
    before = store.get(key)
    with pytest.raises(ItemTooLarge):
        store.append(key, "items", [entry("a", "y" * 200_000)], 10)
    assert store.get(key) == before


def test_put_over_the_item_limit_writes_nothing(store, key):
    with pytest.raises(ItemTooLarge):
        store.put_if_absent(key, {"pad": "p" * COSMOS_ITEM_BYTES})
    assert store.get(key) is None


def test_increment_of_a_non_integer_is_refused(store, key):
    from pagedlist.errors import InvalidValue

    store.put_if_absent(key, {"s": "text"})
    with pytest.raises(InvalidValue):
        store.increment(key, "s", 1)


# --- request charges and errors -------------------------------------------------------------


def test_request_charge_is_counted(store, key):
    before = store.stats()
    store.append(key, "items", [entry("a")], 10)
    store.get(key)
    store.get_many([key, key + "-absent"])
    after = store.stats()
    assert after["requests"] - before["requests"] >= 3
    assert after["request_charge_ru"] - before["request_charge_ru"] >= 3
    assert after["throttled"] == 0


def test_request_charge_totals_are_thread_safe(url, key):
    with open_store(url) as shared:
        start = shared.stats()["requests"]

        def work(n: int) -> None:
            for _ in range(10):
                shared.increment(f"{key}-{n}", "n", 1)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = shared.stats()
        # 40 patches, plus one create per row (its first patch answers 404).
        assert stats["requests"] - start == 40 + 4
        assert stats["request_charge_ru"] >= stats["requests"] - start


def test_unreachable_endpoint_is_store_unavailable():
    with pytest.raises(StoreUnavailable) as caught:
        open_store(f"cosmos://127.0.0.1:{free_port()}/db/coll?tls=false&timeout=2")
    assert caught.value.__cause__ is not None


def test_silent_server_is_deadline_exceeded(silent_port):
    """A server that accepts connections and never answers: the read timeout fires."""
    with pytest.raises(DeadlineExceeded) as caught:
        open_store(f"cosmos://127.0.0.1:{silent_port}/db/coll?tls=false&timeout=0.5")
    assert caught.value.__cause__ is not None


@local_only
def test_read_of_missing_row_never_guesses_from_a_500(store, key):
    """The local server answers 500 to a point read of a missing id; the adapter confirms
    absence with a query, and still returns rows that exist."""
    assert store.get(key) is None
    store.put_if_absent(key, {"v": 1})
    assert store.get(key).doc == {"v": 1}


class FaultProxy:
    """A forwarding HTTP proxy in front of the local server that misbehaves on request,
    the way Cosmos DB can: the next ``throttle_writes`` document writes get 429 with
    ``x-ms-retry-after-ms``; the next ``fail_reads`` point reads of a document get 500; the
    next ``stall_reads`` point reads get no answer for ``stall_seconds``.

    It is a real server on the network: the SDK's own retry and timeout machinery runs.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.throttle_writes = 0
        self.fail_reads = 0
        self.stall_reads = 0
        self.stall_seconds = 3.0
        self.retry_after_ms = 50
        self.seen_429 = 0
        self.requests = 0
        self._lock = threading.Lock()
        self._released = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _fault(self) -> str | None:
                doc = "/docs" in self.path
                point_read = self.command == "GET" and doc and not self.path.endswith("/docs")
                with proxy._lock:
                    proxy.requests += 1
                    if doc and self.command in ("POST", "PATCH", "PUT") and proxy.throttle_writes:
                        proxy.throttle_writes -= 1
                        proxy.seen_429 += 1
                        return "throttle"
                    if point_read and proxy.fail_reads:
                        proxy.fail_reads -= 1
                        return "fail"
                    if point_read and proxy.stall_reads:
                        proxy.stall_reads -= 1
                        return "stall"
                return None

            def _forward(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = self._fault()
                if fault == "throttle":
                    payload = b'{"code":"TooManyRequests","message":"Request rate is large"}'
                    headers = {
                        "x-ms-retry-after-ms": str(proxy.retry_after_ms),
                        "x-ms-request-charge": "0.5",
                    }
                    self._answer(429, payload, headers)
                    return
                if fault == "fail":
                    self._answer(500, b'{"code":"InternalServerError","message":""}', {})
                    return
                if fault == "stall":
                    proxy._released.wait(proxy.stall_seconds)
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def url_for(self, url: str) -> str:
        """``url`` pointed at this proxy instead of the server."""
        return url.replace(f"127.0.0.1:{self.upstream_port}", f"127.0.0.1:{self.port}")


def _port(url: str) -> int:
    return int(url.split("://127.0.0.1:")[1].split("/")[0])


@local_only
def test_429_is_throttled_with_retry_after_and_the_driver_retries(url):
    """The SDK does not retry a 429 itself: the adapter raises Throttled(retry_after) at
    once, and the core driver waits and retries until the append goes through."""
    with FaultProxy(_port(url)) as proxy, open_store(proxy.url_for(url)) as store:
        k = f"thr-{uuid.uuid4().hex}|0"
        proxy.throttle_writes = 1
        proxy.retry_after_ms = 1500
        before = proxy.requests
        with pytest.raises(Throttled) as caught:
            store.append(k, "items", [entry("a")], 10)
        assert caught.value.retry_after == pytest.approx(1.5)
        assert proxy.requests - before == 1, "the SDK retried the 429 itself"
        assert store.stats()["throttled"] == 1
        assert store.get(k) is None
        # Through PagedList: three 429s in a row, then the append goes through.
        plist = PagedList.create(store, f"thr-{uuid.uuid4().hex[:12]}", capacity=5)
        proxy.retry_after_ms = 20
        proxy.throttle_writes = 3
        assert plist.append("v") == 0
        assert proxy.seen_429 == 4 and store.stats()["throttled"] == 4
        assert [i.value for i in plist.iter()] == ["v"]


@local_only
def test_a_500_on_a_read_is_never_taken_for_missing(url):
    """A 500 answer to a point read of a row that exists: the adapter asks again with a
    query and returns the row (a store that took every 500 for "absent" would lose it)."""
    with FaultProxy(_port(url)) as proxy, open_store(proxy.url_for(url)) as store:
        k = f"err-{uuid.uuid4().hex}|0"
        store.put_if_absent(k, {"v": 1})
        proxy.fail_reads = 1
        assert store.get(k).doc == {"v": 1}
        assert proxy.fail_reads == 0
        proxy.fail_reads = 1
        assert store.get(k + "x") is None


@local_only
def test_without_the_flag_a_500_on_a_read_is_store_unavailable(url):
    """A real account (no emulator flag): a 500 answer to a point read is a server error,
    raised as StoreUnavailable (the driver retries), never confirmed by a query."""
    assert url.endswith("&emulator=vercel")
    real = url.replace("&emulator=vercel", "")
    with FaultProxy(_port(url)) as proxy, open_store(proxy.url_for(real)) as store:
        k = f"err-{uuid.uuid4().hex}|0"
        assert store.put_if_absent(k, {"v": 1})
        proxy.fail_reads = 1
        before = proxy.requests
        with pytest.raises(StoreUnavailable) as caught:
            store.get(k)
        assert caught.value.retryable and proxy.requests - before == 1
        assert store.get(k).doc == {"v": 1}


@local_only
def test_a_read_that_gets_no_answer_is_deadline_exceeded(url):
    """After open, a read whose answer never comes: the read timeout fires and the adapter
    raises DeadlineExceeded (retryable) instead of hanging."""
    with FaultProxy(_port(url)) as proxy:
        proxy.stall_seconds = 5
        with open_store(proxy.url_for(url) + "&timeout=1") as store:
            k = f"stall-{uuid.uuid4().hex}|0"
            proxy.stall_reads = 1
            with pytest.raises(DeadlineExceeded) as caught:
                store.get(k)
            assert caught.value.retryable and caught.value.__cause__ is not None
            assert store.get(k) is None


# --- many threads through PagedList ------------------------------------------------------


# --- Microsoft's emulator in Docker ---------------------------------------------------------


def test_docker_cosmos_emulator():
    """The testcontainers flavour, for users with a Docker engine."""
    from pagedlist.emulators.cosmos import CosmosDockerEmulator

    why = CosmosDockerEmulator.available()
    if why:
        pytest.skip(f"no Docker engine here ({why}): the Linux Cosmos DB emulator not exercised")
    with CosmosDockerEmulator() as docker_url, open_store(docker_url) as store:
        assert store.put_if_absent("d|1", {"a": 1})
        assert store.get("d|1").doc == {"a": 1}
        assert store.append("d|2", "items", [entry("A")], 2) == Appended(1)
        assert store.append("d|2", "items", [entry("A")], 2) == Duplicate(0, 0)


# --- the asyncio adapter ---------------------------------------------------------------


def test_open_async_store_gives_the_native_asyncio_adapter(url, key):
    """``open_async_store`` serves cosmos:// with AsyncCosmosStore (azure.cosmos.aio), not a
    thread pool; its request charges are counted like the sync adapter's."""
    import asyncio

    from pagedlist.adapters import open_async_store
    from pagedlist.adapters.cosmos import AsyncCosmosStore

    async def main() -> tuple[object, ...]:
        async with await open_async_store(url) as store:
            assert isinstance(store, AsyncCosmosStore)
            before = store.stats()["requests"]
            outcomes = (
                await store.append(key, "items", [entry("a"), entry("b")], 10),
                await store.append(key, "items", [entry("b")], 10),
                await store.increment(key, "n", 4),
                await store.increment(key, "n", 1, expect=3),
                (await store.get(key)).doc["n"],
                sorted(await store.get_many([key, key + "-absent"])),
            )
            assert store.stats()["requests"] - before >= 6
            assert store.stats()["request_charge_ru"] > 0
            return outcomes

    assert asyncio.run(main()) == (Appended(2), Duplicate(1, 0), 4, None, 4, [key])
    with open_store(url) as sync:
        assert [e["id"] for e in sync.get(key).doc["items"]] == ["a", "b"]


@local_only
def test_async_missing_container_names_the_fix(url):
    import asyncio

    from pagedlist.adapters import open_async_store

    name = f"absent-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ConfigError, match="pagedlist init") as caught:
        asyncio.run(open_async_store(_other_container(url, name, create=False)))
    assert name in str(caught.value)


def test_async_unreachable_endpoint_is_store_unavailable():
    import asyncio

    from pagedlist.adapters import open_async_store

    port = free_port()
    with pytest.raises(StoreUnavailable):
        asyncio.run(open_async_store(f"cosmos://127.0.0.1:{port}/db/c?tls=false&timeout=2"))


# --- layout 2: entry documents ------------------------------------------------------------


def _slot(item_id: str) -> dict:
    return {"id": item_id, "ts": 1_764_000_000_000, "v": '"x"'}


def _requests(store: CosmosStore) -> int:
    return store.stats()["requests"]


def test_entry_documents_live_in_the_lists_partition(store):
    """A new list is layout 2: each entry a document {id: position, pk: list, pos, doc}."""
    from pagedlist.core.ops import Claimed

    assert store.features.entries and not store.features.push
    assert store.features.claim_entries == 10
    list_id = f"ed-{uuid.uuid4().hex[:10]}"
    plist = PagedList.create(store, list_id)
    plist.extend(["a", "b"])
    assert store.get(f"{list_id}|s").doc.get("format") == 2
    item = store._container.read_item("1", partition_key=list_id)
    assert (item["id"], item["pk"], item["pos"]) == ("1", list_id, 1)
    assert item["doc"]["v"] == '"b"'
    assert store.claim(list_id, 5, [_slot("z")]) == Claimed()
    assert [p for p, _ in store.scan(list_id, 0, None, 10, True)] == [5, 1, 0]


def test_claim_refused_past_its_first_position_writes_nothing(store):
    """The lowest taken position is named and the free positions before it stay free (the
    local server keeps a refused batch's earlier creates: emulator=vercel takes them back)."""
    from pagedlist.core.ops import Claimed, Taken

    list_id = f"cb-{uuid.uuid4().hex[:10]}"
    assert store.claim(list_id, 3, [_slot("late")]) == Claimed()
    before = _requests(store)
    taken = store.claim(list_id, 0, [_slot(f"e{i}") for i in range(6)])
    assert taken == Taken(3, _slot("late"))
    # The batch, the undo of positions 0..2 (the local server only), the occupant's read.
    assert _requests(store) - before == 1 + (3 if store._vercel else 0) + 1
    assert store.scan(list_id, 0, None, 100) == ((3, _slot("late")),)
    assert store.claim(list_id, 0, [_slot(f"e{i}") for i in range(3)]) == Claimed()
    assert [e["id"] for _, e in store.scan(list_id, 0, None, 100)] == ["e0", "e1", "e2", "late"]


def test_claim_and_scan_are_one_request_each(store):
    from pagedlist.core.ops import Claimed

    list_id = f"c1-{uuid.uuid4().hex[:10]}"
    before = _requests(store)
    assert store.claim(list_id, 0, [_slot("a")]) == Claimed()
    assert store.claim(list_id, 1, [_slot(f"b{i}") for i in range(10)]) == Claimed()
    assert len(store.scan(list_id, 0, None, 5, True)) == 5
    assert _requests(store) - before == 3


def test_list_ids_that_could_meet_a_row_are_refused(store):
    with pytest.raises(UsageError, match="cannot hold"):
        store.scan("a|s", 0, None, 1)
    with pytest.raises(UsageError):
        store.claim("a/b", 0, [_slot("x")])
