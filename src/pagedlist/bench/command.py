"""``pagedlist bench``: the click command (loaded lazily by the CLI as
``pagedlist.bench.command:bench``). Module-level imports stay light: the harness, SDKs and
matplotlib are imported when the command runs."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

__all__ = ["MAX_WRITERS", "bench", "print_summary", "run_bench"]

#: Most concurrent writers the concurrent workload runs (one thread each).
MAX_WRITERS = 100


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers") from None
    if not values or any(v < 1 for v in values):
        raise click.BadParameter(f"{text!r}: give positive integers, e.g. 1,10,100")
    return values


@contextlib.contextmanager
def _target(target: str) -> Iterator[tuple[str, str, str, dict[str, str]]]:
    """``(url, name, note, versions)`` for a store URL, or for a local server started by name
    (``redis``, ``redis-cluster``, ``dynamodb``, ``cosmos``, ``oci-nosql``, ``postgres``) and
    stopped after."""
    if "://" in target:
        yield target, target.split("://", 1)[0].lower(), "", {}
        return
    from pagedlist.emulators import EMULATORS, EmulatorError, get_emulator

    if target not in EMULATORS:
        raise click.BadParameter(
            f"{target!r} is neither a store URL (scheme://...) nor a local server name "
            f"({', '.join(sorted(EMULATORS))})",
            param_hint="TARGET",
        )
    try:
        emulator = get_emulator(target)
        running = emulator.start()
    except EmulatorError as err:
        raise click.ClickException(f"could not start the local {target} server: {err}") from err
    try:
        note = f"local server started by `pagedlist.emulators` ({target})"
        yield running.url, target, note, server_versions(emulator)
    finally:
        running.stop()


class _Bars:
    """rich progress bars, one per phase; the finished one is hidden when the next starts."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> _Bars:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description:<42}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def __call__(self, description: str, total: int) -> Callable[[int], None]:
        if self.progress is None:
            return lambda _n: None
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        task = self.task = self.progress.add_task(description, total=total)
        return lambda n: self.progress.advance(task, n)


def print_summary(report: dict[str, Any], file: Any = None) -> None:
    """Print the report's tables to the terminal (or ``file``), at most 80 columns wide."""
    from rich.console import Console

    from pagedlist.bench.report import TERMINAL_WIDTH, terminal_summary

    console = Console(file=file)
    console.width = min(console.width, TERMINAL_WIDTH)
    for part in terminal_summary(report):
        console.print(part)
        console.print()


def layout_of(lists: Any) -> int | None:
    """The layout the pagedlist subject's lists got (``None`` if it created none)."""
    from pagedlist.core.pagedlist import PagedList

    for list_id in lists._capacity:
        with contextlib.suppress(Exception):
            return int(PagedList.open(lists.store, list_id).layout)
    return None


def server_versions(emulator: Any) -> dict[str, str]:
    """Version pins a launcher module declares (``*_VERSION`` strings), for the header."""
    import sys

    module = sys.modules.get(type(emulator).__module__)
    found = {}
    for key, value in vars(module or object()).items():
        if key.endswith("VERSION") and isinstance(value, str):
            found[f"{emulator.name} server ({key.lower()})"] = value
    return found


def run_bench(
    url: str,
    *,
    name: str | None = None,
    note: str = "",
    extra_versions: dict[str, str] | None = None,
    cfg: Any = None,
    sweep: bool = False,
    capacities: tuple[int, ...] | None = None,
    native: bool = True,
    show_progress: bool = False,
    async_api: bool = False,
) -> dict[str, Any]:
    """Run the workloads (and optionally the capacity sweep) on ``url``; return the report.
    With ``async_api``, the workloads also run through ``AsyncPagedList`` (tasks where the
    sync run has threads) and the report compares both."""
    from pagedlist.adapters import open_store
    from pagedlist.bench.native import native_subjects
    from pagedlist.bench.report import build_report, evaluate_targets
    from pagedlist.bench.subjects import open_subjects
    from pagedlist.bench.sweep import DEFAULT_CAPACITIES, sweep_capacity
    from pagedlist.bench.workloads import BenchConfig, run_workloads

    cfg = cfg or BenchConfig()
    scheme = url.split("://", 1)[0].lower()
    started = time.monotonic()
    store = open_store(url)
    timed, lists, raw, raw_page = open_subjects(
        store, capacity=cfg.capacity, max_item_bytes=cfg.max_item_bytes, layout=cfg.layout
    )
    natives = native_subjects(url, store) if native else []
    subjects = [lists, raw, raw_page, *natives]
    try:
        with _Bars(show_progress) as bars:
            results = run_workloads(cfg, subjects, bars)
            swept = None
            if sweep:
                swept = sweep_capacity(
                    lists,
                    scheme,
                    value_bytes=cfg.value_bytes,
                    n=cfg.n,
                    read_fraction=cfg.read_fraction,
                    capacities=capacities or DEFAULT_CAPACITIES,
                    progress=bars,
                )
        async_rows: list[dict[str, Any]] = []
        if async_api:
            from pagedlist.adapters import open_async_store
            from pagedlist.bench.asyncbench import run_async_workloads

            async_rows = run_async_workloads(cfg, lambda: open_async_store(url))
        capacity = None
        caps = list(lists._capacity.values())
        if caps:
            capacity = caps[0]
        versions: dict[str, str] = dict(extra_versions or {})
        for subject in subjects:
            with contextlib.suppress(Exception):  # versions are decoration, never a failure
                versions.update(subject.versions())
        config = {
            "ops": cfg.ops,
            "concurrency": list(cfg.concurrency),
            "n": cfg.n,
            "value_bytes": cfg.value_bytes,
            "capacity": cfg.capacity,
            "max_item_bytes": cfg.max_item_bytes,
            "feed_lists": cfg.feed_lists,
            "feed_fill": cfg.feed_fill,
            "feed_threads": cfg.feed_threads,
            "read_fraction": cfg.read_fraction,
            "timeline_lists": cfg.timeline_lists,
            "layout": cfg.layout,
            "layout_measured": layout_of(lists),
            "workloads": list(cfg.workloads),
        }
        report = build_report(
            url_shown=timed.describe(),
            scheme=scheme,
            describe=timed.describe(),
            capacity=capacity,
            versions=versions,
            config=config,
            results=results,
            sweep=swept,
            duration=time.monotonic() - started,
            backend_note=note,
        )
        report["backend"]["name"] = name or scheme
        if async_api:
            from pagedlist.bench.asyncbench import compare_async

            report["results"] += async_rows
            report["async_vs_sync"] = compare_async(report["results"])
        # Some targets hold on named backends only (Redis's p99): evaluated by name too.
        report["targets"] = evaluate_targets(scheme, report["results"], name or scheme)
        return report
    finally:
        for subject in natives:
            with contextlib.suppress(Exception):
                subject.close()
        timed.close()


@click.command("bench")
@click.argument("target")
@click.option(
    "--workload",
    "-w",
    "workloads",
    multiple=True,
    type=click.Choice(["append", "concurrent", "latest", "before", "feed", "timeline"]),
    help="Workload to run (repeatable); default: all six.",
)
@click.option(
    "--concurrency",
    "-c",
    default="1,10,100",
    show_default=True,
    help=f"Writer counts for the concurrent workload, comma-separated (up to {MAX_WRITERS}).",
)
@click.option(
    "--ops",
    "-n",
    "ops",
    type=click.IntRange(1),
    default=300,
    show_default=True,
    help="Operations per measured phase.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-results"),
    show_default=True,
    help="Directory for the JSON, Markdown and PNG outputs.",
)
@click.option(
    "--sweep-capacity",
    "sweep",
    is_flag=True,
    help="Also measure units per operation over page capacities, next to the model.",
)
@click.option(
    "--capacities",
    default=None,
    help="Capacities for --sweep-capacity, comma-separated (default 5,10,25,50,100,200).",
)
@click.option(
    "--capacity",
    type=click.IntRange(1),
    default=None,
    help="Page capacity of the benchmark lists (default: what pagedlist derives).",
)
@click.option(
    "--value-bytes",
    type=click.IntRange(2),
    default=200,
    show_default=True,
    help="Size of each item's value, as JSON text.",
)
@click.option(
    "--latest-n",
    "latest_n",
    type=click.IntRange(1),
    default=50,
    show_default=True,
    help="n of latest(n) and of each page read by before().",
)
@click.option(
    "--feed-lists",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="Lists the feed workload reads and writes.",
)
@click.option(
    "--feed-threads",
    type=click.IntRange(1, MAX_WRITERS),
    default=4,
    show_default=True,
    help=f"Client threads of the feed workload (up to {MAX_WRITERS}).",
)
@click.option(
    "--timeline-lists",
    type=click.IntRange(1),
    default=20,
    show_default=True,
    help="Lists one timeline read (latest_many) merges.",
)
@click.option(
    "--layout",
    type=click.Choice(["1", "2"]),
    default=None,
    help="Layout of the pagedlist lists (default: the store's default, what a user gets).",
)
@click.option(
    "--native/--no-native",
    default=True,
    show_default=True,
    help="Also run the backend's native feed design.",
)
@click.option(
    "--plots/--no-plots", default=True, show_default=True, help="Draw PNG plots (needs matplotlib)."
)
@click.option(
    "--async",
    "async_api",
    is_flag=True,
    help="Also run the workloads through AsyncPagedList (N tasks where the sync run has N "
    "threads) and compare.",
)
@click.option("--name", default=None, help="Backend name in the report (default: URL scheme).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars and no summary table.")
def bench(
    target: str,
    workloads: tuple[str, ...],
    concurrency: str,
    ops: int,
    out_dir: Path,
    sweep: bool,
    capacities: str | None,
    capacity: int | None,
    value_bytes: int,
    latest_n: int,
    feed_lists: int,
    feed_threads: int,
    timeline_lists: int,
    layout: str | None,
    native: bool,
    plots: bool,
    async_api: bool,
    name: str | None,
    quiet: bool,
) -> None:
    """Benchmark pagedlist on TARGET next to the raw round trip and the native feed design.

    TARGET is a store URL (memory://, sqlite:///bench.db, redis://127.0.0.1:6379, ...) or
    the name of a local server to start for the run and stop after (redis, redis-cluster,
    dynamodb, cosmos, oci-nosql, postgres). Writes NAME.json, NAME.md and plots into --out.
    The benchmark writes lists named bench-<run>-*: point it at a scratch table.
    """
    from pagedlist.bench.report import write_outputs
    from pagedlist.bench.workloads import WORKLOADS, BenchConfig
    from pagedlist.errors import PagedListError

    levels = _ints(concurrency)
    if max(levels) > MAX_WRITERS:
        raise click.BadParameter(
            f"{concurrency!r}: at most {MAX_WRITERS} concurrent writers", param_hint="--concurrency"
        )
    caps = _ints(capacities) if capacities else None
    cfg = BenchConfig(
        ops=ops,
        concurrency=levels,
        n=latest_n,
        value_bytes=value_bytes,
        capacity=capacity,
        max_item_bytes=max(1024, value_bytes),
        feed_lists=feed_lists,
        feed_threads=feed_threads,
        timeline_lists=timeline_lists,
        layout=int(layout) if layout else None,
        workloads=tuple(workloads) or WORKLOADS,
    )
    with _target(target) as (url, backend, note, pins):
        try:
            report = run_bench(
                url,
                name=name or backend,
                note=note,
                extra_versions=pins,
                cfg=cfg,
                sweep=sweep,
                capacities=caps,
                native=native,
                show_progress=not quiet,
                async_api=async_api,
            )
        except PagedListError as err:
            raise click.ClickException(f"{type(err).__name__}: {err}") from err
    written = write_outputs(report, out_dir, plots=plots)
    if not quiet:
        print_summary(report)
    for path in written:
        click.echo(f"wrote {path}")
    missed = [t for t in report["targets"] if not t["met"]]
    for t in missed:
        click.echo(
            f"target missed: {t['description']}: {t['value']:.2f} > {t['limit']} "
            f"({t['missed_by']})",
            err=True,
        )
