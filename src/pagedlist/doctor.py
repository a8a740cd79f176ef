"""``pagedlist doctor URL``: is this store ready for pagedlist, and how should lists on it
be sized?

Checks, in order, each printed as one line:

1. the URL parses and names a known adapter;
2. reachability: a TCP connection to the server (name resolved, port open) and its time;
3. credentials and the table/container: the store opens (the adapter checks its table,
   container or database as it opens) and a probe row can be read, and written and
   deleted again (``--read-only`` skips the write);
4. round-trip time: the median of a few reads of an absent row;
5. settings: what the adapter says of itself (``describe()``, limits, features, and its
   ``doctor_settings()`` where it has one: billing mode, consistency, limits);
6. the capacity the cost model (:mod:`pagedlist.core.costs`) recommends for the given item
   size and read fraction.

Then a verdict line. Exit status: 0 healthy, 1 problems found, 2 unreachable.
Nothing printed holds a password, a key or a token (``describe()`` and ``redact``).
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import click

from pagedlist.adapters import open_store, scheme_of
from pagedlist.adapters._toolkit import redact
from pagedlist.core import deadline as _deadline
from pagedlist.core.costs import KB, NoBilling, Workload, billing_for, recommend_capacity
from pagedlist.errors import PagedListError

__all__ = ["Report", "diagnose", "doctor", "endpoint_of"]

HEALTHY, PROBLEMS, UNREACHABLE = 0, 1, 2

#: The port each networked scheme uses when its URL names none.
DEFAULT_PORTS = {
    "redis": 6379,
    "rediss": 6379,
    "redis+cluster": 6379,
    "postgres": 5432,
    "postgresql": 5432,
    "cosmos": 8081,
}


@dataclass
class Report:
    """What the doctor found: printed lines, problems, and whether the store was reached."""

    lines: list[tuple[str, str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreachable: bool = False

    def ok(self, check: str, detail: str) -> None:
        """A check that passed."""
        self.lines.append(("ok", check, detail))

    def info(self, check: str, detail: str) -> None:
        """Something worth knowing, neither good nor bad."""
        self.lines.append(("--", check, detail))

    def problem(self, check: str, detail: str) -> None:
        """A check that failed."""
        self.lines.append(("!!", check, detail))
        self.problems.append(f"{check}: {detail}")

    @property
    def status(self) -> int:
        """The exit status: 0 healthy, 1 problems, 2 unreachable."""
        if self.unreachable:
            return UNREACHABLE
        return PROBLEMS if self.problems else HEALTHY

    def verdict(self) -> str:
        """The last line."""
        if self.unreachable:
            return "verdict: UNREACHABLE: " + self.problems[0]
        if self.problems:
            return f"verdict: {len(self.problems)} problem(s): " + "; ".join(self.problems)
        return "verdict: healthy"


def endpoint_of(url: str) -> tuple[str, int] | None:
    """The ``(host, port)`` the store at ``url`` listens on, where the URL tells it (the
    first node of a cluster); ``None`` for local files and memory."""
    scheme = scheme_of(url)
    if scheme in ("memory", "sqlite"):
        return None
    query = dict(parse_qsl(url.partition("?")[2]))
    if "endpoint" in query:  # DynamoDB, OCI NoSQL: an explicit endpoint URL
        parts = urlsplit(query["endpoint"])
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return (parts.hostname or "", port) if parts.hostname else None
    if scheme.startswith("dynamodb"):
        region = query.get("region") or os.environ.get("AWS_REGION") or "us-east-1"
        return f"dynamodb.{region}.amazonaws.com", 443
    rest = url.split("://", 1)[1]
    hosts = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    first = hosts.split(",", 1)[0]
    if not first:
        return None
    parts = urlsplit("x://" + first)
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or DEFAULT_PORTS.get(scheme, 443)


def _connect(host: str, port: int, timeout: float) -> float:
    """Seconds a TCP connection took; raises ``OSError`` on failure."""
    began = time.perf_counter()
    with socket.create_connection((host, port), timeout=timeout):
        return time.perf_counter() - began


@contextmanager
def _within(seconds: float) -> Iterator[None]:
    """Bound every store call inside to ``seconds`` (adapters cut their timeouts to it)."""
    with _deadline.active(time.monotonic() + seconds):
        yield


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def diagnose(
    url: str,
    *,
    item_bytes: int = 1024,
    read_fraction: float = 0.9,
    read_only: bool = False,
    timeout: float = 2.0,
    probes: int = 5,
) -> Report:
    """Run every check against ``url`` and return the report (nothing printed)."""
    report = Report()
    try:
        scheme = scheme_of(url)
    except PagedListError as err:
        report.problem("url", str(err).splitlines()[0])
        return report
    report.ok("url", f"{redact(url)} ({scheme}:// adapter)")

    try:
        where = endpoint_of(url)
    except ValueError as err:
        report.problem("url", f"cannot read the host from {redact(url)!r}: {err}")
        return report
    if where is not None:
        host, port = where
        try:
            took = _connect(host, port, timeout)
        except socket.gaierror as err:
            report.unreachable = True
            report.problem(
                "reachable",
                f"the name {host!r} does not resolve ({err.strerror or err}): check the "
                "host name in the URL, or DNS",
            )
            return report
        except OSError as err:
            report.unreachable = True
            why = "timed out" if isinstance(err, TimeoutError) else (err.strerror or str(err))
            report.problem(
                "reachable",
                f"cannot connect to {host}:{port} ({why}): is the server running, and is "
                "this the right port? (firewall, security group, private endpoint)",
            )
            return report
        report.ok("reachable", f"{host}:{port}, TCP connect {_ms(took)}")
    else:
        report.info("reachable", "local store: no network")

    began = time.perf_counter()
    try:
        with _within(max(timeout, 5.0)):
            store = open_store(url)
    except PagedListError as err:
        report.problem("open", f"{type(err).__name__}: {err}")
        return report
    report.ok("open", f"{store.describe()} in {_ms(time.perf_counter() - began)}")

    try:
        _store_checks(report, store, probes, read_only, timeout)
        _settings(report, store)
        _capacity(report, store, scheme, item_bytes, read_fraction)
    finally:
        store.close()
    return report


def _store_checks(report: Report, store: Any, probes: int, read_only: bool, timeout: float) -> None:
    key = f"pagedlist-doctor|{secrets.token_hex(6)}"
    times = []
    try:
        for _ in range(max(1, probes)):
            with _within(timeout):
                began = time.perf_counter()
                found = store.get(key)
                times.append(time.perf_counter() - began)
            if found is not None:
                report.problem("read", "a probe row that cannot exist was found: a broken store")
                return
    except PagedListError as err:
        report.problem("read", f"{type(err).__name__}: {err}")
        return
    report.ok(
        "round trip",
        f"median {_ms(statistics.median(times))}, max {_ms(max(times))} over {len(times)} reads",
    )
    if read_only:
        report.info("write", "skipped (--read-only)")
        return
    try:
        with _within(timeout):
            created = store.put_if_absent(key, {"doctor": 1})
            store.delete(key)
    except PagedListError as err:
        report.problem("write", f"{type(err).__name__}: {err}")
        return
    if not created:
        report.problem("write", "a conditional create of a fresh row was refused")
    else:
        report.ok("write", "created and deleted a probe row (credentials can write)")


def _settings(report: Report, store: Any) -> None:
    limits, features = store.limits, store.features
    row = f"{limits.row_bytes} bytes" if limits.row_bytes else "no limit"
    report.info("limits", f"row {row}, key {limits.key_bytes} bytes")
    layout = "2 (entry rows)" if features.entries else "1 (page rows)"
    report.info("layout", f"{layout}, push {'yes' if features.push else 'no'}")
    own: Callable[[], dict[str, Any]] | None = getattr(store, "doctor_settings", None)
    if own is None:
        report.info("settings", "this adapter reports no further settings")
        return
    try:
        for name, value in own().items():
            report.info(name, str(value))
    except PagedListError as err:
        report.problem("settings", f"{type(err).__name__}: {err}")


def _capacity(
    report: Report, store: Any, scheme: str, item_bytes: int, read_fraction: float
) -> None:
    billing = billing_for(scheme)
    # The stored entry is the item's JSON plus its envelope (id, timestamp: ~64 bytes).
    work = Workload(entry_bytes=item_bytes + 64, read_fraction=read_fraction)
    try:
        # Capacities above 200 are never the cheapest for the items one asks about here,
        # and the search is quadratic: a doctor must answer in a moment.
        rec = recommend_capacity(billing, work, max_capacity=200, row_bytes=store.limits.row_bytes)
    except ValueError as err:
        report.problem("capacity", str(err))
        return
    if isinstance(billing, NoBilling):
        units = f"no billed units; {billing.weighted(rec.cost) / KB:.1f} KB moved per operation"
    else:
        read, write = billing.unit_names
        units = (
            f"{rec.cost.read_units:.2f} {read} + {rec.cost.write_units:.2f} {write} per operation"
        )
    report.info(
        "capacity",
        f"{rec.capacity} items per page for {item_bytes}-byte items at {read_fraction:.0%} "
        f"reads ({units}; create with --capacity {rec.capacity})",
    )


@click.command()
@click.argument("url")
@click.option(
    "--item-bytes",
    type=click.IntRange(min=1, max=400 * KB),
    default=1024,
    show_default=True,
    help="Typical item size (JSON text), for the capacity advice.",
)
@click.option(
    "--read-fraction",
    type=click.FloatRange(0, 1),
    default=0.9,
    show_default=True,
    help="Share of operations that are reads, for the capacity advice.",
)
@click.option("--read-only", is_flag=True, help="Do not write the probe row.")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True, max=60),
    default=2.0,
    show_default=True,
    metavar="SECONDS",
    help="Time each check may take.",
)
def doctor(
    url: str, item_bytes: int, read_fraction: float, read_only: bool, timeout: float
) -> None:
    """Check that URL's store is reachable and usable, and advise a capacity.

    Exit status: 0 healthy, 1 problems found, 2 unreachable.
    """
    report = diagnose(
        url, item_bytes=item_bytes, read_fraction=read_fraction, read_only=read_only,
        timeout=timeout,
    )  # fmt: skip
    for mark, check, detail in report.lines:
        click.echo(f"{mark} {check + ':':<12} {detail}")
    click.echo(report.verdict())
    raise SystemExit(report.status)
