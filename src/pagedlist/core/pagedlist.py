"""``PagedList``: the public face of the core, one object per list."""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import json
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar, cast

from pagedlist.core import algorithms as alg
from pagedlist.core import entries as ent
from pagedlist.core import lifecycle as life
from pagedlist.core import observe
from pagedlist.core.driver import DEFAULT_POLICY, RetryPolicy, run
from pagedlist.core.ops import GetMany, JSONDoc, Scan, Slot
from pagedlist.core.sizing import (
    ENTRY_PAGE_CAPACITY,
    check_capacity,
    check_entry_size,
    derive_capacity,
)
from pagedlist.core.store import Store
from pagedlist.core.values import (
    decode_value,
    encode_value,
    new_item_id,
    summary_key,
    validate_item_id,
    validate_list_id,
)
from pagedlist.errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidArgument,
    InvalidListId,
    InvalidValue,
    ListNotFound,
    StoreError,
    Unsupported,
)

__all__ = ["Item", "PagedList", "Timeline"]

T = TypeVar("T")

#: Pages fetched per batch read by ``iter()``.
ITER_BATCH_PAGES = 8
#: Layout 2 on claim stores: a cached hint older than this is refreshed by a range read
#: before it is used, so a hint can never lag behind a trim (see ``PURGE_GRACE``).
HINT_TTL = 30.0
#: Most entries one group of coalesced appends sends in one store call.
MAX_GROUP = 500
#: How long ``drop`` keeps going, in rounds of one deadline each, before it gives up.
DROP_TIMEOUT = 600.0
#: The list that catalogues the lists of a store (``PagedList.lists``); a reserved id.
CATALOG = "pagedlist.catalog"
#: Layout 2: settings older than this are re-read before a read or an append that needs
#: the retained start, so another process's trim hides items here within this time.
SETTINGS_TTL = 30.0


class Item(NamedTuple):
    """One list item: its dense ``position`` (0 is the oldest), ``id``, append time ``ts``
    (seconds since the epoch, millisecond precision) and ``value``; ``edited`` is the time
    of the last ``replace`` (or ``None``) and ``list_id`` the list it belongs to.

    Immutable, compared by value; a named tuple, because reads build many of them and a
    tuple is the cheapest immutable record Python has.
    """

    position: int
    id: str
    ts: float
    value: Any
    edited: float | None = None
    list_id: str | None = None


@dataclass(frozen=True, slots=True)
class Timeline:
    """A page of items merged from several lists (:meth:`PagedList.latest_many`), newest
    first; ``cursor`` fetches the next older page, ``None`` at the end."""

    items: list[Item]
    cursor: str | None


def _items(entries: Sequence[Slot], list_id: str | Sequence[str]) -> list[Item]:
    """``Item``s of ``entries``, all of list ``list_id`` or each of its own list (a
    sequence of ids, one per entry: a timeline's merge)."""
    # One json.loads over all value texts costs far less than one call per item; each
    # text is a complete JSON value, so joining them makes a valid JSON array.
    if not entries:
        return []
    values = json.loads("[" + ",".join([e["v"] for _, e in entries]) + "]")
    lists = itertools.repeat(list_id) if isinstance(list_id, str) else list_id
    # tuple.__new__ builds the named tuple without its Python-level __new__.
    new, cls = tuple.__new__, Item
    return [
        new(cls, (pos, e["id"], e["ts"] / 1000, v, e["e"] / 1000 if "e" in e else None, lid))
        for (pos, e), v, lid in zip(entries, values, lists, strict=False)
    ]


def _count(n: object, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidArgument(f"{what} must be a non-negative int, got {n!r:.60}")
    return n


def _deadline(deadline: object) -> RetryPolicy:
    if deadline is None:
        return DEFAULT_POLICY
    if (
        isinstance(deadline, bool)
        or not isinstance(deadline, int | float)
        or not math.isfinite(deadline)
        or deadline <= 0
    ):
        raise InvalidArgument(
            f"deadline must be a positive, finite number of seconds, got {deadline!r:.60}"
        )
    return RetryPolicy(deadline=float(deadline))


def _timestamp(ts: object) -> int:
    if (
        isinstance(ts, bool)
        or not isinstance(ts, int | float)
        or not math.isfinite(ts)
        or not 0 <= ts < 2**43 / 1000
    ):
        raise InvalidArgument(
            f"ts must be seconds since the epoch (a finite number >= 0), got {ts!r:.60}"
        )
    return round(ts * 1000)


def _values(values: object) -> list[Any]:
    if values is None or isinstance(values, str | bytes | bytearray | memoryview | Mapping):
        raise InvalidValue(
            f"extend() takes an iterable of values, got a {type(values).__name__}: wrap a "
            "single value in a list, or use append()"
        )
    try:
        return list(cast(Iterable[Any], values))
    except TypeError:
        raise InvalidValue(
            f"extend() takes an iterable of values, got a {type(values).__name__}: wrap a "
            "single value in a list, or use append()"
        ) from None


# --- state shared by every handle of one list in this process --------------------------------


class _Request:
    """One caller's entries waiting to be appended by a group leader."""

    __slots__ = ("deadline", "entries", "error", "event", "lead", "result", "taken")

    def __init__(self, entries: list[JSONDoc], deadline: float) -> None:
        self.entries = entries
        self.deadline = deadline
        # Only a caller that has to wait needs an event; a leader never does.
        self.event: threading.Event | None = None
        self.result: list[int] | None = None
        self.error: BaseException | None = None
        self.lead = False
        self.taken = False

    def wake(self) -> None:
        """Tell the waiting caller its outcome (or its lead) is ready."""
        assert self.event is not None
        self.event.set()


class _ListState:
    """What every handle of one list in one process shares: its settings, the newest
    position or head page seen (the hint) and the group of appends being coalesced."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.settings: alg.Settings | None = None
        self.head = 0
        """Layout 1: the head page last seen. Layout 2 (claim): every position below is taken."""
        self.hint_at = -math.inf
        """When ``head`` was last learned (``time.monotonic()``), for the hint's TTL."""
        self.queue: deque[Any] = deque()
        self.busy = False
        self.loaded_at = -math.inf
        """When ``settings`` were read (``time.monotonic()``): layout-2 settings carry the
        retained start, which another process's trim moves, so they are re-read after
        ``SETTINGS_TTL``."""
        self.checked_retention = -1
        """The newest position for which retention (max_items/max_age) was last checked."""
        self.chunk = 0
        self.chunk_for: alg.Settings | None = None
        """The batch size of appends, and the settings it was worked out for."""

    def seen(self, head: int) -> None:
        with self.lock:
            if head > self.head:
                self.head = head
            self.hint_at = time.monotonic()


_STATES: weakref.WeakKeyDictionary[Any, dict[str, _ListState]] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def _state(store: object, list_id: str) -> _ListState:
    """The state every handle of ``list_id`` on ``store`` shares (made on first use)."""
    return _states(store, (list_id,))[list_id]


def _states(store: object, list_ids: Sequence[str]) -> dict[str, _ListState]:
    """:func:`_state` of each of ``list_ids`` (validated already), under one lock."""
    with _STATES_LOCK:
        lists = _STATES.get(store)
        if lists is None:
            lists = _STATES[store] = {}
        out = {}
        for list_id in list_ids:
            found = lists.get(list_id)
            if found is None:
                found = lists[list_id] = _ListState()
            out[list_id] = found
        return out


def _learn(st: _ListState, settings: alg.Settings, head: int) -> None:
    """Publish a list's settings (and, layout 1, where its head is) to its shared state."""
    with st.lock:
        st.settings = settings
        st.loaded_at = time.monotonic()
    if settings.layout == alg.FORMAT:
        st.seen(head)


def _forget(store: object, list_id: str) -> None:
    with _STATES_LOCK:
        lists = _STATES.get(store)
        if lists is not None:
            lists.pop(list_id, None)


class _Plans:
    """What ``PagedList`` and ``AsyncPagedList`` share: every list operation as one
    sans-IO generator (settings loaded on first use, then the algorithm), so the sync and
    the asyncio class only differ in how they run it."""

    _store: Any
    _id: str
    _policy: RetryPolicy
    _state: _ListState

    def _init(self, store: Any, list_id: str, deadline: object) -> None:
        self._store = store
        self._id = validate_list_id(list_id, store.limits.key_bytes)
        self._policy = _deadline(deadline)
        self._state = _state(store, self._id)

    # --- settings ----------------------------------------------------------------------

    def _learn(self, settings: alg.Settings, head: int) -> None:
        _learn(self._state, settings, head)

    def _pass_lead(self) -> None:
        """End this caller's turn at the head of the list's appends: wake the next queued
        caller as leader (a thread's event or a task's future), or mark the list idle."""
        st = self._state
        with st.lock:
            following = st.queue.popleft() if st.queue else None
            if following is None:
                st.busy = False
        if following is not None:
            following.lead = True
            following.wake()

    def _p_load(self) -> alg.Plan[alg.Settings]:
        """Read the summary afresh (``open``: the list must exist now) and publish it; the
        settings other handles share are replaced, never cleared."""
        settings, head = yield from alg.open_list(self._id)
        self._learn(settings, head)
        return settings

    def _p_settings(self) -> alg.Plan[alg.Settings]:
        st = self._state
        settings = st.settings
        if settings is None or (
            settings.layout == ent.FORMAT and time.monotonic() - st.loaded_at > SETTINGS_TTL
        ):
            settings, head = yield from alg.open_list(self._id)
            self._learn(settings, head)
        return settings

    @staticmethod
    def _wanted(
        store: Any,
        *,
        capacity: int | None,
        max_item_bytes: int,
        metadata: Any,
        max_items: int | None,
        max_age: float | None,
        layout: int | None,
    ) -> tuple[alg.Settings, bool]:
        """The settings ``create`` asks for, validated (no store call)."""
        limits = store.limits
        entries = store.features.entries
        if layout is None:
            layout = ent.FORMAT if entries else alg.FORMAT
        if layout not in (alg.FORMAT, ent.FORMAT) or (layout == ent.FORMAT and not entries):
            raise ConfigError(
                f"layout={layout!r}: this store offers "
                f"{'layouts 1 and 2' if entries else 'layout 1 only (no entry rows)'}"
            )
        if isinstance(max_item_bytes, bool) or not isinstance(max_item_bytes, int):
            raise ConfigError(f"max_item_bytes must be a positive int, got {max_item_bytes!r}")
        if max_item_bytes < 1:
            raise ConfigError(f"max_item_bytes must be a positive int, got {max_item_bytes!r}")
        fixed = capacity is not None
        if layout == ent.FORMAT:
            check_entry_size(limits, max_item_bytes)
            if fixed and (isinstance(capacity, bool) or not isinstance(capacity, int)):
                raise ConfigError(f"capacity must be a positive int, got {capacity!r}")
            cap = capacity if capacity is not None else ENTRY_PAGE_CAPACITY
            if cap < 1:
                raise ConfigError(f"capacity must be a positive int, got {capacity!r}")
        else:
            if max_items is not None or max_age is not None:
                raise ConfigError(
                    "max_items and max_age need layout 2 (entry rows), which this store "
                    "does not offer"
                )
            cap = (
                check_capacity(limits, max_item_bytes, capacity)
                if fixed
                else derive_capacity(limits, max_item_bytes)
            )
        if max_items is not None and (
            isinstance(max_items, bool) or not isinstance(max_items, int) or max_items < 1
        ):
            raise ConfigError(f"max_items must be a positive int or None, got {max_items!r}")
        age_ms = None
        if max_age is not None:
            if (
                isinstance(max_age, bool)
                or not isinstance(max_age, int | float)
                or not (math.isfinite(max_age) and max_age > 0)
            ):
                raise ConfigError(f"max_age must be a positive number of seconds, got {max_age!r}")
            age_ms = int(max_age * 1000)
        meta = None if metadata is None else encode_value(metadata, 2**20)
        wanted = alg.Settings(
            cap,
            max_item_bytes,
            int(time.time() * 1000),
            meta,
            layout=layout,
            max_items=max_items,
            max_age_ms=age_ms,
        )
        return wanted, fixed

    def _p_create(self, wanted: alg.Settings, fixed: bool) -> alg.Plan[alg.Settings]:
        settings, head = yield from alg.create(self._id, wanted, fixed_capacity=fixed)
        self._learn(settings, head)
        if settings is wanted and self._id != CATALOG:
            # Made by this call (alg.create hands back ``wanted`` itself then): list it in
            # the store's catalogue, once, so `pagedlist copy --all` can find it. Appends
            # never touch the catalogue.
            yield from self._p_register()
        return settings

    def _catalog(self) -> _Plans:
        handle = object.__new__(type(self))
        handle._init(self._store, CATALOG, None)
        handle._policy = self._policy
        return handle

    def _p_register(self) -> alg.Plan[None]:
        cat = self._catalog()
        if cat._state.settings is None:
            wanted, fixed = self._wanted(
                self._store,
                capacity=None,
                max_item_bytes=self._store.limits.key_bytes + 64,
                metadata={"pagedlist": "catalogue of the lists in this store"},
                max_items=None,
                max_age=None,
                layout=None,
            )
            yield from cat._p_create(wanted, fixed)
        cfg = cat._state.settings
        assert cfg is not None
        # Ids pagedlist draws (the cheap, coalescing path): a list registered twice (two
        # creates racing, a copy rerun) is listed once by ``lists()``.
        entry = cat._entries(cfg, [{"list": self._id}], None, None)
        yield from cat._p_append_only(cfg, entry)

    def _p_unregister(self) -> alg.Plan[None]:
        cat = self._catalog()
        row = yield from alg.open_list(CATALOG) if cat._state.settings is None else _nothing()
        if row is not None:
            cat._learn(*row)
        cfg = cat._state.settings
        if cfg is None or cfg.layout != ent.FORMAT:
            return  # layout-1 catalogues keep the name; listing skips lists that are gone
        position = cfg.start - 1
        while True:
            items, more = yield from cat._p_batch(position, 1000)
            for item in items:
                if item.value.get("list") == self._id:
                    yield from life.delete(CATALOG, cfg.start, item.position)
            if more is None:
                return
            position = more

    def _p_lists(self) -> alg.Plan[list[str]]:
        """Every list id in the catalogue, oldest first (lists created since 0.2)."""
        try:
            cfg = yield from self._p_settings()
        except ListNotFound:
            return []
        out: list[str] = []
        position = cfg.start - 1
        while True:
            items, more = yield from self._p_batch(position, 1000)
            out.extend(i.value["list"] for i in items)
            if more is None:
                return list(dict.fromkeys(out))
            position = more

    # --- writes ------------------------------------------------------------------------

    def _entries(
        self,
        cfg: alg.Settings,
        values: list[Any],
        ids: list[str] | None,
        ts: list[Any] | None,
    ) -> list[JSONDoc]:
        now = int(time.time() * 1000)
        out = []
        for i, value in enumerate(values):
            text = encode_value(value, cfg.max_item_bytes)
            item_id = None if ids is None else ids[i]
            out.append(
                {
                    "id": new_item_id() if item_id is None else validate_item_id(item_id),
                    "ts": now if ts is None or ts[i] is None else _timestamp(ts[i]),
                    "v": text,
                }
            )
        return out

    @staticmethod
    def _extend_args(
        values: Iterable[Any], ids: Sequence[str] | None, ts: Sequence[float] | None
    ) -> tuple[list[Any], list[str] | None, list[Any] | None]:
        items = _values(values)
        id_list = None
        if ids is not None:
            id_list = _values(ids)
            if len(id_list) != len(items):
                raise InvalidArgument(
                    f"extend() got {len(items)} values and {len(id_list)} ids: give one id per "
                    "value"
                )
        ts_list = None
        if ts is not None:
            ts_list = _values(ts)
            if len(ts_list) != len(items):
                raise InvalidArgument(
                    f"extend() got {len(items)} values and {len(ts_list)} timestamps: give one "
                    "per value"
                )
        return items, id_list, ts_list

    def _once_path(self, cfg: alg.Settings, given_ids: bool) -> bool:
        """Whether caller ids need their records (every store without ``push``)."""
        return given_ids and not (cfg.layout == ent.FORMAT and self._store.features.push)

    def _chunk(self, cfg: alg.Settings) -> int:
        st = self._state
        if st.chunk_for is cfg:
            return st.chunk
        st.chunk, st.chunk_for = self._chunk_of(cfg), cfg
        return st.chunk

    def _chunk_of(self, cfg: alg.Settings) -> int:
        store = self._store
        if cfg.layout == ent.FORMAT:
            if store.features.push:
                return int(store.limits.append_entries or MAX_GROUP)
            return max(1, int(store.features.claim_entries))
        return min(cfg.capacity, int(store.limits.append_entries or cfg.capacity))

    def _hinted(
        self, cfg: alg.Settings, make: Callable[[int], alg.Plan[tuple[T, int]]]
    ) -> alg.Plan[tuple[T, int]]:
        """The claim-store step ``make(hint)``, first learning where the list ends when the
        cached hint is unknown or older than ``HINT_TTL``."""
        st, start = self._state, cfg.start
        if time.monotonic() - st.hint_at <= HINT_TTL:
            return (yield from make(max(st.head, start)))
        newest = yield from ent.newest_position(self._id, start)
        hint = start if newest is None else max(start, newest + 1)
        return (yield from make(hint))

    def _p_append(self, cfg: alg.Settings, entries: list[JSONDoc]) -> alg.Plan[list[int]]:
        """Append ``entries`` (generated ids, or any ids on a push store): positions."""
        positions = yield from self._p_append_only(cfg, entries)
        retained = cfg.max_items is not None or cfg.max_age_ms is not None
        if retained and cfg.layout == ent.FORMAT and positions:
            yield from self._p_retention(cfg, max(positions))
        return positions

    def _p_retention(self, cfg: alg.Settings, newest: int) -> alg.Plan[None]:
        """Apply ``max_items`` / ``max_age`` after an append that reached ``newest``: at
        most once per page of positions, never on a reader's path (only lists with a
        retention setting get here: :meth:`_p_append` checks)."""
        st = self._state
        page = newest // cfg.capacity
        if page <= st.checked_retention // cfg.capacity and st.checked_retention >= 0:
            return
        st.checked_retention = newest
        cut = cfg.start
        if cfg.max_items is not None:
            cut = max(cut, newest + 1 - cfg.max_items)
        if cfg.max_age_ms is not None:
            oldest_ok = int(time.time() * 1000) - cfg.max_age_ms
            while cut <= newest:
                slots = yield Scan(self._id, cut, newest + 1, cfg.capacity, False)
                young = next((p for p, e in slots if e["ts"] >= oldest_ok), None)
                if young is not None:
                    cut = young
                    break
                if len(slots) < cfg.capacity:
                    cut = newest + 1 if not slots else slots[-1][0] + 1
                    break
                cut = slots[-1][0] + 1
        if cut > cfg.start:
            settings = yield from life.trim(
                self._id, cut, push=self._store.features.push, now_ms=int(time.time() * 1000)
            )
            self._learn(settings, 0)

    def _p_append_only(self, cfg: alg.Settings, entries: list[JSONDoc]) -> alg.Plan[list[int]]:
        st, chunk = self._state, self._chunk(cfg)
        if cfg.layout == ent.FORMAT and self._store.features.push:
            return (yield from ent.append_push(self._id, entries, chunk, cfg.start))
        if cfg.layout == ent.FORMAT:
            positions, hint = yield from self._hinted(
                cfg, lambda h: ent.append_claim(self._id, h, entries, chunk)
            )
        else:
            positions, hint = yield from alg.append(self._id, cfg.capacity, st.head, entries, chunk)
        st.seen(hint)
        return positions

    def _p_write_once(self, cfg: alg.Settings, entries: list[JSONDoc]) -> alg.Plan[list[int]]:
        """Caller ids on a store without ``push``: one id record per entry, in order. The
        entries are marked ``"x"`` (they have a record, which trim and drop remove)."""
        st = self._state
        out: list[int] = []
        for entry in entries:
            entry["x"] = 1
            try:
                if cfg.layout == ent.FORMAT:
                    once = functools.partial(
                        _append_once, self._id, cfg.start, entry, summary_key(self._id)
                    )
                    pos, hint = yield from self._hinted(cfg, once)
                else:
                    pos, hint = yield from alg.append_once(self._id, cfg.capacity, st.head, entry)
            except StoreError as err:
                if out:
                    raise ent._partial(self._id, out, len(entries), err) from err
                raise
            st.seen(hint)
            out.append(pos)
        return out

    # --- reads -------------------------------------------------------------------------

    def _p_latest(self, n: int) -> alg.Plan[list[Item]]:
        cfg = yield from self._p_settings()
        if cfg.layout == ent.FORMAT:
            return _items((yield from ent.latest(self._id, cfg.start, n)), self._id)
        # Layout 1 reads at most the pages up to the head, however large n is.
        st = self._state
        entries, head = yield from alg.latest(self._id, cfg.capacity, st.head, n)
        st.seen(head)
        return _items(entries, self._id)

    def _p_before(self, position: int, n: int) -> alg.Plan[list[Item]]:
        cfg = yield from self._p_settings()
        if cfg.layout == ent.FORMAT:
            return _items((yield from ent.read_before(self._id, cfg.start, position, n)), self._id)
        hi, lo = position, max(0, position - n)
        if hi - lo > ITER_BATCH_PAGES * cfg.capacity:
            # A wide range: bound it by what the list holds before naming its pages.
            hi = min(hi, (yield from self._p_count()))
            lo = max(0, hi - n)
        entries = yield from alg.read_range(self._id, cfg.capacity, lo, hi)
        return _items(entries[::-1], self._id)

    def _p_batch(self, position: int, n: int) -> alg.Plan[tuple[list[Item], int | None]]:
        """Up to ``n`` live items after ``position``, oldest first, and where to go on
        (``None`` at the end): what ``after`` and ``iter`` read per store call."""
        cfg = yield from self._p_settings()
        if cfg.layout == ent.FORMAT:
            slots, more = yield from ent.read_after(self._id, cfg.start, position, n)
            return _items(slots, self._id), None if more is None else more - 1
        cap = cfg.capacity
        lo = position + 1
        hi = (lo // cap + ITER_BATCH_PAGES) * cap
        entries = yield from alg.read_range(self._id, cap, lo, hi)
        items = _items(entries, self._id)[:n]
        if len(entries) < hi - lo:
            return items, None if len(items) == len(entries) else items[-1].position
        return items, items[-1].position if items else None

    def _p_after(self, position: int, n: int) -> alg.Plan[list[Item]]:
        out: list[Item] = []
        while len(out) < n:
            items, more = yield from self._p_batch(position, n - len(out))
            out.extend(items)
            if more is None:
                break
            position = more
        return out

    def _p_get(self, position: int) -> alg.Plan[Item | None]:
        cfg = yield from self._p_settings()
        if cfg.layout == ent.FORMAT:
            if position < cfg.start:
                return None
            found = yield from ent.get(self._id, position)
        else:
            found = yield from alg.get(self._id, cfg.capacity, position)
        return None if found is None else _items([found], self._id)[0]

    def _p_count(self) -> alg.Plan[int]:
        cfg = yield from self._p_settings()
        if cfg.layout == ent.FORMAT:
            return int((yield from ent.count(self._id, cfg.start)))
        st = self._state
        n, head = yield from alg.count(self._id, cfg.capacity, st.head)
        st.seen(head)
        return int(n)

    # --- lifecycle ---------------------------------------------------------------------

    def _layout2(self, cfg: alg.Settings, what: str) -> None:
        if cfg.layout != ent.FORMAT:
            raise Unsupported(
                f"{what} needs layout 2 (one row per item); list {self._id!r} is in layout 1 "
                "(written by pagedlist 0.1, or on a store without entry rows): copy it to a "
                "store or table with entry rows with `pagedlist copy`"
            )

    def _p_delete(self, position: int) -> alg.Plan[bool]:
        cfg = yield from self._p_settings()
        self._layout2(cfg, "delete()")
        return (yield from life.delete(self._id, cfg.start, position))

    def _p_replace(self, position: int, value: Any) -> alg.Plan[Item]:
        cfg = yield from self._p_settings()
        self._layout2(cfg, "replace()")
        text = encode_value(value, cfg.max_item_bytes)
        entry = yield from life.replace(
            self._id, cfg.start, position, text, int(time.time() * 1000)
        )
        return _items([(position, entry)], self._id)[0]

    def _p_find(self, item_id: str) -> alg.Plan[Item | None]:
        cfg = yield from self._p_settings()
        if cfg.layout == ent.FORMAT:
            push = self._store.features.push
            found = yield from life.find(self._id, cfg.start, item_id, push=push)
        else:
            found = yield from life.find_layout1(self._id, cfg.capacity, item_id)
        return None if found is None else _items([found], self._id)[0]

    def _p_trim(self, before: int) -> alg.Plan[int]:
        cfg = yield from self._p_settings()
        self._layout2(cfg, "trim()")
        count = yield from self._p_count()
        if before > count:
            raise InvalidArgument(
                f"trim(before={before}) is past the end of list {self._id!r}, which holds "
                f"{count} positions: trim at most up to count()"
            )
        settings = yield from life.trim(
            self._id, before, push=self._store.features.push, now_ms=int(time.time() * 1000)
        )
        self._learn(settings, 0)
        return settings.start

    def _p_first(self) -> alg.Plan[int]:
        cfg = yield from self._p_settings()
        return cfg.start

    # --- properties -----------------------------------------------------------------

    @property
    def id(self) -> str:
        """The list id."""
        return self._id

    @property
    def store(self) -> Any:
        """The store this list lives in."""
        return self._store

    def _loaded(self) -> alg.Settings:
        settings = self._state.settings
        if settings is None:
            raise Unsupported(
                f"the settings of list {self._id!r} are not loaded yet: use "
                "await AsyncPagedList.open(...) (or create) before reading them"
            )
        return settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._id!r}, store={self._store.describe()})"


class PagedList(_Plans):
    """An ever-growing ordered list stored on a key-value store.

    Get one with :meth:`create` or :meth:`open`; ``PagedList(store, list_id)`` builds a
    handle without any store call and reads the summary on first use. Handles are cheap
    and thread-safe; all handles of one list on one store object share what they learn
    (settings, where the list ends) and coalesce concurrent appends into one store call.

    ``deadline`` bounds each operation, retries included (seconds, default 10).
    """

    def __init__(self, store: Store, list_id: str, *, deadline: float | None = None) -> None:
        self._init(store, list_id, deadline)

    def _run(self, step: alg.Plan[T], what: str, policy: RetryPolicy | None = None) -> T:
        if not observe._observers:
            return run(step, self._store, policy or self._policy, what=what)
        with observe.operation(what, self._id):
            return run(step, self._store, policy or self._policy, what=what)

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
        max_items: int | None = None,
        max_age: float | None = None,
        deadline: float | None = None,
        layout: int | None = None,
    ) -> PagedList:
        """Create a list, or return it if it already exists with the same settings.

        ``max_item_bytes`` bounds one item's JSON text. ``capacity`` is the number of
        items per page: on stores with entry rows (layout 2) a page is a range of
        positions (what ``iter()`` reads at once, what retention trims at once) and
        defaults to 100; on stores without (layout 1) a page is one row, and the default
        is what fits the store's row limit with a safety factor of 2. ``metadata`` is any
        JSON value kept with the list. ``max_items`` / ``max_age`` (seconds) keep only the
        newest items, applied lazily by appends (layout 2 only). ``layout`` forces 1 or 2
        (default: 2 where the store has entry rows). Raises ``ListExists`` if the list
        exists with other settings.
        """
        _not_reserved(validate_list_id(list_id, store.limits.key_bytes))
        wanted, fixed = cls._wanted(
            store,
            capacity=capacity,
            max_item_bytes=max_item_bytes,
            metadata=metadata,
            max_items=max_items,
            max_age=max_age,
            layout=layout,
        )
        handle = cls(store, list_id, deadline=deadline)
        handle._run(handle._p_create(wanted, fixed), f"create({list_id!r})")
        return handle

    @classmethod
    def open(cls, store: Store, list_id: str, *, deadline: float | None = None) -> PagedList:
        """Open an existing list (one store call). Raises ``ListNotFound``."""
        handle = cls(store, list_id, deadline=deadline)
        handle._run(handle._p_load(), f"open({list_id!r})")
        return handle

    @property
    def _cfg(self) -> alg.Settings:
        return self._state.settings or self._run(self._p_settings(), f"open({self._id!r})")

    # --- properties -----------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Items per page, fixed when the list was created."""
        return self._cfg.capacity

    @property
    def layout(self) -> int:
        """1: one row per page (pagedlist 0.1, stores without entry rows); 2: one row per
        item, read by ordered range."""
        return self._cfg.layout

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

    def append(self, value: Any, *, id: str | None = None, ts: float | None = None) -> int:
        """Append ``value`` (any JSON value) and return its position.

        With ``id`` the append is idempotent for as long as the item is retained: appending
        an id the list already holds returns the first commit's position and writes
        nothing, however much later, after whatever failure. Without one a random id is
        used (a retry inside this call never duplicates; a new call is a new item). ``ts``
        (seconds since the epoch) keeps an imported item's time; the default is now.
        Raises ``InvalidValue`` or ``ItemTooLarge`` before anything is written.
        """
        entries = self._entries(self._cfg, [value], None if id is None else [id], [ts])
        return self._write(entries, id is not None, f"append to {self._id!r}")[0]

    def extend(
        self,
        values: Iterable[Any],
        *,
        ids: Sequence[str] | None = None,
        ts: Sequence[float] | None = None,
    ) -> list[int]:
        """Append several values in order; return their positions (ascending for new items).

        Every value is validated first, so an invalid one means nothing is written. A batch
        the store can take in one atomic call (any size on stores with ``push``: memory,
        SQLite, PostgreSQL, Redis; up to ``claim_entries`` without ``ids`` on the others)
        commits all or nothing; a longer one, or one with ``ids`` on a store without
        ``push``, is written in parts, and a failure after a part committed raises
        ``PartialWrite`` with the committed positions: call again with the same ``ids`` to
        finish without duplicates. ``ids`` and ``ts`` (one per value) work as in
        :meth:`append`.
        """
        items, ids_, ts_ = self._extend_args(values, ids, ts)
        entries = self._entries(self._cfg, items, ids_, ts_)
        if not entries:
            return []
        return self._write(entries, ids_ is not None, f"extend {self._id!r}")

    def _write(self, entries: list[JSONDoc], given_ids: bool, what: str) -> list[int]:
        cfg = self._cfg
        if self._once_path(cfg, given_ids):
            return self._run(self._p_write_once(cfg, entries), what)
        return self._group(entries, what)

    def _group(self, entries: list[JSONDoc], what: str) -> list[int]:
        """Append ``entries`` as one request, coalesced with concurrent appends to this list.

        The first caller to find no append in flight leads: it sends its entries and those
        of every caller queued meanwhile (up to the store's batch size) in one store call,
        hands each caller its positions, then passes the lead to the next waiting caller.
        Each caller's entries stay together and in order; a caller whose deadline passes
        while waiting gets ``DeadlineExceeded`` (nothing written if its turn never came).
        """
        st = self._state
        with st.lock:
            lead = not st.busy
            if lead:
                st.busy = True
            else:
                req = _Request(entries, time.monotonic() + self._policy.deadline)
                req.event = threading.Event()
                st.queue.append(req)
        if lead:
            # Nobody was waiting when this call started (the usual case): it is a group of
            # one and needs none of the group bookkeeping; callers who arrive meanwhile
            # wait for the lead, which goes to the first of them.
            try:
                cfg = self._cfg
                return self._run(self._p_append(cfg, entries), what)
            finally:
                self._pass_lead()
        self._wait(req)
        if not req.lead:
            if req.error is not None:
                raise req.error
            assert req.result is not None
            return req.result
        # Handed the lead: send this caller's entries and those queued behind them.
        try:
            self._lead(req, what)
        finally:
            self._pass_lead()
        if req.error is not None:
            raise req.error
        assert req.result is not None
        return req.result

    def _wait(self, req: _Request) -> None:
        st = self._state
        assert req.event is not None
        if req.event.wait(max(0.0, req.deadline - time.monotonic())):
            return
        with st.lock:
            if not req.taken and not req.lead and req in st.queue:
                st.queue.remove(req)
                raise _waited_too_long(self._id, self._policy)
        # Taken into a group already (or handed the lead): its outcome is on its way.
        req.event.wait()

    def _lead(self, mine: _Request, what: str) -> None:
        st = self._state
        cfg = self._cfg
        group = _take_group(st, mine, self._chunk(cfg))
        entries = [e for req in group for e in req.entries]
        try:
            positions = self._run(self._p_append(cfg, entries), what, _group_policy(group, self))
        except BaseException as err:
            _fail_group(group, mine, err)
            return
        _hand_out(group, mine, positions)

    # --- reads ----------------------------------------------------------------------

    def latest(self, n: int = 20) -> list[Item]:
        """The newest ``n`` items, newest first (one store call; layout 1: at most two)."""
        if _count(n) == 0:
            return []
        return self._run(self._p_latest(n), f"latest({n})")

    def before(self, position: int, n: int = 20) -> list[Item]:
        """Up to ``n`` items older than ``position``, newest first (one store call).

        Use the last item's position of a page as the cursor for the next one.
        """
        position, n = _count(position, "position"), _count(n)
        if n == 0:
            return []
        return self._run(self._p_before(position, n), f"before({position})")

    def after(self, position: int, n: int = 20) -> list[Item]:
        """Up to ``n`` items newer than ``position``, oldest first (one store call for a
        few pages' worth). ``after(-1, n)`` reads from the start. Reads at most what the
        list holds, however large ``n`` is."""
        position, n = _after_args(position, n)
        if n == 0:
            return []
        return self._run(self._p_after(position, n), f"after({position})")

    def get(self, position: int) -> Item | None:
        """The item at ``position``, or ``None`` if there is none (one store call)."""
        position = _count(position, "position")
        return self._run(self._p_get(position), f"get({position})")

    def count(self) -> int:
        """The number of positions used so far (one store call; layout 1: at most two).
        Deleted and trimmed items keep counting: positions never move."""
        return self._run(self._p_count(), "count()")

    # --- lifecycle --------------------------------------------------------------------

    def delete(self, position: int) -> bool:
        """Delete the item at ``position``: it becomes a tombstone (its value is gone from
        the store; its position and id stay, so other positions never change and an append
        repeating its id still finds it). Reads skip it, ``get`` returns ``None``. Returns
        ``False`` if it was deleted already. Raises ``ItemNotFound`` for a position never
        written or trimmed. Layout 2 only (``Unsupported`` on layout 1)."""
        position = _count(position, "position")
        return self._run(self._p_delete(position), f"delete({position})")

    def replace(self, position: int, value: Any) -> Item:
        """Give the item at ``position`` a new value (same position, same id); returns the
        new item, whose ``edited`` is now. Raises ``ItemNotFound`` for a deleted, trimmed or
        never written position, ``ItemTooLarge`` / ``InvalidValue`` before writing."""
        position = _count(position, "position")
        return self._run(self._p_replace(position, value), f"replace({position})")

    def find(self, id: str) -> Item | None:
        """The live item with that id, or ``None``: at most two store calls. Finds items
        appended with an explicit ``id=``; on stores with ``push`` (memory, SQLite,
        PostgreSQL, Redis) any item."""
        item_id = validate_item_id(id)
        return self._run(self._p_find(item_id), f"find({item_id!r})")

    def trim(self, *, before: int) -> int:
        """Drop every item below position ``before`` (retention); returns the new retained
        start. Positions never move; reads below the start return nothing. Other processes
        see the trim within ``SETTINGS_TTL`` seconds. Layout 2 only."""
        before = _count(before, "before")
        return self._run(self._p_trim(before), f"trim(before={before})")

    def first(self) -> int:
        """The lowest retained position (0 until a trim): no store call while the list's
        settings are fresh."""
        return self._run(self._p_first(), "first()")

    @classmethod
    def drop(
        cls,
        store: Store,
        list_id: str,
        *,
        deadline: float | None = None,
        timeout: float = DROP_TIMEOUT,
    ) -> bool:
        """Remove a whole list, all its rows; idempotent (``False`` if there was none).

        A large list takes many store calls: the removal runs in rounds, each with its own
        ``deadline``, for up to ``timeout`` seconds in all; it is resumable (the summary
        goes last), so a drop that stopped half way is finished by the next. Handles of the
        list in this process forget it.
        """
        handle = cls(store, list_id, deadline=deadline)
        step = functools.partial(life.drop, handle._id, entries=store.features.entries)
        existed = _rounds(lambda: handle._run(step(), f"drop({list_id!r})"), timeout)
        _forget(store, handle._id)
        handle._run(handle._p_unregister(), f"drop({list_id!r})")
        return bool(existed)

    @classmethod
    def register(cls, store: Store, list_id: str, *, deadline: float | None = None) -> None:
        """List ``list_id`` in the store's catalogue (``PagedList.lists``): idempotent.
        ``create`` does it for the lists it makes; tools that write a list's rows
        themselves (a copy, an import) call this."""
        handle = cls(store, _not_reserved(validate_list_id(list_id, store.limits.key_bytes)))
        handle._policy = _deadline(deadline)
        handle._run(handle._p_register(), f"register({list_id!r})")

    @classmethod
    def lists(cls, store: Store, *, deadline: float | None = None) -> list[str]:
        """The ids of the lists created in ``store`` (by pagedlist 0.2 or later), oldest
        first, from the store's catalogue: a list is added when it is created and removed
        when it is dropped; appends never touch it. A list whose create died between its
        two writes may be missing: name it explicitly."""
        cat = cls(store, CATALOG, deadline=deadline)
        return cat._run(cat._p_lists(), "lists()")

    def iter(self, start: int = 0) -> Iterator[Item]:
        """Iterate forward from ``start`` to the end as seen while iterating, one store
        call per ``ITER_BATCH_PAGES`` pages."""
        position = _count(start, "start") - 1
        batch = self._cfg.capacity * ITER_BATCH_PAGES
        while True:
            items, more = self._run(self._p_batch(position, batch), f"iter({position + 1})")
            yield from items
            if more is None:
                return
            position = more

    def __iter__(self) -> Iterator[Item]:
        return self.iter()

    # --- many lists -----------------------------------------------------------------

    @classmethod
    def latest_many(
        cls,
        store: Store,
        list_ids: Sequence[str],
        n: int = 20,
        *,
        cursor: str | None = None,
        deadline: float | None = None,
    ) -> Timeline:
        """The newest ``n`` items across ``list_ids``, newest first by time (a home timeline).

        One batch read of every list's newest items (plus, once per process, one read of
        the summaries of lists it has not seen); a store that merges on its side
        (``features.merge``: PostgreSQL) sends back only the page's items. A list whose
        newest rows are all deleted is read on below them. Pass the returned ``cursor`` to
        get the next older page (lists added to ``list_ids`` since join in at the right
        time).
        Lists that do not exist read as empty. Each item carries its ``list_id``.
        """
        plan = _ManyPlan(store, list_ids, n, cursor, deadline, cls)
        return run(plan.step(), store, plan.policy, what="latest_many")


def _append_once(
    list_id: str, start: int, entry: JSONDoc, summary: str, hint: int
) -> alg.Plan[tuple[int, int]]:
    return ent.append_once(list_id, hint, start, entry, summary)


def _rounds(once: Callable[[], T], timeout: float) -> T:
    """``once()`` again after each ``DeadlineExceeded`` until it finishes or ``timeout``
    seconds have passed: for idempotent, resumable work larger than one deadline."""
    give_up = time.monotonic() + timeout
    while True:
        try:
            return once()
        except DeadlineExceeded:
            if time.monotonic() > give_up:
                raise


def _nothing() -> alg.Plan[None]:
    return None
    yield  # pragma: no cover - makes this a generator


def _not_reserved(list_id: str) -> str:
    if list_id == CATALOG:
        raise InvalidListId(
            f"list id {CATALOG!r} is reserved for the store's catalogue of lists: pick another"
        )
    return list_id


def _waited_too_long(list_id: str, policy: RetryPolicy) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"append to {list_id!r} waited {policy.deadline:g}s behind other appends to this list "
        "without its turn coming; nothing was written: retry later, or raise the deadline "
        "with deadline=..."
    )


def _take_group(st: _ListState, mine: Any, limit: int) -> list[Any]:
    """The leader's request plus the queued ones that fit ``limit`` entries, in order."""
    group = [mine]
    size = len(mine.entries)
    with st.lock:
        mine.taken = True
        while st.queue and size + len(st.queue[0].entries) <= limit:
            req = st.queue.popleft()
            req.taken = True
            group.append(req)
            size += len(req.entries)
    return group


def _group_policy(group: list[Any], handle: _Plans) -> RetryPolicy:
    if len(group) == 1:
        return handle._policy
    latest = max(r.deadline for r in group) - time.monotonic()
    return RetryPolicy(deadline=max(latest, 0.001))


def _fail_group(group: list[Any], mine: Any, err: BaseException) -> None:
    for req in group:
        req.error = err
        if req is not mine:
            req.wake()


def _hand_out(group: list[Any], mine: Any, positions: list[int]) -> None:
    at = 0
    for req in group:
        req.result = positions[at : at + len(req.entries)]
        at += len(req.entries)
        if req is not mine:
            req.wake()


def _after_args(position: object, n: object) -> tuple[int, int]:
    if isinstance(position, bool) or not isinstance(position, int) or position < -1:
        raise InvalidArgument(f"position must be an int >= -1, got {position!r:.60}")
    return position, _count(n)


class _ManyPlan:
    """``latest_many`` as one step, shared by the sync and asyncio classes."""

    def __init__(
        self,
        store: Any,
        list_ids: Sequence[str],
        n: int,
        cursor: str | None,
        deadline: float | None,
        cls: type,
    ) -> None:
        self.n = _count(n)
        self.policy = _deadline(deadline)
        if isinstance(list_ids, str) or not isinstance(list_ids, Sequence):
            raise InvalidArgument("list_ids must be a sequence of list ids (not one str)")
        ids = [validate_list_id(i, store.limits.key_bytes) for i in list_ids]
        self.ids = list(dict.fromkeys(ids))
        self.cursor = None if cursor is None else _decode_cursor(cursor)
        self.store, self.cls, self.deadline = store, cls, deadline
        # The lists' shared states, not a handle each: a timeline of 20 lists is read
        # again and again, and a handle per list and per read cost more than the merge.
        self.states = _states(store, self.ids)

    def step(self) -> alg.Plan[Timeline]:
        if self.n == 0 or not self.ids:
            return Timeline([], None)
        unknown = [lid for lid, st in self.states.items() if st.settings is None]
        if unknown:
            rows = yield from _summaries(unknown)
            for lid, (settings, head) in rows.items():
                _learn(self.states[lid], settings, head)
        cfgs: dict[str, alg.Settings] = {}
        for lid, st in self.states.items():
            if st.settings is not None:
                cfgs[lid] = st.settings
        if any(c.layout != ent.FORMAT for c in cfgs.values()):
            live = {lid: self.cls(self.store, lid, deadline=self.deadline) for lid in cfgs}
            return (yield from self._slowly(live))
        starts = {lid: c.start for lid, c in cfgs.items()}
        merge = self.store.features.merge
        chosen, nxt = yield from ent.merge_latest(starts, self.n, self.cursor, merge=merge)
        # One decode of every chosen value, as latest() does.
        items = _items([slot for _, slot in chosen], [lid for lid, _ in chosen])
        return Timeline(items, None if nxt is None else _encode_cursor(nxt))

    def _slowly(self, lists: Mapping[str, Any]) -> alg.Plan[Timeline]:
        # Layout-1 lists have no range read by position: read each, then merge the same way.
        below = self.cursor.below if self.cursor is not None else {}
        last = self.cursor.last if self.cursor is not None else None
        merged: list[Item] = []
        for lid, handle in lists.items():
            hi = below.get(lid)
            if hi == 0:
                continue
            read = handle._p_latest(self.n) if hi is None else handle._p_before(hi, self.n)
            got = yield from read
            if self.cursor is not None and lid not in below and last is not None:
                got = [i for i in got if (int(i.ts * 1000), lid, i.position) < last]
            merged.extend(got)
        merged.sort(key=lambda i: (round(i.ts * 1000), i.list_id or "", i.position), reverse=True)
        page = merged[: self.n]
        following: dict[str, int | None] = {}
        for lid in lists:
            mine = [i.position for i in page if i.list_id == lid]
            rest = any(i.list_id == lid for i in merged[self.n :])
            if mine:
                following[lid] = min(mine)
            elif rest:
                following[lid] = below.get(lid)
            else:
                following[lid] = 0
        if not page or all(v == 0 for v in following.values()):
            return Timeline(page, None)
        tail = page[-1]
        mark = (round(tail.ts * 1000), tail.list_id or "", tail.position)
        return Timeline(page, _encode_cursor(ent.Cursor(following, mark)))


def _summaries(list_ids: list[str]) -> alg.Plan[dict[str, tuple[alg.Settings, int]]]:
    rows = yield GetMany(tuple(summary_key(lid) for lid in list_ids))
    out = {}
    for lid in list_ids:
        row = rows.get(summary_key(lid))
        if row is not None:
            out[lid] = (alg.Settings.from_doc(lid, row.doc), int(row.doc.get(alg.HEAD, 0)))
    return out


def _encode_cursor(cursor: ent.Cursor) -> str:
    doc = {"b": cursor.below, "l": list(cursor.last) if cursor.last else None}
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_cursor(cursor: object) -> ent.Cursor:
    bad = InvalidArgument(
        f"cursor {cursor!r:.60} was not returned by latest_many(): pass the cursor of the "
        "previous page unchanged, or None for the newest page"
    )
    if not isinstance(cursor, str):
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
        doc = json.loads(text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise bad from None
    if not isinstance(doc, dict) or not isinstance(doc.get("b"), dict):
        raise bad
    below, last = doc["b"], doc.get("l")
    for value in below.values():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise bad
    if last is not None:
        ok = isinstance(last, list) and len(last) == 3
        if not ok or not isinstance(last[1], str) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in (last[0], last[2])
        ):
            raise bad
        last = (last[0], last[1], last[2])
    return ent.Cursor(below, last)
