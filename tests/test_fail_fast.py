"""Fail fast at open: ``open_store(url, check=...)`` and every CLI command that touches a
store raise at once for a refused connection, a name that does not resolve, a server that
never answers, or a wrong password, with what to check in the message."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from pagedlist.adapters import open_store
from pagedlist.cli import main
from pagedlist.emulators.base import free_port
from pagedlist.emulators.redis import RedisEmulator, RedisRunning
from pagedlist.errors import ConfigError, DeadlineExceeded, StoreUnavailable


@pytest.fixture(scope="module")
def protected() -> Iterator[RedisRunning]:
    with RedisEmulator(password="ff-right-pw").start() as running:
        yield running


@pytest.fixture(autouse=True)
def _sdk_imported() -> None:
    """The check is timed, not the one-time import of redis-py (a second or more)."""
    import pagedlist.adapters.redis  # noqa: F401


def _timed(fn: Any) -> tuple[BaseException, float]:
    began = time.monotonic()
    with pytest.raises(Exception) as caught:
        fn()
    return caught.value, time.monotonic() - began


def test_refused_connection_raises_at_open() -> None:
    err, took = _timed(lambda: open_store(f"redis://:ff-pw@127.0.0.1:{free_port()}/0", check=True))
    assert isinstance(err, StoreUnavailable)
    assert took < 1.0
    assert "pagedlist doctor" in str(err) and "ff-pw" not in str(err)


def test_unknown_name_raises_at_open() -> None:
    err, took = _timed(lambda: open_store("redis://no-such-host.invalid:6379/0", check=True))
    assert isinstance(err, StoreUnavailable)
    assert took < 1.0


def test_silent_server_raises_within_the_check(silent_port: int) -> None:
    # The Redis adapter's socket timeout is the URL's (it is not cut to the check's time).
    url = f"redis://127.0.0.1:{silent_port}/0?timeout=0.3"
    err, took = _timed(lambda: open_store(url, check=0.5))
    assert isinstance(err, DeadlineExceeded)
    assert took < 1.0
    assert "did not answer within 0.5s" in str(err)


def test_wrong_password_raises_at_open(protected: RedisRunning) -> None:
    url = protected.url.replace("ff-right-pw", "ff-wrong-pw")
    err, took = _timed(lambda: open_store(url, check=True))
    assert isinstance(err, ConfigError)
    assert took < 1.0
    assert "ff-wrong-pw" not in str(err)


def test_a_reachable_store_passes_the_check(protected: RedisRunning, tmp_path: Any) -> None:
    with open_store(protected.url, check=True) as store:
        assert store.get("ff|none") is None
    with open_store(f"sqlite:///{tmp_path}/ok.db", check=True) as store:
        assert store.get("ff|none") is None


@pytest.mark.parametrize(
    "command",
    [
        ["latest", "--store", "{url}", "feed"],
        ["append", "--store", "{url}", "feed", "1"],
        ["info", "--store", "{url}"],
        ["export", "{url}", "feed"],
        ["delete", "{url}", "feed", "0"],
    ],
)
def test_cli_commands_fail_fast_on_a_closed_port(command: list[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    began = time.monotonic()
    result = CliRunner().invoke(main, [a.format(url=url) for a in command])
    took = time.monotonic() - began
    assert result.exit_code == 1, result.output
    assert took < 1.0
    assert "cannot reach" in result.output and "pagedlist doctor" in result.output


def test_cli_deadline_bounds_the_check(silent_port: int) -> None:
    url = f"redis://127.0.0.1:{silent_port}/0?timeout=0.3"
    began = time.monotonic()
    result = CliRunner().invoke(main, ["latest", "--store", url, "feed", "--deadline", "0.5"])
    assert result.exit_code == 1, result.output
    assert time.monotonic() - began < 1.5
    assert "did not answer within 0.5s" in result.output


def test_init_and_demo_take_a_deadline() -> None:
    for name in ("init", "demo"):
        result = CliRunner().invoke(main, [name, "--help"])
        assert "--deadline SECONDS" in result.output, name
