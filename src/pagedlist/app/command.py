"""``pagedlist serve``: run the feed app on a store with uvicorn."""

from __future__ import annotations

import click

from pagedlist.adapters import ENV_VAR

__all__ = ["serve"]

DEFAULT_STORE = "sqlite:///pagedlist-demo.db"


@click.command()
@click.option(
    "--store",
    "store_url",
    envvar=ENV_VAR,
    default=DEFAULT_STORE,
    show_default=True,
    metavar="URL",
    help=f"Store URL (or ${ENV_VAR}); any pagedlist store works.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--seed/--no-seed",
    default=False,
    show_default=True,
    help="Add a few posts, comments and replies (once per store).",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Print one line per request (method, path, status, duration) to stderr.",
)
def serve(store_url: str, host: str, port: int, seed: bool, access_log: bool) -> None:
    """Serve the feed app: posts, comments and replies, with accounts and a JSON API."""
    import asyncio
    import logging

    import uvicorn

    from pagedlist.app import create_app
    from pagedlist.errors import PagedListError

    try:
        # Open the store once before serving, so a bad URL or an unreachable store is
        # reported here rather than by uvicorn's lifespan; the app opens its own.
        described, added = asyncio.run(_prepare(store_url, seed))
    except PagedListError as err:
        raise click.ClickException(str(err)) from err
    if added is not None:
        click.echo("seeded the feed" if added else "feed already seeded")
    app = create_app(store_url)
    if access_log:
        # The app logs each request on "pagedlist.app"; uvicorn's own access log is off,
        # so each request is one line, without its query string.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger = logging.getLogger("pagedlist.app")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    click.echo(f"serving the feed on http://{host}:{port}/ (store: {described})")
    uvicorn.run(app, host=host, port=port, log_level="warning")


async def _prepare(store_url: str, seed: bool) -> tuple[str, bool | None]:
    """Open the store, create the feed, seed it if asked; the store's description and
    whether the seed added anything (``None``: not asked)."""
    from pagedlist import open_async_store
    from pagedlist.app.feed import Feed

    async with await open_async_store(store_url) as store:
        feed = await Feed.open(store)
        added = await feed.seed() if seed else None
        return store.describe(), added
