"""``pagedlist serve`` as a user runs it: a subprocess, a store URL, an address printed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from pagedlist.emulators.base import free_port

pytestmark = pytest.mark.timeout(120)

PAGEDLIST = Path(sys.executable).with_name("pagedlist")


def _serve(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen(
        [str(PAGEDLIST), "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"serving the feed on (http://\S+)", line)
        if found:
            return proc, found[1].rstrip("/"), "".join(lines)
    proc.kill()
    raise AssertionError(f"pagedlist serve printed no address: {''.join(lines)}")


def _wait_up(url: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url + "/api/feed")
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_serve_seeds_once_from_the_store_variable(tmp_path) -> None:
    env = {"PAGEDLIST_STORE": f"sqlite:///{tmp_path / 'served.db'}"}
    for expected in ["seeded the feed", "feed already seeded"]:
        port = free_port()
        proc, url, printed = _serve(["--port", str(port), "--seed"], env)
        try:
            assert url == f"http://127.0.0.1:{port}"
            feed = _wait_up(url).json()
            assert feed["count"] == 3
            assert [p["author"] for p in feed["items"]] == ["bob", "ana", "julien"]
            assert feed["items"][-1]["replies"] == 2
        finally:
            proc.terminate()
            rest, _ = proc.communicate(timeout=20)
        assert expected in printed
        # The access log: one line per request, on the same output.
        assert re.search(r" GET /api/feed 200 \d+\.\dms$", rest, re.M), rest


def test_serve_names_a_bad_store_url(tmp_path) -> None:
    r = subprocess.run(
        [str(PAGEDLIST), "serve", "--store", "nosuch://x", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "nosuch" in r.stderr
