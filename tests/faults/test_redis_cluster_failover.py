"""Fault: the Redis Cluster master holding a list's entry rows crashes mid-stream.

A three-master Cluster with ``appendonly yes`` and ``appendfsync always`` (an acknowledged
write is on disk before the reply). A writer appends; the master that owns the list's slot
(its entry rows, id index and tail, hash-tagged ``{LIST}``) is killed (SIGKILL); appends
must fail with a retryable store error within their deadline (never hang, never leave half
an item); the master restarts from its own append-only file; appends resume; and every
acknowledged item is present exactly once, at the position its append returned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.adapters.redis import RedisStore, entry_keys
from pagedlist.emulators.redis import RedisClusterEmulator, RedisRunning
from pagedlist.errors import DeadlineExceeded, StoreUnavailable

DEADLINE = 3.0
CAPACITY = 200
# A hang guard, far above DEADLINE plus one in-flight call: not a speed check.
HANG_GUARD = 30.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[RedisRunning]:
    emulator = RedisClusterEmulator(appendonly=True, appendfsync="always")
    if why := emulator.available():
        pytest.fail(f"BACKEND NOT TESTED: {why}", pytrace=False)
    with emulator.start(log_dir=tmp_path / "cluster") as running:
        yield running


def _append(plist: PagedList, value: str) -> tuple[int | None, BaseException | None, float]:
    start = time.monotonic()
    try:
        return plist.append(value), None, time.monotonic() - start
    except (StoreUnavailable, DeadlineExceeded) as err:
        return None, err, time.monotonic() - start


def _check_entry_rows(store: RedisStore, list_id: str) -> None:
    """Storage-level "no partial item": every entry row has its id in the index at its
    position and the index names no other row, positions are dense from 0, and the tail
    is past the last one."""
    rows_key, index_key = entry_keys(list_id)
    members = store._client.zrange(rows_key, 0, -1, withscores=True)
    positions = [int(score) for _, score in members]
    assert positions == list(range(len(members))), positions
    index = store._client.hgetall(index_key)
    tail = index.pop("t")
    for member, score in members:
        prefix, *_, item_id = member.split("\x1f", 6)
        assert int(prefix) == int(score), member
        assert index.get("=" + item_id) == prefix, (item_id, index.get("=" + item_id), prefix)
    assert len(index) == len(members), (len(index), len(members))
    assert int(tail) == len(members)


@pytest.mark.timeout(240)
def test_head_master_crash_and_restart(cluster: RedisRunning) -> None:
    url = cluster.url + "?timeout=2"
    store = open_store(url)
    list_id = "failover"
    # Layout 2 (the store's default): every entry row of the list lives in one slot, so
    # every append targets the victim.
    plist = PagedList.create(
        store, list_id, capacity=CAPACITY, max_item_bytes=32, deadline=DEADLINE
    )
    assert plist.layout == 2
    victim = cluster.node_for_key(entry_keys(list_id)[0])
    acked: dict[str, int] = {}
    unknown: list[str] = []  # appends that failed: each may or may not have committed

    for i in range(30):
        position = plist.append(f"before-{i}")
        acked[f"before-{i}"] = position

    cluster.stop_node(victim)  # SIGKILL: a crash, not a clean shutdown

    failures = []
    for i in range(3):
        value = f"during-{i}"
        position, err, took = _append(plist, value)
        assert position is None, f"{value} was acknowledged at {position} with its master down"
        assert took < HANG_GUARD, f"append with a dead master hung for {took:.1f}s"
        failures.append(err)
        unknown.append(value)
    assert all(isinstance(e, (StoreUnavailable, DeadlineExceeded)) for e in failures)

    cluster.start_node(victim)
    cluster.wait_cluster_ok(60)

    resumed = 0
    for i in range(60):
        value = f"after-{i}"
        position, _err, took = _append(plist, value)
        assert took < HANG_GUARD
        if position is None:
            unknown.append(value)
            assert resumed == 0 and i < 20, "appends failed again after the cluster recovered"
            continue
        acked[value] = position
        resumed += 1
        if resumed == 20:
            break
    assert resumed == 20, "appends did not resume after the master restarted"
    store.close()

    # Read back with a fresh client: every acknowledged item exactly once, at its position.
    with open_store(url) as fresh:
        assert isinstance(fresh, RedisStore)
        items = list(PagedList.open(fresh, list_id).iter())
        positions = [item.position for item in items]
        assert positions == list(range(len(items))), "positions are not dense"
        values = [item.value for item in items]
        for value, position in acked.items():
            assert values.count(value) == 1, f"{value} appears {values.count(value)} times"
            assert values[position] == value, f"{value} is not at its position {position}"
        for value in unknown:
            assert values.count(value) <= 1, f"failed append {value} committed twice"
        assert set(values) <= set(acked) | set(unknown)
        assert len(items) < CAPACITY
        _check_entry_rows(fresh, list_id)
