"""The local Cosmos DB server launcher: what it needs, its idempotent install, its URL."""

from __future__ import annotations

import shutil

import pytest

from pagedlist.emulators import get_emulator
from pagedlist.emulators.cosmos import (
    COSMOSDB_SERVER_VERSION,
    CosmosDockerEmulator,
    CosmosServerEmulator,
)


def test_registered_under_cosmos():
    emulator = get_emulator("cosmos")
    assert isinstance(emulator, CosmosServerEmulator)
    assert emulator.version == COSMOSDB_SERVER_VERSION
    assert emulator.prefix.name == f"cosmosdb-server-{COSMOSDB_SERVER_VERSION}"


def test_version_is_pinned_exactly():
    assert all(part.isdigit() for part in COSMOSDB_SERVER_VERSION.split("."))


def test_missing_node_is_named(monkeypatch, tmp_path):
    """With nothing on PATH, available() says node is missing and how to get it."""
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PAGEDLIST_CACHE", str(tmp_path / "cache"))  # nothing installed there
    why = CosmosServerEmulator().available()
    assert why is not None
    assert "node" in why and "npm" in why and "install" in why


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed here")
def test_install_is_idempotent_and_url_is_plain_http(servers):
    """The session's server is installed already: install() again runs no npm (the
    package.json it installed is untouched) and the URL says tls=false."""
    running = servers.get("cosmos")
    emulator = CosmosServerEmulator()
    package_json = emulator.prefix / "node_modules" / "@vercel" / "cosmosdb-server" / "package.json"
    before = package_json.stat().st_mtime_ns
    emulator.install()
    assert package_json.stat().st_mtime_ns == before
    assert running.url.startswith("cosmos://127.0.0.1:")
    assert running.url.endswith(
        "/pagedlist/rows?tls=false&consistency=any&create=true&emulator=vercel"
    )
    assert emulator.ready(running.ports)


def test_docker_flavour_says_why_it_cannot_run():
    why = CosmosDockerEmulator.available()
    if why is None:
        pytest.skip("Docker is available here; the Docker flavour runs in test_cosmos.py")
    assert "Docker" in why
