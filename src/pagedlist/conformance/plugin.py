"""The pytest plugin (registered as ``pytest11``): the ``--pagedlist-store`` option and the
suite's markers.

``pytest --pagedlist-store URL --pyargs pagedlist.conformance.url_suite`` runs the whole
suite against ``URL``.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--pagedlist-store URL``."""
    group = parser.getgroup("pagedlist")
    group.addoption(
        "--pagedlist-store",
        action="store",
        default=None,
        metavar="URL",
        help="store URL the pagedlist conformance suite runs against (url_suite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the suite's markers so ``--strict-markers`` accepts them."""
    config.addinivalue_line("markers", "pagedlist_clause(id): the contract clause a test checks")
    # pytest-timeout's marker, declared here too so the stress clauses' own time limit is
    # accepted by --strict-markers where that plugin is not installed (it is then inert).
    config.addinivalue_line("markers", "timeout(seconds): a test's time limit (pytest-timeout)")
    config.addinivalue_line(
        "markers", "pagedlist_requires(*names): capabilities a conformance test needs"
    )
