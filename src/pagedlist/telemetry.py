"""OpenTelemetry traces and metrics for pagedlist (the ``pagedlist[otel]`` extra).

Telemetry lives in two places and nowhere else (no adapter knows about it):

* :class:`TelemetryStore` (and :class:`AsyncTelemetryStore`): a store wrapper
  (:class:`~pagedlist.core.wrapper.StoreWrapper`) that makes a ``CLIENT`` span of every
  store call and counts and times it;
* :class:`Telemetry`: an :class:`~pagedlist.core.observe.Observer` of the driver that makes
  a span of every list operation (``pagedlist.append``, ``pagedlist.latest``...), the
  parent of that operation's store-call spans, and counts retries, deadlines and page
  rolls.

Usage::

    from pagedlist import PagedList, open_store
    from pagedlist.telemetry import instrument

    store = instrument(open_store("redis://127.0.0.1:6379/0"))
    feed = PagedList.create(store, "feed")

``instrument`` uses the global tracer and meter providers (set them up with the
OpenTelemetry SDK as usual); pass ``Telemetry(tracer_provider=..., meter_provider=...)``
to use others. Without ``opentelemetry-api`` installed everything here still works and
does nothing: ``instrument(store)`` returns ``store`` itself.

Spans (attributes in parentheses):

* ``pagedlist.OPERATION`` (``pagedlist.operation``, ``pagedlist.list_id``,
  ``pagedlist.outcome`` = ``ok`` or the error class, ``pagedlist.attempts``,
  ``pagedlist.retries``, ``pagedlist.page`` for appends of layout 1);
* one child per store call, named after it (``get``, ``append``, ``push``...), kind
  ``CLIENT`` (``db.system``, ``db.system.name``, ``db.operation.name``,
  ``pagedlist.backend``, ``pagedlist.outcome``, ``error.type`` on failure).

Metrics (attributes in parentheses):

* ``pagedlist.store.calls``, counter (``db.system``, ``db.operation.name``,
  ``pagedlist.outcome``);
* ``pagedlist.store.duration``, histogram in seconds (the same);
* ``pagedlist.throttled``, counter (``db.system``, ``db.operation.name``);
* ``pagedlist.units``, counter of billed units (``db.system``, ``pagedlist.unit_kind``);
* ``pagedlist.retries``, counter (``pagedlist.operation``, ``db.operation.name``,
  ``error.type``);
* ``pagedlist.deadline_exceeded``, counter (``pagedlist.operation``);
* ``pagedlist.page_rolls``, counter (``pagedlist.operation``).

Attributes never carry a value, an item id, a key beyond the list id, or a credential.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pagedlist.adapters._toolkit import billed_units
from pagedlist.core import observe
from pagedlist.core.astore import AsyncStore
from pagedlist.core.awrapper import AsyncStoreWrapper
from pagedlist.core.costs import NoBilling, billing_for
from pagedlist.core.store import Store
from pagedlist.core.wrapper import StoreWrapper
from pagedlist.errors import Throttled

try:  # the optional extra: pip install 'pagedlist[otel]'
    from opentelemetry import context as _otel_context
    from opentelemetry import metrics as _otel_metrics
    from opentelemetry import trace as _otel_trace

    AVAILABLE = True
except ImportError:  # pragma: no cover - exercised by the no-otel test in a subprocess
    AVAILABLE = False

__all__ = [
    "AVAILABLE",
    "DB_SYSTEMS",
    "AsyncTelemetryStore",
    "Telemetry",
    "TelemetryStore",
    "billed_units",
    "instrument",
]

T = TypeVar("T")

#: ``db.system`` for each URL scheme: the semantic conventions' well-known values where
#: there is one, else the scheme.
DB_SYSTEMS: Mapping[str, str] = {
    "redis": "redis",
    "rediss": "redis",
    "redis+cluster": "redis",
    "dynamodb": "aws.dynamodb",
    "cosmos": "azure.cosmosdb",
    "postgres": "postgresql",
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "oci": "oracle.nosql",
    "oci-nosql": "oracle.nosql",
    "memory": "memory",
}

VERSION = "0.1.0"


def _scheme(store: Any) -> str:
    """The URL scheme of the adapter under any wrappers (a wrapper may not set its own)."""
    for _ in range(32):
        scheme = getattr(store, "scheme", "")
        if scheme and scheme != "faulty":
            return str(scheme)
        store = getattr(store, "inner", None)
        if store is None:
            break
    return "unknown"


def _db_system(store: Any) -> str:
    scheme = _scheme(store)
    return DB_SYSTEMS.get(scheme, scheme)


@dataclass
class _Op:
    """What one running list operation has seen so far (kept in a context variable)."""

    name: str
    retries: int = 0
    page: int | None = None


_current: contextvars.ContextVar[_Op | None] = contextvars.ContextVar(
    "pagedlist_telemetry_op", default=None
)


class Telemetry(observe.Observer):
    """Spans per list operation and the driver's counters, on the given (or the global)
    OpenTelemetry providers; :meth:`wrap` makes the store wrapper that uses the same ones.

    Register it with :meth:`enable` (``instrument`` does); a no-op without
    ``opentelemetry-api``.
    """

    wants_answers = True

    def __init__(self, *, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.enabled = AVAILABLE
        if not AVAILABLE:
            return
        self.tracer = _otel_trace.get_tracer("pagedlist", VERSION, tracer_provider=tracer_provider)
        meter = _otel_metrics.get_meter("pagedlist", VERSION, meter_provider=meter_provider)
        self.calls = meter.create_counter(
            "pagedlist.store.calls", unit="{call}", description="Store calls (round trips)"
        )
        self.duration = meter.create_histogram(
            "pagedlist.store.duration", unit="s", description="Duration of one store call"
        )
        self.throttled = meter.create_counter(
            "pagedlist.throttled", unit="{call}", description="Store calls refused as throttled"
        )
        self.units = meter.create_counter(
            "pagedlist.units", unit="{unit}", description="Units the store billed (RU, RCU...)"
        )
        self.retries = meter.create_counter(
            "pagedlist.retries", unit="{retry}", description="Store calls repeated by the driver"
        )
        self.deadlines = meter.create_counter(
            "pagedlist.deadline_exceeded",
            unit="{operation}",
            description="List operations that ran out of their deadline or gave up",
        )
        self.page_rolls = meter.create_counter(
            "pagedlist.page_rolls", unit="{page}", description="Pages found full (layout 1)"
        )

    # --- registration -----------------------------------------------------------------

    def enable(self) -> Telemetry:
        """Register this observer with the driver (once); returns itself."""
        if self.enabled and self not in observe._observers:
            observe.add(self)
        return self

    def disable(self) -> None:
        """Unregister it."""
        observe.remove(self)

    def wrap(self, store: Any) -> Any:
        """``store`` wrapped in :class:`TelemetryStore` (or :class:`AsyncTelemetryStore`
        for an asyncio store) reporting to this telemetry's providers."""
        if isinstance(store, AsyncStore):
            return AsyncTelemetryStore(store, telemetry=self)
        return TelemetryStore(store, telemetry=self)

    # --- the driver's hooks -----------------------------------------------------------

    def operation_started(self, name: str, list_id: str | None) -> Any:
        """Open the operation's span and make it current, so store-call spans nest in it."""
        attributes = {"pagedlist.operation": name}
        if list_id is not None:
            attributes["pagedlist.list_id"] = list_id
        span = self.tracer.start_span(f"pagedlist.{name}", attributes=attributes)
        token = _otel_context.attach(_otel_trace.set_span_in_context(span))
        op = _Op(name)
        return span, token, _current.set(op), op

    def operation_ended(
        self,
        token: Any,
        name: str,
        list_id: str | None,
        error: BaseException | None,
        seconds: float,
    ) -> None:
        """Close the span with the outcome and the attempts the operation made."""
        span, otel_token, op_token, op = token
        span.set_attribute("pagedlist.outcome", "ok" if error is None else type(error).__name__)
        span.set_attribute("pagedlist.retries", op.retries)
        span.set_attribute("pagedlist.attempts", op.retries + 1)
        if op.page is not None:
            span.set_attribute("pagedlist.page", op.page)
        if error is not None:
            span.set_status(_otel_trace.Status(_otel_trace.StatusCode.ERROR, type(error).__name__))
            span.set_attribute("error.type", type(error).__name__)
        span.end()
        _current.reset(op_token)
        _otel_context.detach(otel_token)

    def retried(
        self, what: str, op: object, error: BaseException, attempt: int, delay: float
    ) -> None:
        """Count the retry, on the operation's span too."""
        current = _current.get()
        name = current.name if current else _name(what)
        if current is not None:
            current.retries += 1
        self.retries.add(
            1,
            {
                "pagedlist.operation": name,
                "db.operation.name": _op_name(op),
                "error.type": type(error).__name__,
            },
        )
        _otel_trace.get_current_span().add_event(
            "retry",
            {
                "pagedlist.attempt": attempt,
                "pagedlist.delay": delay,
                "error.type": type(error).__name__,
            },
        )

    def gave_up(self, what: str, op: object, error: BaseException, attempts: int) -> None:
        """Giving up is running out of deadline: counted as such."""
        self.deadlines.add(1, {"pagedlist.operation": _name(what)})

    def deadline_exceeded(self, what: str) -> None:
        """Count it."""
        self.deadlines.add(1, {"pagedlist.operation": _name(what)})

    def answered(self, what: str, op: object, answer: object) -> None:
        """Note the page a layout-1 append wrote to, and count page rolls: an append
        answered ``Full`` by a page exactly full (the rule of the DEBUG log of
        :mod:`pagedlist.core.observe`)."""
        kind = type(answer).__name__
        if kind == "Appended":
            current = _current.get()
            page = _page_of(getattr(op, "key", ""))
            if current is not None and page is not None:
                current.page = page
        elif kind == "Full" and getattr(answer, "length", -1) == getattr(op, "max_len", -2):
            self.page_rolls.add(1, {"pagedlist.operation": _name(what)})

    # --- store calls (used by the wrappers) -------------------------------------------

    def _attributes(self, system: str, name: str) -> dict[str, Any]:
        return {"db.system": system, "db.operation.name": name}

    def _ended(
        self,
        span: Any,
        attributes: dict[str, Any],
        error: BaseException | None,
        seconds: float,
    ) -> None:
        outcome = "ok" if error is None else type(error).__name__
        span.set_attribute("pagedlist.outcome", outcome)
        if error is not None:
            span.set_attribute("error.type", outcome)
            span.set_status(_otel_trace.Status(_otel_trace.StatusCode.ERROR, outcome))
            if isinstance(error, Throttled):
                self.throttled.add(1, attributes)
        measured = {**attributes, "pagedlist.outcome": outcome}
        self.calls.add(1, measured)
        self.duration.record(seconds, measured)


def _name(what: str) -> str:
    found = observe._NAME.match(what)
    return found.group(0) if found else what


def _op_name(op: object) -> str:
    """The store call an operation becomes (``Append`` is ``append``, ``GetMany`` is
    ``get_many``)."""
    name = type(op).__name__
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def _page_of(key: str) -> int | None:
    """The page number of a page row's key (``LIST|7``), if it is one."""
    tail = key.rpartition("|")[2]
    return int(tail) if tail.isdigit() else None


class _Units:
    """The billed units seen so far: each call reports the growth of the store's totals
    since the last call reported (under a lock), so concurrent calls never count twice."""

    def __init__(self, store: Any) -> None:
        self._lock = threading.Lock()
        self._last = billed_units(store.stats())

    @classmethod
    def of(cls, store: Any, scheme: str) -> _Units | None:
        """The tracker for ``store``, or ``None`` for a backend that bills nothing and
        reports no units (so its calls skip reading ``stats()``)."""
        units = cls(store)
        if not units._last and isinstance(billing_for(scheme), NoBilling):
            return None
        return units

    def report(self, telemetry: Telemetry, store: Any, system: str) -> None:
        now = billed_units(store.stats())
        if not now:
            return
        with self._lock:
            grown = {k: v - self._last.get(k, 0.0) for k, v in now.items()}
            self._last = now
        for kind, amount in grown.items():
            if amount > 0:
                telemetry.units.add(amount, {"db.system": system, "pagedlist.unit_kind": kind})


def _default(telemetry: Telemetry | None) -> Telemetry:
    global _shared
    if telemetry is not None:
        return telemetry
    with _shared_lock:
        if _shared is None:
            _shared = Telemetry().enable()
        return _shared


_shared: Telemetry | None = None
_shared_lock = threading.Lock()


class _Spanning:
    """What both telemetry wrappers share: their settings, and the span, count, duration
    and units of one store call (:meth:`_span`)."""

    inner: Any

    def _setup(self, inner: Any, telemetry: Telemetry | None) -> None:
        self.telemetry = _default(telemetry)
        self.scheme = _scheme(inner)
        self._system = _db_system(inner)
        self._units = _Units.of(inner, self.scheme) if self.telemetry.enabled else None

    @contextlib.contextmanager
    def _span(self, name: str) -> Iterator[None]:
        t = self.telemetry
        attributes = t._attributes(self._system, name)
        span = t.tracer.start_span(
            name,
            kind=_otel_trace.SpanKind.CLIENT,
            attributes={
                **attributes,
                "db.system.name": self._system,
                "pagedlist.backend": self.scheme,
            },
        )
        began = time.perf_counter()
        error: BaseException | None = None
        try:
            with _otel_trace.use_span(span, end_on_exit=False, record_exception=False):
                yield
        except BaseException as err:
            error = err
            raise
        finally:
            t._ended(span, attributes, error, time.perf_counter() - began)
            span.end()
            if self._units is not None:
                self._units.report(t, self.inner, self._system)


class TelemetryStore(_Spanning, StoreWrapper):
    """A store wrapper making a span, a count and a duration of every store call, plus the
    billed units and throttles it saw. ``telemetry`` defaults to one on the global
    providers, registered with the driver."""

    def __init__(self, inner: Store, *, telemetry: Telemetry | None = None) -> None:
        super().__init__(inner)
        self._setup(inner, telemetry)

    def _call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if not self.telemetry.enabled:
            return fn(*args, **kwargs)
        with self._span(name):
            return fn(*args, **kwargs)

    def describe(self) -> str:
        """The inner store's description."""
        return self.inner.describe()


class AsyncTelemetryStore(_Spanning, AsyncStoreWrapper):
    """:class:`TelemetryStore` for asyncio stores."""

    def __init__(self, inner: AsyncStore, *, telemetry: Telemetry | None = None) -> None:
        super().__init__(inner)
        self._setup(inner, telemetry)

    async def _call(
        self, name: str, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any
    ) -> T:
        if not self.telemetry.enabled:
            return await fn(*args, **kwargs)
        with self._span(name):
            return await fn(*args, **kwargs)


def instrument(store: Any, telemetry: Telemetry | None = None) -> Any:
    """``store`` (sync or asyncio) wrapped for telemetry, the driver's observer
    registered; ``store`` itself when ``opentelemetry-api`` is not installed."""
    if not AVAILABLE:
        return store
    return _default(telemetry).enable().wrap(store)
