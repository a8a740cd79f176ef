"""Native design in memory: a Python list per feed behind one lock."""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence

from pagedlist.bench.subjects import Cursor, Entry, NativeSubject
from pagedlist.core.store import Store

__all__ = ["PythonListSubject", "subjects"]


class PythonListSubject(NativeSubject):
    """``list.append`` and slices: the fastest a feed can be kept in one process."""

    name = "native:python-list"

    def __init__(self) -> None:
        super().__init__()
        self._feeds: dict[str, list[Entry]] = {}
        self._lock = threading.Lock()

    def create(self, list_id: str) -> None:
        """An empty list."""
        self._feeds.setdefault(list_id, [])

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """``extend``."""
        with self._lock:
            self._feeds.setdefault(list_id, []).extend(entries)

    def _append(self, list_id: str, entry: Entry) -> None:
        with self._lock:
            self._feeds[list_id].append(entry)

    def append(self, list_id: str, entry: Entry) -> None:
        """``list.append`` under the lock."""
        self.call(lambda: self._append(list_id, entry))

    def _slice(self, list_id: str, lo: int, hi: int | None) -> list[Entry]:
        with self._lock:
            return self._feeds[list_id][lo:hi][::-1]

    def latest(self, list_id: str, n: int) -> int:
        """The last ``n``, newest first."""
        return len(self.call(lambda: self._slice(list_id, -n, None)))

    def latest_many(self, list_ids: Sequence[str], n: int) -> int:
        """The last ``n`` of each list, then the newest ``n`` of those by timestamp."""

        def merge() -> list[Entry]:
            with self._lock:
                got = [e for list_id in list_ids for e in self._feeds[list_id][-n:]]
            return heapq.nlargest(n, got, key=lambda e: e.ts)

        return len(self.call(merge))

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """Index cursors."""
        hi = len(self._feeds[list_id]) if cursor is None else cursor
        lo = max(0, hi - n)
        got = self.call(lambda: self._slice(list_id, lo, hi))
        return len(got), (lo if lo > 0 else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id, oldest first."""
        with self._lock:
            return [e.id for e in self._feeds[list_id]]


def subjects(url: str, store: Store) -> list[NativeSubject]:
    """One Python list design."""
    return [PythonListSubject()]
