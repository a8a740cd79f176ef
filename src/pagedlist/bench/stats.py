"""Percentiles and per-phase summaries. Pure functions, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Sample", "Summary", "is_unit", "percentile", "summarize", "unit_deltas"]


def is_unit(name: str) -> bool:
    """Whether a ``stats()`` total is a billing unit (capacity units, RU, request charge)
    rather than a plain counter (calls, round trips, throttles)."""
    low = name.lower()
    return "unit" in low or "charge" in low or low in ("ru", "rus")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks
    (NumPy's default ``linear`` method); ``nan`` for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    lo = math.floor(rank)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured operation: wall latency, thread CPU time, and the store calls it made
    with the thread CPU spent inside them (all times in seconds)."""

    latency: float
    cpu: float
    calls: int = 0
    store_cpu: float = 0.0


@dataclass(slots=True)
class Summary:
    """What a phase reports per operation."""

    ops: int
    errors: int
    wall: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    throughput: float
    """Operations per second over the phase's wall time (all threads together)."""
    calls_per_op: float
    cpu_us_per_op: float
    """Client CPU time per operation (thread time), microseconds."""
    overhead_us_per_op: float
    """Client CPU per operation beyond the store calls (``cpu - store_cpu``)."""
    units_per_op: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        return {
            "ops": self.ops,
            "errors": self.errors,
            "wall_s": self.wall,
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "mean_ms": self.mean_ms,
            "max_ms": self.max_ms,
            "throughput_ops_s": self.throughput,
            "calls_per_op": self.calls_per_op,
            "cpu_us_per_op": self.cpu_us_per_op,
            "overhead_us_per_op": self.overhead_us_per_op,
            "units_per_op": dict(self.units_per_op),
        }


def unit_deltas(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, float]:
    """Numeric running totals that grew between two ``stats()`` snapshots (call counts
    excluded: the harness counts those itself)."""
    out: dict[str, float] = {}
    for key, value in after.items():
        if key in ("calls",) or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        prev = before.get(key, 0)
        if isinstance(prev, bool) or not isinstance(prev, int | float):
            prev = 0
        delta = float(value) - float(prev)
        if delta:
            out[key] = delta
    return out


def summarize(
    samples: Sequence[Sample],
    wall: float,
    *,
    errors: int = 0,
    units: Mapping[str, float] | None = None,
) -> Summary:
    """Summarise a phase: percentiles of latency, means of CPU and calls, units per op."""
    n = len(samples)
    lat_ms = [s.latency * 1000 for s in samples]
    per = 1 / n if n else math.nan
    return Summary(
        ops=n,
        errors=errors,
        wall=wall,
        p50_ms=percentile(lat_ms, 50),
        p90_ms=percentile(lat_ms, 90),
        p99_ms=percentile(lat_ms, 99),
        mean_ms=sum(lat_ms) * per if n else math.nan,
        max_ms=max(lat_ms) if n else math.nan,
        throughput=n / wall if wall > 0 else math.nan,
        calls_per_op=sum(s.calls for s in samples) * per if n else math.nan,
        cpu_us_per_op=sum(s.cpu for s in samples) * 1e6 * per if n else math.nan,
        overhead_us_per_op=(sum(s.cpu - s.store_cpu for s in samples) * 1e6 * per)
        if n
        else math.nan,
        units_per_op={k: v * per for k, v in (units or {}).items()} if n else {},
    )
