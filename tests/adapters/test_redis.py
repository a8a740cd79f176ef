"""The conformance suite against Redis, standalone and Cluster, in both layouts and through
the asyncio adapter, plus what is Redis's own: URL forms, passwords kept out of messages,
exact round trips, the row-size bookkeeping the Lua scripts keep, the entry rows of
layout 2 (one sorted set per list, hash-tagged to one slot), lists written by 0.1, and the
mapping of Redis failures to pagedlist errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from pagedlist import PagedList
from pagedlist.adapters import open_async_store, open_store
from pagedlist.adapters.redis import (
    REDIS_ROW_BYTES,
    AsyncRedisStore,
    RedisStore,
    _resp,
    entry_keys,
    parse_url,
)
from pagedlist.conformance import (
    AbstractHistoryTests,
    AbstractListTests,
    ConformanceSuite,
    StoreFixtures,
)
from pagedlist.conformance.blocking import AsyncAdapterFixtures, BlockingStore
from pagedlist.conformance.fixtures import LayoutOneFixtures
from pagedlist.conformance.proxy import FaultProxies
from pagedlist.core.deadline import active
from pagedlist.core.ops import Claimed, Pushed, Scan, Taken
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
    ContractViolation,
    DeadlineExceeded,
    InvalidValue,
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
    """Every clause on one standalone redis-server (lists in layout 2)."""


class TestRedisCluster(ConformanceSuite, RedisClusterFixtures):
    """Every clause on a three-master Redis Cluster (lists in layout 2)."""


class TestRedisLayoutOne(AbstractListTests, AbstractHistoryTests, LayoutOneFixtures, RedisFixtures):
    """The list and history clauses on standalone Redis in layout 1 (page rows, 0.1)."""


class TestRedisClusterLayoutOne(
    AbstractListTests, AbstractHistoryTests, LayoutOneFixtures, RedisClusterFixtures
):
    """The list and history clauses on Redis Cluster in layout 1 (page rows, 0.1)."""


class TestRedisAsync(ConformanceSuite, AsyncAdapterFixtures, RedisFixtures):
    """Every clause on the asyncio adapter (redis.asyncio), standalone."""


class TestRedisClusterAsync(ConformanceSuite, AsyncAdapterFixtures, RedisClusterFixtures):
    """Every clause on the asyncio adapter (redis.asyncio's RedisCluster)."""


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


# --- layout 2: entry rows ------------------------------------------------------------


@pytest.fixture
def lid() -> str:
    """A list id of its own."""
    return f"r2-{free_port()}-{threading.get_ident() % 10_000}"


def _exact(value: object) -> str:
    """Type-strict text of a JSON value (1, 1.0 and True differ)."""
    return json.dumps(value, sort_keys=True)


def _commands(store: RedisStore, *names: str) -> dict[str, int]:
    stats = store._client.info("commandstats")
    return {n: int(stats.get(f"cmdstat_{n}", {}).get("calls", 0)) for n in names}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {n: after[n] - before[n] for n in before if after[n] != before[n]}


ODD_ENTRIES = [
    {"id": "plain", "ts": 1_700_000_000_000, "v": '"x"'},
    {"id": "sep\x1fin\x1fid\x00|{}", "ts": 1, "v": "[1,2]"},
    {"id": "é☃" + "i" * 100, "ts": 2, "v": '{"a":"\\u001f"}'},
    {"id": "raw-separator-in-v", "ts": 3, "v": "\x1f"},
    {"id": "tomb", "ts": 4, "d": 1},
    {"id": "edited", "ts": 5, "v": "7", "e": 6},
    {"id": "recorded", "ts": 7, "v": "null", "x": 1},
    {"id": "all-flags", "ts": 8, "e": 0, "d": 1, "x": 1},
    {"id": "empty-v", "ts": 9, "v": ""},
    {"id": "huge-ts", "ts": 2**70, "v": "1"},
    {"id": "bool-d", "ts": 10, "v": "1", "d": True},
    {"id": "float-ts", "ts": 1.5, "v": "1"},
    {"id": "null-v", "ts": 11, "v": None},
    {"id": "more", "ts": 12, "v": "1", "other": [1, {}, []], "n": ""},
    {"id": "no-ts"},
]


def test_entries_of_every_shape_round_trip_exactly(store, lid):
    """The compact member form and its JSON fallback give back every entry exactly:
    separators and control characters in ids, a raw separator in a value, flags, huge
    timestamps, and entries of shapes the core never writes."""
    assert store.push(lid, ODD_ENTRIES) == Pushed(tuple(range(len(ODD_ENTRIES))))
    got = store.scan(lid, 0, None, 100)
    assert [_exact(e) for _, e in got] == [_exact(e) for e in ODD_ENTRIES]
    for pos, entry in enumerate(ODD_ENTRIES):
        row = store.get_entry(lid, pos)
        assert _exact(row.doc) == _exact(entry)
        assert store.find_id(lid, entry["id"]) == pos
    other = lid + "-claims"
    assert store.claim(other, 0, ODD_ENTRIES) == Claimed()
    for pos, entry in enumerate(ODD_ENTRIES):
        taken = store.claim(other, pos, [{"id": "late", "ts": 0, "v": "0"}])
        assert isinstance(taken, Taken) and taken.position == pos
        assert _exact(taken.entry) == _exact(entry)
    row = store.get_entry(other, 3)
    assert store.replace_entry(other, 3, ODD_ENTRIES[1], row.version)
    assert _exact(store.get_entry(other, 3).doc) == _exact(ODD_ENTRIES[1])


def test_positions_far_from_zero_stay_exact(store, lid):
    """Positions pass through Lua as doubles and back as text: exact up to 2**53."""
    base = 2**52 + 1
    assert store.push(lid, [{"id": "a", "ts": 1, "v": "1"}], base) == Pushed((base,))
    assert store.push(lid, [{"id": "b", "ts": 1, "v": "1"}, {"id": "a", "ts": 1, "v": "2"}]) == (
        Pushed((base + 1, base))
    )
    assert [p for p, _ in store.scan(lid, 0, None, 5, True)] == [base + 1, base]
    assert store.find_id(lid, "b") == base + 1
    assert store.get_entry(lid, base + 1).doc["id"] == "b"
    assert store.claim(lid, base + 2, [{"id": "c", "ts": 1, "v": "1"}]) == Claimed()
    assert store.push(lid, [{"id": "d", "ts": 1, "v": "1"}]) == Pushed((base + 3,))


def test_text_that_is_not_unicode_writes_nothing(store, lid):
    with pytest.raises(InvalidValue, match="Unicode"):
        store.push(lid, [{"id": "ok", "ts": 1, "v": "1"}, {"id": "\ud800", "ts": 1, "v": "1"}])
    with pytest.raises(InvalidValue, match="Unicode"):
        store.claim(lid, 0, [{"id": "ok", "ts": 1, "v": '"\ud800"'}])
    assert store.scan(lid, 0, None, 10) == ()
    assert store._client.exists(*entry_keys(lid)) == 0


def test_an_entry_row_over_the_limit_counts_bytes(store, lid):
    """The limit is on the stored member's UTF-8 bytes: a value of 4-byte characters
    that is short in characters is still refused, and nothing is written."""
    value = '"' + "\U0001f600" * (REDIS_ROW_BYTES // 4) + '"'
    with pytest.raises(ItemTooLarge):
        store.push(lid, [{"id": "a", "ts": 1, "v": "1"}, {"id": "b", "ts": 1, "v": value}])
    assert store.scan(lid, 0, None, 10) == () and store.find_id(lid, "a") is None


def test_append_and_latest_cost_one_command_whatever_the_length(store, lid):
    """An append is one EVALSHA whose inner commands do not grow with the list; latest(50)
    is one native ZREVRANGEBYSCORE (no script), on a list of 1 item as on one of 2,000."""
    plist = PagedList.create(store, lid)
    assert plist.layout == 2
    names = ("evalsha", "hmget", "zadd", "hset", "hget", "zrevrangebyscore")

    def append_cost() -> dict[str, int]:
        before = _commands(store, *names)
        plist.append("x")
        return _delta(before, _commands(store, *names))

    def latest_cost() -> dict[str, int]:
        size = plist.count()
        before = _commands(store, *names)
        assert len(plist.latest(50)) == min(50, size)
        return _delta(before, _commands(store, *names))

    plist.append("warm")  # loads the script on a fresh server (NOSCRIPT, then a load)
    first = append_cost()
    assert first == {"evalsha": 1, "hmget": 1, "zadd": 1, "hset": 1}
    small = latest_cost()
    assert small == {"zrevrangebyscore": 1}
    for start in range(0, 2000, 500):
        plist.extend(list(range(start, start + 500)))
    assert append_cost() == first
    assert latest_cost() == small


def _stored(store: RedisStore, lid: str) -> tuple[list[tuple[list[str], float]], dict[str, str]]:
    """A list's entry rows (each member's fields without its version, and its score) and
    its id index with the tail, as Redis holds them."""
    e, x = entry_keys(lid)
    rows = store._client.zrange(e, 0, -1, withscores=True)
    members = [(m.split("\x1f")[:1] + m.split("\x1f")[2:], score) for m, score in rows]
    return members, store._client.hgetall(x)


@pytest.mark.parametrize("server", ["redis", "redis-cluster"])
def test_one_entry_pushes_store_what_a_batch_stores(servers, server, lid):
    """The script's one-entry path (every append) writes the same rows, index and tail as
    its batch path, answers a known id's position without writing, and honours the floor."""
    entries = [{"id": f"p{i}", "ts": i, "v": str(i)} for i in range(4)]
    entries += [{"id": "p1", "ts": 9, "v": "again"}, {"id": "tomb", "ts": 5, "d": 1}]
    with open_store(servers.get(server).url) as store:
        one, batch = lid + "-one", lid + "-batch"
        got = [store.push(one, [entry], 3) for entry in entries]
        assert got == [Pushed((p,)) for p in (3, 4, 5, 6, 4, 7)]
        assert store.push(batch, entries, 3) == Pushed((3, 4, 5, 6, 4, 7))
        assert _stored(store, one) == _stored(store, batch)
        members, index = _stored(store, one)
        assert [score for _, score in members] == [3, 4, 5, 6, 7]
        assert index["t"] == "8" and index["=p1"] == "4"
        assert store.push(one, [{"id": "late", "ts": 1, "v": "1"}], 20) == Pushed((20,))
        assert store.push(one, [{"id": "next", "ts": 1, "v": "1"}], 0) == Pushed((21,))
        assert store.find_id(one, "late") == 20 and store.get_entry(one, 21).doc["id"] == "next"


@pytest.mark.parametrize(
    "args",
    [
        ("EVALSHA", b"0" * 40, b"2", b"{l}|e", b"{l}|x", b"7", b"=id", b"v\x1f\r\n\x00"),
        ("ZREVRANGEBYSCORE", "{é☃}|e", "+inf", 0, "LIMIT", 0, 50),
        ("ZRANGEBYSCORE", "{l}|e", -(2**70), "(12", "LIMIT", 0, 1),
        ("EVALSHA", b"x" * 70_000, ""),
    ],
)
def test_direct_commands_are_framed_as_redis_py_frames_them(args):
    """The blocking store frames the commands it sends itself byte for byte as redis-py's
    own packer does (text as UTF-8, integers in decimal, bytes as they are)."""
    packer = redis.Redis(decode_responses=True).connection_pool.make_connection()
    assert _resp(args) == b"".join(bytes(part) for part in packer.pack_command(*args))


def test_error_replies_keep_the_connection(store, lid):
    """A script or range read the server refuses (WRONGTYPE), or text redis-py cannot
    encode, fails that call alone: the connection is neither dropped nor left with an
    unread reply, so the calls after it run on it and answer their own replies."""
    bad = lid + "-bad"
    e, x = entry_keys(bad)
    store._client.set(e, "not a sorted set")
    assert store.push(lid, [{"id": "a", "ts": 1, "v": "1"}]) == Pushed((0,))
    opened = store._client.info("stats")["total_connections_received"]
    for _ in range(3):
        with pytest.raises(ContractViolation, match="not a pagedlist row"):
            store.scan(bad, 0, None, 5, True)
        with pytest.raises(ContractViolation, match="not a pagedlist row"):
            store.push(bad, [{"id": "a", "ts": 1, "v": "1"}])
        with pytest.raises(InvalidValue, match="Unicode"):
            store.scan("\ud800", 0, None, 5)
        assert store.push(lid, [{"id": "a", "ts": 1, "v": "1"}]) == Pushed((0,))
        assert [p for p, _ in store.scan(lid, 0, None, 5)] == [0]
    assert store._client.info("stats")["total_connections_received"] == opened
    assert store._client.exists(x) == 0


def test_a_push_of_many_entries_is_a_few_commands(store, lid):
    """The index lookup of every id and the tail is one HMGET, the rows one ZADD and the
    new ids with the tail one HSET (per 200 arguments): a coalesced group of appends
    costs the server a few commands, not a few per entry."""
    store.push(lid, [{"id": "warm", "ts": 0, "v": "0"}])
    names = ("evalsha", "hmget", "zadd", "hset", "hsetnx", "hget")
    before = _commands(store, *names)
    batch = [{"id": f"b{i}", "ts": i, "v": "1"} for i in range(90)] + [
        {"id": "warm", "ts": 0, "v": "0"}
    ]
    assert store.push(lid, batch) == Pushed((*range(1, 91), 0))
    assert _delta(before, _commands(store, *names)) == {
        "evalsha": 1,
        "hmget": 1,
        "zadd": 1,
        "hset": 1,
    }
    big = [{"id": f"c{i}", "ts": i, "v": "1"} for i in range(450)]
    assert store.push(lid, big) == Pushed(tuple(range(91, 541)))
    assert [p for p, _ in store.scan(lid, 0, None, 1000)] == list(range(541))
    assert store.find_id(lid, "c449") == 540 and store.find_id(lid, "b0") == 1


def test_purge_works_in_bounded_batches(store, lid):
    """purge removes rows (and their ids) 500 per script run, so no call holds the
    server for a long list; it repeats until nothing is left below."""
    for start in range(0, 1234, 500):
        store.push(
            lid, [{"id": f"i{n}", "ts": n, "v": "1"} for n in range(start, min(1234, start + 500))]
        )
    store.purge(lid, 0)  # nothing below 0: loads the script on a fresh server
    before = _commands(store, "evalsha")
    store.purge(lid, 1200)
    assert _delta(before, _commands(store, "evalsha")) == {"evalsha": 3}
    assert [p for p, _ in store.scan(lid, 0, None, 10)] == list(range(1200, 1210))
    assert store.find_id(lid, "i1199") is None and store.find_id(lid, "i1200") == 1200
    assert store._client.hlen(entry_keys(lid)[1]) == 34 + 1  # the ids left, and the tail
    assert store.push(lid, [{"id": "i0", "ts": 0, "v": "1"}]) == Pushed((1234,))
    store.purge(lid, 1200)
    assert store.scan(lid, 0, None, 1)[0][0] == 1200


def test_purge_stops_between_batches_at_the_deadline(store, lid):
    """A purge past the operation's deadline stops after a whole batch (core.deadline);
    the next purge finishes the job."""
    for start in range(0, 1200, 400):
        store.push(lid, [{"id": f"i{n}", "ts": n, "v": "1"} for n in range(start, start + 400)])
    with active(time.monotonic()), pytest.raises(DeadlineExceeded, match="deadline"):
        store.purge(lid, 1100)
    assert store.scan(lid, 0, None, 1)[0][0] == 500
    store.purge(lid, 1100)
    assert store.scan(lid, 0, None, 1)[0][0] == 1100


def test_lists_written_by_0_1_are_read_and_appended(store, lid):
    """Rows exactly as pagedlist 0.1 wrote them (a summary of format 1 and page hashes,
    docs/backends/redis.md), written here field by field: the list opens in layout 1,
    reads back, takes appends on its head page and rolls to the next."""
    summary = {"format": 1, "capacity": 2, "max_item_bytes": 100, "created": 1795671376277}
    summary |= {"meta": None, "head": 1}
    pages = [
        [{"id": "a", "ts": 1795671376283, "v": '"hello"'}, {"id": "b", "ts": 2, "v": '{"n":1}'}],
        [{"id": "c", "ts": 3, "v": "[1,2]"}],
    ]
    fields = {f"s:{k}": json.dumps(v, separators=(",", ":")) for k, v in summary.items()}
    fields |= {"v": "0123456789abcdef", "c": "6", "m": "0"}
    fields["z"] = str(store.row_size(f"{lid}|s", summary))
    store._client.hset(f"{lid}|s", mapping=fields)
    for n, entries in enumerate(pages):
        key = f"{lid}|{n}"
        page = {"f:items": "1", "1:n": str(len(entries)), "v": f"{n:016x}", "c": "1", "m": "1"}
        page["z"] = str(store.row_size(key, {"items": entries}))
        for i, entry in enumerate(entries):
            page[f"1:e:{i}"] = json.dumps(entry, separators=(",", ":"))
            page[f"1:i:{entry['id']}"] = str(i)
        store._client.hset(key, mapping=page)
    plist = PagedList.open(store, lid)
    assert plist.layout == 1 and plist.capacity == 2
    assert [i.value for i in plist.latest(10)] == [[1, 2], {"n": 1}, "hello"]
    assert plist.append("d") == 3
    assert plist.append("e") == 4
    assert [i.value for i in plist.iter()] == ["hello", {"n": 1}, [1, 2], "d", "e"]
    assert store.get(f"{lid}|1").doc["items"][1]["id"] == plist.get(3).id
    assert store.get(f"{lid}|2").doc["items"][0]["id"] == plist.get(4).id
    assert store._client.exists(*entry_keys(lid)) == 0


def test_cluster_keeps_a_list_in_one_slot(servers):
    """All keys of a list share one slot (one script per list); lists spread over the
    masters, and scan_many reads lists of every master in one call."""
    cluster = servers.get("redis-cluster")
    with open_store(cluster.url) as store:
        lists = []
        n = 0
        while {cluster.node_for_key(entry_keys(lid)[0]) for lid in lists} != {0, 1, 2}:
            lists.append(f"slots-{free_port()}-{n}")
            n += 1
        for lid in lists:
            slots = {store._client.execute_command("CLUSTER KEYSLOT", k) for k in entry_keys(lid)}
            assert len(slots) == 1
            assert store.push(lid, [{"id": f"{lid}-{i}", "ts": i, "v": str(i)} for i in range(3)])
        before = store.stats()["round_trips"]
        got = store.scan_many(tuple(Scan(lid, 0, None, 2, True) for lid in lists))
        assert store.stats()["round_trips"] == before + 1
        assert [[e["id"] for _, e in rows] for rows in got] == [
            [f"{lid}-2", f"{lid}-1"] for lid in lists
        ]


@pytest.mark.parametrize("server", ["redis", "redis-cluster"])
@pytest.mark.parametrize("flavor", ["blocking", "asyncio"])
def test_a_push_whose_answer_is_lost_lands_once(servers, server, flavor, lid):
    """Clause W1 for push: redis-py sends the script once; the push whose answer the proxy
    cut committed once, and sending it again (the driver's retry) finds its id and
    answers the position of that first commit."""
    url = servers.get(server).url
    opener = RedisStore.through if flavor == "blocking" else BlockingStore.through
    with open_store(url) as direct, FaultProxies() as proxies:
        proxied = opener(url, proxies.route)
        try:
            # Connections, the slot map and the script on this list's node exist first.
            assert proxied.push(lid, [{"id": "first", "ts": 1, "v": "1"}]) == Pushed((0,))
            proxies.lose_answers(1)
            with pytest.raises((StoreUnavailable, DeadlineExceeded)):
                proxied.push(lid, [{"id": "once", "ts": 2, "v": "2"}])
            assert proxies.lost == 1
            assert proxied.push(lid, [{"id": "once", "ts": 2, "v": "2"}]) == Pushed((1,))
        finally:
            proxied.close()
        assert [e["id"] for _, e in direct.scan(lid, 0, None, 10)] == ["first", "once"]


# --- the asyncio adapter -------------------------------------------------------------


def test_async_and_sync_adapters_share_lists(servers, lid):
    url = servers.get("redis").url

    async def write() -> list[int]:
        async with await open_async_store(url) as store:
            assert isinstance(store, AsyncRedisStore)
            first = await store.push(lid, [{"id": "a", "ts": 1, "v": '"one"'}])
            again = await store.push(
                lid, [{"id": "b", "ts": 2, "v": "2"}, {"id": "a", "ts": 1, "v": "1"}]
            )
            return [*first.positions, *again.positions]

    assert asyncio.run(write()) == [0, 1, 0]
    with open_store(url) as store:
        assert store.scan(lid, 0, None, 5) == (
            (0, {"id": "a", "ts": 1, "v": '"one"'}),
            (1, {"id": "b", "ts": 2, "v": "2"}),
        )


@pytest.mark.parametrize(
    ("server", "error"), [("closed", StoreUnavailable), ("silent", DeadlineExceeded)]
)
def test_async_failures_are_mapped(silent_port, server, error):
    """A closed port is StoreUnavailable; a server that never answers runs into the socket
    timeout: DeadlineExceeded (the outcome is unknown). Both chained to redis-py's error."""
    port = free_port() if server == "closed" else silent_port

    async def call() -> None:
        async with await open_async_store(f"redis://127.0.0.1:{port}/0?timeout=0.3") as store:
            await store.get("x|0")

    with pytest.raises(error) as caught:
        asyncio.run(call())
    assert caught.value.__cause__ is not None


def test_async_unreachable_cluster_fails_at_open():
    url = f"redis+cluster://:hunter2secret@127.0.0.1:{free_port()}?timeout=1"
    with pytest.raises(StoreUnavailable) as caught:
        asyncio.run(open_async_store(url))
    assert "hunter2secret" not in str(caught.value)


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
