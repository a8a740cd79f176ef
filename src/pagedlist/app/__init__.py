"""The feed application: posts, comments and replies to any depth, profiles, follows and
home timelines.

``create_app(store_url)`` returns the ASGI app; ``pagedlist serve`` runs it with uvicorn.
Needs the ``app`` extra: ``pip install 'pagedlist[app]'``. See ``docs/app.md``.
"""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor


class _ItemIdConvertor(Convertor[str]):
    """Path segments that are item ids: anything else never matches a route (404)."""

    regex = "[0-9a-f]{32}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class _UsernameConvertor(Convertor[str]):
    """Path segments that are usernames: anything else never matches a route (404)."""

    regex = "[a-z0-9_]{3,24}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("item_id", _ItemIdConvertor())
register_url_convertor("username", _UsernameConvertor())

from pagedlist.app.server import AppConfig, create_app  # noqa: E402

__all__ = ["AppConfig", "create_app"]
