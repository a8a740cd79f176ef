"""Fault: the Redis Cluster master holding a list's head page crashes mid-stream.

A three-master Cluster with ``appendonly yes`` and ``appendfsync always`` (an acknowledged
write is on disk before the reply). A writer appends; the master that owns the head page
is killed (SIGKILL); appends must fail with a retryable store error within their deadline
(never hang, never leave half an item); the master restarts from its own append-only
file; appends resume; and every acknowledged item is present exactly once, at the position
its append returned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.adapters.redis import RedisStore
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


def _check_page_rows(store: RedisStore, keys: list[str]) -> None:
    """Storage-level "no partial item": every list in every page row has exactly as many
    entries and id-index fields as its length says."""
    for key in keys:
        fields = store._client.hgetall(key)
        if not fields:
            continue
        for name, slot in ((k[2:], v) for k, v in fields.items() if k.startswith("f:")):
            length = int(fields[f"{slot}:n"])
            entries = [k for k in fields if k.startswith(f"{slot}:e:")]
            ids = [k for k in fields if k.startswith(f"{slot}:i:")]
            assert len(entries) == length == len(ids), (key, name, length, entries, ids)


@pytest.mark.timeout(240)
def test_head_master_crash_and_restart(cluster: RedisRunning) -> None:
    url = cluster.url + "?timeout=2"
    store = open_store(url)
    list_id = "failover"
    # One page holds the whole run, so every append targets the victim's slot.
    plist = PagedList.create(
        store, list_id, capacity=CAPACITY, max_item_bytes=32, deadline=DEADLINE
    )
    head_key = f"{list_id}|0"
    victim = cluster.node_for_key(head_key)
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
        pages = len(items) // CAPACITY + 1
        _check_page_rows(fresh, [f"{list_id}|{n}" for n in range(pages)])
