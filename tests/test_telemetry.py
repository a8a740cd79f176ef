"""``pagedlist.telemetry``: spans and metrics of a known workload, read back through the
OpenTelemetry SDK's in-memory span exporter and metric reader, on real stores (memory,
SQLite). Throttles are injected by a store wrapper below the telemetry wrapper, so the
store calls, the driver's retries and the spans all see them as they would a real 429."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import pytest

otel_sdk = pytest.importorskip("opentelemetry.sdk", reason="pip install opentelemetry-sdk")

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from pagedlist import AsyncPagedList, PagedList, open_async_store, open_store  # noqa: E402
from pagedlist.core.awrapper import AsyncStoreWrapper  # noqa: E402
from pagedlist.core.counting import CountingStore  # noqa: E402
from pagedlist.core.wrapper import StoreWrapper  # noqa: E402
from pagedlist.errors import DeadlineExceeded, Throttled  # noqa: E402
from pagedlist.telemetry import (  # noqa: E402
    AsyncTelemetryStore,
    Telemetry,
    TelemetryStore,
    billed_units,
)

T = TypeVar("T")


class Recorder:
    """A telemetry on private SDK providers, with readers for what it recorded."""

    def __init__(self) -> None:
        self.spans_out = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=tracer_provider, meter_provider=meter_provider
        ).enable()

    def spans(self) -> list[Any]:
        return list(self.spans_out.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, Any], float]]:
        """``(attributes, value)`` of every data point of metric ``name`` (a histogram's
        value is its count)."""
        data = self.reader.get_metrics_data()
        found = []
        for rm in data.resource_metrics if data else ():
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name != name:
                        continue
                    for p in metric.data.data_points:
                        value = p.count if hasattr(p, "count") else p.value
                        found.append((dict(p.attributes), value))
        return found

    def total(self, name: str, **match: Any) -> float:
        want = {k.replace("__", "."): v for k, v in match.items()}
        return sum(
            v for attrs, v in self.points(name) if all(attrs.get(k) == x for k, x in want.items())
        )


@pytest.fixture
def rec() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.telemetry.disable()


class Throttle(StoreWrapper):
    """Refuses the store calls whose 1-based number (counting ``name`` calls) is in
    ``at`` with ``Throttled``, before they run."""

    def __init__(self, inner: Any, name: str, at: set[int]) -> None:
        super().__init__(inner)
        self.name, self.at, self.seen, self.refused = name, at, 0, 0
        self._lock = threading.Lock()

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if name == self.name:
            with self._lock:
                self.seen += 1
                refuse = self.seen in self.at
            if refuse:
                self.refused += 1
                raise Throttled("injected throttle", retry_after=0.001)
        return fn(*args, **kwargs)


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/t.db"


def test_known_workload_gives_exact_counts_and_spans(rec: Recorder, url: str) -> None:
    """100 appends on layout 1 with 60 items a page (one page roll) and two throttled
    appends: the counts and the span tree are exactly what the workload implies."""
    counted = CountingStore(open_store(url))
    throttle = Throttle(counted, "append", at={10, 50})
    store = TelemetryStore(throttle, telemetry=rec.telemetry)
    feed = PagedList.create(store, "feed", layout=1, capacity=60)
    created_calls = counted.total
    for i in range(100):
        feed.append({"n": i})
    assert [item.value["n"] for item in feed.latest(3)] == [99, 98, 97]
    store.close()

    assert throttle.refused == 2
    # Every call that reached the store is counted "ok", each throttled one "Throttled".
    for name, n in counted.calls.items():
        assert rec.total("pagedlist.store.calls", db__operation__name=name,
                         pagedlist__outcome="ok") == n, name  # fmt: skip
    assert rec.total("pagedlist.store.calls", pagedlist__outcome="Throttled") == 2
    assert rec.total("pagedlist.store.duration") == counted.total + 2
    assert rec.total("pagedlist.throttled", db__operation__name="append") == 2
    assert rec.total("pagedlist.retries", error__type="Throttled") == 2
    assert rec.total("pagedlist.retries") == 2
    assert rec.total("pagedlist.page_rolls") == 1
    assert rec.total("pagedlist.deadline_exceeded") == 0
    system = "memory" if url.startswith("memory") else "sqlite"
    assert {a["db.system"] for a, _ in rec.points("pagedlist.store.calls")} == {system}

    spans = rec.spans()
    ops = [s for s in spans if s.name.startswith("pagedlist.")]
    appends = [s for s in ops if s.name == "pagedlist.append"]
    assert len(appends) == 100
    assert sorted(s.attributes["pagedlist.attempts"] for s in appends) == [1] * 98 + [2, 2]
    assert {s.attributes["pagedlist.outcome"] for s in appends} == {"ok"}
    assert {s.attributes["pagedlist.list_id"] for s in appends} == {"feed"}
    assert [s.attributes["pagedlist.page"] for s in appends] == [0] * 60 + [1] * 40
    assert [s.name for s in ops if s.name != "pagedlist.append"] == [
        "pagedlist.create",
        "pagedlist.latest",
    ]
    # Every store call is a CLIENT child span of its list operation's span.
    calls = [s for s in spans if not s.name.startswith("pagedlist.")]
    assert len(calls) == counted.total + 2
    by_id = {s.context.span_id: s for s in ops}
    for s in calls:
        assert s.kind.name == "CLIENT"
        assert s.parent is not None and s.parent.span_id in by_id
        assert s.attributes["db.operation.name"] == s.name
        assert s.attributes["db.system"] == system
    under_create = [s for s in calls if by_id[s.parent.span_id].name == "pagedlist.create"]
    assert len(under_create) == created_calls
    # Under the 100 appends: 100 written + the one answered Full by the full page.
    appended = [
        s for s in calls
        if by_id[s.parent.span_id].name == "pagedlist.append"
        and s.name == "append" and s.attributes["pagedlist.outcome"] == "ok"
    ]  # fmt: skip
    assert len(appended) == 101
    throttled = [s for s in calls if s.attributes["pagedlist.outcome"] == "Throttled"]
    assert len(throttled) == 2
    assert all(s.attributes["error.type"] == "Throttled" for s in throttled)
    assert all(s.status.status_code.name == "ERROR" for s in throttled)
    retried = [s for s in appends if s.attributes["pagedlist.attempts"] == 2]
    assert all([e.name for e in s.events] == ["retry"] for s in retried)


class AlwaysThrottled(StoreWrapper):
    on = False

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.on and name in ("append", "push"):
            raise Throttled("injected throttle")
        return fn(*args, **kwargs)


def test_deadline_exceeded_is_counted_and_marks_the_span(rec: Recorder) -> None:
    refusing = AlwaysThrottled(open_store("memory://"))
    store = TelemetryStore(refusing, telemetry=rec.telemetry)
    feed = PagedList.create(store, "feed", deadline=0.2)
    refusing.on = True
    with pytest.raises((Throttled, DeadlineExceeded)):
        feed.append({"n": 1})
    assert rec.total("pagedlist.deadline_exceeded", pagedlist__operation="append") == 1
    assert rec.total("pagedlist.retries") >= 1
    (span,) = [s for s in rec.spans() if s.name == "pagedlist.append"]
    assert span.status.status_code.name == "ERROR"
    assert span.attributes["pagedlist.outcome"] in {"Throttled", "DeadlineExceeded"}
    assert span.attributes["pagedlist.attempts"] == span.attributes["pagedlist.retries"] + 1 > 1


class Billing(StoreWrapper):
    """Bills 2 read units per read and 3 write units per other call, reported
    in ``stats()`` as an adapter with billed units does."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.units = {"read": 0.0, "write": 0.0}

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        answer = fn(*args, **kwargs)
        read = name.startswith(("get", "scan", "find"))
        self.units["read" if read else "write"] += 2 if read else 3
        return answer

    def stats(self) -> Mapping[str, Any]:
        return {**self.inner.stats(), "units": dict(self.units)}


def test_billed_units_are_the_growth_of_the_store_totals(rec: Recorder) -> None:
    billing = Billing(open_store("memory://"))
    billing.units["write"] = 100.0  # spent before the wrapper came: not counted
    store = TelemetryStore(billing, telemetry=rec.telemetry)
    feed = PagedList.create(store, "feed")
    for i in range(5):
        feed.append(i)
    feed.latest(1)
    assert (
        rec.total("pagedlist.units", pagedlist__unit_kind="write") == billing.units["write"] - 100
    )
    assert rec.total("pagedlist.units", pagedlist__unit_kind="read") == billing.units["read"]
    assert billing.units["read"] > 0


def test_billed_units_reads_the_older_adapter_keys() -> None:
    assert billed_units({"read_units": 1.5, "write_units": 2, "calls": 9}) == {
        "read": 1.5,
        "write": 2.0,
    }
    assert billed_units({"request_charge_ru": 7.25}) == {"ru": 7.25}
    assert billed_units({"units": {"ru": 3}}) == {"ru": 3.0}
    assert billed_units({"calls": 3}) == {}


class AsyncThrottle(AsyncStoreWrapper):
    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.left = 1

    async def _call(self, name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name in ("append", "push") and self.left:
            self.left -= 1
            raise Throttled("injected throttle", retry_after=0.001)
        return await fn(*args, **kwargs)


def test_async_store_spans_nest_under_their_operations(rec: Recorder) -> None:
    async def work() -> None:
        store = AsyncTelemetryStore(
            AsyncThrottle(await open_async_store("memory://")), telemetry=rec.telemetry
        )
        feed = await AsyncPagedList.create(store, "feed")
        await asyncio.gather(*(feed.append(i) for i in range(5)))
        assert len(await feed.latest(10)) == 5
        await store.aclose()

    asyncio.run(work())
    spans = rec.spans()
    ops = {s.context.span_id: s for s in spans if s.name.startswith("pagedlist.")}
    calls = [s for s in spans if not s.name.startswith("pagedlist.")]
    assert calls and all(s.parent is not None and s.parent.span_id in ops for s in calls)
    assert rec.total("pagedlist.throttled") == 1
    assert rec.total("pagedlist.retries") == 1
    assert sum(s.attributes["pagedlist.retries"] for s in ops.values()) == 1
    assert rec.total("pagedlist.store.calls") == len(calls)


def test_without_opentelemetry_instrument_is_a_no_op() -> None:
    """In a process where ``import opentelemetry`` fails, the module imports, ``instrument``
    returns the store itself and the list works."""
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError("blocked")
sys.meta_path.insert(0, Block())
from pagedlist import PagedList, open_store
from pagedlist import telemetry
store = open_store("memory://")
assert telemetry.AVAILABLE is False
assert telemetry.instrument(store) is store
wrapped = telemetry.TelemetryStore(store)
PagedList.create(wrapped, "feed").append(1)
assert [i.value for i in PagedList(wrapped, "feed").latest(1)] == [1]
print("ok")
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_units_billed_by_dynamodb_local(rec: Recorder, servers: Any) -> None:
    """The consumed capacity DynamoDB Local reports reaches ``pagedlist.units`` exactly
    as it grows in the adapter's ``stats()``."""
    inner = open_store(servers.get("dynamodb").url)
    store = TelemetryStore(inner, telemetry=rec.telemetry)
    before = billed_units(inner.stats())
    feed = PagedList.create(store, f"units{time.time_ns()}")
    for i in range(5):
        feed.append({"n": i})
    feed.latest(5)
    after = billed_units(inner.stats())
    store.close()
    assert after["write"] > before.get("write", 0) and after["read"] > before.get("read", 0)
    for kind in ("read", "write"):
        assert rec.total(
            "pagedlist.units", pagedlist__unit_kind=kind, db__system="aws.dynamodb"
        ) == pytest.approx(after[kind] - before.get(kind, 0))
