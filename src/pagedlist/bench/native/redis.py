"""Native designs on Redis: a list (``LPUSH``/``LRANGE``) and a stream (``XADD``/``XREVRANGE``).

Each feed is one Redis key (hash-tagged, so a feed lives on one Cluster slot like a
pagedlist row does); entries are the same JSON envelope pagedlist stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster

from pagedlist.adapters.redis import parse_url
from pagedlist.bench.subjects import Cursor, Entry, NativeSubject
from pagedlist.core.store import Store

__all__ = ["RedisListSubject", "RedisStreamSubject", "subjects"]


def _client(url: str) -> Any:
    """A client with the same target, credentials and timeouts as the pagedlist store."""
    target = parse_url(url)
    common: dict[str, Any] = {
        "username": target.username,
        "password": target.password,
        "socket_timeout": target.timeout,
        "decode_responses": True,
    }
    if target.tls:
        common["ssl"] = True
        common.update(target.ssl_options)
    if target.cluster:
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in target.nodes], **common)
    host, port = target.nodes[0]
    return redis.Redis(host=host, port=port, db=target.db, **common)


def _doc(entry: Entry) -> str:
    return json.dumps(entry.doc(), separators=(",", ":"))


class _RedisSubject(NativeSubject):
    prefix = ""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.r = client

    def key(self, list_id: str) -> str:
        """The feed's key, hash-tagged for Cluster."""
        return f"bench:{self.prefix}:{{{list_id}}}"

    def versions(self) -> dict[str, str]:
        """redis-py and server versions."""
        info: Any = self.r.info("server")
        if isinstance(info, dict) and "redis_version" not in info:
            # RedisCluster answers per node: take any one.
            info = next(iter(info.values()), {})
        return {"redis-py": redis.__version__, "redis-server": str(info.get("redis_version"))}

    def close(self) -> None:
        """Close the client."""
        self.r.close()


class RedisListSubject(_RedisSubject):
    """``LPUSH`` to append; ``LRANGE 0 n-1`` for the newest n; offsets for paging back.

    Offsets shift as entries arrive, so paging with them skips or repeats items under
    writes: the price of the simplest design.
    """

    name = "native:redis-list"
    prefix = "list"

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """One ``LPUSH`` of many values."""
        for start in range(0, len(entries), 500):
            self.r.lpush(self.key(list_id), *[_doc(e) for e in entries[start : start + 500]])

    def append(self, list_id: str, entry: Entry) -> None:
        """``LPUSH``."""
        self.call(lambda: self.r.lpush(self.key(list_id), _doc(entry)))

    def latest(self, list_id: str, n: int) -> int:
        """``LRANGE key 0 n-1``."""
        return len(
            [json.loads(v) for v in self.call(lambda: self.r.lrange(self.key(list_id), 0, n - 1))]
        )

    def latest_many(self, list_ids: Sequence[str], n: int) -> int:
        """``LRANGE key 0 n-1`` for every list in one pipeline (one round trip per node),
        then the newest ``n`` by timestamp."""

        def read() -> list[Any]:
            pipe = self.r.pipeline(transaction=False)
            for list_id in list_ids:
                pipe.lrange(self.key(list_id), 0, n - 1)
            return list(pipe.execute())

        docs = [json.loads(v) for got in self.call(read) for v in got]
        docs.sort(key=lambda d: d["ts"], reverse=True)
        return len(docs[:n])

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """``LRANGE key off off+n-1`` (cursor: offset from the newest)."""
        off = 0 if cursor is None else cursor
        got = self.call(lambda: self.r.lrange(self.key(list_id), off, off + n - 1))
        items = [json.loads(v) for v in got]
        return len(items), (off + n if len(items) == n else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id, oldest first."""
        return [json.loads(v)["id"] for v in reversed(self.r.lrange(self.key(list_id), 0, -1))]


class RedisStreamSubject(_RedisSubject):
    """``XADD key * ...``; ``XREVRANGE key + - COUNT n``; stream ids as cursors."""

    name = "native:redis-stream"
    prefix = "stream"

    def populate(self, list_id: str, entries: Sequence[Entry]) -> None:
        """Pipelined ``XADD``s."""
        pipe = self.r.pipeline(transaction=False)
        for e in entries:
            pipe.xadd(self.key(list_id), {"d": _doc(e)})
        pipe.execute()

    def append(self, list_id: str, entry: Entry) -> None:
        """``XADD``."""
        self.call(lambda: self.r.xadd(self.key(list_id), {"d": _doc(entry)}))

    def latest(self, list_id: str, n: int) -> int:
        """``XREVRANGE key + - COUNT n``."""
        got = self.call(lambda: self.r.xrevrange(self.key(list_id), "+", "-", count=n))
        return len([json.loads(f["d"]) for _, f in got])

    def before(self, list_id: str, cursor: Cursor, n: int) -> tuple[int, Cursor]:
        """``XREVRANGE key (cursor - COUNT n``."""
        top = "+" if cursor is None else f"({cursor}"
        got = self.call(lambda: self.r.xrevrange(self.key(list_id), top, "-", count=n))
        items = [json.loads(f["d"]) for _, f in got]
        return len(items), (got[-1][0] if len(got) == n else None)

    def read_ids(self, list_id: str) -> list[str]:
        """Every id, oldest first."""
        return [json.loads(f["d"])["id"] for _, f in self.r.xrange(self.key(list_id))]


def subjects(url: str, store: Store) -> list[NativeSubject]:
    """The list and the stream designs, each with its own client."""
    return [RedisListSubject(_client(url)), RedisStreamSubject(_client(url))]
