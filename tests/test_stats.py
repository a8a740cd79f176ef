"""``stats()`` has the same keys on every adapter (``adapters._toolkit.tallied``): store
calls, errors by class, the driver's retries, billed units; checked on real stores."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pagedlist import PagedList, open_async_store, open_store
from pagedlist.adapters import ADAPTERS, adapter_class
from pagedlist.adapters._toolkit import STATS_KEYS, billed_units, tallied
from pagedlist.core.counting import CountingStore
from pagedlist.emulators.redis import RedisEmulator, RedisRunning
from pagedlist.errors import InvalidValue, PagedListError


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisRunning]:
    with RedisEmulator().start() as running:
        yield running


@pytest.fixture(params=["memory", "sqlite", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/s.db"
    return request.getfixturevalue("redis_server").url


def test_common_keys_count_calls_and_errors(url: str) -> None:
    store = open_store(url)
    try:
        assert set(STATS_KEYS) <= set(store.stats())
        before = store.stats()
        counted = CountingStore(store)
        feed = PagedList.create(counted, f"st{time.time_ns()}")
        for i in range(7):
            feed.append(i)
        assert len(feed.latest(3)) == 3
        key = f"st{time.time_ns()}|row"
        assert store.put_if_absent(key, {"f": "text"})
        with pytest.raises(InvalidValue):
            store.append(key, "f", [{"x": 1}], 10)
        store.delete(key)
        after = store.stats()
        assert after["calls"] - before["calls"] == counted.total + 3
        assert after["errors"].get("InvalidValue", 0) - before["errors"].get("InvalidValue", 0) == 1
        assert after["retries"] == before["retries"] == 0
        assert after["units"] == {}  # none of these bills
    finally:
        store.close()


def test_async_redis_has_the_same_keys(redis_server: RedisRunning) -> None:
    async def work() -> tuple[dict[str, Any], int]:
        from pagedlist import AsyncPagedList
        from pagedlist.core.counting import AsyncCountingStore

        store = await open_async_store(redis_server.url)
        counted = AsyncCountingStore(store)
        feed = await AsyncPagedList.create(counted, f"as{time.time_ns()}")
        await asyncio.gather(*(feed.append(i) for i in range(5)))
        stats = dict(store.stats())
        await store.aclose()
        return stats, counted.total

    stats, total = asyncio.run(work())
    assert set(STATS_KEYS) <= set(stats)
    assert stats["calls"] == total


def test_retries_and_errors_of_a_stopped_server() -> None:
    """A redis-server stopped under a list: every attempt fails with the same error, the
    driver repeats it until the deadline, and stats() counts each failure and each retry."""
    with RedisEmulator().start() as running:
        store = open_store(running.url + "?timeout=0.2")
        feed = PagedList.create(store, "stopped")
        feed.append(1)
        running.stop()
        before = store.stats()
        with pytest.raises(PagedListError):
            PagedList(store, "stopped", deadline=0.5).append(2)
        after = store.stats()
        store.close()
    failures = sum(after["errors"].values()) - sum(before["errors"].values())
    calls = after["calls"] - before["calls"]
    assert failures == calls >= 2
    assert after["retries"] - before["retries"] == calls - 1


def test_every_adapter_class_is_tallied() -> None:
    for scheme in ("memory", "sqlite", "redis"):
        cls = adapter_class(scheme)
        assert cls.__dict__.get("_pagedlist_tallied") or any(
            b.__dict__.get("_pagedlist_tallied") for b in cls.__mro__
        ), scheme
    assert set(ADAPTERS) >= {"memory", "sqlite", "redis"}


def test_tallied_twice_counts_once() -> None:
    cls = adapter_class("memory")
    assert tallied(tallied(cls)) is cls
    store = open_store("memory://")
    store.put_if_absent("a", {"x": 1})
    store.get_many(["a", "b"])
    assert store.stats()["calls"] == 2


def test_billed_units_from_the_older_keys() -> None:
    assert billed_units({"read_units": 1.5, "write_units": 2, "requests": 3}) == {
        "read": 1.5,
        "write": 2.0,
    }
    assert billed_units({"request_charge_ru": 7.25, "throttled": 0}) == {"ru": 7.25}
    assert billed_units({"units": {"ru": 3}}) == {"ru": 3.0}
    assert billed_units({"round_trips": 3}) == {}
