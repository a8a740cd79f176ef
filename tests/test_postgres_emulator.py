"""The throw-away PostgreSQL launcher: Debian's binaries, loopback only, an unprivileged
account under root, data removed unless kept, the CLI, and the Docker flavour."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from pagedlist.cli import main
from pagedlist.emulators import EmulatorError, get_emulator
from pagedlist.emulators import postgres as pg
from pagedlist.emulators.postgres import PostgresEmulator, docker_postgres, server_bindir


def _uid_of(pid: int) -> int | None:
    """The real uid of ``pid``, or ``None`` once it has exited: a backend of a session the
    suite just closed can end between the listing of the server's processes and this."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def test_registered_under_postgres():
    assert isinstance(get_emulator("postgres"), PostgresEmulator)


def test_a_fresh_cluster_on_loopback_only(servers):
    running = servers.get("postgres")
    port = running.ports[0]
    assert port != 5432
    assert running.url == f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(running.url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('listen_addresses', 'unix_socket_directories', 'port', 'server_encoding')"
            ).fetchall()
        )
    assert settings == {
        "listen_addresses": "127.0.0.1",
        "unix_socket_directories": "",
        "port": str(port),
        "server_encoding": "UTF8",
    }


@pytest.mark.skipif(os.geteuid() != 0, reason="the account switch happens only under root")
def test_under_root_the_server_runs_as_its_own_unprivileged_account(servers):
    import pwd

    running = servers.get("postgres")
    account = pwd.getpwnam(pg.RUN_AS)
    assert account.pw_uid != 0
    postmaster, *children = running.processes()
    assert _uid_of(postmaster) == account.pw_uid
    assert {_uid_of(pid) for pid in children} <= {account.pw_uid, None}
    assert running.data_dir.stat().st_uid == account.pw_uid
    assert running.data_dir.stat().st_mode & 0o077 == 0


def test_throw_away_data_is_removed_and_kept_data_is_reused():
    with PostgresEmulator().start() as running:
        data = running.data_dir
        assert (data / "PG_VERSION").is_file()
    assert not data.exists()
    scratch = Path(tempfile.mkdtemp(prefix="pagedlist-pg-keep-"))
    scratch.chmod(0o711)
    try:
        kept = scratch / "data"
        with (
            PostgresEmulator(data_dir=kept).start() as first,
            psycopg.connect(first.url, autocommit=True) as conn,
        ):
            conn.execute("CREATE TABLE kept (v int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        assert (kept / "PG_VERSION").is_file()
        with (
            PostgresEmulator(data_dir=kept).start() as second,
            psycopg.connect(second.url) as conn,
        ):
            assert conn.execute("SELECT v FROM kept").fetchone() == (42,)
        assert kept.exists()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_password_protected_cluster_refuses_trust():
    with PostgresEmulator(password="emu-pw-123").start() as running:
        assert "emu-pw-123" not in running.url
        assert "emu-pw-123" not in running.logs(limit=1_000_000)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(running.url, passfile="/nonexistent", password="")
        with psycopg.connect(running.url, password="emu-pw-123") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_missing_binaries_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(pg, "DEBIAN_BINDIRS", str(tmp_path / "none" / "*" / "bin"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("PAGEDLIST_PG_BINDIR", raising=False)
    assert server_bindir() is None
    why = PostgresEmulator().available()
    assert why is not None and "apt-get install postgresql" in why
    with pytest.raises(EmulatorError, match="apt-get install postgresql"):
        PostgresEmulator().start()


def test_the_bindir_can_be_named(monkeypatch):
    found = server_bindir()
    if found is None:
        pytest.skip("no PostgreSQL binaries here")
    monkeypatch.setenv("PAGEDLIST_PG_BINDIR", str(found))
    assert server_bindir() == found


def test_cli_start_prints_the_url_last_and_stop_cleans_up(monkeypatch, tmp_path):
    monkeypatch.setenv("PAGEDLIST_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    started = runner.invoke(main, ["emulator", "start", "postgres"], catch_exceptions=False)
    assert started.exit_code == 0, started.output
    url = started.output.strip().splitlines()[-1]
    assert url.startswith("postgresql://postgres@127.0.0.1:")
    try:
        with psycopg.connect(url) as conn:
            data = Path(conn.execute("SHOW data_directory").fetchone()[0])
        listed = runner.invoke(main, ["emulator", "list"], catch_exceptions=False).output
        assert f"postgres       running  {url}" in listed
    finally:
        stopped = runner.invoke(main, ["emulator", "stop", "postgres"], catch_exceptions=False)
    assert "postgres stopped" in stopped.output
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    assert not data.exists()


def test_docker_postgres():
    """The same store on the official image, for machines with a Docker engine."""
    from pagedlist.adapters import open_store
    from pagedlist.emulators.redis import docker_unavailable

    why = docker_unavailable()
    if why:
        pytest.skip(f"no Docker engine here ({why}): docker_postgres() not exercised")
    with docker_postgres() as url, open_store(url) as store:
        assert store.put_if_absent("docker|0", {"items": []})
        assert store.append("docker|0", "items", [{"id": "a", "ts": 1, "v": "1"}], 2).length == 1
