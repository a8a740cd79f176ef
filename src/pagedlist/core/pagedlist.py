"""``PagedList``: the public face of the core, one object per list."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pagedlist.core import algorithms as alg
from pagedlist.core.driver import DEFAULT_POLICY, RetryPolicy, run
from pagedlist.core.sizing import check_capacity, derive_capacity
from pagedlist.core.store import Store
from pagedlist.core.values import (
    decode_value,
    encode_value,
    new_item_id,
    validate_item_id,
    validate_list_id,
)
from pagedlist.errors import ConfigError, InvalidValue

__all__ = ["Item", "PagedList"]

#: Pages fetched per batch read by ``iter()``.
ITER_BATCH_PAGES = 8


@dataclass(frozen=True, slots=True)
class Item:
    """One list item: its dense ``position`` (0 is the oldest), ``id``, append time ``ts``
    (seconds since the epoch, millisecond precision) and ``value``."""

    position: int
    id: str
    ts: float
    value: Any


def _item(positioned: alg.Positioned) -> Item:
    position, entry = positioned
    return Item(position, entry["id"], entry["ts"] / 1000, decode_value(entry["v"]))


def _items(entries: list[alg.Positioned]) -> list[Item]:
    # One json.loads over all value texts costs far less than one call per item; each
    # text is a complete JSON value, so joining them makes a valid JSON array.
    if not entries:
        return []
    values = json.loads("[" + ",".join(e["v"] for _, e in entries) + "]")
    return [
        Item(pos, e["id"], e["ts"] / 1000, v) for (pos, e), v in zip(entries, values, strict=True)
    ]


def _count(n: object, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"{what} must be a non-negative int, got {n!r}")
    return n


class PagedList:
    """An ever-growing ordered list stored in pages on a key-value store.

    Get one with :meth:`create` or :meth:`open`; ``PagedList(store, list_id)`` builds a
    handle without any store call and reads the summary on first use. Handles are cheap
    and thread-safe; each caches the head page so an append costs one store call.

    ``deadline`` bounds each operation, retries included (seconds, default 10).
    """

    def __init__(
        self,
        store: Store,
        list_id: str,
        *,
        deadline: float | None = None,
        _settings: alg.Settings | None = None,
        _head: int = 0,
    ) -> None:
        self._store = store
        self._id = validate_list_id(list_id, store.limits.key_bytes)
        self._policy = DEFAULT_POLICY if deadline is None else RetryPolicy(deadline=deadline)
        self._settings = _settings
        self._head = _head
        self._lock = threading.Lock()

    # --- construction ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        store: Store,
        list_id: str,
        *,
        capacity: int | None = None,
        max_item_bytes: int = 1024,
        metadata: Any = None,
        deadline: float | None = None,
    ) -> PagedList:
        """Create a list, or return it if it already exists with the same settings.

        ``capacity`` (items per page) defaults to what fits the store's row limit for
        items of ``max_item_bytes`` with a safety factor of 2; it is stored with the list
        and never changes. ``metadata`` is any JSON value kept in the summary.
        Raises ``ListExists`` if the list exists with other settings.
        """
        validate_list_id(list_id, store.limits.key_bytes)
        if isinstance(max_item_bytes, bool) or not isinstance(max_item_bytes, int):
            raise ConfigError(f"max_item_bytes must be a positive int, got {max_item_bytes!r}")
        if max_item_bytes < 1:
            raise ConfigError(f"max_item_bytes must be a positive int, got {max_item_bytes!r}")
        limits = store.limits
        fixed = capacity is not None
        cap = (
            check_capacity(limits, max_item_bytes, capacity)
            if fixed
            else derive_capacity(limits, max_item_bytes)
        )
        meta = None if metadata is None else encode_value(metadata, 2**20)
        wanted = alg.Settings(cap, max_item_bytes, int(time.time() * 1000), meta)
        handle = cls(store, list_id, deadline=deadline)
        settings, head = handle._run(
            alg.create(list_id, wanted, fixed_capacity=fixed), f"create({list_id!r})"
        )
        handle._settings, handle._head = settings, head
        return handle

    @classmethod
    def open(cls, store: Store, list_id: str, *, deadline: float | None = None) -> PagedList:
        """Open an existing list (one store call). Raises ``ListNotFound``."""
        handle = cls(store, list_id, deadline=deadline)
        handle._load()
        return handle

    def _run(self, step: alg.Step, what: str) -> Any:
        return run(step, self._store, self._policy, what=what)

    def _load(self) -> alg.Settings:
        settings, head = self._run(alg.open_list(self._id), f"open({self._id!r})")
        self._settings = settings
        self._seen(head)
        return settings

    def _seen(self, head: int) -> None:
        # The head only grows; a slow reader must not move the cached hint backwards.
        with self._lock:
            if head > self._head:
                self._head = head

    @property
    def _cfg(self) -> alg.Settings:
        return self._settings or self._load()

    # --- properties -----------------------------------------------------------------

    @property
    def id(self) -> str:
        """The list id."""
        return self._id

    @property
    def store(self) -> Store:
        """The store this list lives in."""
        return self._store

    @property
    def capacity(self) -> int:
        """Items per page, fixed when the list was created."""
        return self._cfg.capacity

    @property
    def max_item_bytes(self) -> int:
        """Largest item, as UTF-8 bytes of its JSON text."""
        return self._cfg.max_item_bytes

    @property
    def metadata(self) -> Any:
        """The metadata given at creation, or ``None``."""
        text = self._cfg.metadata
        return None if text is None else decode_value(text)

    @property
    def created(self) -> float:
        """Creation time, seconds since the epoch."""
        return self._cfg.created_ms / 1000

    # --- writes ---------------------------------------------------------------------

    def _entry(self, value: Any, item_id: str | None, now_ms: int) -> dict[str, Any]:
        text = encode_value(value, self._cfg.max_item_bytes)
        return {
            "id": new_item_id() if item_id is None else validate_item_id(item_id),
            "ts": now_ms,
            "v": text,
        }

    def _append(self, entries: list[dict[str, Any]], what: str) -> list[int]:
        cfg = self._cfg
        chunk = min(cfg.capacity, self._store.limits.append_entries or cfg.capacity)
        positions, head = self._run(
            alg.append(self._id, cfg.capacity, self._head, entries, chunk), what
        )
        self._seen(head)
        return positions

    def append(self, value: Any, *, id: str | None = None) -> int:
        """Append ``value`` (any JSON value) and return its position.

        ``id`` makes the append idempotent: appending an id already on the current page
        returns the existing item's position and writes nothing. Without one a random id
        is used. Raises ``InvalidValue`` or ``ItemTooLarge`` before anything is written.
        """
        entry = self._entry(value, id, int(time.time() * 1000))
        return self._append([entry], f"append to {self._id!r}")[0]

    def extend(self, values: Iterable[Any]) -> list[int]:
        """Append several values in order; return their positions (ascending).

        A batch that fits the head page's free room commits atomically (all or nothing);
        a longer one is split at page boundaries, each part atomic. Every value is
        validated first, so an invalid one means nothing is written.
        """
        if isinstance(values, str | bytes | Mapping):
            raise InvalidValue(
                f"extend() takes an iterable of values, got a {type(values).__name__}: "
                "wrap a single value in a list, or use append()"
            )
        now = int(time.time() * 1000)
        entries = [self._entry(v, None, now) for v in values]
        if not entries:
            return []
        return self._append(entries, f"extend {self._id!r}")

    # --- reads ----------------------------------------------------------------------

    def latest(self, n: int = 20) -> list[Item]:
        """The newest ``n`` items, newest first (at most two store calls)."""
        if _count(n) == 0:
            return []
        entries, head = self._run(
            alg.latest(self._id, self._cfg.capacity, self._head, n), f"latest({n})"
        )
        self._seen(head)
        return _items(entries)

    def before(self, position: int, n: int = 20) -> list[Item]:
        """Up to ``n`` items older than ``position``, newest first (one store call).

        Use the last item's position of a page as the cursor for the next one.
        """
        position = _count(position, "position")
        lo = max(0, position - _count(n))
        entries = self._run(
            alg.read_range(self._id, self._cfg.capacity, lo, position), f"before({position})"
        )
        return _items(entries[::-1])

    def after(self, position: int, n: int = 20) -> list[Item]:
        """Up to ``n`` items newer than ``position``, oldest first (one store call).

        ``after(-1, n)`` reads from the start.
        """
        if isinstance(position, bool) or not isinstance(position, int) or position < -1:
            raise ValueError(f"position must be an int >= -1, got {position!r}")
        lo = position + 1
        entries = self._run(
            alg.read_range(self._id, self._cfg.capacity, lo, lo + _count(n)),
            f"after({position})",
        )
        return _items(entries)

    def get(self, position: int) -> Item | None:
        """The item at ``position``, or ``None`` if there is none yet (one store call)."""
        position = _count(position, "position")
        found = self._run(alg.get(self._id, self._cfg.capacity, position), f"get({position})")
        return None if found is None else _item(found)

    def count(self) -> int:
        """The number of items (one store call, two if the head moved)."""
        n, head = self._run(alg.count(self._id, self._cfg.capacity, self._head), "count()")
        self._seen(head)
        return n

    def iter(self, start: int = 0) -> Iterator[Item]:
        """Iterate forward from ``start`` to the end as seen while iterating.

        Pages are fetched ``ITER_BATCH_PAGES`` at a time, one store call per batch.
        """
        pos = _count(start, "start")
        cap = self._cfg.capacity
        while True:
            hi = (pos // cap + ITER_BATCH_PAGES) * cap
            entries = self._run(alg.read_range(self._id, cap, pos, hi), f"iter({pos})")
            yield from _items(entries)
            if len(entries) < hi - pos:
                return
            pos = hi

    def __iter__(self) -> Iterator[Item]:
        return self.iter()

    def __repr__(self) -> str:
        return f"PagedList({self._id!r}, store={self._store.describe()})"
