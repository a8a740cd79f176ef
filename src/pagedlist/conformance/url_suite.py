"""The whole suite against the store named by ``--pagedlist-store URL``.

Run with ``pytest --pagedlist-store URL --pyargs pagedlist.conformance.url_suite`` or
``pagedlist conformance URL``.
"""

from __future__ import annotations

import pytest

from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.conformance.blocking import AsyncAdapterFixtures


class UrlFixtures(StoreFixtures):
    """``store_url`` from the command line."""

    @pytest.fixture
    def store_url(self, request: pytest.FixtureRequest) -> str:
        url = request.config.getoption("--pagedlist-store")
        if not url:
            pytest.fail("pass --pagedlist-store URL to name the store under test", pytrace=False)
        return url


class TestConformance(ConformanceSuite, UrlFixtures):
    """Every clause, against the store given on the command line."""


class TestConformanceAsync(ConformanceSuite, AsyncAdapterFixtures, UrlFixtures):
    """Every clause again, every client being the scheme's asyncio adapter (behind a
    blocking bridge); the asyncio clauses (Y) run once, in ``TestConformance``."""
