"""SQLite under process faults: writer processes killed with SIGKILL mid-append, again
and again, while this process reads. No acknowledged item is lost or duplicated, the
invariants hold, the file passes ``PRAGMA integrity_check`` and the list takes appends."""

from __future__ import annotations

import random
import sqlite3
import time

import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.conformance.history import Recorder

from .harness import Reader, Writer, final_check

ROUNDS = 5
WRITERS = 2


@pytest.mark.slow
def test_writers_killed_mid_append(tmp_path):
    path = tmp_path / "crash.db"
    url = f"sqlite:///{path}"
    store = open_store(url)
    PagedList.create(store, "crash", capacity=4)
    rng = random.Random(20261126)
    recorder = Recorder()
    reader = Reader(PagedList.open(open_store(url), "crash"), recorder)
    events = []
    try:
        for r in range(ROUNDS):
            writers = [Writer(url, "crash", f"r{r}w{w}") for w in range(WRITERS)]
            for w in writers:
                w.wait_first_ack()
            # Kill at a random moment of a tight append loop: usually inside a call,
            # sometimes inside the write transaction itself.
            time.sleep(rng.uniform(0.0, 0.2))
            for w in writers:
                w.kill()
                events += w.events()
    finally:
        reader.join()
    killed = [e for e in events if e.error == "killed"]
    assert killed, "no writer was killed inside a call"
    history = final_check(store, "crash", events, recorder)
    print(
        f"{len(events)} appends by {ROUNDS * WRITERS} killed writers, "
        f"{len(killed)} cut short, {len(recorder.events)} reads; "
        f"{sum(len(p) for p in history.final.pages.values())} items in the list"
    )
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
