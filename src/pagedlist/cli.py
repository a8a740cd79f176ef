"""The ``pagedlist`` command.

Every command takes a store URL (``--store`` or ``$PAGEDLIST_STORE``); ``demo`` defaults to
``sqlite:///pagedlist-demo.db``. Commands owned by larger modules (``serve``, ``bench``) are
imported only when invoked, so ``pagedlist --help`` stays fast and needs no web stack.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

try:
    import click
except ImportError:  # pragma: no cover - exercised only without the [cli] extra

    def main() -> None:
        """Stand-in that names the missing extra."""
        sys.exit("the pagedlist command needs its CLI extra: pip install 'pagedlist[cli]'")

else:
    from pagedlist.adapters import ENV_VAR, adapter_class, open_store
    from pagedlist.core.pagedlist import Item, PagedList
    from pagedlist.errors import PagedListError

    DEMO_STORE = "sqlite:///pagedlist-demo.db"

    class _LazyGroup(click.Group):
        """A group whose listed commands live in other modules, imported on use."""

        lazy: dict[str, str] = {
            "serve": "pagedlist.app.command:serve",
            "bench": "pagedlist.bench.command:bench",
        }

        def list_commands(self, ctx: click.Context) -> list[str]:
            return sorted([*super().list_commands(ctx), *self.lazy])

        def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
            if name not in self.lazy:
                return super().get_command(ctx, name)
            module, _, attr = self.lazy[name].partition(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except ImportError as err:
                extra = "app" if name == "serve" else "bench"
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

    def _fail(err: Exception) -> None:
        raise click.ClickException(str(err)) from err

    def _item_json(item: Item) -> dict[str, Any]:
        return {"position": item.position, "id": item.id, "ts": item.ts, "value": item.value}

    @click.group(cls=_LazyGroup)
    @click.version_option(package_name="pagedlist")
    def main() -> None:
        """pagedlist: ever-growing ordered lists on any key-value store."""

    @main.command()
    @store_option
    @click.argument("list_id")
    @click.option("--capacity", type=int, default=None, help="Items per page (default: derived).")
    @click.option("--max-item-bytes", type=int, default=1024, show_default=True)
    def create(store_url: str, list_id: str, capacity: int | None, max_item_bytes: int) -> None:
        """Create LIST_ID (idempotent)."""
        try:
            with open_store(store_url) as store:
                plist = PagedList.create(
                    store, list_id, capacity=capacity, max_item_bytes=max_item_bytes
                )
                click.echo(f"list {plist.id!r}: capacity {plist.capacity}")
        except PagedListError as err:
            _fail(err)

    @main.command()
    @store_option
    @click.argument("list_id")
    @click.argument("values", nargs=-1, required=True)
    @click.option("--json", "as_json", is_flag=True, help="Parse each VALUE as JSON.")
    @click.option("--id", "item_id", default=None, help="Item id (idempotent append).")
    def append(
        store_url: str, list_id: str, values: tuple[str, ...], as_json: bool, item_id: str | None
    ) -> None:
        """Append VALUES to LIST_ID and print their positions."""
        try:
            parsed = [json.loads(v) for v in values] if as_json else list(values)
        except ValueError as err:
            raise click.BadParameter(f"not JSON: {err}") from None
        if item_id is not None and len(parsed) != 1:
            raise click.BadParameter("--id takes exactly one VALUE")
        try:
            with open_store(store_url) as store:
                plist = PagedList.open(store, list_id)
                if item_id is not None:
                    positions = [plist.append(parsed[0], id=item_id)]
                else:
                    positions = plist.extend(parsed)
                click.echo(" ".join(map(str, positions)))
        except PagedListError as err:
            _fail(err)

    @main.command()
    @store_option
    @click.argument("list_id")
    @click.option("-n", "count", type=int, default=10, show_default=True)
    @click.option("--before", type=int, default=None, help="Cursor: only items older than this.")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
    def latest(store_url: str, list_id: str, count: int, before: int | None, as_json: bool) -> None:
        """Print the newest items of LIST_ID, newest first."""
        try:
            with open_store(store_url) as store:
                plist = PagedList.open(store, list_id)
                items = plist.latest(count) if before is None else plist.before(before, count)
        except PagedListError as err:
            _fail(err)
        for item in items:
            if as_json:
                click.echo(json.dumps(_item_json(item), ensure_ascii=False))
            else:
                click.echo(f"{item.position:>8}  {json.dumps(item.value, ensure_ascii=False)}")

    @main.command()
    @store_option
    @click.argument("list_id", required=False)
    def info(store_url: str, list_id: str | None) -> None:
        """Describe the store (limits, running totals) and, with LIST_ID, one list."""
        try:
            with open_store(store_url) as store:
                limits = store.limits
                click.echo(f"store:       {store.describe()}")
                click.echo(
                    f"limits:      row {limits.row_bytes or 'unbounded'} bytes, key "
                    f"{limits.key_bytes} bytes, batch {limits.batch_keys or 'any'} keys"
                )
                if list_id:
                    plist = PagedList.open(store, list_id)
                    click.echo(f"list:        {plist.id}")
                    click.echo(f"capacity:    {plist.capacity} items per page")
                    click.echo(f"max item:    {plist.max_item_bytes} bytes")
                    click.echo(f"items:       {plist.count()}")
                    if plist.metadata is not None:
                        click.echo(f"metadata:    {json.dumps(plist.metadata)}")
                for name, value in store.stats().items():
                    click.echo(f"{name + ':':<12} {value}")
        except PagedListError as err:
            _fail(err)

    @main.command()
    @click.argument("url")
    def init(url: str) -> None:
        """Create the table/container URL needs, if absent (DynamoDB, Cosmos DB, OCI)."""
        from urllib.parse import urlsplit

        from pagedlist.adapters import ADAPTERS

        scheme = urlsplit(url).scheme.lower() if "," not in url else url.split("://")[0]
        if scheme not in ADAPTERS:
            _fail(PagedListError(f"unknown store scheme {scheme!r}"))
        try:
            click.echo(adapter_class(scheme).provision(url))
        except PagedListError as err:
            _fail(err)

    @main.command()
    @click.option("--store", "store_url", default=DEMO_STORE, show_default=True, metavar="URL")
    def demo(store_url: str) -> None:
        """Build a small feed (posts, comments, replies) once and print it as a tree."""
        from pagedlist.demo import build_demo, print_tree

        try:
            with open_store(store_url) as store:
                created = build_demo(store)
                click.echo(
                    f"{'built' if created else 'reused'} the demo feed in {store.describe()}\n"
                )
                print_tree(store, click.echo)
        except PagedListError as err:
            _fail(err)

    @main.command()
    @click.argument("url")
    @click.option("--clause", "clauses", multiple=True, help="Only this clause id (repeatable).")
    @click.option("-k", "select", default=None, help="Only tests matching this pytest -k.")
    @click.option("-x", "exitfirst", is_flag=True, help="Stop at the first failure.")
    def conformance(
        url: str, clauses: tuple[str, ...], select: str | None, exitfirst: bool
    ) -> None:
        """Run the conformance suite against URL and print a clause table.

        Exits 0 when every clause passed, 1 on any failure, 2 when the store could not be
        reached (nothing ran).
        """
        from pagedlist.conformance.runner import run_suite

        sys.exit(
            run_suite(
                url, select=select, clauses=set(clauses) or None, exitfirst=exitfirst,
                echo=click.echo,
            )
        )

    @main.group()
    def emulator() -> None:
        """Start, stop and list local servers (no Docker needed)."""

    @emulator.command("start")
    @click.argument("backend")
    def emulator_start(backend: str) -> None:
        """Start BACKEND in the background; the last line printed is its store URL."""
        from pagedlist.emulators import EmulatorError, get_emulator
        from pagedlist.emulators.base import load_state, remember

        running = load_state().get(backend)
        if running:
            click.echo(f"{backend} already runs (logs in {running['log_dir']})")
            click.echo(running["url"])
            return
        try:
            server = get_emulator(backend).start()
        except EmulatorError as err:
            _fail(err)
        remember(server)
        click.echo(f"{backend} started, pids {server.pids}, logs in {server.log_dir}")
        click.echo(server.url)

    @emulator.command("stop")
    @click.argument("backend")
    def emulator_stop(backend: str) -> None:
        """Stop BACKEND started by 'pagedlist emulator start'."""
        from pagedlist.emulators.base import forget

        record = forget(backend)
        click.echo(f"{backend} stopped" if record else f"{backend} was not running")

    @emulator.command("list")
    def emulator_list() -> None:
        """Show local servers started in the background, and every known backend."""
        from pagedlist.emulators import EMULATORS
        from pagedlist.emulators.base import load_state

        state = load_state()
        for name in sorted(EMULATORS):
            record = state.get(name)
            click.echo(f"{name:<14} {'running  ' + record['url'] if record else 'stopped'}")

    @emulator.command("install")
    @click.argument("backends", nargs=-1)
    @click.option("--all", "install_all", is_flag=True, help="Install every known backend.")
    def emulator_install(backends: tuple[str, ...], install_all: bool) -> None:
        """Fetch what BACKENDS need (downloads into the cache directory)."""
        from pagedlist.emulators import EMULATORS, EmulatorError, get_emulator

        names = sorted(EMULATORS) if install_all else list(backends)
        if not names:
            raise click.UsageError("name BACKENDS or pass --all")
        for name in names:
            emu = get_emulator(name)
            why = emu.available()
            if why:
                _fail(EmulatorError(f"{name}: {why}"))
            try:
                emu.install()
            except EmulatorError as err:
                _fail(err)
            click.echo(f"{name}: ready")


if __name__ == "__main__":  # pragma: no cover
    main()
