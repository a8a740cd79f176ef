"""The conformance suite against Redis, standalone and Cluster, plus what is Redis's own:
URL forms, passwords kept out of messages, exact round trips, the row-size bookkeeping the
Lua scripts keep, and the mapping of Redis failures to pagedlist errors."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.adapters.redis import REDIS_ROW_BYTES, RedisStore, parse_url
from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.emulators.base import EmulatorError, free_port, wait_for
from pagedlist.emulators.redis import (
    RedisEmulator,
    RedisRunning,
    docker_unavailable,
    resp_command,
    start_container,
)
from pagedlist.errors import (
    ConfigError,
    DeadlineExceeded,
    ItemTooLarge,
    StoreUnavailable,
    Throttled,
)


class RedisFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return servers.get("redis").url


class RedisClusterFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return servers.get("redis-cluster").url


class TestRedis(ConformanceSuite, RedisFixtures):
    """Every clause on one standalone redis-server."""


class TestRedisCluster(ConformanceSuite, RedisClusterFixtures):
    """Every clause on a three-master Redis Cluster."""


# --- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://",
        "redis://:pw@",
        "redis://host:notaport",
        "redis://host:70000",
        "redis://host:6379/zero",
        "redis://a:1,b:2",
        "redis+cluster://a:1,b:2/3",
        "redis://host:6379?bogus=1",
        "redis://host:6379?timeout=soon",
        "redis://host:6379?ssl_ca_certs=/x",
        "redis+cluster://[::1:7000,b:1",
    ],
)
def test_malformed_urls_name_the_accepted_form(url):
    with pytest.raises(ConfigError, match=r"redis://\[:password@\]host:port\[/db\]"):
        open_store(url)


def test_url_parts():
    target = parse_url("redis://:p%40ss@db.example:6380/2?timeout=1.5")
    assert (target.nodes, target.db, target.password, target.timeout) == (
        [("db.example", 6380)],
        2,
        "p@ss",
        1.5,
    )
    assert not target.cluster and not target.tls
    target = parse_url("rediss://user:secret@h/0?ssl_cert_reqs=none")
    assert (target.tls, target.username, target.nodes) == (True, "user", [("h", 6379)])
    target = parse_url("redis+cluster://:pw@a:7000,[::1]:7001,c:7002")
    assert target.cluster and target.nodes == [("a", 7000), ("::1", 7001), ("c", 7002)]


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2secret@127.0.0.1:1/0",
        "rediss://admin:hunter2secret@127.0.0.1:1/0",
        "redis+cluster://:hunter2secret@127.0.0.1:1,127.0.0.1:2",
    ],
)
def test_describe_and_errors_hide_the_password(url):
    target = parse_url(url)
    assert "hunter2secret" not in target.describe()
    assert "hunter2secret" not in repr(target)
    assert "***" in target.describe()
    with pytest.raises(ConfigError) as caught:
        open_store(url.replace("127.0.0.1:1", "127.0.0.1:x"))
    assert "hunter2secret" not in str(caught.value)


# --- a password-protected server -------------------------------------------------------


@pytest.fixture(scope="module")
def protected() -> Iterator[RedisRunning]:
    with RedisEmulator(password="s3cret-pw").start() as running:
        yield running


def test_password_in_url(protected):
    with open_store(protected.url) as store:
        assert "s3cret-pw" not in store.describe()
        assert store.put_if_absent("pw|a", {"x": 1})
        assert store.get("pw|a").doc == {"x": 1}


def test_wrong_password_is_a_config_error(protected):
    url = f"redis://:wrong-pw@127.0.0.1:{protected.ports[0]}/0"
    with open_store(url) as store, pytest.raises(ConfigError, match="password") as caught:
        store.get("pw|a")
    assert "wrong-pw" not in str(caught.value)


# --- exactness and the row-size bookkeeping -------------------------------------------


@pytest.fixture
def store(servers) -> Iterator[RedisStore]:
    with open_store(servers.get("redis").url) as opened:
        assert isinstance(opened, RedisStore)
        yield opened


@pytest.fixture
def key(request) -> str:
    return f"redis-{request.node.name[:40]}-{free_port()}|0"


def test_documents_round_trip_exactly(store, key):
    """What Lua's cjson would break: empty arrays and objects, big integers, Unicode."""
    doc = {
        "empty_list": [],
        "empty_obj": {},
        "nested": [[], {}, [[]], {"a": []}],
        "big": 2**64 + 1,
        "neg": -(2**63),
        "text": 'héllo \u2603 "quoted" \\ \x00',
        "flag": False,
        "none": None,
        "items": [{"id": "x", "ts": 2**60, "v": "[]"}],
        "odd:name|with:colons": 1,
    }
    assert store.put_if_absent(key, doc)
    assert store.get(key).doc == doc
    assert store.append(key, "items", [{"id": "y", "ts": 1, "v": "{}"}], 10).length == 2
    doc["items"].append({"id": "y", "ts": 1, "v": "{}"})
    assert store.get(key).doc == doc
    row = store.get(key)
    assert type(row.doc["big"]) is int and type(row.doc["items"][0]["ts"]) is int


def _tracked_size(store: RedisStore, key: str) -> int:
    return int(store._client.hget(key, "z"))


def test_scripts_keep_the_row_size_as_row_size_counts_it(store, key):
    """The size the scripts enforce is the one ``row_size`` reports, after every kind of
    write (the limit is checked against it inside the scripts)."""
    steps = [
        lambda: store.append(key, "items", [{"id": "a", "ts": 1, "v": "é"}], 9),
        lambda: store.append(key, "items", [{"id": "b", "ts": 2, "v": "x"}] * 1, 9),
        lambda: store.append(key, "other", [], 9),
        lambda: store.increment(key, "n", 5),
        lambda: store.increment(key, "n", 995),
        lambda: store.increment(key, "n", -2000, expect=1000),
        lambda: store.append(key, "other", [{"id": "c", "ts": 3, "v": ""}], 9),
    ]
    for step in steps:
        step()
        row = store.get(key)
        assert _tracked_size(store, key) == store.row_size(key, row.doc)
    row = store.get(key)
    assert store.replace(key, {"n": 1, "l": [{"id": "q"}, 3]}, row.version)
    assert _tracked_size(store, key) == store.row_size(key, store.get(key).doc)
    store.increment(key + "-fresh", "count", 7)
    assert _tracked_size(store, key + "-fresh") == store.row_size(
        key + "-fresh", store.get(key + "-fresh").doc
    )


def test_append_over_the_row_limit_writes_nothing(store, key):
    filler = "x" * 150_000
    store.append(key, "items", [{"id": "a", "ts": 1, "v": filler}], 10)
    store.append(key, "items", [{"id": "b", "ts": 1, "v": filler}], 10)
    before = store.get(key)
    with pytest.raises(ItemTooLarge):
        store.append(key, "items", [{"id": "c", "ts": 1, "v": filler}], 10)
    after = store.get(key)
    assert after == before


def test_increment_over_the_row_limit_writes_nothing(store, key):
    """A row exactly at the limit cannot grow by one digit."""
    base = {"n": 9, "pad": ""}
    room = REDIS_ROW_BYTES - store.row_size(key, base)
    base["pad"] = "p" * room
    assert store.row_size(key, base) == REDIS_ROW_BYTES
    assert store.put_if_absent(key, base)
    before = store.get(key)
    with pytest.raises(ItemTooLarge):
        store.increment(key, "n", 1)
    assert store.get(key) == before
    assert store.increment(key, "n", -1) == 8


def test_put_over_the_row_limit_writes_nothing(store, key):
    with pytest.raises(ItemTooLarge):
        store.put_if_absent(key, {"pad": "p" * REDIS_ROW_BYTES})
    assert store.get(key) is None


def test_append_cost_does_not_grow_with_the_list(store, key):
    """An append touches its k entries, not the whole list: the hash commands the script
    runs, counted by INFO commandstats, are as many for the 2nd as for the 200th append."""

    def hash_calls() -> int:
        stats = store._client.info("commandstats")
        return sum(int(v["calls"]) for k, v in stats.items() if k.startswith("cmdstat_h"))

    def cost(i: int) -> int:
        start = hash_calls()
        store.append(key, "items", [{"id": f"e{i}", "ts": i, "v": "v"}], 1000)
        return hash_calls() - start

    store.append(key, "items", [{"id": "e0", "ts": 0, "v": "v"}], 1000)  # creates the field
    second = cost(1)
    for i in range(2, 199):
        store.append(key, "items", [{"id": f"e{i}", "ts": i, "v": "v"}], 1000)
    assert cost(199) == second
    assert len(store.get(key).doc["items"]) == 200


# --- failures mapped to pagedlist errors ----------------------------------------------


def test_unreachable_server_is_store_unavailable():
    store = open_store(f"redis://127.0.0.1:{free_port()}/0?timeout=1")
    with store, pytest.raises(StoreUnavailable) as caught:
        store.get("x|0")
    assert caught.value.__cause__ is not None


def test_silent_server_is_deadline_exceeded(silent_port):
    """A server that accepts connections and never answers: the socket timeout fires."""
    store = open_store(f"redis://127.0.0.1:{silent_port}/0?timeout=0.3")
    with store, pytest.raises(DeadlineExceeded) as caught:
        store.get("x|0")
    assert caught.value.__cause__ is not None


@pytest.fixture(scope="module")
def busy_server() -> Iterator[RedisRunning]:
    with RedisEmulator(extra_args=["--busy-reply-threshold", "50"]).start() as running:
        yield running


def test_busy_script_is_throttled(busy_server):
    """While a script runs past busy-reply-threshold, Redis answers BUSY: Throttled."""
    port = busy_server.ports[0]

    def spin() -> None:
        # Answers "ERR ... Script killed by user" once SCRIPT KILL stops it.
        with contextlib.suppress(EmulatorError):
            resp_command(port, "EVAL", "while true do end", "0", timeout=60)

    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()

    def busy() -> bool:
        try:
            resp_command(port, "PING")
        except EmulatorError as err:
            return "BUSY" in str(err)
        return False

    wait_for(busy, 30, "the spinning script")
    try:
        with open_store(busy_server.url) as store, pytest.raises(Throttled):
            store.get("busy|0")
    finally:
        resp_command(port, "SCRIPT", "KILL")
        spinner.join(30)
    with open_store(busy_server.url) as store:
        assert store.get("busy|0") is None


# --- Cluster specifics -----------------------------------------------------------------


def test_cluster_get_many_spans_every_master(servers):
    cluster = servers.get("redis-cluster")
    keys = [f"span-{free_port()}-{i}|0" for i in range(40)]
    owners = {cluster.node_for_key(k) for k in keys}
    assert owners == {0, 1, 2}
    with open_store(cluster.url) as store:
        for i, k in enumerate(keys[::2]):
            store.put_if_absent(k, {"i": i})
        found = store.get_many(keys + keys[:5])
    assert set(found) == set(keys[::2])


def test_cluster_list_across_masters(servers):
    """A list whose pages land on different masters reads back in order."""
    with open_store(servers.get("redis-cluster").url) as store:
        plist = PagedList.create(store, f"span-{free_port()}", capacity=2)
        assert plist.extend(range(11)) == list(range(11))
        assert [item.value for item in plist.iter()] == list(range(11))


def test_persistent_server_keeps_acknowledged_writes_across_crashes(tmp_path):
    """appendonly + appendfsync always: a SIGKILLed server, restarted in place or as a new
    server on the same data_dir, has every acknowledged write."""
    emulator = RedisEmulator(appendonly=True, appendfsync="always", data_dir=tmp_path / "data")
    with emulator.start() as running:
        with open_store(running.url) as store:
            plist = PagedList.create(store, "durable", capacity=4, max_item_bytes=16)
            plist.extend(range(10))
        running.stop_node(0)
        running.start_node(0)
        with open_store(running.url) as store:
            assert [i.value for i in PagedList.open(store, "durable").iter()] == list(range(10))
            PagedList.open(store, "durable").append(10)
        running.stop_node(0)
    with emulator.start() as again, open_store(again.url) as store:
        assert [i.value for i in PagedList.open(store, "durable").iter()] == list(range(11))


def test_missing_redis_server_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    why = RedisEmulator().available()
    assert why is not None and "redis-server" in why and "apt-get install redis-server" in why
    with pytest.raises(EmulatorError, match="apt-get install redis-server"):
        RedisEmulator().start()


# --- Docker ----------------------------------------------------------------------------


def test_testcontainers_redis():
    """The same store on Redis in Docker, for machines with an engine."""
    why = docker_unavailable()
    if why:
        pytest.skip(f"no Docker engine: {why}")
    with start_container() as container, open_store(container.url) as store:
        assert store.put_if_absent("tc|0", {"items": []})
        assert store.append("tc|0", "items", [{"id": "a", "ts": 1, "v": "1"}], 2).length == 1
