"""``pagedlist doctor URL`` through the CLI runner: healthy local servers (exit 0), a
wrong password (exit 1), a closed port and a name that does not resolve (exit 2, fast)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from click.testing import CliRunner

from pagedlist.cli import main
from pagedlist.doctor import diagnose, endpoint_of
from pagedlist.emulators.base import free_port
from pagedlist.emulators.redis import RedisEmulator


def doctor(*args: str) -> Any:
    return CliRunner().invoke(main, ["doctor", *args], catch_exceptions=False)


def test_sqlite_is_healthy(tmp_path: Any) -> None:
    result = doctor(f"sqlite:///{tmp_path}/d.db", "--item-bytes", "200")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "verdict: healthy"
    assert any(line.startswith("ok round trip:") for line in lines)
    assert any(line.startswith("ok write:") for line in lines)
    assert any(line.startswith("-- capacity:") and "200-byte items" in line for line in lines)


def test_redis_is_healthy_and_its_rtt_measured(servers: Any) -> None:
    url = servers.get("redis").url
    result = doctor(url)
    assert result.exit_code == 0, result.output
    host, port = endpoint_of(url) or ("", 0)
    assert f"ok reachable:   {host}:{port}, TCP connect" in result.output
    assert "median" in result.output
    assert result.output.splitlines()[-1] == "verdict: healthy"


def test_read_only_writes_nothing(servers: Any) -> None:
    result = doctor(servers.get("redis").url, "--read-only")
    assert result.exit_code == 0, result.output
    assert "-- write:       skipped (--read-only)" in result.output


def test_wrong_password_is_a_problem_without_the_password() -> None:
    with RedisEmulator(password="doctor-right-pw").start() as running:
        url = running.url.replace("doctor-right-pw", "doctor-wrong-pw")
        result = doctor(url)
    assert result.exit_code == 1, result.output
    assert "password" in result.output.lower()
    assert "doctor-wrong-pw" not in result.output
    assert result.output.splitlines()[-1].startswith("verdict: 1 problem(s): read:")


@pytest.mark.parametrize("where", ["closed port", "no such name"])
def test_unreachable_is_exit_2_in_under_2_seconds(where: str) -> None:
    if where == "closed port":
        url = f"redis://:secret-pw@127.0.0.1:{free_port()}/0"
    else:
        url = "redis://no-such-host.invalid:6379/0"
    began = time.monotonic()
    result = doctor(url)
    took = time.monotonic() - began
    assert result.exit_code == 2, result.output
    assert took < 2.0
    assert result.output.splitlines()[-1].startswith("verdict: UNREACHABLE")
    assert "secret-pw" not in result.output


def test_a_malformed_url_is_a_problem() -> None:
    report = diagnose("nosuch://x")
    assert report.status == 1
    assert "unknown store scheme" in report.verdict()


def test_endpoints_of_the_url_forms() -> None:
    assert endpoint_of("redis://:pw@10.0.0.1:7000/0") == ("10.0.0.1", 7000)
    assert endpoint_of("redis+cluster://a:1,b:2") == ("a", 1)
    assert endpoint_of("dynamodb://tbl?region=eu-west-1") == (
        "dynamodb.eu-west-1.amazonaws.com",
        443,
    )
    assert endpoint_of("dynamodb://tbl?region=x&endpoint=http://127.0.0.1:8000") == (
        "127.0.0.1",
        8000,
    )
    assert endpoint_of("postgresql://u@db.example:6543/x") == ("db.example", 6543)
    assert endpoint_of("sqlite:///x.db") is None
    assert endpoint_of("memory://") is None


@pytest.mark.parametrize("backend", ["postgres", "dynamodb", "cosmos", "oci-nosql"])
def test_every_local_server_is_healthy(servers: Any, backend: str) -> None:
    running = servers.get(backend)
    url = running.url
    result = doctor(url)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("ok reachable:") for line in lines), result.output
    assert any(line.startswith("ok round trip:") for line in lines)
    assert lines[-1] == "verdict: healthy"
    # Where the adapter can tell, the table's own settings are reported too.
    settings = {
        "dynamodb": "billing mode:",
        "oci-nosql": "table state:",
        "cosmos": "partition key:",
    }.get(backend)
    if settings is not None:
        assert any(settings in line for line in lines), result.output
