"""The conformance suite against OCI NoSQL through the real borneo client.

By default it runs against pagedlist's local endpoint (``emulators/oci_server.py``), a
stand-in that speaks borneo's wire protocol. With ``-m oracle`` the same suite runs
against Oracle's own container (``ghcr.io/oracle/nosql:latest-ce``): the one answering on
localhost:8080, or, where Docker is available, one started with testcontainers. Without
either it is skipped, saying so.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pagedlist.adapters import open_store
from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.emulators.base import port_open

ORACLE_IMAGE = "ghcr.io/oracle/nosql:latest-ce"
ORACLE_TABLE = "pagedlist_conformance"


class OCILocalFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return servers.get("oci-nosql").url


class TestOCINoSQL(ConformanceSuite, OCILocalFixtures):
    """Every clause on OCINoSQLStore, borneo, and the local endpoint."""


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


def _wait_for_proxy(url: str, timeout: float) -> None:
    """Oracle's container accepts connections before KVLite is up: wait for a real answer."""
    end = time.monotonic() + timeout
    while True:
        try:
            open_store(url).close()
            return
        except Exception:
            if time.monotonic() > end:
                raise
            time.sleep(2)


@pytest.fixture(scope="session")
def oracle_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Oracle's container: the one on localhost:8080, else one started with testcontainers
    (where Docker exists), else skip saying how."""
    if "oracle" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("opt-in: run with -m oracle against Oracle's container on :8080")
    if port_open(8080, "localhost"):
        url = f"oci-nosql+http://localhost:8080/{ORACLE_TABLE}?create=true"
        _wait_for_proxy(url, 120)
        yield url
        return
    if not _docker_available():
        pytest.skip(
            "nothing answers on localhost:8080 and Docker is unavailable: start "
            f"`docker run -d -p 8080:8080 {ORACLE_IMAGE}` to run these"
        )
    from testcontainers.core.container import DockerContainer

    with DockerContainer(ORACLE_IMAGE).with_exposed_ports(8080) as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(8080)
        url = f"oci-nosql+http://{host}:{port}/{ORACLE_TABLE}?create=true"
        _wait_for_proxy(url, 180)
        yield url


class OracleFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, oracle_url: str) -> str:
        return oracle_url


@pytest.mark.oracle
class TestOracleContainer(ConformanceSuite, OracleFixtures):
    """Every clause on Oracle's NoSQL container (opt-in: ``pytest -m oracle``)."""


# --- keys too long to exist ------------------------------------------------------------


def test_far_position_on_the_longest_list_id_is_absent(servers):
    """The page key of get(10**30) on a list whose id is as long as allowed is over OCI's
    64-byte key limit: no row can have it, so the read says "absent" (it used to raise
    InvalidListId, "use a shorter list id", for an id the store had just accepted)."""
    import uuid

    from pagedlist import PagedList
    from pagedlist.adapters.oci import KEY_BYTES
    from pagedlist.core.values import list_id_max_len
    from pagedlist.errors import InvalidListId

    with open_store(servers.get("oci-nosql").url) as store:
        list_id = f"far-{uuid.uuid4().hex}".ljust(list_id_max_len(KEY_BYTES), "x")
        plist = PagedList.create(store, list_id, capacity=4)
        plist.append("a")
        assert plist.get(10**30) is None
        assert plist.after(10**30, 3) == []
        assert [item.value for item in plist.iter()] == ["a"]
        # Store level: reads answer "absent", writes refuse the key with the fix to make.
        long_key = "k" * (KEY_BYTES + 1)
        short_key = f"{list_id}|0"
        assert store.get(long_key) is None
        assert list(store.get_many([long_key, short_key])) == [short_key]
        store.delete(long_key)
        with pytest.raises(InvalidListId, match="shorter list id"):
            store.put_if_absent(long_key, {"x": 1})
        with pytest.raises(InvalidListId, match="shorter list id"):
            store.increment(long_key, "n")


def test_urllib3_under_borneo_retries_only_failed_connects(servers):
    """borneo mounts HTTPAdapter(max_retries=5), whose "other error" retries (e.g. a TLS
    failure while the answer is read) re-send a POST; the adapter replaces it. A reset
    over plain HTTP is a read error, which urllib3 never retries for a POST, so clause W1
    cannot show this one on the local endpoint: this checks the setting itself."""
    with open_store(servers.get("oci-nosql").url) as store:
        adapters = list(store._handle._client._sess.adapters.values())
        assert adapters
        for adapter in adapters:
            retry = adapter.max_retries
            assert (retry.total, retry.read, retry.other, retry.connect) == (None, False, 0, 2)
