"""The ``pagedlist`` command.

Every list command takes a store URL (``--store`` or ``$PAGEDLIST_STORE``); ``demo`` defaults
to ``sqlite:///pagedlist-demo.db``. The data commands (``copy``, ``export``, ``import``,
``delete``, ``drop``) take their URLs as arguments, as ``copy SRC_URL DST_URL`` must; their
work is done by :mod:`pagedlist.mobility`, and bad input to them (no such list, a
destination holding another list, a malformed line) exits 2. Commands owned by larger
modules (``serve``, ``bench``) are imported only when invoked, so ``pagedlist --help`` stays
fast and needs no web stack.

Exit status: 0 on success; 1 when the store or the list refused (the message says why and
what to do); 2 for a mistake on the command line (a one-line message, never a traceback).
Messages give command-line advice: the library's own messages name Python arguments
(``max_item_bytes=``), which :func:`cli_message` rewrites into this command's options.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, NoReturn

try:
    import click
except ImportError:  # pragma: no cover - exercised only without the [cli] extra
    # Hidden from type checkers, which would otherwise type ``main`` by this stand-in.
    if not TYPE_CHECKING:

        def main() -> None:
            """Stand-in that names the missing extra."""
            sys.exit("the pagedlist command needs its CLI extra: pip install 'pagedlist[cli]'")

else:
    from click.core import ParameterSource

    from pagedlist.adapters import ENV_VAR, adapter_class
    from pagedlist.adapters import open_store as _open_store
    from pagedlist.core import deadline as _deadline
    from pagedlist.core.pagedlist import Item, PagedList
    from pagedlist.core.store import Store
    from pagedlist.errors import ListNotFound, PagedListError

    DEMO_STORE = "sqlite:///pagedlist-demo.db"
    #: Most items ``latest -n`` prints: the CLI never asks the store for an unbounded read.
    MAX_LATEST = 10_000

    class CommandLineError(click.ClickException):
        """A mistake on the command line: one line on stderr, exit status 2."""

        exit_code = 2

        def __init__(self, message: str, command_path: str) -> None:
            super().__init__(message)
            self.command_path = command_path

        def show(self, file: IO[Any] | None = None) -> None:
            """Print ``Error: ...`` and where the help is, on one line."""
            message = " ".join(self.format_message().split())
            click.echo(f"Error: {message} (see '{self.command_path} --help')", file=file, err=True)

    class _Group(click.Group):
        """The command group: usage errors on one line, and commands that live in other
        modules (imported on use)."""

        lazy: dict[str, str] = {
            "serve": "pagedlist.app.command:serve",
            "bench": "pagedlist.bench.command:bench",
            "doctor": "pagedlist.doctor:doctor",
        }

        def invoke(self, ctx: click.Context) -> Any:
            # Subcommands parse their arguments inside the group's invoke, so every usage
            # error below this group surfaces here; a bare subgroup still shows its help.
            try:
                return super().invoke(ctx)
            except click.exceptions.NoArgsIsHelpError:
                raise
            except click.UsageError as err:
                path = err.ctx.command_path if err.ctx is not None else ctx.command_path
                raise CommandLineError(err.format_message(), path) from err

        def list_commands(self, ctx: click.Context) -> list[str]:
            return sorted([*super().list_commands(ctx), *self.lazy])

        def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
            if name not in self.lazy:
                return super().get_command(ctx, name)
            module, _, attr = self.lazy[name].partition(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ImportError as err:
                extra = {"serve": "app", "bench": "bench"}.get(name, "cli")
                message = f"'pagedlist {name}' needs {err.name!r}: pip install 'pagedlist[{extra}]'"

            @click.command(name, help=f"(unavailable: {message})")
            def unavailable() -> None:
                raise click.ClickException(message)

            return unavailable

    store_option = click.option(
        "--store",
        "store_url",
        envvar=ENV_VAR,
        required=True,
        metavar="URL",
        help=f"Store URL, e.g. sqlite:///feed.db (default: ${ENV_VAR}).",
    )
    deadline_option = click.option(
        "--deadline",
        type=click.FloatRange(min=0, min_open=True, max=3600),
        default=None,
        metavar="SECONDS",
        help="Time each operation may take, retries included (default 10).",
    )

    # The library's advice is written for Python callers; each pattern rewrites one phrase
    # into this command's spelling. tests/test_cli.py checks no Python spelling is left.
    def _smaller_item(match: re.Match[str]) -> str:
        # For a capacity too large for any item ("max_item_bytes <= 0") there is no such
        # alternative: say nothing rather than suggest an impossible value.
        limit = int(match.group(1))
        return f", or --max-item-bytes {limit} or less" if limit >= 1 else ""

    _REWRITES: list[tuple[str, str | Callable[[re.Match[str]], str]]] = [
        (
            r"create it with PagedList\.create\(store, '([^']*)'\)",
            r"create it with 'pagedlist create --store URL \1'",
        ),
        (
            r"open it with PagedList\.open\(\), or create a list with another id",
            "use it with the settings it has (omit --capacity and --max-item-bytes), or "
            "create a list with another LIST_ID",
        ),
        (
            r"use capacity <= (\d+) \(or omit it to derive one\)",
            r"use --capacity \1 or less (or omit --capacity to derive one)",
        ),
        (r", or max_item_bytes <= (-?\d+)", _smaller_item),
        (r"use max_item_bytes <= (\d+)", r"use --max-item-bytes \1 or less"),
        (r"this list's max_item_bytes=(\d+)", r"this list's limit of \1 bytes"),
        (r"with a larger max_item_bytes", "with a larger --max-item-bytes"),
        (r"\bcapacity=(\d+)", r"--capacity \1"),
        (r"\bmax_item_bytes=(\d+)", r"--max-item-bytes \1"),
    ]
    _DEADLINE_ADVICE = re.compile(r"raise the deadline with deadline=\.\.\.")

    def cli_message(err: PagedListError, *, has_deadline: bool = False) -> str:
        """``err``'s message with command-line advice in place of Python advice."""
        message = str(err)
        for pattern, replacement in _REWRITES:
            message = re.sub(pattern, replacement, message)
        return _DEADLINE_ADVICE.sub(
            "raise it with --deadline SECONDS" if has_deadline else "try again later", message
        )

    def _fail(err: PagedListError) -> NoReturn:
        ctx = click.get_current_context(silent=True)
        has_deadline = ctx is not None and any(p.name == "deadline" for p in ctx.command.params)
        raise click.ClickException(cli_message(err, has_deadline=has_deadline)) from err

    @contextmanager
    def _reported() -> Iterator[None]:
        """Turn a pagedlist error into its command-line message (exit status 1)."""
        try:
            yield
        except PagedListError as err:
            _fail(err)

    def open_store(url: str) -> Store:
        """Open a store for a command, checked at once (``check_store``): an unreachable
        server or bad credentials fail in a moment with the fix, not after the first
        operation's retries. The check may take the command's ``--deadline`` (else 5 s);
        a refused connection or an unknown name fails at once either way."""
        ctx = click.get_current_context(silent=True)
        given = ctx.params.get("deadline") if ctx is not None else None
        return _open_store(url, check=float(given) if given else 5.0)

    @contextmanager
    def _bounded(deadline: float | None) -> Iterator[None]:
        """Bound every store call inside to ``deadline`` seconds (none: no bound)."""
        import time

        with _deadline.active(None if deadline is None else time.monotonic() + deadline):
            yield

    def _item_json(item: Item) -> dict[str, Any]:
        return {"position": item.position, "id": item.id, "ts": item.ts, "value": item.value}

    def _settings(plist: PagedList) -> str:
        return f"capacity {plist.capacity} items per page, max item {plist.max_item_bytes} bytes"

    @click.group(cls=_Group)
    @click.version_option(package_name="pagedlist")
    def main() -> None:
        """pagedlist: ever-growing ordered lists on any key-value store.

        Exit status: 0 success, 1 the store or list refused (the message says why),
        2 a mistake on the command line.
        """

    @main.command()
    @store_option
    @click.argument("list_id")
    @click.option(
        "--capacity",
        type=click.IntRange(min=1),
        default=None,
        help="Items per page (default: the most that fits the store's rows).",
    )
    @click.option(
        "--max-item-bytes",
        type=click.IntRange(min=1),
        default=1024,
        show_default=True,
        help="Largest item the list accepts, as JSON text.",
    )
    @deadline_option
    @click.pass_context
    def create(
        ctx: click.Context,
        store_url: str,
        list_id: str,
        capacity: int | None,
        max_item_bytes: int,
        deadline: float | None,
    ) -> None:
        """Create LIST_ID, or report it if it exists with these settings."""
        given = capacity is not None or (
            ctx.get_parameter_source("max_item_bytes") is not ParameterSource.DEFAULT
        )
        with _reported(), open_store(store_url) as store:
            try:
                found: PagedList | None = PagedList.open(store, list_id, deadline=deadline)
            except ListNotFound:
                found = None
            if found is not None and not given:
                click.echo(f"list {list_id!r} exists already: {_settings(found)}")
                return
            # create() is idempotent and checks asked settings against an existing list.
            plist = PagedList.create(
                store,
                list_id,
                capacity=capacity,
                max_item_bytes=max_item_bytes,
                deadline=deadline,
            )
            if found is None:
                click.echo(f"created list {plist.id!r}: {_settings(plist)}")
            else:
                click.echo(f"list {plist.id!r} exists already, as asked: {_settings(plist)}")

    @main.command()
    @store_option
    @click.argument("list_id")
    @click.argument("values", nargs=-1, required=True)
    @click.option("--json", "as_json", is_flag=True, help="Parse each VALUE as JSON.")
    @click.option(
        "--id", "item_id", default=None, help="Item id: appending it again changes nothing."
    )
    @deadline_option
    def append(
        store_url: str,
        list_id: str,
        values: tuple[str, ...],
        as_json: bool,
        item_id: str | None,
        deadline: float | None,
    ) -> None:
        """Append VALUES to LIST_ID and print their positions."""
        try:
            parsed = [json.loads(v) for v in values] if as_json else list(values)
        except ValueError as err:
            raise click.BadParameter(f"not JSON: {err}", param_hint="VALUES") from None
        if item_id is not None and len(parsed) != 1:
            raise click.BadParameter("--id takes exactly one VALUE", param_hint="--id")
        with _reported(), open_store(store_url) as store:
            plist = PagedList.open(store, list_id, deadline=deadline)
            if item_id is not None:
                positions = [plist.append(parsed[0], id=item_id)]
            else:
                positions = plist.extend(parsed)
            click.echo(" ".join(map(str, positions)))

    @main.command()
    @store_option
    @click.argument("list_id")
    @click.option(
        "-n",
        "count",
        type=click.IntRange(0, MAX_LATEST),
        default=10,
        show_default=True,
        help=f"How many items to print (0 to {MAX_LATEST}).",
    )
    @click.option(
        "--before",
        type=click.IntRange(min=0),
        default=None,
        metavar="POSITION",
        help="Cursor: only items older than this position.",
    )
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    @deadline_option
    def latest(
        store_url: str,
        list_id: str,
        count: int,
        before: int | None,
        as_json: bool,
        deadline: float | None,
    ) -> None:
        """Print the newest items of LIST_ID, newest first."""
        with _reported(), open_store(store_url) as store:
            plist = PagedList.open(store, list_id, deadline=deadline)
            items = plist.latest(count) if before is None else plist.before(before, count)
        for item in items:
            if as_json:
                click.echo(json.dumps(_item_json(item), ensure_ascii=False))
            else:
                click.echo(f"{item.position:>8}  {json.dumps(item.value, ensure_ascii=False)}")

    @main.command()
    @store_option
    @click.argument("list_id", required=False)
    @deadline_option
    def info(store_url: str, list_id: str | None, deadline: float | None) -> None:
        """Describe the store (limits, running totals) and, with LIST_ID, one list."""
        with _reported(), open_store(store_url) as store:
            limits = store.limits
            click.echo(f"store:       {store.describe()}")
            click.echo(
                f"limits:      row {limits.row_bytes or 'unbounded'} bytes, key "
                f"{limits.key_bytes} bytes, batch {limits.batch_keys or 'any'} keys"
            )
            if list_id:
                plist = PagedList.open(store, list_id, deadline=deadline)
                click.echo(f"list:        {plist.id}")
                click.echo(f"capacity:    {plist.capacity} items per page")
                click.echo(f"max item:    {plist.max_item_bytes} bytes")
                click.echo(f"items:       {plist.count()}")
                if plist.metadata is not None:
                    click.echo(f"metadata:    {json.dumps(plist.metadata)}")
            for name, value in store.stats().items():
                click.echo(f"{name + ':':<12} {value}")

    @main.command()
    @click.argument("url")
    @deadline_option
    def init(url: str, deadline: float | None) -> None:
        """Create the table/container URL needs, if absent (DynamoDB, Cosmos DB, OCI)."""
        from urllib.parse import urlsplit

        from pagedlist.adapters import ADAPTERS, accepted_forms
        from pagedlist.errors import ConfigError

        with _reported():
            try:
                scheme = urlsplit(url).scheme.lower() if "," not in url else url.split("://")[0]
            except ValueError:
                scheme = ""
            if scheme not in ADAPTERS:
                raise ConfigError(
                    f"unknown store scheme {scheme!r} in {url!r}. Accepted forms:\n"
                    f"{accepted_forms()}"
                )
            with _bounded(deadline):
                click.echo(adapter_class(scheme).provision(url))

    @main.command()
    @click.option(
        "--store",
        "store_url",
        default=DEMO_STORE,
        show_default=True,
        metavar="URL",
        help="Store URL to build the demo feed in (the one 'pagedlist serve' reads).",
    )
    @deadline_option
    def demo(store_url: str, deadline: float | None) -> None:
        """Seed the feed application's demo posts once and print them as a tree."""
        try:
            from pagedlist.demo import build_demo, print_tree
        except ImportError as err:
            raise click.ClickException(
                f"'pagedlist demo' needs {err.name!r}: pip install 'pagedlist[app]'"
            ) from None

        with _reported(), open_store(store_url) as store, _bounded(deadline):
            created = build_demo(store)
            click.echo(f"{'built' if created else 'reused'} the demo feed in {store.describe()}\n")
            print_tree(store, click.echo)

    @main.command()
    @click.argument("url")
    @click.option(
        "--clause", "clauses", multiple=True, metavar="ID", help="Only this clause (repeatable)."
    )
    @click.option(
        "-k", "select", default=None, metavar="EXPR", help="Only tests matching this pytest -k."
    )
    @click.option("-x", "exitfirst", is_flag=True, help="Stop at the first failure.")
    @click.option(
        "--api",
        type=click.Choice(["both", "sync", "async"]),
        default="both",
        show_default=True,
        help="Run the clauses through the sync adapter, the asyncio adapter, or both "
        "(one column each).",
    )
    def conformance(
        url: str, clauses: tuple[str, ...], select: str | None, exitfirst: bool, api: str
    ) -> None:
        """Run the conformance suite against URL and print a clause table.

        Exits 0 when every clause passed, 1 on any failure, 2 when the store could not be
        reached (nothing ran) or the suite's requirements are not installed.
        """
        from pagedlist.conformance import missing_requirement

        why = missing_requirement()
        if why is not None:
            click.echo(f"Error: {why}", err=True)
            sys.exit(2)
        from pagedlist.conformance.runner import run_suite

        sys.exit(
            run_suite(
                url,
                select=select,
                clauses=set(clauses) or None,
                exitfirst=exitfirst,
                api=api,
                echo=click.echo,
            )
        )

    # --- moving data (pagedlist.mobility does the work) ---------------------------------

    class BadInput(click.ClickException):
        """Bad input to a data command (no such list, a conflict, a malformed line): one
        line on stderr, exit status 2."""

        exit_code = 2

        def show(self, file: IO[Any] | None = None) -> None:
            """Print ``Error: ...`` on one line."""
            click.echo(f"Error: {' '.join(self.format_message().split())}", file=file, err=True)

    @contextmanager
    def _moving() -> Iterator[None]:
        """The data commands' errors: the caller's (``UsageError``) exit 2, the store's 1."""
        from pagedlist.errors import UsageError

        try:
            yield
        except UsageError as err:
            raise BadInput(cli_message(err, has_deadline=True)) from err
        except PagedListError as err:
            _fail(err)

    #: Seconds between plain progress lines when stderr is not a terminal.
    PROGRESS_ENV = "PAGEDLIST_PROGRESS_EVERY"

    class _Bars:
        """Progress on stderr: a rich bar on a terminal, else a plain line at most every
        ``$PAGEDLIST_PROGRESS_EVERY`` seconds (default 1: logs, CI, pipes), so a long copy
        always shows where it is."""

        def __init__(self) -> None:
            import os

            from rich.console import Console

            self.console = Console(stderr=True)
            try:
                self.every = float(os.environ.get(PROGRESS_ENV, "1"))
            except ValueError:
                self.every = 1.0
            self.bar: Any = None

        def __enter__(self) -> _Bars:
            if self.console.is_terminal:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                )

                self.bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    console=self.console,
                )
                self.bar.start()
            return self

        def __exit__(self, *exc: object) -> None:
            if self.bar is not None:
                self.bar.stop()

        def task(self, label: str) -> Callable[[int, int], None]:
            """A ``progress(done, total)`` callback labelled ``label``."""
            import time

            if self.bar is not None:
                task_id = self.bar.add_task(label, total=None)

                def update(done: int, total: int) -> None:
                    self.bar.update(task_id, completed=done, total=total)

                return update
            last = [-1.0]

            def line(done: int, total: int) -> None:
                now = time.monotonic()
                if done == total or now - last[0] >= self.every:
                    last[0] = now
                    click.echo(f"{label}: {done}/{total} positions", err=True)

            return line

    @main.command()
    @click.argument("src_url", metavar="SRC_URL")
    @click.argument("dst_url", metavar="DST_URL")
    @click.option(
        "--list", "lists", multiple=True, metavar="ID", help="A list to copy (repeatable)."
    )
    @click.option(
        "--all",
        "copy_all",
        is_flag=True,
        help="Every list in SRC_URL's catalogue. Lists created before the catalogue existed "
        "(pagedlist 0.1) are not in it: name those with --list.",
    )
    @click.option(
        "--id-records",
        type=click.Choice(["auto", "marked", "all"]),
        default="auto",
        show_default=True,
        help="Which items get an id record on a destination without push (DynamoDB, Cosmos "
        "DB, OCI NoSQL, layout 1), so find() and append(id=) know them: auto = those "
        "appended with a caller id, or every item when the source cannot tell (a store with "
        "push); marked = only those the source marks; all = every item.",
    )
    @deadline_option
    def copy(
        src_url: str,
        dst_url: str,
        lists: tuple[str, ...],
        copy_all: bool,
        id_records: str,
        deadline: float | None,
    ) -> None:
        """Copy lists from SRC_URL to DST_URL, then verify both sides item by item.

        Positions, ids, timestamps, edit times, values, tombstones, metadata and settings
        (capacity, max item size, retention, the retained start) are kept; a list written
        by pagedlist 0.1 (layout 1) becomes layout 2 where DST_URL has entry rows. Run it
        again after an interruption: it checks what was copied and writes only the rest,
        never twice. Stop the lists' writers while it runs.

        Exit status: 0 copied and identical; 1 a difference found, or a store failed;
        2 bad input (no such list, DST_URL holds a different list of that id, DST_URL
        cannot hold the list).
        """
        from pagedlist import mobility

        if copy_all == bool(lists):
            raise click.UsageError("name the lists with --list ID, or pass --all (not both)")
        failed = False
        with _moving(), open_store(src_url) as src, open_store(dst_url) as dst:
            names = list(lists) if lists else PagedList.lists(src, deadline=deadline)
            if not names:
                raise BadInput(
                    f"{src.describe()} has no lists in its catalogue: lists created before "
                    "it existed (pagedlist 0.1) must be named with --list ID"
                )
            for name in names:
                with _Bars() as bars:
                    moved = mobility.copy_list(
                        src,
                        dst,
                        name,
                        progress=bars.task(f"copy {name}"),
                        id_records=id_records,  # type: ignore[arg-type]
                        deadline=deadline,
                    )
                    checked = mobility.verify_list(
                        src, dst, name, progress=bars.task(f"verify {name}"), deadline=deadline
                    )
                click.echo(
                    f"copied {name!r}: positions {moved.start}..{moved.end - 1} "
                    f"({moved.written} written, {moved.checked} there already and checked), "
                    f"layout {moved.layout}, capacity {moved.capacity}"
                    + (f", {moved.records} id records" if moved.records else "")
                )
                if checked.ok:
                    click.echo(
                        f"verified {name!r} item by item: {checked.items} items and "
                        f"{checked.tombstones} tombstones identical on both sides"
                    )
                    continue
                failed = True
                click.echo(
                    f"MISMATCH in {name!r}: {checked.problem_count} difference(s) between "
                    f"{src.describe()} and {dst.describe()}:",
                    err=True,
                )
                for text in checked.problems:
                    click.echo(f"  {text}", err=True)
        if failed:
            sys.exit(1)

    def _utf8_lines(stream: IO[bytes]) -> Iterator[str]:
        from pagedlist.errors import InvalidArgument

        for lineno, raw in enumerate(stream, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InvalidArgument(f"line {lineno}: not UTF-8 text ({err.reason})") from None

    @main.command("export")
    @click.argument("url")
    @click.argument("list_id", metavar="LIST")
    @deadline_option
    def export_(url: str, list_id: str, deadline: float | None) -> None:
        """Write LIST to stdout as JSON lines: a header with its settings, then one object
        per position (position, id, ts, edited, value or deleted: true)."""
        import io

        from pagedlist import mobility

        out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
        try:
            with _moving(), open_store(url) as store, _Bars() as bars:
                mobility.export_list(
                    store,
                    list_id,
                    out,
                    progress=bars.task(f"export {list_id}"),
                    deadline=deadline,
                )
        finally:
            out.flush()
            out.detach()

    @main.command("import")
    @click.argument("url")
    @click.argument("list_id", metavar="LIST")
    @click.option(
        "--id-records",
        type=click.Choice(["auto", "marked", "all"]),
        default="auto",
        show_default=True,
        help="As for 'pagedlist copy'.",
    )
    @deadline_option
    def import_(url: str, list_id: str, id_records: str, deadline: float | None) -> None:
        """Read a 'pagedlist export' file on stdin into LIST, with its positions, ids,
        timestamps and tombstones. Run it again after an interruption: it checks what is
        there against the file and writes only the rest."""
        from pagedlist import mobility

        with _moving(), open_store(url) as store, _Bars() as bars:
            moved = mobility.import_list(
                store,
                list_id,
                _utf8_lines(sys.stdin.buffer),
                progress=bars.task(f"import {list_id}"),
                id_records=id_records,  # type: ignore[arg-type]
                deadline=deadline,
            )
        click.echo(
            f"imported {list_id!r}: positions {moved.start}..{moved.end - 1} ({moved.written} "
            f"written, {moved.checked} there already and checked), layout {moved.layout}"
        )

    @main.command()
    @click.argument("url")
    @click.argument("list_id", metavar="LIST")
    @click.argument("position", type=click.IntRange(min=0))
    @deadline_option
    def delete(url: str, list_id: str, position: int, deadline: float | None) -> None:
        """Delete the item at POSITION of LIST: it becomes a tombstone (its value is gone,
        every other position stays)."""
        with _moving(), open_store(url) as store:
            plist = PagedList.open(store, list_id, deadline=deadline)
            if plist.delete(position):
                click.echo(f"deleted position {position} of {list_id!r}")
            else:
                click.echo(f"position {position} of {list_id!r} was deleted already")

    #: ``drop`` removes every row of a list in one operation: its default deadline is long.
    DROP_DEADLINE = 600.0

    @main.command()
    @click.argument("url")
    @click.argument("list_id", metavar="LIST")
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    @click.option(
        "--deadline",
        type=click.FloatRange(min=0, min_open=True, max=3600),
        default=DROP_DEADLINE,
        show_default=True,
        metavar="SECONDS",
        help="Time the drop may take, retries included (it removes every row of the list).",
    )
    def drop(url: str, list_id: str, yes: bool, deadline: float) -> None:
        """Remove LIST and every row of it from URL (asks first, unless --yes). Rows that an
        interrupted copy or import left without a list are removed too."""
        with _moving(), open_store(url) as store:
            try:
                plist = PagedList.open(store, list_id, deadline=deadline)
            except ListNotFound:
                from pagedlist.mobility import drop_leftovers

                # A killed copy or import writes no summary: its rows are found this way.
                removed = drop_leftovers(store, list_id, deadline=deadline)
                if removed:
                    click.echo(
                        f"no list {list_id!r}: removed the {removed} entries an unfinished "
                        "copy or import had left"
                    )
                    return
                raise BadInput(
                    f"list {list_id!r} does not exist in {store.describe()}: nothing to drop "
                    "(check the list id and the URL)"
                ) from None
            if not yes:
                click.confirm(
                    f"Drop list {list_id!r} ({plist.count()} positions) from "
                    f"{store.describe()}? Every row of it is removed",
                    abort=True,
                )
            PagedList.drop(store, list_id, deadline=deadline)
            click.echo(f"dropped list {list_id!r}")

    def _backend_names() -> list[str]:
        from pagedlist.emulators import EMULATORS

        return sorted(EMULATORS)

    owner_option = click.option(
        "--owner",
        default=None,
        metavar="TOKEN",
        help="Whose servers these are (default: $PAGEDLIST_EMULATOR_OWNER, else this "
        "terminal session).",
    )

    @main.group()
    def emulator() -> None:
        """Start, stop and list local servers (no Docker needed).

        A server belongs to whoever started it: 'start' hands out another owner's server
        only with --reuse, and 'stop' never stops another owner's server.
        """

    @emulator.command("start")
    @click.argument("backend", type=click.Choice(_backend_names()), metavar="BACKEND")
    @owner_option
    @click.option(
        "--reuse",
        is_flag=True,
        help="Use a server of BACKEND that someone else started, if one runs (it stays "
        "theirs: they may stop it).",
    )
    def emulator_start(backend: str, owner: str | None, reuse: bool) -> None:
        """Start BACKEND in the background; the last line printed is its store URL."""
        from pagedlist.emulators import EmulatorError, get_emulator
        from pagedlist.emulators.base import default_owner, find, remember

        owner = owner or default_owner()
        mine = find(backend, owner)
        if mine is not None:
            click.echo(f"{backend} already runs for {owner} (logs in {mine['log_dir']})")
            click.echo(mine["url"])
            return
        theirs = find(backend) if reuse else None
        if theirs is not None:
            click.echo(
                f"reusing {backend} started by {theirs['owner']} (it stays theirs; "
                f"logs in {theirs['log_dir']})"
            )
            click.echo(theirs["url"])
            return
        try:
            server = get_emulator(backend).start()
        except EmulatorError as err:
            raise click.ClickException(str(err)) from err
        kept = remember(server, owner)
        if kept["pids"] != server.pids:  # a concurrent start of ours won the record
            server.stop()
            click.echo(f"{backend} already runs for {owner} (logs in {kept['log_dir']})")
            click.echo(kept["url"])
            return
        click.echo(f"{backend} started for {owner}, pids {server.pids}, logs in {server.log_dir}")
        click.echo(server.url)

    @emulator.command("stop")
    @click.argument("backend", type=click.Choice(_backend_names()), metavar="BACKEND")
    @owner_option
    def emulator_stop(backend: str, owner: str | None) -> None:
        """Stop BACKEND if you started it with 'pagedlist emulator start'."""
        from pagedlist.emulators.base import default_owner, find, forget

        owner = owner or default_owner()
        if forget(backend, owner) is not None:
            click.echo(f"{backend} stopped")
            return
        theirs = find(backend)
        if theirs is None:
            click.echo(f"{backend} was not running")
            return
        raise click.ClickException(
            f"{backend} runs for {theirs['owner']}, not for {owner}: left running (its "
            f"owner stops it, or pass --owner {theirs['owner']})"
        )

    @emulator.command("list")
    @owner_option
    def emulator_list(owner: str | None) -> None:
        """Show local servers started in the background, and every known backend."""
        from pagedlist.emulators.base import default_owner, load_state

        owner = owner or default_owner()
        state = load_state()
        for name in _backend_names():
            records = [r for r in state if r["name"] == name]
            if not records:
                click.echo(f"{name:<14} stopped")
            for r in records:
                whose = "yours" if r["owner"] == owner else f"owner {r['owner']}"
                click.echo(f"{name:<14} running  {r['url']}  ({whose})")

    @emulator.command("install")
    @click.argument(
        "backends", nargs=-1, type=click.Choice(_backend_names()), metavar="BACKENDS..."
    )
    @click.option("--all", "install_all", is_flag=True, help="Install every known backend.")
    def emulator_install(backends: tuple[str, ...], install_all: bool) -> None:
        """Fetch what BACKENDS need (downloads into the cache directory)."""
        from pagedlist.emulators import EmulatorError, get_emulator

        names = _backend_names() if install_all else list(backends)
        if not names:
            raise click.UsageError("name BACKENDS or pass --all")
        for name in names:
            emu = get_emulator(name)
            why = emu.available()
            if why:
                raise click.ClickException(f"{name}: {why}")
            try:
                emu.install()
            except EmulatorError as err:
                raise click.ClickException(str(err)) from err
            click.echo(f"{name}: ready")

    __all__ = ["BadInput", "CommandLineError", "cli_message", "main"]


if __name__ == "__main__":  # pragma: no cover
    main()
