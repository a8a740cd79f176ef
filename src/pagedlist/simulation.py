"""A model checker of the core: every interleaving of concurrent list calls, with faults.

Several simulated clients ("actors") each run a program of list calls (create, append,
append with a caller's id, extend, latest, scan, count) built from the *real* sans-IO
generators of :mod:`pagedlist.core.algorithms` (layout 1) and :mod:`pagedlist.core.entries`
(layout 2, by push or by claim), against one :class:`~pagedlist.adapters.memory.MemoryStore`
through :func:`pagedlist.core.store.perform`. A scheduler decides, at every step, which
actor's pending store operation runs next, and may inject a fault instead:

``step``   perform the actor's pending operation and send the answer into its generator (an
           idle actor starts its next call first, so a call starts as late and ends as early
           as possible: the strictest real-time order for invariant 4);
``lost``   perform the operation but lose the answer: the operation committed, the driver
           saw a timeout and will repeat *the same operation* (exactly what
           ``core/driver.py`` does with a retryable ``StoreError``);
``fail``   the driver gives up on the call (its deadline passed after failed attempts, which
           may have committed earlier through ``lost``): the call is unacknowledged and the
           actor goes on with its next call;
``crash``  the caller dies mid-call: its generator is dropped and it makes no more calls.

A *slow call* is a pending operation held while others run; exhaustive exploration covers
it by construction (every actor can be passed over at every step), random walks model it
by holding an actor for several steps. A *caller-level retry* is a program that repeats a
call with the same caller id (``append_id``), after whatever happened to the first one
(answered, failed, crashed: then another actor repeats it); the checker demands the id in
the list at most once, and at the one position every acknowledged call was told.

Two modes:

* :func:`explore` visits every interleaving of a small scenario, de-duplicating states by
  a hash of the store's rows plus each actor's program counter, pending operation and
  generator frame (its locals and instruction offset), and counts the distinct schedules
  covered;
* :func:`walk` takes one seeded random schedule through a larger scenario; the same seed
  replays it exactly.

After every step the run is checked with :func:`pagedlist.conformance.history.check` (the
five invariants, exactly-once, at-most-once for failed calls, reads); every violation can
only be introduced by the step that just ran, and that step depends only on what the state
key holds, so de-duplication never hides one. A violation comes back as a
:class:`Counterexample`: the schedule and the shrunk history.

Batch reads that are not snapshots (``split_reads``) are performed one key per step
(``GetMany``) or one row per step with a cursor (``Scan``: each step reads the next row past
the cursor that exists at that moment, as an index cursor would).

Run ``python -m pagedlist.simulation`` for the default exhaustive checks of both layouts
and a batch of random walks; ``--broken`` runs the deliberately broken variants and shows
that each is caught.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
import types
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pagedlist.adapters.memory import MemorySnapshot, MemoryStore
from pagedlist.conformance.history import (
    Event,
    History,
    Snapshot,
    Violation,
    check,
    format_history,
    shrink,
)
from pagedlist.core import algorithms as alg
from pagedlist.core import entries as ent
from pagedlist.core import lifecycle as life
from pagedlist.core.algorithms import HEAD, ITEMS, Step
from pagedlist.core.ops import (
    Append,
    Appended,
    Claim,
    Delete,
    DropEntries,
    Duplicate,
    Get,
    GetMany,
    Increment,
    Insert,
    JSONDoc,
    Operation,
    Purge,
    Push,
    PutIfAbsent,
    Replace,
    ReplaceEntry,
    Row,
    Scan,
)
from pagedlist.core.store import perform
from pagedlist.core.values import page_key, summary_key
from pagedlist.errors import ContractViolation, PagedListError

__all__ = [
    "Call",
    "Choice",
    "Counterexample",
    "ExploreResult",
    "Scenario",
    "SimulationError",
    "WalkResult",
    "appender",
    "explore",
    "minimize",
    "reader",
    "replay",
    "retrier",
    "shortest",
    "talk_append",
    "verify",
    "walk",
    "walks",
]

AppendFn = Callable[[str, int, int, Iterable[JSONDoc], int], Step]
ClaimFn = Callable[[str, int, Sequence[JSONDoc], int], Step]
OnceFn = Callable[..., Step]
_MUTATING = (
    Append,
    Increment,
    PutIfAbsent,
    Insert,
    Replace,
    Delete,
    Claim,
    Push,
    ReplaceEntry,
    Purge,
    DropEntries,
)
FAULTS = frozenset({"lost", "fail", "crash"})


@dataclass(frozen=True, slots=True)
class Call:
    """One list call in an actor's program: ``kind`` is create, append, append_id (an
    append with the caller's own id: exactly once for the list's life, retried by
    repeating the call), extend, latest, scan, count, or (layout 2) delete, edit (of
    position ``n``), trim (below ``n``) and timeline (``latest_many`` of the one list
    through the store's merged scan, checked as a latest read); ``ids`` are the item ids
    an append/extend writes; ``n`` for latest and timeline."""

    kind: str
    ids: tuple[str, ...] = ()
    n: int = 0


def appender(name: str, appends: int, *, create: bool = True) -> tuple[Call, ...]:
    """A program that (optionally) creates the list, then appends ``name0``, ``name1``..."""
    calls = [Call("append", (f"{name}{i}",)) for i in range(appends)]
    return (Call("create"), *calls) if create else tuple(calls)


def retrier(item_id: str, tries: int = 2, *, create: bool = False) -> tuple[Call, ...]:
    """A program that appends with the caller id ``item_id``, then repeats that call
    ``tries - 1`` times (a client retrying after a timeout, a redelivered message)."""
    calls = [Call("append_id", (item_id,)) for _ in range(tries)]
    return (Call("create"), *calls) if create else tuple(calls)


def reader(reads: int, n: int = 3, *, create: bool = True) -> tuple[Call, ...]:
    """A program that (optionally) creates the list, then alternates latest(n) and scan."""
    calls = [Call("latest", n=n) if i % 2 == 0 else Call("scan") for i in range(reads)]
    return (Call("create"), *calls) if create else tuple(calls)


@dataclass(frozen=True)
class Scenario:
    """What to simulate: one program per actor, the page capacity and the fault budget."""

    programs: tuple[tuple[Call, ...], ...]
    capacity: int = 2
    faults: int = 0
    """How many faults one execution may contain (0: interleavings only)."""
    fault_kinds: frozenset[str] = FAULTS
    split_reads: bool = False
    """Perform a batch read one key per step, as backends whose batch reads are not a
    snapshot (DynamoDB, Cosmos DB) may."""
    append: AppendFn = alg.append
    """Layout 1's append algorithm under test (swap in :func:`talk_append` to see a failure)."""
    layout: int = 1
    """1: page rows (``core.algorithms``); 2: entry rows (``core.entries``)."""
    push: bool = False
    """Layout 2: the store resolves the tail (``Push``); else callers claim positions."""
    claim: ClaimFn = ent.append_claim
    """Layout 2's claim append under test."""
    once: OnceFn | None = None
    """The append-with-a-caller-id algorithm under test (default: the real one of the
    scenario's layout)."""
    store: Callable[..., MemoryStore] = MemoryStore
    """Builds the store (a subclass may break a primitive on purpose)."""
    chunk: int | None = None
    """Most entries per store append (the facade uses the adapter's
    ``limits.append_entries``); ``None``: the capacity."""
    list_id: str = "sim"
    precreate: bool = True
    """Create the list before the run (programs may still call create concurrently)."""
    prefill: tuple[str, ...] = ()
    """Item ids appended (by an actor that then leaves) before the run."""

    def __post_init__(self) -> None:
        if not self.fault_kinds <= FAULTS:
            raise ValueError(f"fault kinds must be among {sorted(FAULTS)}")
        if self.layout not in (1, 2):
            raise ValueError("layout must be 1 or 2")


@dataclass(frozen=True, slots=True)
class Choice:
    """One scheduling decision: ``action`` (step, lost, fail, crash) for actor ``actor``."""

    action: str
    actor: int

    def __str__(self) -> str:
        return f"{self.action}:c{self.actor}"


class SimulationError(AssertionError):
    """An invariant broke; the message shows the counterexample."""

    def __init__(self, counterexample: Counterexample) -> None:
        super().__init__(counterexample.report())
        self.counterexample = counterexample


@dataclass(frozen=True)
class Counterexample:
    """A schedule that breaks an invariant, and the shrunk history it produces."""

    scenario: Scenario
    schedule: tuple[Choice, ...]
    violation: Violation
    history: History
    seed: int | None = None

    def report(self) -> str:
        """The violation, the schedule (replayable with :func:`replay`) and the history."""
        small = shrink(self.history, self.violation.code)
        if not small.events:
            # A structural violation (I1, I2) needs no call to show; the calls that led to
            # it explain it better.
            small = self.history
        again = next((v for v in check(small) if v.code == self.violation.code), self.violation)
        head = f"seed {self.seed}: " if self.seed is not None else ""
        programs = "; ".join(
            f"c{i}: " + ", ".join(f"{c.kind}{list(c.ids) if c.ids else ''}" for c in p)
            for i, p in enumerate(self.scenario.programs)
        )
        return (
            f"{head}{self.violation.code} broken after {len(self.schedule)} steps\n"
            f"programs: {programs}\n"
            f"schedule: {' '.join(map(str, self.schedule))}\n"
            f"smallest failing history:\n{format_history(small, again)}"
        )


# --- canonical, hashable state ---------------------------------------------------------------


class _Canon:
    """Canonical text of a state: versions renamed in order of first appearance (only
    their equality matters: a version is never reused), generators by their frames."""

    def __init__(self, known: dict[str, int]) -> None:
        self.known = known

    def version(self, version: str) -> Any:
        return self.known.get(version, "stale")

    def default(self, value: Any) -> Any:
        if isinstance(value, Row):
            return {"R": value.doc, "v": self.version(value.version)}
        if isinstance(value, types.GeneratorType):
            frame = value.gi_frame
            if frame is None:
                return ["gen-done", value.gi_code.co_qualname]
            return ["gen", value.gi_code.co_qualname, frame.f_lasti, dict(frame.f_locals)]
        if isinstance(value, Replace | ReplaceEntry):
            fields = [getattr(value, f.name) for f in dataclasses.fields(value)]
            return [type(value).__name__, *fields[:-1], self.version(value.version)]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            names = [f.name for f in dataclasses.fields(value)]
            return [type(value).__name__, *(getattr(value, n) for n in names)]
        if isinstance(value, range):
            return ["range", value.start, value.stop, value.step]
        if isinstance(value, set | frozenset):
            return ["set", *sorted(map(repr, value))]
        if callable(value):
            # Local helper functions behave as the locals they close over, which are hashed
            # anyway.
            return ["fn", getattr(value, "__qualname__", "?")]
        return ["?", repr(value)]

    def text(self, value: Any) -> str:
        """C-speed ``json.dumps`` (tuples read as lists)."""
        return json.dumps(value, default=self.default, separators=(",", ":"), check_circular=False)


def _store_picture(snap: MemorySnapshot) -> tuple[Any, dict[str, int]]:
    """The store's contents in a canonical order, and the version renaming they imply."""
    known: dict[str, int] = {}

    def name(version: int) -> int:
        return known.setdefault(str(version), len(known))

    rows = [(k, v[0], name(v[1])) for k, v in sorted(snap.rows.items())]
    entries = [
        (lid, [(p, lst.rows[p][0], name(lst.rows[p][1])) for p in lst.order], lst.tail)
        for lid, lst in sorted(snap.entries.items())
    ]
    return [rows, entries], known


@dataclass
class _Actor:
    program: tuple[Call, ...]
    pc: int = 0
    head: int = 0
    dead: bool = False
    gen: Step | None = None
    call_head: int = 0
    pending: Operation | None = None
    transcript: list[Any] = field(default_factory=list)
    start: float = 0.0
    bound: int = -1
    partial: Any = None
    remaining: tuple[Any, ...] = ()

    @property
    def done(self) -> bool:
        return self.dead or self.pc >= len(self.program)

    @property
    def busy(self) -> bool:
        return self.gen is not None

    def key(self, canon: _Canon) -> Any:
        if self.done:
            return ("done", self.pc, self.dead)
        if self.gen is None:
            return ("idle", self.pc, self.head)
        frame = getattr(self.gen, "gi_frame", None)  # a generator's; typed as Generator
        where = (frame.f_lasti, canon.text(dict(frame.f_locals))) if frame is not None else None
        return (
            self.pc,
            self.head,
            self.bound,
            self.call_head,
            where,
            canon.text([self.pending, self.partial]),
            canon.text(list(self.remaining)),
        )


class _State:
    """One simulated world: the store, the actors, the events so far, the clock."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.store = scenario.store(push=scenario.push)
        self.actors = [_Actor(p) for p in scenario.programs]
        self.events: list[Event] = []
        self.now = 0
        self.faults = 0
        self.max_acked = -1
        if scenario.precreate:
            self._quietly(alg.create(scenario.list_id, self._settings(), fixed_capacity=True))
        if scenario.prefill:
            positions, _ = self._quietly(self._make(Call("extend", scenario.prefill), 0))
            self.events.append(
                Event("pre", "extend", -1, -0.5, ids=scenario.prefill, positions=tuple(positions))
            )
            self.max_acked = max(positions)

    def _quietly(self, gen: Step) -> Any:
        """Run ``gen`` to its end before the simulation starts (no faults, no checks)."""
        try:
            op = next(gen)
            while True:
                op = gen.send(perform(self.store, op))
        except StopIteration as done:
            return done.value

    def _settings(self) -> alg.Settings:
        return alg.Settings(self.scenario.capacity, 1024, 0, None, layout=self.scenario.layout)

    # --- copying ---------------------------------------------------------------------------

    def clone(self) -> _State:
        """An independent copy; generators are rebuilt by replaying their transcripts."""
        other = object.__new__(_State)
        other.scenario = self.scenario
        other.store = self.scenario.store(push=self.scenario.push)
        other.store.restore(self.store.snapshot())
        other.events = list(self.events)
        other.now, other.faults, other.max_acked = self.now, self.faults, self.max_acked
        other.actors = []
        for a in self.actors:
            b = dataclasses.replace(a, transcript=list(a.transcript))
            if isinstance(a.partial, dict):
                b.partial = dict(a.partial)
            elif isinstance(a.partial, list):
                b.partial = list(a.partial)
            if a.gen is not None:
                b.gen = other._make(a.program[a.pc], a.call_head)
                next(b.gen)
                for answer in a.transcript:
                    b.gen.send(answer)
            other.actors.append(b)
        return other

    def key(self) -> Any:
        """What determines the future: rows and entries (versions renamed), faults, actors."""
        picture, known = _store_picture(self.store.snapshot())
        canon = _Canon(known)
        return (
            canon.text(picture),
            self.faults,
            self.max_acked,
            tuple(a.key(canon) for a in self.actors),
        )

    # --- calls -----------------------------------------------------------------------------

    def _make(self, call: Call, head: int) -> Step:
        sc = self.scenario
        lid, cap = sc.list_id, sc.capacity
        entries = [{"id": i, "ts": 0, "v": f'"{i}"'} for i in call.ids]
        total = sum(len(c.ids) for p in sc.programs for c in p)
        match call.kind:
            case "create":
                return alg.create(lid, self._settings(), fixed_capacity=True)
            case "append" | "extend" if sc.layout == 1:
                return sc.append(lid, cap, head, entries, min(cap, sc.chunk or cap))
            case "append_id" if sc.layout == 1:
                return _pair((sc.once or alg.append_once)(lid, cap, head, entries[0]))
            case "latest" if sc.layout == 1:
                return alg.latest(lid, cap, head, call.n)
            case "scan" if sc.layout == 1:
                return alg.read_range(lid, cap, 0, max(total, 1) + cap)
            case "count" if sc.layout == 1:
                return alg.count(lid, cap, head)
            case "delete" | "edit" | "trim" | "timeline" if sc.layout == 1:
                raise ValueError(f"{call.kind} needs layout 2")
            case "append" | "extend" | "append_id" if sc.push:
                return _with_head(ent.append_push(lid, entries, sc.chunk or 100), head)
            case "append" | "extend":
                return sc.claim(lid, head, entries, sc.chunk or 100)
            case "append_id":
                once = sc.once or ent.append_once
                return _pair(once(lid, head, 0, entries[0], summary_key(lid)))
            case "latest":
                return _with_head(ent.latest(lid, 0, call.n), head)
            case "timeline":
                return _with_head(_timeline(lid, call.n), head)
            case "scan":
                return _with_head(_first(ent.read_after(lid, 0, -1, max(total, 1) + cap)), head)
            case "count":
                return _with_head(ent.count(lid, 0), head)
            case "delete":
                return _with_head(life.delete(lid, 0, call.n), head)
            case "edit":
                return _with_head(life.replace(lid, 0, call.n, '"edited"', 1), head)
            case "trim":
                # now_ms 0: on claim stores a trim's purge never falls due here (it waits
                # PURGE_GRACE_MS, far longer than any hint may be old); push stores purge
                # at once, as they do for real.
                return _with_head(life.trim(lid, call.n, push=sc.push, now_ms=0), head)
        raise ValueError(f"unknown call kind {call.kind!r}")

    def _first_op(self, actor: _Actor) -> Operation:
        gen = self._make(actor.program[actor.pc], actor.head)
        op = next(gen)
        gen.close()
        return op

    def choices(self, kinds: frozenset[str] | None = None) -> list[Choice]:
        """Every decision possible now, in a fixed order (so seeds replay)."""
        kinds = self.scenario.fault_kinds if kinds is None else kinds
        faults = self.faults < self.scenario.faults
        out: list[Choice] = []
        for i, a in enumerate(self.actors):
            if a.done:
                continue
            out.append(Choice("step", i))
            if not faults:
                continue
            op = a.pending if a.busy else self._first_op(a)
            if "lost" in kinds and isinstance(op, _MUTATING) and not a.remaining:
                out.append(Choice("lost", i))
            if a.busy:
                out += [Choice(k, i) for k in ("fail", "crash") if k in kinds]
        return out

    def apply(self, choice: Choice) -> Violation | None:
        """Carry out one decision; return the first invariant it broke, if any."""
        a = self.actors[choice.actor]
        self.now += 1
        if choice.action in FAULTS:
            self.faults += 1
        if choice.action in ("fail", "crash"):
            self._finish(a, error="crashed" if choice.action == "crash" else "gave up")
            if choice.action == "crash":
                a.dead = True
            return self._check()
        if not a.busy:
            self._start(a)
        op = a.pending
        assert op is not None
        if isinstance(op, GetMany) and self.scenario.split_reads:
            if a.partial is None:
                a.partial, a.remaining = {}, tuple(dict.fromkeys(op.keys))
            key, a.remaining = a.remaining[0], a.remaining[1:]
            row = self.store.get(key)
            if row is not None:
                a.partial[key] = row
            if a.remaining:
                return self._check()
            answer: Any = a.partial
            a.partial = None
        elif isinstance(op, Scan) and self.scenario.split_reads:
            answer = self._scan_step(a, op)
            if answer is None:
                return self._check()
        else:
            answer = perform(self.store, op)
        if choice.action == "lost":
            return self._check()
        return self._send(a, answer)

    def _scan_step(self, a: _Actor, op: Scan) -> tuple[Any, ...] | None:
        """One row of a scan that is not a snapshot: the next row past the cursor that
        exists now (as an index cursor moves), or the answer once the scan is over."""
        if a.partial is None:
            a.partial, a.remaining = [], (None,)
        cursor = a.remaining[0]
        rows: list[Any] = a.partial
        if op.newest_first:
            hi = op.hi if cursor is None else cursor
            found = self.store.scan(op.list_id, op.lo, hi, 1, True)
        else:
            lo = op.lo if cursor is None else cursor + 1
            found = self.store.scan(op.list_id, lo, op.hi, 1, False)
        if found:
            rows.append(found[0])
            a.remaining = (found[0][0],)
        if found and len(rows) < op.limit:
            return None
        a.partial, a.remaining = None, ()
        return tuple(rows)

    def _start(self, a: _Actor) -> None:
        a.call_head = a.head
        a.gen = self._make(a.program[a.pc], a.head)
        a.transcript = []
        a.start = 2 * self.now
        a.bound = self.max_acked
        a.pending = next(a.gen)

    def _send(self, a: _Actor, answer: Any) -> Violation | None:
        assert a.gen is not None
        a.transcript.append(answer)
        try:
            op = a.gen.send(answer)
        except StopIteration as stop:
            return self._complete(a, stop.value)
        except ContractViolation as err:
            self._finish(a, error=repr(err))
            return Violation("contract", f"the core detected a broken contract: {err}")
        except PagedListError as err:
            self._finish(a, error=repr(err))
            return self._check()
        a.pending = op
        return self._check()

    def _event(self, a: _Actor, call: Call) -> Event:
        """The event of ``a``'s current call, ending now (a one-list timeline is a latest
        read, and is checked as one)."""
        kind = "latest" if call.kind == "timeline" else call.kind
        who = f"c{self.actors.index(a)}"
        return Event(who, kind, a.start, 2 * self.now + 1, ids=call.ids, n=call.n)

    def _complete(self, a: _Actor, value: Any) -> Violation | None:
        call = a.program[a.pc]
        base = self._event(a, call)
        head = a.head
        match call.kind:
            case "create":
                event = dataclasses.replace(base, result=())
                head = value[1] if self.scenario.layout == 1 else 0
            case "append" | "extend" | "append_id":
                positions, head = value
                event = dataclasses.replace(base, positions=tuple(positions))
                self.max_acked = max(self.max_acked, *positions)
            case "latest" | "timeline":
                entries, head = value
                event = dataclasses.replace(base, result=tuple((p, e["id"]) for p, e in entries))
            case "scan":
                entries, head = value if self.scenario.layout == 2 else (value, head)
                event = dataclasses.replace(base, result=tuple((p, e["id"]) for p, e in entries))
            case "delete" | "edit" | "trim":
                _, head = value
                event = dataclasses.replace(base, result=())
            case _:
                n, head = value
                event = dataclasses.replace(base, result=((n, ""),))
        a.head = max(a.head, head)
        self._close(a, event)
        return self._check()

    def _finish(self, a: _Actor, *, error: str) -> None:
        event = dataclasses.replace(self._event(a, a.program[a.pc]), error=error)
        self._close(a, event)

    def _close(self, a: _Actor, event: Event) -> None:
        if event.kind != "create":
            self.events.append(event)
        if a.gen is not None:
            a.gen.close()
        a.gen, a.pending, a.partial, a.remaining, a.transcript = None, None, None, (), []
        a.pc += 1

    # --- checking --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The list's pages (layout 1) or entry rows (layout 2) right now."""
        sc = self.scenario
        snap = self.store.snapshot()
        summary = snap.rows.get(summary_key(sc.list_id))
        if sc.layout == 2:
            lst = snap.entries.get(sc.list_id)
            entries = {} if lst is None else {p: lst.rows[p][0]["id"] for p in lst.order}
            deleted = frozenset(
                () if lst is None else (p for p in lst.order if "d" in lst.rows[p][0])
            )
            start = int(summary[0].get("start", 0)) if summary else 0
            return Snapshot(sc.capacity, 0, {}, entries, start, deleted)
        head = int(summary[0].get(HEAD, 0)) if summary else 0
        pages = {}
        prefix = f"{sc.list_id}|"
        for key, (doc, _, _) in snap.rows.items():
            suffix = key[len(prefix) :]
            if key.startswith(prefix) and suffix.isdigit():
                pages[int(suffix)] = tuple(e["id"] for e in doc.get(ITEMS, []))
        return Snapshot(sc.capacity, head, pages)

    def history(self) -> History:
        """Events so far, plus in-flight writes as unacknowledged (they may have committed)."""
        inflight = [
            Event(
                f"c{i}",
                a.program[a.pc].kind,
                a.start,
                float("inf"),
                ids=a.program[a.pc].ids,
                error="in flight",
            )
            for i, a in enumerate(self.actors)
            if a.busy and a.program[a.pc].kind != "create"
        ]
        return History(tuple(self.events + inflight), self.snapshot())

    def _check(self) -> Violation | None:
        found = check(self.history())
        return found[0] if found else None


def _timeline(list_id: str, n: int) -> Step:
    """``latest_many`` of the one list, through the store's merged scan (``MergeScan``)."""
    chosen, _ = yield from ent.merge_latest({list_id: 0}, n, None, merge=True)
    return [slot for _, slot in chosen]


def _with_head(step: Step, head: int) -> Step:
    """``step``'s result paired with an unchanged hint (calls that learn none)."""
    return (yield from step), head


def _pair(step: Step) -> Step:
    """``(position, hint)`` as ``([position], hint)``."""
    position, head = yield from step
    return [position], head


def _first(step: Step) -> Step:
    """The slots of a ``read_after`` result."""
    slots, _ = yield from step
    return slots


# --- exhaustive exploration ------------------------------------------------------------------


@dataclass(frozen=True)
class ExploreResult:
    """What :func:`explore` covered."""

    interleavings: int
    """Distinct complete schedules covered (counted through the de-duplicated graph)."""
    states: int
    """Distinct states visited."""
    seconds: float
    counterexample: Counterexample | None = None

    def __str__(self) -> str:
        verdict = "all invariants hold" if self.counterexample is None else "VIOLATION"
        return (
            f"explored {self.interleavings} interleavings through {self.states} distinct "
            f"states in {self.seconds:.1f}s: {verdict}"
        )


class _Found(Exception):
    def __init__(self, path: list[Choice], violation: Violation) -> None:
        self.path, self.violation = path, violation


def explore(scenario: Scenario, *, max_states: int = 2_000_000) -> ExploreResult:
    """Visit every interleaving (and fault placement, within the budget) of ``scenario``.

    Stops at the first violation and returns it as ``counterexample``. Raises
    ``RuntimeError`` if the scenario has more than ``max_states`` states.
    """
    began = time.monotonic()
    memo: dict[Any, int] = {}
    path: list[Choice] = []

    def visit(state: _State) -> int:
        key = state.key()
        known = memo.get(key)
        if known is not None:
            return known
        if len(memo) >= max_states:
            raise RuntimeError(f"more than {max_states} states: make the scenario smaller")
        options = state.choices()
        if not options:
            memo[key] = 1
            return 1
        total = 0
        for n, choice in enumerate(options):
            child = state if n == len(options) - 1 else state.clone()
            violation = child.apply(choice)
            path.append(choice)
            if violation is not None:
                raise _Found(list(path), violation)
            total += visit(child)
            path.pop()
        memo[key] = total
        return total

    try:
        count = visit(_State(scenario))
    except _Found as found:
        cx = shortest(scenario, max_states=max_states) or _counterexample(
            scenario, found.path, found.violation
        )
        return ExploreResult(0, len(memo), time.monotonic() - began, cx)
    return ExploreResult(count, len(memo), time.monotonic() - began)


def verify(scenario: Scenario, *, max_states: int = 2_000_000) -> ExploreResult:
    """:func:`explore` ``scenario``; raise :class:`SimulationError` (its message the
    counterexample's report) if any schedule breaks an invariant."""
    result = explore(scenario, max_states=max_states)
    if result.counterexample is not None:
        raise SimulationError(result.counterexample)
    return result


def _counterexample(
    scenario: Scenario, schedule: Sequence[Choice], violation: Violation
) -> Counterexample:
    state = replay(scenario, schedule)
    return Counterexample(scenario, tuple(schedule), violation, state.history())


def shortest(scenario: Scenario, *, max_states: int = 2_000_000) -> Counterexample | None:
    """The shortest failing schedule of ``scenario`` (breadth-first), or ``None``."""
    start = _State(scenario)
    seen = {start.key()}
    frontier: list[tuple[_State, tuple[Choice, ...]]] = [(start, ())]
    while frontier:
        following: list[tuple[_State, tuple[Choice, ...]]] = []
        for state, path in frontier:
            for choice in state.choices():
                child = state.clone()
                violation = child.apply(choice)
                if violation is not None:
                    return _counterexample(scenario, (*path, choice), violation)
                key = child.key()
                if key not in seen:
                    if len(seen) >= max_states:
                        return None
                    seen.add(key)
                    following.append((child, (*path, choice)))
        frontier = following
    return None


def minimize(scenario: Scenario) -> Scenario:
    """Drop calls (and then actors) from the programs while :func:`explore` still fails:
    the smallest scenario, by greedy deletion, that shows the violation."""

    def fails(sc: Scenario) -> bool:
        return explore(sc).counterexample is not None

    if not fails(scenario):
        return scenario
    programs = [list(p) for p in scenario.programs]
    changed = True
    while changed:
        changed = False
        for i in range(len(programs)):
            for j in range(len(programs[i]) - 1, -1, -1):
                trial = [list(p) for p in programs]
                del trial[i][j]
                candidate = dataclasses.replace(
                    scenario, programs=tuple(tuple(p) for p in trial if p)
                )
                if fails(candidate):
                    programs, changed = trial, True
                    break
            if changed:
                break
    return dataclasses.replace(scenario, programs=tuple(tuple(p) for p in programs if p))


def replay(scenario: Scenario, schedule: Sequence[Choice]) -> _State:
    """Run ``schedule`` from the start and return the final state (``.history()``)."""
    state = _State(scenario)
    for choice in schedule:
        state.apply(choice)
    return state


# --- random walks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class WalkResult:
    """One random walk: its seed, schedule, history and the first violation (or None)."""

    seed: int
    schedule: tuple[Choice, ...]
    history: History
    counterexample: Counterexample | None


def walk(
    scenario: Scenario, seed: int, *, fault_rate: float = 0.05, slow_rate: float = 0.1
) -> WalkResult:
    """One random schedule, chosen by ``random.Random(seed)``: the same seed replays it.

    At each step a fault is chosen with probability ``fault_rate`` (within the scenario's
    budget); with probability ``slow_rate`` a busy actor is held for 1-8 steps while others
    run (a slow call overtaken by later ones).
    """
    rng = random.Random(seed)
    state = _State(scenario)
    held: dict[int, int] = {}
    schedule: list[Choice] = []
    while True:
        options = state.choices()
        if not options:
            break
        ready = [c for c in options if held.get(c.actor, 0) <= 0] or options
        normal = [c for c in ready if c.action == "step"]
        faulty = [c for c in ready if c.action != "step"]
        pick = rng.choice(faulty if faulty and rng.random() < fault_rate else normal)
        for k in list(held):
            held[k] -= 1
        if rng.random() < slow_rate:
            busy = [i for i, a in enumerate(state.actors) if a.busy and i != pick.actor]
            if busy:
                held[rng.choice(busy)] = rng.randint(1, 8)
        schedule.append(pick)
        violation = state.apply(pick)
        if violation is not None:
            cx = Counterexample(scenario, tuple(schedule), violation, state.history(), seed)
            return WalkResult(seed, tuple(schedule), state.history(), cx)
    history = state.history()
    found = check(history)
    last = Counterexample(scenario, tuple(schedule), found[0], history, seed) if found else None
    return WalkResult(seed, tuple(schedule), history, last)


def walks(scenario: Scenario, seeds: Iterable[int], **kwargs: float) -> WalkResult | None:
    """Run :func:`walk` for each seed; return the first failing one, or ``None``."""
    for seed in seeds:
        result = walk(scenario, seed, **kwargs)
        if result.counterexample is not None:
            return result
    return None


# --- the deliberately broken append of the talk ---------------------------------------------


def talk_append(
    list_id: str, capacity: int, head: int, entries: Iterable[JSONDoc], chunk: int
) -> Step:
    """The talk's original append, kept to prove the checker catches it: read the head
    pointer, append to that page *without a bound*, then bump the pointer once the page
    reached capacity. Concurrent writers overfill pages. Never use it."""
    skey = summary_key(list_id)
    positions: list[int] = []
    page = head
    for entry in entries:
        row = yield Get(skey)
        page = int(row.doc.get(HEAD, 0)) if row else 0
        outcome = yield Append(page_key(list_id, page), ITEMS, (entry,), 1 << 30)
        match outcome:
            case Appended(length):
                index = length - 1
            case Duplicate(index, _):
                length = index + 1
            case _:
                raise ContractViolation(f"unbounded append answered {outcome!r}")
        if length >= capacity:
            yield Increment(skey, HEAD, 1)
        positions.append(page * capacity + index)
    return positions, page


# --- command line ----------------------------------------------------------------------------

DEFAULT_EXHAUSTIVE = Scenario(
    programs=(appender("a", 2), appender("b", 2), appender("c", 2)), capacity=2
)


def layouts(faults: int) -> list[tuple[str, Scenario]]:
    """The default exhaustive scenarios: each layout and append path, with ``faults``."""
    three = (appender("a", 2), appender("b", 2), appender("c", 2))
    ids = (retrier("x", 2), appender("b", 2, create=False))
    life = (
        appender("a", 2, create=False),
        (Call("delete", n=0), Call("edit", n=1)),
        (Call("trim", n=1), Call("latest", n=2), Call("timeline", n=2), Call("scan")),
    )
    out = [("layout 1: 3x2 appends", Scenario(programs=three, capacity=2, faults=faults))]
    for push in (False, True):
        name = "push" if push else "claim"
        out += [
            (
                f"layout 2 ({name}): 3x2 appends",
                Scenario(programs=three, capacity=2, faults=faults, layout=2, push=push),
            ),
            (
                f"layout 2 ({name}): a caller id retried across page rolls",
                Scenario(programs=ids, capacity=1, faults=max(faults, 1), layout=2, push=push),
            ),
            (
                f"layout 2 ({name}): delete, edit, trim racing appends and reads",
                Scenario(
                    programs=life, capacity=2, faults=faults, layout=2, push=push,
                    split_reads=True,
                ),
            ),
        ]  # fmt: skip
    out.append(
        (
            "layout 1: a caller id retried across page rolls",
            Scenario(programs=ids, capacity=1, faults=max(faults, 1)),
        )
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pagedlist.simulation [--broken] [--faults N] [--walks N] [--seed S]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--broken", action="store_true", help="run the naive unbounded append: must be caught"
    )
    parser.add_argument("--faults", type=int, default=0, help="fault budget per execution")
    parser.add_argument("--walks", type=int, default=200, help="random walks to run")
    parser.add_argument("--seed", type=int, default=None, help="replay one random walk")
    args = parser.parse_args(argv)
    append = talk_append if args.broken else alg.append
    big = Scenario(
        programs=(*(appender(f"w{i}", 4) for i in range(5)), reader(4), reader(4)),
        capacity=3,
        faults=3,
        split_reads=True,
        append=append,
    )
    if args.seed is not None:
        result = walk(big, args.seed)
        print(" ".join(map(str, result.schedule)))
        print(result.counterexample.report() if result.counterexample else "invariants hold")
        return 1 if result.counterexample else 0
    if args.broken:
        scenario = dataclasses.replace(DEFAULT_EXHAUSTIVE, faults=args.faults, append=append)
        result_x = explore(scenario)
        print(result_x)
        if result_x.counterexample is None:
            print("the broken append was NOT caught: the checker is not working")
            return 1
        small = minimize(scenario)
        print(f"smallest scenario: {sum(map(len, small.programs))} calls")
        print((explore(small).counterexample or result_x.counterexample).report())
        return 0
    failed = False
    for name, scenario in layouts(args.faults):
        try:
            print(f"{name}: {verify(scenario)}")
        except SimulationError as err:
            print(f"{name}: VIOLATION\n{err}")
            failed = True
    if failed:
        return 1
    for layout, push in ((1, False), (2, False), (2, True)):
        scenario = dataclasses.replace(big, layout=layout, push=push)
        failing = walks(scenario, range(args.walks))
        if failing is not None and failing.counterexample is not None:
            print(failing.counterexample.report())
            return 1
    print(f"{args.walks} random walks per layout (seeds 0..{args.walks - 1}): all invariants hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
