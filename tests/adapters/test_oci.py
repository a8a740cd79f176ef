"""The conformance suite against OCI NoSQL through the real borneo client.

By default it runs against pagedlist's local endpoint (``emulators/oci_server.py``), a
stand-in that speaks borneo's wire protocol. With ``-m oracle`` the same suite runs
against Oracle's own container (``ghcr.io/oracle/nosql:latest-ce``) on localhost:8080,
and is skipped, saying so, when nothing answers there.
"""

from __future__ import annotations

import pytest

from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.emulators.base import port_open

ORACLE_URL = "oci-nosql+http://localhost:8080/pagedlist_conformance?create=true"


class OCILocalFixtures(StoreFixtures):
    @pytest.fixture(scope="class")
    def store_url(self, servers) -> str:
        return servers.get("oci-nosql").url


class TestOCINoSQL(ConformanceSuite, OCILocalFixtures):
    """Every clause on OCINoSQLStore, borneo, and the local endpoint."""


class OracleFixtures(StoreFixtures):
    @pytest.fixture(scope="class")
    def store_url(self, request: pytest.FixtureRequest) -> str:
        if "oracle" not in (request.config.getoption("markexpr") or ""):
            pytest.skip("opt-in: run with -m oracle against Oracle's container on :8080")
        if not port_open(8080, "localhost"):
            pytest.skip(
                "nothing answers on localhost:8080: start Oracle's container with "
                "`docker run -d -p 8080:8080 ghcr.io/oracle/nosql:latest-ce` to run this"
            )
        return ORACLE_URL


@pytest.mark.oracle
class TestOracleContainer(ConformanceSuite, OracleFixtures):
    """Every clause on Oracle's NoSQL container (opt-in: ``pytest -m oracle``)."""
