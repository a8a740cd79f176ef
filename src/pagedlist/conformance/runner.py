"""``pagedlist conformance URL``: run the suite against any store and print a clause table.

Exit status: 0 when every clause passed, 1 when any failed, 2 when the store could not be
reached (nothing ran: reported as NOT RUN, never as passed).
"""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pagedlist.adapters import open_store, redact
from pagedlist.conformance.capabilities import clause_order
from pagedlist.errors import PagedListError

__all__ = ["ClauseResult", "run_suite", "table"]

EXIT_OK, EXIT_FAILED, EXIT_NOT_RUN = 0, 1, 2


@dataclass
class ClauseResult:
    """One test's outcome; ``api`` is ``sync`` or ``async`` (the suite run through the
    scheme's asyncio adapter)."""

    clause: str
    name: str
    outcome: str
    seconds: float
    detail: str = ""
    api: str = "sync"


class _Collector:
    """A pytest plugin object that records each test's clause, outcome and duration."""

    def __init__(self, only: set[str] | None = None) -> None:
        self.results: dict[str, ClauseResult] = {}
        self.clauses: dict[str, str] = {}
        self.only = only

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]):
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            marker = item.get_closest_marker("pagedlist_clause")
            cid = marker.args[0] if marker else "?"
            self.clauses[item.nodeid] = cid
            (keep if self.only is None or cid in self.only else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        api = "async" if "::TestConformanceAsync::" in report.nodeid else "sync"
        result = self.results.setdefault(
            report.nodeid,
            ClauseResult(
                self.clauses.get(report.nodeid, "?"),
                report.nodeid.rsplit("::", 1)[-1],
                "passed",
                0.0,
                api=api,
            ),
        )
        result.seconds += report.duration
        if report.failed:
            result.outcome = "FAILED" if report.when == "call" else "ERROR"
            result.detail = _first_line(report.longreprtext)
        elif report.skipped:
            result.outcome = "skipped"
            longrepr = report.longrepr
            result.detail = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("E ")]
    return (lines[0][2:].strip() if lines else text.strip().splitlines()[-1:] or [""])[0][:160]


#: Width of the clause table: it fits an 80-column terminal.
WIDTH = 80
_LEFT = 26  # "clause  result      time  "


def _fit(name: str, room: int) -> str:
    """``name`` in at most ``room`` characters: the ``test_`` prefix every row shares goes
    first, then the middle (the start says what is tested, the end which parameter)."""
    name = name.removeprefix("test_")
    if len(name) <= room:
        return name
    keep = room - 1
    return name[: keep - keep // 3] + "…" + name[len(name) - keep // 3 :]


def table(results: list[ClauseResult], width: int = WIDTH) -> list[str]:
    """The clause table: one row per test (its name without ``test_``), the reason under a
    row that did not pass, wrapped; no line is longer than ``width``. With results of both
    APIs, one row per test shows both: ``sync`` and ``async`` columns (``-`` where a clause
    runs through one API only)."""
    both = {r.api for r in results} == {"sync", "async"}
    if not both:
        lines = [f"{'clause':<7} {'result':<8} {'time':>7}  test"]
        for r in results:
            lines.append(
                f"{r.clause:<7} {r.outcome:<8} {r.seconds:>6.2f}s  {_fit(r.name, width - _LEFT)}"
            )
            lines += _why(r, width, _LEFT)
        return lines
    left = _LEFT + 9
    rows: dict[str, dict[str, ClauseResult]] = {}
    for r in results:
        rows.setdefault(r.name, {})[r.api] = r
    lines = [f"{'clause':<7} {'sync':<8} {'async':<8} {'time':>7}  test"]
    for pair in rows.values():
        first = pair.get("sync") or pair["async"]
        sync, asy = pair.get("sync"), pair.get("async")
        seconds = sum(r.seconds for r in pair.values())
        lines.append(
            f"{first.clause:<7} {sync.outcome if sync else '-':<8} "
            f"{asy.outcome if asy else '-':<8} {seconds:>6.2f}s  {_fit(first.name, width - left)}"
        )
        for r in pair.values():
            lines += _why(r, width, left, prefix=f"{r.api}: ")
    return lines


def _why(r: ClauseResult, width: int, left: int, prefix: str = "") -> list[str]:
    """The reason a test did not pass, wrapped under its row."""
    if not r.detail or r.outcome == "passed":
        return []
    return textwrap.wrap(
        f"-> {prefix}{r.detail}",
        width,
        initial_indent=" " * left,
        subsequent_indent=" " * (left + 3),
        break_long_words=True,
    )


def _reachable(url: str) -> str | None:
    """``None`` if the store answers a read, else why not."""
    try:
        store = open_store(url)
    except PagedListError as err:
        return str(err)
    try:
        store.get(f"conformance-probe-{uuid.uuid4().hex[:8]}|s")
    except PagedListError as err:
        return str(err)
    finally:
        store.close()
    return None


def run_suite(
    url: str,
    *,
    select: str | None = None,
    clauses: set[str] | None = None,
    exitfirst: bool = False,
    api: str = "both",
    echo: Callable[[str], None] = print,
) -> int:
    """Run every clause (or only ``clauses``, or tests matching the pytest ``-k`` expression
    ``select``) against ``url`` through the sync adapter, the asyncio adapter, or ``both``
    (the default: two result columns); print the table; return the exit status."""
    shown = redact(url)
    why = _reachable(url)
    if why is not None:
        echo(f"NOT RUN: cannot reach {shown}: {why}")
        echo("No clause was checked; fix the URL or start the store, then run again.")
        return EXIT_NOT_RUN
    args = [
        "--pyargs",
        "pagedlist.conformance.url_suite",
        "--pagedlist-store",
        url,
        "-q",
        "-p",
        "no:cacheprovider",
        "--no-header",
        "-o",
        "addopts=",
        # pytest marks the pagedlist plugin's package for assertion rewriting, but this
        # process imported pagedlist before pytest started, so pytest warns that it cannot
        # rewrite it. The suite's modules are imported later and are rewritten; the warning
        # says nothing about the store under test.
        "-W",
        "ignore:Module already imported so cannot be rewritten; pagedlist"
        ":pytest.PytestAssertRewriteWarning",
    ]
    only = {"sync": "not TestConformanceAsync", "async": "TestConformanceAsync"}.get(api)
    if select and only:
        args += ["-k", f"({select}) and {only}"]
    elif select or only:
        args += ["-k", select or only or ""]
    if exitfirst:
        args.append("-x")
    collector = _Collector({c.upper() for c in clauses} if clauses else None)
    started = time.monotonic()
    code = pytest.main(args, plugins=[collector])
    elapsed = time.monotonic() - started
    # The asyncio clauses (Y) are the async API already: they run once, in the sync class.
    kept = [r for r in collector.results.values() if not (r.api == "async" and r.clause[:1] == "Y")]
    results = sorted(kept, key=lambda r: clause_order(r.clause))
    echo("")
    echo(f"pagedlist conformance: {shown}")
    for line in table(results):
        echo(line)
    counts = {o: sum(r.outcome == o for r in results) for o in ("passed", "FAILED", "ERROR")}
    skipped = sum(r.outcome == "skipped" for r in results)
    echo(
        f"\n{counts['passed']} passed, {counts['FAILED'] + counts['ERROR']} failed, "
        f"{skipped} skipped in {elapsed:.1f}s"
        + (" (sync and async)" if api == "both" else f" ({api})")
    )
    if not results:
        echo("NOT RUN: no clause was collected")
        return EXIT_NOT_RUN
    return EXIT_OK if code == 0 else EXIT_FAILED
