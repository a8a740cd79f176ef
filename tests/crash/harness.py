"""Shared pieces of the process-fault tests: writer processes, their reports as history
events, and the final check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.conformance.history import Event, History, Recorder, snapshot, verify
from pagedlist.core.store import Store
from pagedlist.emulators import Emulator

WRITER = Path(__file__).with_name("writer.py")


class Writer:
    """A writer process (``writer.py``) whose report lines are read as they come."""

    def __init__(self, url: str, list_id: str, prefix: str, deadline: float = 10.0) -> None:
        self.prefix = prefix
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), url, list_id, prefix, str(deadline)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict] = []
        self.acked = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            report = json.loads(line)
            self.lines.append(report)
            if "ack" in report:
                self.acked.set()

    def wait_first_ack(self, timeout: float = 60.0) -> None:
        """Block until the writer acknowledged one append (it is past start-up)."""
        if not self.acked.wait(timeout):
            err = self.proc.stderr.read() if self.proc.poll() is not None else "(running)"
            raise AssertionError(f"writer {self.prefix} acknowledged nothing in {timeout}s: {err}")

    def kill(self) -> None:
        """SIGKILL, then collect the rest of the report."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._reader.join(timeout=30)

    def events(self) -> list[Event]:
        """One event per call: acknowledged, failed, or cut short by the kill."""
        begun: dict[str, float] = {}
        out = []
        for r in self.lines:
            if "begin" in r:
                begun[r["begin"]] = r["t"]
            elif "ack" in r:
                out.append(
                    Event(
                        self.prefix,
                        "append",
                        begun.pop(r["ack"]),
                        r["t"],
                        ids=(r["ack"],),
                        positions=(r["pos"],),
                    )
                )
            else:
                out.append(
                    Event(
                        self.prefix,
                        "append",
                        begun.pop(r["fail"]),
                        r["t"],
                        ids=(r["fail"],),
                        error=r["err"],
                    )
                )
        out += [
            Event(self.prefix, "append", t, float("inf"), ids=(i,), error="killed")
            for i, t in begun.items()
        ]
        return out


class Reader:
    """A thread reading ``latest()`` and ``count()`` in this process until stopped."""

    def __init__(self, plist: PagedList, recorder: Recorder) -> None:
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(plist, recorder), daemon=True)
        self._thread.start()

    def _run(self, plist: PagedList, recorder: Recorder) -> None:
        k = 0
        while not self.stop.is_set():
            if k % 3 == 2:
                recorder.count(plist, "reader")
            else:
                recorder.latest(plist, "reader", 5)
            k += 1
            time.sleep(0.005)

    def join(self) -> None:
        """Stop and wait."""
        self.stop.set()
        self._thread.join(timeout=120)


def final_check(store: Store, list_id: str, events: list[Event], recorder: Recorder) -> History:
    """Verify the merged history, then show the list still takes appends."""
    history = History(tuple(events + recorder.events), snapshot(store, list_id))
    verify(history)
    acked = [e for e in history.events if e.kind == "append" and e.ok]
    assert acked, "no append was acknowledged: the test proved nothing"
    plist = PagedList.open(store, list_id)
    before = plist.count()
    position = plist.append("after the crashes", id="after")
    assert position == before
    assert plist.get(position).value == "after the crashes"
    return history


def require(emulator: Emulator) -> None:
    """Fail (or, with PAGEDLIST_ALLOW_MISSING=1, skip) when the server cannot run here."""
    why = emulator.available()
    if why:
        message = f"BACKEND NOT TESTED: {emulator.name} unavailable: {why}"
        if os.environ.get("PAGEDLIST_ALLOW_MISSING") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)


def run_through_server_crashes(
    url: str,
    crash: Callable[[int], None],
    *,
    rounds: int = 3,
    writers: int = 4,
    deadline: float = 30.0,
    capacity: int = 4,
    layout: int | None = None,
) -> History:
    """Writer threads (each its own client) append through ``rounds`` calls of
    ``crash(round)`` (kill the server, start it again); a reader reads throughout. Then the
    merged history is verified and the list must take appends again. ``layout`` forces
    the list's layout (default: the store's)."""
    store = open_store(url)
    list_id = f"crash-{uuid.uuid4().hex[:8]}"
    created = PagedList.create(store, list_id, capacity=capacity, layout=layout)
    assert layout is None or created.layout == layout
    recorder = Recorder()
    outages: list[tuple[float, float]] = []
    stop = threading.Event()
    acks = threading.Semaphore(0)

    def write(w: int) -> None:
        client = open_store(url)
        try:
            plist = PagedList.open(client, list_id, deadline=deadline)
            k = 0
            while not stop.is_set():
                if recorder.append(plist, f"w{w}", {"w": w, "k": k}, f"w{w}-{k}") is not None:
                    acks.release()
                k += 1
        finally:
            client.close()

    threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(writers)]
    for t in threads:
        t.start()
    reader = Reader(PagedList.open(open_store(url), list_id, deadline=deadline), recorder)
    try:
        for r in range(rounds):
            for _ in range(writers * 5):  # some progress before every crash
                assert acks.acquire(timeout=120), "writers made no progress for 120s"
            began = time.monotonic()
            crash(r)
            outages.append((began, time.monotonic()))
        for _ in range(writers * 5):  # and after the last restart
            assert acks.acquire(timeout=120), "writers made no progress after the restart"
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=deadline * 3)
        reader.join()
    history = final_check(store, list_id, [], recorder)
    store.close()
    spanning = [e for e in history.events if any(e.start < b and e.end > a for a, b in outages)]
    # Otherwise the crashes hit an idle server and the test proved nothing.
    assert any(e.kind == "append" for e in spanning), "no append was in flight at a crash"
    return history
