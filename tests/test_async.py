"""The asyncio API beyond the conformance clauses (Y*): an unreachable store never stalls
the event loop, a cancelled group leader does not cancel the others, ``async with``."""

from __future__ import annotations

import asyncio
import socket

import pytest

from pagedlist import AsyncPagedList, open_async_store
from pagedlist.conformance.async_clauses import loop_stall
from pagedlist.errors import StoreError


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("scheme", ["redis", "postgresql"])
def test_an_unreachable_store_never_stalls_the_loop(scheme):
    """Appends to a store on a closed port fail with a StoreError within their deadline,
    and meanwhile the event loop keeps running (longest stall under 10 ms)."""
    port = _closed_port()
    url = {
        "redis": f"redis://127.0.0.1:{port}/0?timeout=0.5",
        "postgresql": f"postgresql://nobody@127.0.0.1:{port}/db?connect_timeout=1",
    }[scheme]

    async def main() -> tuple[float, list]:
        errors: list = []

        async def appends() -> None:
            try:
                store = await open_async_store(url)
            except StoreError as err:  # an adapter that checks the server at open
                errors.append(err)
                return
            plist = AsyncPagedList(store, "x", deadline=1.5)
            # Ten at once: every refused connect costs its task ~0.5 ms of loop time, and
            # tasks failing in the same loop turn add up (twenty: ~10 ms, without any
            # call blocking); a blocking call would stall for its whole timeout instead.
            results = await asyncio.gather(
                *(plist.append(i) for i in range(10)), return_exceptions=True
            )
            errors.extend(results)
            await store.aclose()

        return await loop_stall(appends), errors

    # Best of three, as clause Y8: a call that blocks the loop stalls it in every round (for
    # its whole connect timeout), while a busy machine's hiccups (the collector, page faults
    # of neighbours) hit one round, not all.
    stalls = []
    for _ in range(3):
        stall, errors = asyncio.run(main())
        assert errors and all(isinstance(e, StoreError) for e in errors), errors[:3]
        stalls.append(stall)
        if stall < 0.010:
            break
    assert min(stalls) < 0.010, f"the event loop stalled {[round(s * 1000, 1) for s in stalls]} ms"


def test_a_cancelled_leader_leaves_its_group_alone():
    """The caller whose task leads a group of appends is cancelled mid-call: the others in
    its group still get their positions, and the list holds each of their items once."""

    async def main() -> None:
        async with await open_async_store("memory://?push=false") as store:
            plist = await AsyncPagedList.create(store, "l")
            first = asyncio.ensure_future(plist.append("leader", id=None))
            await asyncio.sleep(0)  # the leader is in its store call
            others = [asyncio.ensure_future(plist.append(i)) for i in range(10)]
            await asyncio.sleep(0)
            first.cancel()
            positions = await asyncio.gather(*others)
            assert len(set(positions)) == 10
            values = [i.value async for i in plist.iter()]
            assert sorted(v for v in values if v != "leader") == list(range(10))
            assert values.count("leader") <= 1

    asyncio.run(main())


def test_async_with_closes_the_store():
    async def main() -> None:
        async with await open_async_store("sqlite://") as store:
            plist = await AsyncPagedList.create(store, "l")
            assert await plist.append("x") == 0
            assert [i.value for i in await plist.latest(1)] == ["x"]
        with pytest.raises(Exception):  # noqa: B017 - any error: the store is closed
            await store.get("l|s")

    asyncio.run(main())
