"""The ``pagedlist`` logger: what it logs at which level, and that no secret ever reaches
any log (pagedlist's or an SDK's) even at DEBUG.

The secrets are planted where a careless log line would pick them up: a Redis password
in the store URL (and a wrong one in another URL), an item id that looks like a token, an
item value, and a Cosmos account key in ``$PAGEDLIST_COSMOS_KEY`` for an open that fails.
The workload runs against a real password-protected redis-server with injected faults, so
the retry, gave-up and page-roll paths all log."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from pagedlist import PagedList, open_store
from pagedlist.conformance.faults import FaultyStore
from pagedlist.emulators.redis import RedisEmulator, RedisRunning
from pagedlist.errors import ConfigError, PagedListError

PASSWORD = "PLANTED-redis-pw-7f3a"
WRONG_PASSWORD = "PLANTED-wrong-pw-91c2"
TOKEN = "PLANTEDtoken-ghp_9d8c7b6a5f4e3d2c1b0a"
VALUE = "PLANTED-item-value-5e4d"
# Shaped like a Cosmos account key (base64 of 64 bytes); not the emulator's public one.
COSMOS_KEY = "UExBTlRFRC1jb3Ntb3Mta2V5LWZvci10aGUtbG9nLXRlc3QtMDEyMzQ1Njc4OWFiY2RlZg=="
SECRETS = (PASSWORD, WRONG_PASSWORD, TOKEN, VALUE, COSMOS_KEY)


@pytest.fixture(scope="module")
def protected() -> Iterator[RedisRunning]:
    with RedisEmulator(password=PASSWORD).start() as running:
        yield running


@pytest.fixture
def every_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every logger of the process (SDKs included) captured at DEBUG."""
    caplog.set_level(logging.DEBUG)  # the root logger: everything propagates here
    caplog.set_level(logging.DEBUG, logger="pagedlist")
    return caplog


def _text(caplog: pytest.LogCaptureFixture) -> str:
    """All captured output: formatted messages, raw arguments and tracebacks."""
    handler = caplog.handler
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info:
            parts.append(handler.format(record))
    return "\n".join(parts)


def _records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pagedlist" and r.levelno == level]


def test_no_secret_reaches_any_log_at_debug(
    protected: RedisRunning, every_log: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = protected.url
    assert PASSWORD in url
    faulty = FaultyStore(open_store(url), seed=3, unavailable=0.25, lost=0.1)
    try:
        # Layout 1 with 5 items a page: page rolls; injected faults: retries.
        feed = PagedList.create(faulty, "feed", layout=1, capacity=5, deadline=30)
        for i in range(12):
            feed.append({"note": VALUE, "i": i}, id=f"{TOKEN}-{i}")
        assert [item.value["i"] for item in feed.latest(3)] == [11, 10, 9]
        # Out of time: a deadline too short for the faults gives up.
        faulty.unavailable, faulty.lost = 1.0, 0.0
        with pytest.raises(PagedListError):
            PagedList(faulty, "feed", deadline=0.05).append({"note": VALUE}, id=TOKEN)
    finally:
        faulty.close()
    assert faulty.injected["unavailable"] > 0

    wrong = url.replace(PASSWORD, WRONG_PASSWORD)
    with open_store(wrong) as store, pytest.raises(ConfigError):
        store.get("feed|0")

    monkeypatch.setenv("PAGEDLIST_COSMOS_KEY", COSMOS_KEY)
    with pytest.raises(PagedListError):
        open_store("cosmos://127.0.0.1:1/db/c?timeout=0.5")

    text = _text(every_log)
    assert len(every_log.records) > 20  # the test saw real logging, not an empty capture
    for secret in SECRETS:
        assert secret not in text, f"{secret!r} leaked into the logs"

    # What the pagedlist logger said, at which level.
    retries = _records(every_log, logging.INFO)
    assert retries, "no retry was logged at INFO"
    assert all("attempt" in r.getMessage() and "retrying in" in r.getMessage() for r in retries)
    assert any("StoreUnavailable" in r.getMessage() for r in retries)
    gave_up = _records(every_log, logging.WARNING)
    assert any("gave up" in r.getMessage() or "deadline" in r.getMessage() for r in gave_up)
    rolls = [r for r in _records(every_log, logging.DEBUG) if "is full" in r.getMessage()]
    assert len(rolls) >= 2  # 12 items on pages of 5: two rolls
    assert all("feed" in r.getMessage() for r in retries + rolls)


def test_nothing_is_logged_above_debug_by_a_clean_run(
    every_log: pytest.LogCaptureFixture,
) -> None:
    feed = PagedList.create(open_store("memory://"), "quiet")
    for i in range(10):
        feed.append(i)
    feed.latest(5)
    assert [r for r in every_log.records if r.name.startswith("pagedlist") and r.levelno > 10] == []
