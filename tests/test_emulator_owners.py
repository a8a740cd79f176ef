"""`pagedlist emulator start|stop` with two owners sharing one state file: each gets its
own server, sharing is asked for (``--reuse``), and nobody stops another owner's server.

Each command is its own process, as when two test runs or two terminals use the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pagedlist.emulators import get_emulator
from pagedlist.emulators.base import Running, port_open

pytestmark = pytest.mark.slow


@pytest.fixture
def cache(tmp_path: Path):
    """A private state directory; every server recorded in it is stopped at the end."""
    yield tmp_path
    state = tmp_path / "running.json"
    if state.exists():
        for r in json.loads(state.read_text()).get("servers", []):
            Running(r["name"], r["url"], r["ports"], Path(r["log_dir"]), pids=r["pids"]).stop()


def cli(cache: Path, *args: str, owner: str | None = None, new_session: bool = False):
    env = {k: v for k, v in os.environ.items() if k != "PAGEDLIST_EMULATOR_OWNER"}
    env["PAGEDLIST_CACHE"] = str(cache)
    if owner is not None:
        env["PAGEDLIST_EMULATOR_OWNER"] = owner
    return subprocess.run(
        [sys.executable, "-m", "pagedlist.cli", "emulator", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        start_new_session=new_session,
    )


def port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture(autouse=True)
def _redis_here():
    why = get_emulator("redis").available()
    if why:
        pytest.fail(f"the redis server these tests start is not available: {why}")


def test_each_owner_gets_and_stops_only_its_own_server(cache):
    a = cli(cache, "start", "redis", owner="run-a")
    assert a.returncode == 0, a.stderr
    url_a = a.stdout.splitlines()[-1]
    assert "started for run-a" in a.stdout

    b = cli(cache, "start", "redis", owner="run-b")
    assert b.returncode == 0, b.stderr
    url_b = b.stdout.splitlines()[-1]
    assert url_b != url_a, "run-b was handed run-a's server"
    assert port_open(port(url_a)) and port_open(port(url_b))

    # Starting again as the same owner hands out that owner's server.
    again = cli(cache, "start", "redis", owner="run-a")
    assert again.stdout.splitlines()[-1] == url_a

    stop_b = cli(cache, "stop", "redis", owner="run-b")
    assert stop_b.returncode == 0 and "redis stopped" in stop_b.stdout
    assert port_open(port(url_a)), "run-b's stop killed run-a's server"
    assert not port_open(port(url_b))

    # Sharing is explicit, and a shared server stays its owner's.
    reuse = cli(cache, "start", "redis", "--reuse", owner="run-b")
    assert reuse.returncode == 0 and reuse.stdout.splitlines()[-1] == url_a
    assert "started by run-a" in reuse.stdout
    refused = cli(cache, "stop", "redis", owner="run-b")
    assert refused.returncode == 1
    assert "runs for run-a, not for run-b" in refused.stderr
    assert port_open(port(url_a))

    listed = cli(cache, "list", owner="run-b").stdout
    assert f"redis          running  {url_a}  (owner run-a)" in listed

    stop_a = cli(cache, "stop", "redis", owner="run-a")
    assert stop_a.returncode == 0 and "redis stopped" in stop_a.stdout
    assert not port_open(port(url_a))
    assert cli(cache, "stop", "redis", owner="run-a").stdout.strip() == "redis was not running"


def test_two_sessions_without_tokens_are_two_owners(cache):
    """With no token, the owner is the terminal session: two sessions share nothing."""
    first = cli(cache, "start", "redis", new_session=True)
    second = cli(cache, "start", "redis", new_session=True)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    url_1, url_2 = first.stdout.splitlines()[-1], second.stdout.splitlines()[-1]
    assert url_1 != url_2
    owner_1 = first.stdout.split("started for ", 1)[1].split(",", 1)[0]
    owner_2 = second.stdout.split("started for ", 1)[1].split(",", 1)[0]
    assert owner_1.startswith("session-") and owner_1 != owner_2

    # A third session stops neither, until it names the owner.
    third = cli(cache, "stop", "redis", new_session=True)
    assert third.returncode == 1 and port_open(port(url_1)) and port_open(port(url_2))
    assert cli(cache, "stop", "redis", "--owner", owner_1).returncode == 0
    assert not port_open(port(url_1)) and port_open(port(url_2))
    assert cli(cache, "stop", "redis", "--owner", owner_2).returncode == 0
    assert not port_open(port(url_2))


def test_state_written_before_owners_is_read_as_an_unknown_owners(cache):
    with get_emulator("redis").running() as server:
        (cache / "running.json").write_text(
            json.dumps(
                {
                    "redis": {
                        "url": server.url,
                        "ports": server.ports,
                        "pids": server.pids,
                        "log_dir": str(server.log_dir),
                    }
                }
            )
        )
        mine = cli(cache, "start", "redis", owner="run-a")
        assert mine.stdout.splitlines()[-1] != server.url
        refused = cli(cache, "stop", "redis", owner="run-b")
        assert refused.returncode == 1 and "--owner unknown" in refused.stderr
        assert port_open(server.ports[0])
        assert cli(cache, "stop", "redis", owner="run-a").returncode == 0
