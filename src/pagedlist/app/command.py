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
    import logging

    import uvicorn

    from pagedlist.app import create_app
    from pagedlist.errors import PagedListError

    try:
        app = create_app(store_url)
        if seed:
            added = app.state.feed.seed()
            click.echo("seeded the feed" if added else "feed already seeded")
    except PagedListError as err:
        raise click.ClickException(str(err)) from err
    if access_log:
        # The app logs each request on "pagedlist.app"; uvicorn's own access log is off,
        # so each request is one line, without its query string.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger = logging.getLogger("pagedlist.app")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    click.echo(
        f"serving the feed on http://{host}:{port}/ (store: {app.state.feed.store.describe()})"
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")
