"""``--sweep-capacity``: measured units per operation over page capacities, next to the model.

For each capacity a fresh list gets one full page untimed, then is timed through whole
page lives (so every append size from 1 to ``capacity`` items, and one page roll per
page, are in the average), then ``latest(n)``
is read repeatedly. The backend's ``stats()`` deltas give the measured units; the cost
model (:mod:`pagedlist.core.costs`) is fed the entry and page sizes the store itself
reports through ``row_size``, so the two columns describe the same rows.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from pagedlist.bench.runner import run_phase, summarize_phase
from pagedlist.bench.stats import is_unit
from pagedlist.bench.subjects import PagedListSubject, make_entry
from pagedlist.core import costs
from pagedlist.core.algorithms import ITEMS, Settings
from pagedlist.core.sizing import check_capacity
from pagedlist.core.values import page_key, summary_key
from pagedlist.errors import ConfigError

__all__ = ["DEFAULT_CAPACITIES", "model_workload", "sweep_capacity"]

DEFAULT_CAPACITIES = (5, 10, 25, 50, 100, 200)


def model_workload(
    store: Any, value_bytes: int, *, n: int, read_fraction: float, writers: float = 1.0
) -> costs.Workload:
    """A cost-model workload whose sizes are what ``store.row_size`` counts for our rows."""
    entry = make_entry(value_bytes, "x" * 32).doc()
    key = page_key("bench-sweep-list", 12)
    empty = store.row_size(key, {ITEMS: []})
    one = store.row_size(key, {ITEMS: [entry]})
    summary = Settings(100, 1024, 1_700_000_000_000, None).to_doc()
    return costs.Workload(
        entry_bytes=max(1, one - empty),
        page_overhead=empty,
        summary_bytes=store.row_size(summary_key("bench-sweep-list"), summary),
        latest_n=n,
        read_fraction=read_fraction,
        writers_per_roll=writers,
    )


def _unit_total(units: dict[str, float]) -> float:
    return sum(v for k, v in units.items() if is_unit(k))


def sweep_capacity(
    subject: PagedListSubject,
    scheme: str,
    *,
    value_bytes: int,
    n: int,
    read_fraction: float,
    capacities: Sequence[int] = DEFAULT_CAPACITIES,
    min_appends: int = 100,
    reads: int = 50,
    progress: Callable[[str, int], Callable[[int], None]] | None = None,
) -> dict[str, Any]:
    """Measure and model append and ``latest(n)`` cost per capacity; return the report part."""
    store = subject.store
    billing = costs.billing_for(scheme)
    work = model_workload(store, value_bytes, n=n, read_fraction=read_fraction)
    limits = store.limits
    usable: list[int] = []
    skipped: list[str] = []
    for capacity in capacities:
        try:
            check_capacity(limits, value_bytes, capacity)
            usable.append(capacity)
        except ConfigError as err:
            skipped.append(f"{capacity}: {err}")
    rows: list[dict[str, Any]] = []
    run = uuid.uuid4().hex[:6]
    for capacity in usable:
        list_id = f"bench-{run}-sweep-{capacity}"
        sub = PagedListSubject(store, capacity=capacity, max_item_bytes=value_bytes)
        sub.create(list_id)
        # Fill page 0 untimed: then every timed page starts with its page roll, as in the
        # model's average (page 0 of a new list never rolls).
        for _ in range(capacity):
            sub.append(list_id, make_entry(value_bytes))
        pages = max(1, math.ceil(min_appends / capacity))
        appends = pages * capacity

        def app(t: int, i: int, sub: PagedListSubject = sub, list_id: str = list_id) -> str:
            sub.append(list_id, make_entry(value_bytes))
            return "append"

        def lat(t: int, i: int, sub: PagedListSubject = sub, list_id: str = list_id) -> str:
            sub.latest(list_id, n)
            return "read"

        adv = progress(f"sweep - capacity {capacity}", appends + reads) if progress else None
        a = summarize_phase(
            run_phase(sub, app, ops=appends, list_ids=[list_id], advance=adv),
            "sweep-append",
            sub,
            1,
        )
        # Leave the head page half full, as the model's average assumes.
        half = capacity // 2
        for _ in range(half):
            sub.append(list_id, make_entry(value_bytes))
        r = summarize_phase(
            run_phase(sub, lat, ops=reads, list_ids=[list_id], advance=adv), "sweep-latest", sub, 1
        )
        model_append = costs.append_cost(billing, work, capacity)
        model_latest = costs.latest_cost(billing, work, capacity)
        rows.append(
            {
                "capacity": capacity,
                "appends": appends,
                "measured_append_units": a.summary.units_per_op,
                "measured_append_units_total": _unit_total(a.summary.units_per_op),
                "measured_append_calls": a.summary.calls_per_op,
                "measured_append_p50_ms": a.summary.p50_ms,
                "measured_latest_units": r.summary.units_per_op,
                "measured_latest_units_total": _unit_total(r.summary.units_per_op),
                "measured_latest_calls": r.summary.calls_per_op,
                "measured_latest_p50_ms": r.summary.p50_ms,
                "model_append_read_units": model_append.read_units,
                "model_append_write_units": model_append.write_units,
                "model_append_units_total": model_append.units,
                "model_append_calls": model_append.round_trips,
                "model_latest_units_total": model_latest.units,
                "model_latest_calls": model_latest.round_trips,
                "model_append_bytes_written": model_append.bytes_written,
                "model_latest_bytes_read": model_latest.bytes_read,
            }
        )
    rec = costs.recommend_capacity(billing, work, row_bytes=limits.row_bytes)
    native_append = costs.native_append_cost(billing, work)
    native_latest = costs.native_latest_cost(billing, work)
    return {
        "billing": billing.name,
        "unit_names": list(billing.unit_names),
        "model_inputs": dataclasses.asdict(work),
        "rows": rows,
        "skipped": skipped,
        "recommended_capacity": rec.capacity,
        "native_model": {
            "append_units": native_append.units,
            "latest_units": native_latest.units,
            "mix_weighted": billing.weighted(
                native_latest.scaled(read_fraction) + native_append.scaled(1 - read_fraction)
            ),
        },
        "recommended_cost": {
            "append_units": rec.append.units,
            "latest_units": rec.latest.units,
            "mix_weighted": billing.weighted(rec.cost),
        },
    }
