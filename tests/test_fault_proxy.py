"""The fault proxy behind clause W1 (``conformance/proxy.py``), against a real redis-server.

It must pass traffic untouched, and lose exactly the answers it is armed for *after* the
server carried the request out: the case in which a client library's own retry writes
twice. A plain redis-py client shows both sides of that.
"""

from __future__ import annotations

import uuid

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pagedlist.conformance.proxy import FaultProxies, FaultProxy


@pytest.fixture
def upstream(servers) -> tuple[str, int]:
    running = servers.get("redis")
    return "127.0.0.1", running.ports[0]


def _client(host: str, port: int, retries: int) -> redis.Redis:
    return redis.Redis(
        host=host,
        port=port,
        retry=Retry(NoBackoff(), retries, (redis.exceptions.ConnectionError,)),
        socket_timeout=5,
    )


def test_traffic_passes_untouched(upstream):
    with FaultProxy(*upstream) as proxy:
        client = _client(*proxy.address, retries=0)
        key = f"proxy-{uuid.uuid4().hex}"
        big = b"v" * 300_000  # several reads and writes of the sockets
        assert client.set(key, big)
        assert client.get(key) == big
        assert [client.incr(key + "n") for _ in range(5)] == [1, 2, 3, 4, 5]
        assert proxy.lost == 0 and proxy.connections == 1
        client.close()


def test_a_lost_answer_is_a_reset_after_the_write_ran(upstream):
    direct = _client(*upstream, retries=0)
    key = f"proxy-{uuid.uuid4().hex}"
    with FaultProxy(*upstream) as proxy:
        client = _client(*proxy.address, retries=0)
        client.ping()
        proxy.lose_answers(1)
        with pytest.raises(redis.exceptions.ConnectionError):
            client.incr(key)
        assert proxy.lost == 1
        assert direct.get(key) == b"1", "the server did not run the command before the cut"
        assert client.incr(key) == 2, "only the armed exchange is cut; the client reconnects"
        client.close()
    direct.close()


def test_a_client_that_retries_writes_twice_through_it(upstream):
    """What clause W1 catches: redis-py configured to retry once on a connection error
    (pagedlist's Redis adapter did so) re-sends the INCR after the cut."""
    direct = _client(*upstream, retries=0)
    key = f"proxy-{uuid.uuid4().hex}"
    with FaultProxies() as proxies:
        client = _client(*proxies.route(*upstream), retries=1)
        client.ping()
        proxies.lose_answers(1)
        assert client.incr(key) == 2  # no error: the retry's answer came back
        assert proxies.lost == 1
        client.close()
    assert direct.get(key) == b"2"
    direct.close()
