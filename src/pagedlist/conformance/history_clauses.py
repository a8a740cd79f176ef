"""History clauses (H*): concurrent clients with injected faults, checked against the five
invariants by :mod:`pagedlist.conformance.history`.

Each test runs 8 client threads, each with its own ``PagedList`` handle on its own store
client (from ``make_store``; backends whose fixtures share one client share it) wrapped in
a :class:`~pagedlist.conformance.faults.FaultyStore`, mixing appends and reads on one list
with a small capacity so pages roll over often. The recorded history is then checked; a
failure prints the smallest failing history.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from pagedlist import PagedList
from pagedlist.conformance.capabilities import clause
from pagedlist.conformance.faults import WRITES, FaultyStore
from pagedlist.conformance.history import Recorder, verify
from pagedlist.core.store import Store

__all__ = ["AbstractHistoryTests"]

CLIENTS = 8
CALLS_PER_CLIENT = 12
CAPACITY = 3


def run_clients(
    store: Store,
    make_store: Callable[[], Store],
    list_id: str,
    *,
    seed: int,
    faults: dict[str, Any] | None = None,
    clients: int = CLIENTS,
    calls: int = CALLS_PER_CLIENT,
    read_share: float = 0.35,
) -> tuple[Recorder, list[FaultyStore]]:
    """Run ``clients`` threads of mixed calls on a new list; return the recorder and the
    fault wrappers (their ``injected`` counters). Raises the first error a thread hit
    outside a recorded call (e.g. opening the list)."""
    PagedList.create(store, list_id, capacity=CAPACITY)
    recorder = Recorder()
    wrappers = [
        FaultyStore(make_store(), seed=seed * 100 + c, **(faults or {})) for c in range(clients)
    ]
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients)

    def client(c: int) -> None:
        try:
            rng = random.Random(seed * 100 + c)
            plist = PagedList.open(wrappers[c], list_id)
            barrier.wait(timeout=60)
            for k in range(calls):
                roll = rng.random()
                name = f"c{c}"
                if roll >= read_share:
                    recorder.append(plist, name, {"c": c, "k": k}, f"c{c}-{k}")
                elif roll < read_share / 3:
                    recorder.scan(plist, name)
                elif roll < read_share * 2 / 3:
                    recorder.count(plist, name)
                else:
                    recorder.latest(plist, name, rng.choice((1, 4, 7)))
        except BaseException as err:  # re-raised in the main thread
            errors.append(err)
            barrier.abort()

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads), "a client thread did not finish in 600s"
    return recorder, wrappers


class AbstractHistoryTests:
    """Concurrent histories with faults, checked against the invariants (docs/guarantees.md)."""

    @clause("H1")
    def test_concurrent_clients_history_keeps_the_invariants(self, store, make_store, list_id):
        """H1: 8 clients appending and reading concurrently, no faults: every acknowledged
        append exactly once where told, real-time order, reads are gap-free prefixes."""
        recorder, _ = run_clients(store, make_store, list_id, seed=1)
        history = recorder.history(store, list_id)
        verify(history)
        acked = [e for e in history.events if e.kind == "append" and e.ok]
        assert len(acked) >= CLIENTS  # every client got through
        if history.final.entries is None:
            assert history.final.head >= 2  # pages rolled over under contention
        else:
            assert len(history.final.entries) >= 2 * CAPACITY  # several pages' worth

    @clause("H2")
    def test_lost_answers_do_not_duplicate_or_lose_items(self, store, make_store, list_id):
        """H2: writes whose answers are lost (committed, then a timeout) are retried by the
        driver: still exactly once, at the position the caller is finally told."""
        recorder, wrappers = run_clients(
            store, make_store, list_id, seed=2, faults={"lost": 0.2, "ops": WRITES}
        )
        history = recorder.history(store, list_id)
        verify(history)
        assert sum(w.injected["lost"] for w in wrappers) > 0, "no fault was injected"

    @clause("H3")
    def test_every_fault_kind_on_every_call(self, store, make_store, list_id):
        """H3: refused calls, lost answers and slow calls on every operation, reads included."""
        faults = {"unavailable": 0.1, "lost": 0.1, "delay": 0.2, "max_delay": 0.01}
        recorder, wrappers = run_clients(store, make_store, list_id, seed=3, faults=faults)
        history = recorder.history(store, list_id)
        verify(history)
        injected: Counter[str] = Counter()
        for w in wrappers:
            injected.update(w.injected)
        assert injected["unavailable"] and injected["lost"] and injected["delay"], injected
