"""Cost model: billing units per append and per ``latest(n)`` as a function of page capacity.

Pure arithmetic, no I/O, no dependencies. ``pagedlist bench URL --sweep-capacity`` prints
these figures next to the units a backend actually reports, so the model can be checked.

Why capacity matters: a page is one row, and an append rewrites that row. On DynamoDB an
``UpdateItem`` is billed on the larger of the item's size before and after, rounded up to
1 KB per write unit, so appending to a page that already holds ``k`` one-kilobyte items
costs about ``k + 1`` write units. Averaged over a page's life (it grows from 1 to
``capacity`` items) an append costs about ``capacity / 2`` units. Reads go the other way:
``latest(n)`` reads the summary plus ``ceil(n / capacity) + 1`` pages, and every page is
rounded up to the backend's read unit separately, so tiny pages waste units on rounding and
huge pages read far more than ``n`` items. The recommended capacity minimises the weighted
units of a workload's append/read mix.

Billing rules modelled (see each class for the sources and the approximations):

* DynamoDB: 1 write unit per 1 KB written (``max(old, new)`` item size for an update, also
  charged when the condition fails), 1 read unit per 4 KB strongly consistent read, each
  item of a batch get rounded up separately, a missing item still costs one unit.
* Cosmos DB: request units (RU). A 1 KB point read is 1 RU, a 100 KB one 10 RU (Microsoft's
  figures); strong/bounded-staleness consistency doubles reads. Writes are approximated as
  5x the read charge of the written document (about 5 RU for 1 KB with default indexing).
* OCI NoSQL: 1 write unit per KB written, 1 read unit per KB read (rounded up per row),
  doubled for ABSOLUTE consistency; a conditional write also reads the row.
* Stores without billing units (memory, SQLite, Redis): only round trips and bytes moved.

:func:`native_append_cost` and :func:`native_latest_cost` price the design users would
write instead (one row per entry, a range query for the newest n), for comparison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = [
    "BILLINGS",
    "ROUND_TRIP_BYTES",
    "Billing",
    "CosmosBilling",
    "DynamoDBBilling",
    "NoBilling",
    "OCIBilling",
    "OpCost",
    "Recommendation",
    "Workload",
    "append_cost",
    "append_cost_at",
    "billing_for",
    "latest_cost",
    "mix_cost",
    "native_append_cost",
    "native_latest_cost",
    "recommend_capacity",
    "sweep",
]

KB = 1024
#: What one round trip is worth in bytes moved, for stores that bill nothing: about what a
#: 1 Gb/s link carries in a 250 µs LAN round trip.
ROUND_TRIP_BYTES = 32 * KB


@dataclass(frozen=True, slots=True)
class OpCost:
    """What one operation costs: billing units, round trips and bytes moved (averages)."""

    read_units: float = 0.0
    write_units: float = 0.0
    round_trips: float = 0.0
    bytes_read: float = 0.0
    bytes_written: float = 0.0

    def __add__(self, other: OpCost) -> OpCost:
        return OpCost(
            self.read_units + other.read_units,
            self.write_units + other.write_units,
            self.round_trips + other.round_trips,
            self.bytes_read + other.bytes_read,
            self.bytes_written + other.bytes_written,
        )

    def scaled(self, factor: float) -> OpCost:
        """This cost multiplied by ``factor`` (to amortise or to weight a mix)."""
        return OpCost(
            self.read_units * factor,
            self.write_units * factor,
            self.round_trips * factor,
            self.bytes_read * factor,
            self.bytes_written * factor,
        )

    @property
    def units(self) -> float:
        """Read plus write units (Cosmos bills both as RU)."""
        return self.read_units + self.write_units


@dataclass(frozen=True, slots=True)
class Billing:
    """A backend's billing rules. Subclasses override the three charges.

    ``write_weight`` and ``read_weight`` are the relative prices of a write and a read unit
    (used only to pick a recommended capacity).
    """

    name: str = "none"
    unit_names: tuple[str, str] = ("read units", "write units")
    write_weight: float = 1.0
    read_weight: float = 1.0
    strong_reads: bool = True

    def write(self, old_bytes: int, new_bytes: int) -> tuple[float, float]:
        """``(read_units, write_units)`` of a conditional update of a row from ``old_bytes``
        to ``new_bytes`` (``old_bytes`` 0 when the row is created)."""
        return 0.0, 0.0

    def failed_write(self, row_bytes: int) -> tuple[float, float]:
        """``(read_units, write_units)`` of a conditional update whose condition failed."""
        return 0.0, 0.0

    def batch_read(self, row_bytes: list[int | None]) -> float:
        """Read units of one batch get of rows of these sizes (``None``: a missing row)."""
        return 0.0

    def weighted(self, cost: OpCost) -> float:
        """One number to minimise: units at their relative prices, or, for stores without
        units, bytes moved with each round trip counted as ``ROUND_TRIP_BYTES``."""
        if isinstance(self, NoBilling):
            return cost.bytes_read + cost.bytes_written + ROUND_TRIP_BYTES * cost.round_trips
        return cost.read_units * self.read_weight + cost.write_units * self.write_weight


@dataclass(frozen=True, slots=True)
class NoBilling(Billing):
    """Memory, SQLite, Redis: nothing is billed per request."""


@dataclass(frozen=True, slots=True)
class DynamoDBBilling(Billing):
    """DynamoDB capacity units (on-demand and provisioned bill the same units).

    Write: ``ceil(max(old, new) / 1 KB)``, charged even when the condition fails (then on
    the existing item's size). Read: ``ceil(size / 4 KB)`` per item, strongly consistent;
    eventually consistent halves it; a missing item costs the minimum (one unit). A write
    unit is priced 5x a read unit in both the on-demand and the provisioned price lists.
    """

    name: str = "dynamodb"
    unit_names: tuple[str, str] = ("RCU", "WCU")
    write_weight: float = 5.0
    read_weight: float = 1.0

    def write(self, old_bytes: int, new_bytes: int) -> tuple[float, float]:
        return 0.0, float(max(1, math.ceil(max(old_bytes, new_bytes) / KB)))

    def failed_write(self, row_bytes: int) -> tuple[float, float]:
        return 0.0, float(max(1, math.ceil(row_bytes / KB)))

    def batch_read(self, row_bytes: list[int | None]) -> float:
        factor = 1.0 if self.strong_reads else 0.5
        return sum(max(1, math.ceil((size or 0) / (4 * KB))) * factor for size in row_bytes)


def _cosmos_read_ru(size: int) -> float:
    # Microsoft's table: 1 KB -> 1 RU, 100 KB -> 10 RU; linear between, never below 1.
    kb = max(1.0, size / KB)
    return 1.0 + (kb - 1.0) * 9.0 / 99.0


@dataclass(frozen=True, slots=True)
class CosmosBilling(Billing):
    """Cosmos DB request units, approximated (the real charge depends on indexing).

    Point read: 1 RU per 1 KB item, 10 RU per 100 KB (linear between); strong or
    bounded-staleness consistency doubles it (``strong_reads``). A write (create, replace,
    patch) is approximated as 5x the read charge of the document written, about 5 RU for
    1 KB with the default index-everything policy; a patch whose filter predicate fails is
    charged like a read. Read and write RU cost the same.
    """

    name: str = "cosmos"
    unit_names: tuple[str, str] = ("RU (read)", "RU (write)")
    strong_reads: bool = False
    write_factor: float = 5.0

    def write(self, old_bytes: int, new_bytes: int) -> tuple[float, float]:
        return 0.0, self.write_factor * _cosmos_read_ru(max(old_bytes, new_bytes))

    def failed_write(self, row_bytes: int) -> tuple[float, float]:
        return _cosmos_read_ru(row_bytes), 0.0

    def batch_read(self, row_bytes: list[int | None]) -> float:
        # Cosmos has no batch get: the adapter does point reads (or one query) per page.
        factor = 2.0 if self.strong_reads else 1.0
        return sum(_cosmos_read_ru(size or 0) * factor for size in row_bytes)


@dataclass(frozen=True, slots=True)
class OCIBilling(Billing):
    """OCI NoSQL read and write units.

    Write: 1 unit per KB of the row written (rounded up); a conditional write (put if
    version, or ``UPDATE`` with a condition) also reads the row: 1 read unit per KB,
    doubled for ABSOLUTE consistency. Read: 1 unit per KB per row, x2 for ABSOLUTE (the
    consistency pagedlist needs). A missing row still costs the minimum read.
    """

    name: str = "oci-nosql"
    unit_names: tuple[str, str] = ("read units", "write units")
    write_weight: float = 5.0
    read_weight: float = 1.0

    def _read(self, size: int) -> float:
        return max(1, math.ceil(size / KB)) * (2.0 if self.strong_reads else 1.0)

    def write(self, old_bytes: int, new_bytes: int) -> tuple[float, float]:
        read = self._read(old_bytes) if old_bytes else 0.0
        return read, float(max(1, math.ceil(new_bytes / KB)))

    def failed_write(self, row_bytes: int) -> tuple[float, float]:
        return self._read(row_bytes), 0.0

    def batch_read(self, row_bytes: list[int | None]) -> float:
        return sum(self._read(size or 0) for size in row_bytes)


BILLINGS: dict[str, Billing] = {
    "memory": NoBilling("memory"),
    "sqlite": NoBilling("sqlite"),
    "redis": NoBilling("redis"),
    "dynamodb": DynamoDBBilling(),
    "cosmos": CosmosBilling(),
    "oci-nosql": OCIBilling(),
}


def billing_for(scheme: str) -> Billing:
    """The billing rules for a URL scheme (``redis+cluster`` -> redis, ``oci-nosql+http`` ->
    oci-nosql); unknown schemes bill nothing."""
    base = scheme.lower().split("+", 1)[0]
    if base == "rediss":
        base = "redis"
    return BILLINGS.get(base, NoBilling(base))


@dataclass(frozen=True, slots=True)
class Workload:
    """The shape of a workload, as the cost model sees it.

    ``entry_bytes`` is the stored size of one entry (envelope, id and value text
    included); ``page_overhead`` the bytes a page row adds (key, attribute names);
    ``summary_bytes`` the size of the summary row.
    """

    entry_bytes: int = KB
    read_fraction: float = 0.9
    latest_n: int = 50
    page_overhead: int = 64
    summary_bytes: int = 200
    writers_per_roll: float = 1.0
    """Writers that each find a page full when it fills (1 for a single writer; up to the
    number of concurrent writers on one list)."""

    def page_bytes(self, length: int) -> int:
        """Stored size of a page holding ``length`` entries."""
        return self.page_overhead + length * self.entry_bytes


def append_cost_at(billing: Billing, work: Workload, length: int) -> OpCost:
    """One append into a page that holds ``length`` entries (one round trip)."""
    old = work.page_bytes(length) if length else 0
    new = work.page_bytes(length + 1)
    read, write = billing.write(old, new)
    return OpCost(read, write, 1.0, 0.0, float(new))


def append_cost(billing: Billing, work: Workload, capacity: int) -> OpCost:
    """The average append over a page's life, page roll amortised.

    Appends land on pages holding 0..capacity-1 entries, equally often. Once per page the
    page is found full: each of ``writers_per_roll`` writers pays a failed conditional
    append and a summary read, and one compare-and-increment of the summary's head wins.
    """
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    total = OpCost()
    for length in range(capacity):
        total = total + append_cost_at(billing, work, length)
    full = work.page_bytes(capacity)
    fread, fwrite = billing.failed_write(full)
    summary_read = billing.batch_read([work.summary_bytes])
    sread, swrite = billing.write(work.summary_bytes, work.summary_bytes)
    roll = OpCost(fread + summary_read, fwrite, 2.0, float(work.summary_bytes), 0.0).scaled(
        work.writers_per_roll
    ) + OpCost(sread, swrite, 1.0, 0.0, float(work.summary_bytes))
    return (total + roll).scaled(1.0 / capacity)


def latest_cost(billing: Billing, work: Workload, capacity: int, n: int | None = None) -> OpCost:
    """The average ``latest(n)`` on a list long enough to fill the read: one batch get of the
    summary, the head page (holding 0..capacity-1 entries, equally often) and the
    ``ceil(n / capacity)`` full pages below it."""
    if capacity < 1:
        raise ValueError(f"capacity must be >= 1, got {capacity}")
    n = work.latest_n if n is None else n
    back = -(-n // capacity)
    full = work.page_bytes(capacity)
    total = OpCost()
    for head_len in range(capacity):
        head = work.page_bytes(head_len) if head_len else None
        sizes: list[int | None] = [work.summary_bytes, head, *([full] * back)]
        moved = float(sum(s or 0 for s in sizes))
        total = total + OpCost(billing.batch_read(sizes), 0.0, 1.0, moved, 0.0)
    return total.scaled(1.0 / capacity)


def native_append_cost(billing: Billing, work: Workload) -> OpCost:
    """The native design's append: one conditional insert of a row holding one entry."""
    size = work.page_overhead + work.entry_bytes
    read, write = billing.write(0, size)
    return OpCost(read, write, 1.0, 0.0, float(size))


def native_latest_cost(billing: Billing, work: Workload, n: int | None = None) -> OpCost:
    """The native design's ``latest(n)``: one range query returning ``n`` one-entry rows.

    DynamoDB bills a ``Query`` on the summed size of the items it reads, rounded up to 4 KB
    once (not per item); Cosmos DB is approximated as one point read of the returned bytes
    plus a 2.5 RU query charge; OCI NoSQL reads every row (each rounded up to 1 KB).
    """
    n = work.latest_n if n is None else n
    size = work.page_overhead + work.entry_bytes
    moved = float(n * size)
    if isinstance(billing, DynamoDBBilling):
        units = billing.batch_read([n * size])
    elif isinstance(billing, CosmosBilling):
        units = 2.5 + billing.batch_read([n * size])
    else:
        units = billing.batch_read([size] * n)
    return OpCost(units, 0.0, 1.0, moved, 0.0)


def mix_cost(billing: Billing, work: Workload, capacity: int) -> OpCost:
    """The average operation of the workload's read/write mix."""
    reads = latest_cost(billing, work, capacity).scaled(work.read_fraction)
    writes = append_cost(billing, work, capacity).scaled(1.0 - work.read_fraction)
    return reads + writes


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The capacity that minimises the weighted cost of the mix, with the curve behind it."""

    capacity: int
    cost: OpCost
    append: OpCost
    latest: OpCost
    curve: list[tuple[int, float]] = field(default_factory=list)
    """``(capacity, weighted cost per op)`` for every capacity considered."""


def recommend_capacity(
    billing: Billing, work: Workload, *, max_capacity: int = 1000, row_bytes: int | None = None
) -> Recommendation:
    """The capacity in ``1..max_capacity`` (and whose full page fits ``row_bytes``) that
    minimises the weighted units per operation of ``work``'s mix; ties go to the larger
    capacity (fewer pages, fewer page rolls)."""
    limit = max_capacity
    if row_bytes is not None:
        fits = (row_bytes - work.page_overhead) // work.entry_bytes
        if fits < 1:
            raise ValueError(
                f"one {work.entry_bytes}-byte entry does not fit a {row_bytes}-byte row: "
                "use smaller items"
            )
        limit = min(limit, fits)
    best: tuple[float, int] | None = None
    curve = []
    for capacity in range(1, limit + 1):
        score = billing.weighted(mix_cost(billing, work, capacity))
        curve.append((capacity, score))
        if best is None or score <= best[0] + 1e-12:
            best = (score, capacity)
    assert best is not None
    cap = best[1]
    return Recommendation(
        cap,
        mix_cost(billing, work, cap),
        append_cost(billing, work, cap),
        latest_cost(billing, work, cap),
        curve,
    )


def sweep(billing: Billing, work: Workload, capacities: list[int]) -> list[dict[str, float | int]]:
    """Model figures per capacity, in the shape the bench report prints."""
    rows: list[dict[str, float | int]] = []
    for capacity in capacities:
        app = append_cost(billing, work, capacity)
        lat = latest_cost(billing, work, capacity)
        rows.append(
            {
                "capacity": capacity,
                "append_read_units": app.read_units,
                "append_write_units": app.write_units,
                "append_round_trips": app.round_trips,
                "latest_read_units": lat.read_units,
                "latest_round_trips": lat.round_trips,
                "mix_weighted": billing.weighted(mix_cost(billing, work, capacity)),
            }
        )
    return rows
