"""The demo feed behind ``pagedlist demo``: the feed application's seed data, printed.

``build_demo`` seeds the store exactly as ``pagedlist serve --seed`` does (it calls the
application's own :meth:`~pagedlist.app.feed.Feed.seed`), so ``make demo`` prints the very
posts, comments and replies the application then serves from the same file. ``print_tree``
reads them back the way the application shows them: posts newest first, each followed by
its replies oldest first, indented by depth. Seeding is once per store: running the demo
again writes nothing.

Needs the ``app`` extra (``pip install 'pagedlist[app]'``), which holds the seed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pagedlist.app.feed import Feed
from pagedlist.core.astore import InlineAsyncStore
from pagedlist.core.store import Store

__all__ = ["build_demo", "print_tree"]


def build_demo(store: Store) -> bool:
    """Seed the application's demo feed unless it is seeded; return whether it seeded."""

    async def build() -> bool:
        # The application is asyncio; a command-line run needs no threads: each call of
        # the sync store runs inline on the loop.
        return await (await Feed.open(InlineAsyncStore(store))).seed()

    return asyncio.run(build())


def print_tree(store: Store, echo: Callable[[str], None] = print, limit: int = 20) -> None:
    """Print the newest ``limit`` posts, each followed by its thread (``limit`` replies per
    item), indented."""

    async def walk() -> None:
        feed = await Feed.open(InlineAsyncStore(store))

        async def show(item_id: str, depth: int) -> None:
            for entry in (await feed.replies(item_id, -1, limit)).items:
                echo(f"{'    ' * depth}- {entry.author}: {entry.text}  [#{entry.position}]")
                await show(entry.id, depth + 1)

        for post in (await feed.posts(None, limit)).items:
            echo(f"- {post.author}: {post.text}  [#{post.position}]")
            await show(post.id, 1)

    asyncio.run(walk())
