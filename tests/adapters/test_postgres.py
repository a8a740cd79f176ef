"""The conformance suite against a throw-away PostgreSQL server (layout 2, layout 1, and
the asyncio adapter), plus what is PostgreSQL's own: URL forms, passwords (never in the
URL, only from libpq's sources), the size the SQL keeps, U+0000 in jsonb and text, entry
rows' columns, the statements that run again after a race, tables of pagedlist 0.1,
statement_timeout and the watchdog (thread and loop timer), and the mapping of server
errors (by SQLSTATE) to pagedlist errors."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_async_store, open_store, postgres
from pagedlist.adapters.postgres import (
    POSTGRES_ROW_BYTES,
    AsyncPostgresStore,
    PostgresStore,
    parse_url,
)
from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.conformance.blocking import AsyncAdapterFixtures
from pagedlist.conformance.fixtures import LayoutOneFixtures, LayoutOneStore
from pagedlist.conformance.history_clauses import AbstractHistoryTests
from pagedlist.conformance.list_clauses import AbstractListTests
from pagedlist.conformance.proxy import FaultProxies
from pagedlist.conformance.store_clauses import race
from pagedlist.core.counting import CountingStore
from pagedlist.core.deadline import active
from pagedlist.core.entries import merge_answer
from pagedlist.core.ops import Appended, Claimed, Duplicate, Features, Pushed, Scan, Taken
from pagedlist.core.wrapper import StoreWrapper
from pagedlist.emulators.base import free_port
from pagedlist.emulators.postgres import PostgresEmulator, PostgresRunning
from pagedlist.errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidValue,
    ItemTooLarge,
    StoreUnavailable,
    Throttled,
    Unsupported,
)


class PostgresFixtures(StoreFixtures):
    @pytest.fixture
    def store_url(self, servers) -> str:
        return servers.get("postgres").url


class TestPostgres(ConformanceSuite, PostgresFixtures):
    """Every clause on one local PostgreSQL server (Debian's binaries): lists in layout 2
    (entry rows, push), the store's default."""


class TestPostgresLayoutOne(
    AbstractListTests, AbstractHistoryTests, LayoutOneFixtures, PostgresFixtures
):
    """The list clauses again on layout 1 (page rows), as lists written by 0.1 are."""


class TestPostgresAsync(ConformanceSuite, AsyncAdapterFixtures, PostgresFixtures):
    """Every clause through the asyncio adapter (``AsyncPostgresStore``)."""


# --- URLs ------------------------------------------------------------------------------

FORM = r"postgresql://\[user@\]host\[:port\]/database"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://",
        "postgresql:///feeds",
        "postgresql://host:notaport/db",
        "postgresql://host:70000/db",
        "postgresql://host/db/extra",
        "postgresql://a,b/db",
        "postgresql://[::1/db",
        "postgresql://host/db?bogus=1",
        "postgresql://host/db?sslmode=maybe",
        "postgresql://host/db?table=bad-name",
        "postgresql://host/db?table=a.b.c",
        "postgresql://host/db?table=1abc",
        "postgresql://host/db?table=x&table=y",
        "postgresql://host/db?pool=0",
        "postgresql://host/db?timeout=soon",
        "postgresql://host/db?connect_timeout=1.5",
    ],
)
def test_malformed_urls_name_the_accepted_form(url):
    with pytest.raises(ConfigError, match=FORM):
        open_store(url)


def test_url_parts():
    target = parse_url(
        "postgres://alice@db.example:6543/feeds?table=app.rows&sslmode=verify-full"
        "&sslrootcert=/etc/ca.pem&connect_timeout=3&timeout=2.5&pool=4"
    )
    assert (target.host, target.port, target.dbname, target.user) == (
        "db.example",
        6543,
        "feeds",
        "alice",
    )
    assert (target.schema, target.table, target.sslmode, target.sslrootcert) == (
        "app",
        "rows",
        "verify-full",
        "/etc/ca.pem",
    )
    assert (target.connect_timeout, target.timeout, target.pool) == (3, 2.5, 4)
    info = psycopg.conninfo.conninfo_to_dict(target.conninfo())
    assert info["host"] == "db.example" and info["port"] == "6543" and info["dbname"] == "feeds"
    assert info["sslmode"] == "verify-full" and "password" not in info
    six = parse_url("postgresql://[::1]:5433/db")
    assert (six.host, six.port, six.table, six.schema) == ("::1", 5433, "pagedlist", None)
    assert six.describe() == "postgresql://[::1]:5433/db?table=pagedlist"
    service = parse_url("postgresql:///?service=prod")
    assert service.service == "prod" and service.host is None and service.dbname is None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:hunter2secret@127.0.0.1:1/db",
        "postgres://alice:hunter2secret@db.example/db?table=x",
        "postgresql://:hunter2secret@db.example/db",
    ],
)
def test_a_password_in_the_url_is_refused_and_never_shown(url):
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    message = str(caught.value)
    assert "hunter2secret" not in message
    assert "PGPASSWORD" in message and ".pgpass" in message and "service" in message


def test_an_empty_password_in_the_url_is_refused_too():
    with pytest.raises(ConfigError, match="PGPASSWORD"):
        parse_url("postgresql://alice:@db.example/db")


# --- a server of the module's own, for faults and privileges ---------------------------


@pytest.fixture(scope="module")
def own() -> Iterator[PostgresRunning]:
    """A server only these tests touch (they terminate backends and freeze it)."""
    with PostgresEmulator().start() as running:
        yield running


@pytest.fixture
def admin(own) -> Iterator[psycopg.Connection]:
    with psycopg.connect(own.url, autocommit=True) as conn:
        yield conn


@pytest.fixture
def key(request) -> str:
    return f"pg-{request.node.name[:40]}-{uuid.uuid4().hex[:8]}|0"


def _size_column(conn: psycopg.Connection, key: str, table: str = "pagedlist") -> int:
    return conn.execute(f"SELECT size FROM {table} WHERE key = %s", [key]).fetchone()[0]


def test_the_size_column_is_row_size_after_every_kind_of_write(own, admin, key):
    """The bound the SQL enforces is the size ``row_size`` reports, after each write."""
    with open_store(own.url) as store:
        steps = [
            lambda: store.append(key, "items", [{"id": "a", "ts": 1, "v": "é"}], 9),
            lambda: store.append(key, "items", [{"id": "b", "ts": 2, "v": '"\\u0000"'}], 9),
            lambda: store.append(key, "other", [], 9),
            lambda: store.append(key, "other", [{"id": "c\x00", "ts": 3, "v": "1"}] * 2, 9),
            lambda: store.increment(key, "n", 5),
            lambda: store.increment(key, "n", 995),
            lambda: store.increment(key, "n", -2000, expect=1000),
            lambda: store.increment(key, "ünï\x00", 2**70),
            lambda: store.append(key, "ü\U0010ffff", [{"id": "d", "ts": 4, "v": ""}], 9),
        ]
        for step in steps:
            step()
            row = store.get(key)
            assert _size_column(admin, key) == store.row_size(key, row.doc)
        row = store.get(key)
        assert store.replace(key, {"n": 1, "l": [{"id": "q"}, 3]}, row.version)
        assert _size_column(admin, key) == store.row_size(key, store.get(key).doc)
        for fresh, write in [
            ("c", lambda k: store.increment(k, "count", -7)),
            ("e", lambda k: store.append(k, "items", [], 3)),
            ("p", lambda k: store.put_if_absent(k, {})),
        ]:
            write(key + fresh)
            assert _size_column(admin, key + fresh) == store.row_size(
                key + fresh, store.get(key + fresh).doc
            )
        store.append(key + "p", "items", [{"id": "x", "ts": 0, "v": "0"}], 3)
        assert _size_column(admin, key + "p") == store.row_size(key + "p", store.get(key + "p").doc)


def test_nul_and_the_escape_character_round_trip(own, key):
    """jsonb cannot hold U+0000: the adapter's escaping is invisible and exact, in keys,
    values and entry ids, and de-duplication still sees the ids as given."""
    esc = "\U0010ffff"
    doc = {
        "a\x00b": "\x00",
        esc: esc + "0",
        "esc0": esc + esc + "0\x00" + esc,
        "list": ["\x00", {"\x00": [esc]}],
        "plain": "no escapes",
    }
    with open_store(own.url) as store:
        assert store.put_if_absent(key, doc)
        assert store.get(key).doc == doc
        assert store.get_many([key])[key].doc == doc
        ids = [{"id": "i\x00", "ts": 1, "v": "x"}, {"id": "i" + esc + "0", "ts": 1, "v": "y"}]
        assert store.append(key, "items\x00", ids, 5) == Appended(2)
        assert store.append(key, "items\x00", [{"id": "i", "ts": 1, "v": "z"}], 5) == Appended(3)
        assert store.append(key, "items\x00", ids[1:], 5) == Duplicate(1, 0)
        assert store.get(key).doc["items\x00"] == [*ids, {"id": "i", "ts": 1, "v": "z"}]


def test_values_never_reach_the_sql_text(own, admin, key):
    """Field names, keys and ids full of SQL are data, not statements."""
    evil = "x'); DROP TABLE pagedlist; --"
    with open_store(own.url) as store:
        assert store.append(key + evil, evil, [{"id": evil, "ts": 1, "v": evil}], 2).length == 1
        assert store.increment(key + evil, evil + "n", 1) == 1
        assert store.get(key + evil).doc[evil] == [{"id": evil, "ts": 1, "v": evil}]
    assert admin.execute("SELECT to_regclass('pagedlist')").fetchone()[0] is not None


def test_increment_and_put_over_the_row_limit_write_nothing(own, key):
    with open_store(own.url) as store:
        base = {"n": 9, "pad": ""}
        base["pad"] = "p" * (POSTGRES_ROW_BYTES - store.row_size(key, base))
        assert store.row_size(key, base) == POSTGRES_ROW_BYTES
        assert store.put_if_absent(key, base)
        before = store.get(key)
        with pytest.raises(ItemTooLarge):
            store.increment(key, "n", 1)
        assert store.get(key) == before
        assert store.increment(key, "n", -1) == 8
        with pytest.raises(ItemTooLarge):
            store.put_if_absent(key + "x", {"pad": "p" * POSTGRES_ROW_BYTES})
        assert store.get(key + "x") is None


def test_fields_of_the_wrong_type_are_refused(own, key):
    with open_store(own.url) as store:
        store.put_if_absent(key, {"items": "not a list", "n": "not a number", "f": 1.5})
        with pytest.raises(InvalidValue, match="something else than a list"):
            store.append(key, "items", [{"id": "a", "ts": 1, "v": "1"}], 5)
        with pytest.raises(InvalidValue, match="integer"):
            store.increment(key, "n", 1)
        with pytest.raises(InvalidValue, match="integer"):
            store.increment(key, "f", 1)
        assert store.get(key).doc == {"items": "not a list", "n": "not a number", "f": 1.5}


def test_the_table_is_created_once_and_provision_reports_it(own, admin):
    table = f"t_{uuid.uuid4().hex[:10]}"
    url = f"{own.url}?table=public.{table}"
    tables = f"public.{table}, public.{table}_entries and public.{table}_tails"
    assert PostgresStore.provision(url) == f"created tables {tables}"
    assert PostgresStore.provision(url) == f"tables {tables} already exist"
    with open_store(url) as store:
        store.put_if_absent("k|0", {"v": 1})
        assert "table=public." + table in store.describe()
        assert "PostgreSQL 1" in store.describe()
        assert "layout 1 only" not in store.describe()
        assert store.features.entries and store.features.push
    assert admin.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1
    # A table of pagedlist 0.1 (the rows table alone) gets its entry tables added.
    admin.execute(f"DROP TABLE {table}_entries, {table}_tails")
    assert PostgresStore.provision(url) == (
        f"created public.{table}_entries, public.{table}_tails; public.{table} already existed"
    )


def test_racing_opens_create_the_table_once(own):
    """Racing CREATE TABLE IF NOT EXISTS can fail in PostgreSQL: the advisory lock
    serializes the first opens."""
    url = f"{own.url}?table=race_{uuid.uuid4().hex[:10]}"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        try:
            barrier.wait()
            open_store(url).close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_foreign_table_of_that_name_is_refused(own, admin):
    table = f"foreign_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, body text)")
    with pytest.raises(ConfigError, match="not a pagedlist table"):
        open_store(f"{own.url}?table={table}")


def test_a_role_without_privileges_is_told_what_to_grant(own, admin):
    role = f"limited_{uuid.uuid4().hex[:8]}"
    table = f"lim_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE ROLE {role} LOGIN")
    url = f"postgresql://{role}@127.0.0.1:{own.ports[0]}/postgres?table={table}"
    # PostgreSQL 15+: ordinary roles may not create tables in schema public.
    with pytest.raises(ConfigError, match="pagedlist init"):
        open_store(url)
    PostgresStore.provision(f"{own.url}?table={table}")
    with open_store(url) as store:
        with pytest.raises(ConfigError, match="grant the role SELECT, INSERT, UPDATE, DELETE"):
            store.get("k|0")
        admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
        assert store.put_if_absent("k|0", {"v": 1})
        assert store.get("k|0").doc == {"v": 1}


# --- opening: fail fast, naming the fix ------------------------------------------------


def test_unreachable_server_fails_at_open():
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot reach PostgreSQL") as caught:
        open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/postgres")
    assert time.monotonic() - started < 5
    assert "listen_addresses" in str(caught.value)
    assert caught.value.__cause__ is not None


def test_silent_server_fails_at_open_within_connect_timeout(silent_port):
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        open_store(f"postgresql://postgres@127.0.0.1:{silent_port}/postgres?connect_timeout=1")
    assert time.monotonic() - started < 6


def test_missing_database_is_a_config_error(own):
    with pytest.raises(ConfigError, match="nosuchdb") as caught:
        open_store(f"postgresql://postgres@127.0.0.1:{own.ports[0]}/nosuchdb")
    assert "database" in str(caught.value)


# --- passwords: libpq's own sources only -----------------------------------------------

PASSWORD = "s3cret-Pw-" + uuid.uuid4().hex[:6]


@pytest.fixture(scope="module")
def protected() -> Iterator[PostgresRunning]:
    with PostgresEmulator(password=PASSWORD).start() as running:
        yield running


@pytest.fixture
def no_password_sources(monkeypatch, tmp_path):
    """No PGPASSWORD, no password file, no service file: only what a test sets."""
    for name in ("PGPASSWORD", "PGSERVICE", "PGSERVICEFILE", "PGSYSCONFDIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-such-pgpass"))
    return tmp_path


def test_no_password_found_names_every_source(protected, no_password_sources):
    with pytest.raises(ConfigError, match="asks a password") as caught:
        open_store(protected.url)
    for source in ("PGPASSWORD", ".pgpass", "PGPASSFILE", "service"):
        assert source in str(caught.value)


def test_password_from_pgpassword(protected, no_password_sources, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    with open_store(protected.url) as store:
        assert PASSWORD not in store.describe()
        assert store.put_if_absent(f"pw-{uuid.uuid4().hex[:8]}|0", {"x": 1})


def test_wrong_password_is_a_config_error_without_the_password(
    protected, no_password_sources, monkeypatch
):
    monkeypatch.setenv("PGPASSWORD", "wrong-" + PASSWORD)
    with pytest.raises(ConfigError, match="refused the connection") as caught:
        open_store(protected.url)
    assert PASSWORD not in str(caught.value)


def test_password_from_a_password_file(protected, no_password_sources, monkeypatch):
    pgpass = no_password_sources / "pgpass"
    pgpass.write_text(f"127.0.0.1:{protected.ports[0]}:postgres:postgres:{PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    with open_store(protected.url) as store:
        assert store.get("pw-file|0") is None


def test_password_from_a_service_file(protected, no_password_sources, monkeypatch):
    services = no_password_sources / "pg_service.conf"
    services.write_text(
        f"[feeds]\nhost=127.0.0.1\nport={protected.ports[0]}\nuser=postgres\n"
        f"dbname=postgres\npassword={PASSWORD}\n"
    )
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    with open_store("postgresql:///?service=feeds") as store:
        assert store.get("pw-service|0") is None
        assert PASSWORD not in store.describe()


# --- deadlines ---------------------------------------------------------------------------


def test_statement_timeout_follows_the_operation_deadline(own, admin, key):
    """A statement stuck behind a row lock is cancelled by the server at the deadline
    (SQLSTATE 57014): DeadlineExceeded, and nothing was written."""
    with open_store(own.url) as store:
        store.append(key, "items", [{"id": "a", "ts": 1, "v": "1"}], 5)
        before = store.get(key)
        with psycopg.connect(own.url) as locker:
            locker.execute("SELECT 1 FROM pagedlist WHERE key = %s FOR UPDATE", [key])
            started = time.monotonic()
            with active(time.monotonic() + 0.5), pytest.raises(DeadlineExceeded) as caught:
                store.append(key, "items", [{"id": "b", "ts": 1, "v": "2"}], 5)
            took = time.monotonic() - started
            locker.rollback()
        assert took < 1.4, took
        assert "nothing was written" in str(caught.value)
        assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
        assert store.get(key) == before
        # The next call, with no deadline, gets the store's own timeout back.
        assert store.append(key, "items", [{"id": "b", "ts": 1, "v": "2"}], 5) == Appended(2)


def test_a_silent_server_is_cut_off_at_the_deadline(own, key):
    """A server that stops answering cannot cancel anything itself: the watchdog cuts the
    connection shortly after the deadline; the outcome is unknown (DeadlineExceeded)."""
    with open_store(own.url) as store:
        store.put_if_absent(key, {"v": 1})
        own.pause()
        try:
            started = time.monotonic()
            with active(time.monotonic() + 0.5), pytest.raises(DeadlineExceeded) as caught:
                store.get(key)
            took = time.monotonic() - started
        finally:
            own.resume()
        assert 0.5 <= took < 3.0, took
        assert "outcome is unknown" in str(caught.value)
        assert store.get(key).doc == {"v": 1}  # a fresh connection; the cut one is gone


def test_without_a_deadline_the_url_timeout_bounds_a_call(own, key):
    with open_store(f"{own.url}?timeout=0.5") as store:
        store.put_if_absent(key, {"v": 1})
        own.pause()
        try:
            started = time.monotonic()
            with pytest.raises(DeadlineExceeded):
                store.get(key)
            took = time.monotonic() - started
        finally:
            own.resume()
        assert took < 3.0, took


def _store_backends(admin: psycopg.Connection) -> set[int]:
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pagedlist' "
        "AND pid <> pg_backend_pid()"
    ).fetchall()
    return {pid for (pid,) in rows}


def _terminate(admin: psycopg.Connection, pids: set[int]) -> None:
    for pid in pids:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_connections_the_server_closed_are_dropped_before_use(own, admin):
    """An administrator ends the store's idle sessions (or the server restarts): the pool
    still holds them, but the next call sees their sockets closed and takes a fresh
    connection without sending anything on a dead one."""
    with open_store(own.url) as store:
        plist = PagedList.create(store, f"term-{uuid.uuid4().hex[:8]}", capacity=3)
        plist.extend(range(4))
        before = _store_backends(admin)
        assert before
        _terminate(admin, before)
        wait_for = time.monotonic() + 10
        while _store_backends(admin) & before and time.monotonic() < wait_for:
            time.sleep(0.02)
        assert store.get("anything|0") is None
        assert plist.append(4) == 4
        assert [i.value for i in plist.latest(5)] == [4, 3, 2, 1, 0]
        assert not _store_backends(admin) & before


def test_a_connection_lost_mid_call_is_store_unavailable(own, admin, key):
    """The session is terminated while its statement waits on a lock (SQLSTATE 57P01):
    StoreUnavailable, retryable, whose outcome the caller cannot know."""
    with open_store(own.url) as store:
        store.append(key, "items", [{"id": "a", "ts": 1, "v": "1"}], 5)
        with psycopg.connect(own.url) as locker:
            locker.execute("SELECT 1 FROM pagedlist WHERE key = %s FOR UPDATE", [key])
            caught: list[BaseException] = []

            def blocked() -> None:
                try:
                    store.append(key, "items", [{"id": "b", "ts": 1, "v": "2"}], 5)
                except BaseException as err:
                    caught.append(err)

            thread = threading.Thread(target=blocked)
            thread.start()
            waiting: set[int] = set()
            until = time.monotonic() + 10
            while not waiting and time.monotonic() < until:
                waiting = {
                    pid
                    for (pid,) in admin.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pagedlist' "
                        "AND wait_event_type = 'Lock'"
                    ).fetchall()
                }
                time.sleep(0.02)
            assert waiting, "the append never waited on the lock"
            _terminate(admin, waiting)
            thread.join(timeout=30)
            locker.rollback()
        assert len(caught) == 1 and isinstance(caught[0], StoreUnavailable)
        assert caught[0].retryable and "may or may not have run" in str(caught[0])
        assert [e["id"] for e in store.get(key).doc["items"]] == ["a"]


@pytest.mark.parametrize(
    ("sqlstate", "error"),
    [
        ("40001", Throttled),  # serialization_failure
        ("40P01", Throttled),  # deadlock_detected
        ("55P03", Throttled),  # lock_not_available
        ("53300", Throttled),  # too_many_connections
        ("53100", Throttled),  # disk_full
        ("57014", DeadlineExceeded),  # query_canceled
        ("57P01", StoreUnavailable),  # admin_shutdown
        ("57P03", StoreUnavailable),  # cannot_connect_now
        ("25006", StoreUnavailable),  # read_only_sql_transaction: a failed-over standby
        ("08006", StoreUnavailable),  # connection_failure
        ("42501", ConfigError),  # insufficient_privilege
        ("42P01", ConfigError),  # undefined_table
        ("54000", ItemTooLarge),  # program_limit_exceeded
    ],
)
def test_server_errors_map_by_sqlstate(own, admin, sqlstate, error):
    """Real errors raised by the server with each SQLSTATE (and a message that says
    nothing), translated by the adapter: the class follows the code, never the text."""
    with pytest.raises(psycopg.Error) as raised:
        admin.execute(
            f"DO $$ BEGIN RAISE EXCEPTION 'nothing to read here' USING ERRCODE = '{sqlstate}'; "
            "END $$"
        )
    assert raised.value.sqlstate == sqlstate
    with open_store(own.url) as store:
        mapped = store._translate("get", raised.value)
    assert type(mapped) is error
    assert f"SQLSTATE {sqlstate}" in str(mapped)
    transient = error in (Throttled, DeadlineExceeded, StoreUnavailable)
    assert getattr(mapped, "retryable", False) == transient


def test_racing_creators_of_one_row_all_count(own, key):
    """Appends and increments racing to create the same missing row: the losers of the
    INSERT run again on the row the winner made; nothing is lost."""
    stores = [open_store(own.url) for _ in range(6)]

    def body(k: str, i: int):
        if i % 2:
            return stores[i].increment(k, "n", 1)
        return stores[i].append(k, "items", [{"id": f"e{i}", "ts": 1, "v": ""}], 9)

    try:
        for round_ in range(5):
            k = f"{key}-{round_}"
            results = race(len(stores), lambda i, k=k: body(k, i))
            doc = stores[0].get(k).doc
            assert doc["n"] == 3 and len(doc["items"]) == 3
            assert sorted(results[1::2]) == [1, 2, 3]
            assert sorted(r.length for r in results[0::2]) == [1, 2, 3]
    finally:
        for store in stores:
            store.close()


# --- layout 2: entry rows ----------------------------------------------------------------


def _entry_rows(conn: psycopg.Connection, list_id: str, table: str = "pagedlist") -> list[tuple]:
    return conn.execute(
        f"SELECT pos, id, ts, v, rest, pushed FROM {table}_entries WHERE list = %s ORDER BY pos",
        [list_id],
    ).fetchall()


def test_entries_are_typed_columns_and_come_back_exactly(own, admin, key):
    """id, ts and v get columns of their own (no JSON to parse on read); every other key,
    and an id or v of another type, is kept in rest; all of it comes back as given."""
    list_id = key[:-2]
    esc = "\U0010ffff"
    odd = [
        {"id": "plain", "ts": 1_700_000_000_000, "v": '"hello"'},
        {"id": "tomb", "ts": 5, "d": 1},
        {"id": "edited", "ts": 6, "v": "[1]", "e": 1_700_000_000_500, "x": 1},
        {"id": "text-ts", "ts": "soon", "v": 7},
        {"id": "bool-ts", "ts": True, "v": None},
        {"id": "huge-ts", "ts": 2**70, "v": ""},
        {"id": "no-ts"},
        {"id": "nul\x00" + esc, "ts": 9, "v": "a\x00b" + esc + "0", "k\x00": "\x00"},
    ]
    with open_store(own.url) as store:
        assert store.push(list_id, odd).positions == tuple(range(len(odd)))
        assert [e for _, e in store.scan(list_id, 0, None, 100)] == odd
        assert [e for _, e in store.scan(list_id, 0, None, 100, True)] == odd[::-1]
        for pos, entry in enumerate(odd):
            assert store.get_entry(list_id, pos).doc == entry
        assert store.find_id(list_id, "nul\x00" + esc) == 7
        assert store.find_id(list_id, "nul") is None
    rows = _entry_rows(admin, list_id)
    assert rows[0] == (0, "plain", 1_700_000_000_000, '"hello"', None, True)
    assert rows[1][2:5] == (5, None, '{"d":1}')
    assert rows[3][2:5] == (None, None, '{"ts":"soon","v":7}')
    assert rows[5][2:5] == (None, "", '{"ts":1180591620717411303424}')


def test_entry_values_never_reach_the_sql_text(own, admin):
    """List ids, entry ids and values full of SQL are data, not statements."""
    evil = "x'); DROP TABLE pagedlist_entries; --"
    entry = {"id": evil, "ts": 1, "v": evil, evil: evil}
    with open_store(own.url) as store:
        assert store.push(evil, [entry]).positions == (0,)
        assert store.claim(evil + "c", 0, [entry]) == Claimed()
        assert store.scan_many([Scan(evil, 0, None, 5), Scan(evil + "c", 0, None, 5)]) == (
            ((0, entry),),
            ((0, entry),),
        )
        assert store.find_id(evil, evil) == 0
        store.drop_entries(evil)
        store.purge(evil + "c", 1)
    for table in ("pagedlist", "pagedlist_entries", "pagedlist_tails"):
        assert admin.execute("SELECT to_regclass(%s)", [table]).fetchone()[0] is not None


def _blocked(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """``call()`` in a thread; its answer (or error) lands in the list."""
    out: list[object] = []

    def run() -> None:
        try:
            out.append(call())
        except BaseException as err:
            out.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _wait_for_lock(admin: psycopg.Connection) -> None:
    until = time.monotonic() + 10
    while time.monotonic() < until:
        waiting = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pagedlist' "
            "AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the store's statement never waited on the lock")


def test_a_push_racing_a_push_of_the_same_id_runs_again_and_finds_it(own, admin, key):
    """Another client's push of id "same" holds the list's counter row; this push waits on
    it with a snapshot taken before that push commits, so it cannot see "same" yet: its
    insert is refused by the id index (nothing written) and the statement runs again,
    answering the other client's position."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        store.push(list_id, [{"id": "first", "ts": 1, "v": "1"}])
        with psycopg.connect(own.url) as other:
            other.execute("UPDATE pagedlist_tails SET next = next + 1 WHERE list = %s", [list_id])
            other.execute(
                "INSERT INTO pagedlist_entries (pos, version, ts, pushed, list, id, v) "
                "VALUES (1, 1, 2, true, %s, 'same', '\"theirs\"')",
                [list_id],
            )
            thread, out = _blocked(lambda: store.push(list_id, [{"id": "same", "ts": 3, "v": "0"}]))
            _wait_for_lock(admin)
            other.commit()
            thread.join(timeout=30)
        assert out == [Pushed((1,))]
        assert [e["v"] for _, e in store.scan(list_id, 0, None, 9)] == ["1", '"theirs"']
        assert store.push(list_id, [{"id": "next", "ts": 4, "v": "2"}]) == Pushed((2,))


@pytest.mark.parametrize("count", [1, 3])
def test_first_pushes_racing_to_create_the_counter_lose_nothing(own, admin, key, count):
    """A list's first push creates its counter row; one that meets the row a racing first
    push is creating waits for that push to commit, then bumps the row it made (the
    upsert's update), positions after the racer's."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        with psycopg.connect(own.url) as other:
            other.execute("INSERT INTO pagedlist_tails VALUES (%s, 5)", [list_id])
            entries = [{"id": f"a{i}", "ts": 1, "v": "1"} for i in range(count)]
            thread, out = _blocked(lambda: store.push(list_id, entries))
            _wait_for_lock(admin)
            other.commit()
            thread.join(timeout=30)
        assert out == [Pushed(tuple(range(5, 5 + count)))]
        assert admin.execute(
            "SELECT next FROM pagedlist_tails WHERE list = %s", [list_id]
        ).fetchone() == (5 + count,)


def test_a_claim_racing_another_runs_again_and_reports_it_taken(own, admin, key):
    """A claim whose range another client fills while it waits is refused by the primary
    key (nothing written), runs again and answers Taken with that client's entry."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        with psycopg.connect(own.url) as other:
            other.execute(
                "INSERT INTO pagedlist_entries (pos, version, ts, pushed, list, id, v) "
                "VALUES (1, 1, 2, false, %s, 'theirs', '2')",
                [list_id],
            )
            entries = [{"id": f"m{i}", "ts": 1, "v": "1"} for i in range(3)]
            thread, out = _blocked(lambda: store.claim(list_id, 0, entries))
            _wait_for_lock(admin)
            other.commit()
            thread.join(timeout=30)
        assert out == [Taken(1, {"id": "theirs", "ts": 2, "v": "2"})]
        assert [p for p, _ in store.scan(list_id, 0, None, 9)] == [1]


def test_a_push_onto_claimed_positions_moves_past_them(own, key):
    """A client that sees no push feature appends by claim (as the suite's LayoutOneStore
    does to the store's catalogue of lists); a push whose counter points at such a row
    moves the counter past the list's newest row and runs again: dense, nothing lost."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        assert store.push(list_id, [{"id": "p0", "ts": 1, "v": "1"}]) == Pushed((0,))
        taken = [{"id": f"c{i}", "ts": 1, "v": "1"} for i in range(3)]
        assert store.claim(list_id, 1, taken) == Claimed()
        assert store.push(list_id, [{"id": "p4", "ts": 1, "v": "1"}]) == Pushed((4,))
        assert store.push(list_id, [{"id": f"q{i}", "ts": 1, "v": "1"} for i in range(2)]) == (
            Pushed((5, 6))
        )
        fresh = f"{list_id}-claimed-first"
        assert store.claim(fresh, 0, taken) == Claimed()  # no counter row yet
        assert store.push(fresh, [{"id": "p", "ts": 1, "v": "1"}]) == Pushed((3,))
        ids = [e["id"] for _, e in store.scan(list_id, 0, None, 99)]
        assert ids == ["p0", "c0", "c1", "c2", "p4", "q0", "q1"]


def test_layout_one_clients_and_push_clients_share_the_catalogue(own):
    """The store's catalogue of lists (layout 2) registered through a client that hides
    the entry features (it claims) and through plain clients (they push), in turn."""
    table = f"cat_{uuid.uuid4().hex[:8]}"
    url = f"{own.url}?table={table}"
    with open_store(url) as plain, open_store(url) as other:
        hidden = LayoutOneStore(other)
        names = []
        for i in range(6):
            name = f"feed-{i}"
            PagedList.create(hidden if i % 2 else plain, name)
            names.append(name)
        assert PagedList.lists(plain) == names


def test_an_entry_id_changed_by_replace_entry_keeps_the_index(own, key):
    """As in the reference store, replace_entry leaves a pushed row's place in the id
    index alone, whatever id the new entry carries; it comes back as written."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        store.push(list_id, [{"id": "a", "ts": 1, "v": "1"}, {"id": "b", "ts": 1, "v": "2"}])
        row = store.get_entry(list_id, 0)
        renamed = {"id": "b", "ts": 1, "v": "3", "e": 9}
        assert store.replace_entry(list_id, 0, renamed, row.version) is not None
        assert store.get_entry(list_id, 0).doc == renamed
        assert (store.find_id(list_id, "a"), store.find_id(list_id, "b")) == (0, 1)
        assert store.claim(list_id, 5, [{"id": "c", "ts": 1, "v": "1"}]) == Claimed()
        row = store.get_entry(list_id, 5)
        assert store.replace_entry(list_id, 5, {"id": "d", "ts": 2}, row.version) is not None
        assert store.get_entry(list_id, 5).doc == {"id": "d", "ts": 2}


def test_push_and_scan_many_are_one_statement_each(own, key, monkeypatch):
    """push (of one or many entries) and scan_many (of any number of lists) each send one
    statement: one round trip."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        sent: list[str] = []
        real = store._send
        monkeypatch.setattr(store, "_send", lambda q: sent.append(q.name) or real(q))
        store.push(list_id, [{"id": "one", "ts": 1, "v": "1"}])
        store.push(list_id, [{"id": f"m{i}", "ts": 1, "v": "1"} for i in range(50)])
        scans = [Scan(f"{list_id}-{i}", 0, None, 50, True) for i in range(20)]
        got = store.scan_many([Scan(list_id, 0, None, 3, True), *scans, Scan(list_id, 1, 4, 10)])
        assert sent == ["push_one", "push", "scan_many"]
    assert [p for p, _ in got[0]] == [50, 49, 48] and [p for p, _ in got[-1]] == [1, 2, 3]
    assert all(g == () for g in got[1:-1])


def _merge_lists(store: PostgresStore, prefix: str, rng: random.Random) -> list[str]:
    """Six lists for merge_scan to merge: timestamps from a narrow range (ties across
    lists, back in time within one), tombstones, entries with fields in rest (one with
    U+0000, which jsonb refuses), a gap claimed at a free position, one list of
    tombstones only, one without rows."""
    names = [f"{prefix}-{c}" for c in "abcdef"]
    for k, name in enumerate(names[:5]):
        size = rng.randrange(15, 45)
        entries = []
        for pos in range(size):
            ts = 100 + rng.randrange(12) + pos // 4
            entry: dict[str, object] = {"id": f"{k}-{pos}", "ts": ts, "v": str(pos)}
            if k == 3 or rng.random() < 0.2:
                entry["d"] = 1
            elif rng.random() < 0.1:
                entry.update(e=5, x="\x00")
            entries.append(entry)
        assert store.claim(name, 0, entries) == Claimed()
        if k == 2:
            # Rows above a position nobody wrote: no run reaches them from below.
            gap = {"id": f"{k}-gap", "ts": 110, "v": "1"}
            assert store.claim(name, size + 1, [gap, {**gap, "id": f"{k}-gap2"}]) == Claimed()
    return names


def test_merge_scan_is_the_reference_merge_of_random_scans(own, key, monkeypatch):
    """merge_scan on the server answers exactly what merge_answer makes of scan_many's
    rows, for random n, ranges, limits, fresh lists and cursors (keys of real rows and
    ones between them), in one statement each; the asyncio adapter answers the same."""
    rng = random.Random(2026)
    with open_store(own.url) as store:
        names = _merge_lists(store, key[:-2], rng)
        keys = [
            (e["ts"], name, pos) for name in names for pos, e in store.scan(name, 0, None, 99)
        ]
        combos = []
        for _ in range(200):
            lo = rng.choice([0, 0, rng.randrange(12)])
            hi = rng.choice([None, None, lo + rng.randrange(1, 40)])
            limit = rng.randrange(1, 50)
            scans = tuple(Scan(name, lo, hi, limit, True) for name in rng.sample(names, 4))
            fresh = tuple(rng.sample(names, rng.randrange(len(names) + 1)))
            between = (rng.randrange(98, 115), rng.choice(names), rng.randrange(-1, 50))
            last = rng.choice([None, between, rng.choice(keys), rng.choice(keys)])
            combos.append((scans, rng.randrange(1, 80), fresh, last))
        sent: list[str] = []
        real = store._send
        monkeypatch.setattr(store, "_send", lambda q: sent.append(q.name) or real(q))
        answers = []
        for scans, n, fresh, last in combos:
            sent.clear()
            got = store.merge_scan(scans, n, fresh, last)
            assert sent == ["merge_scan"]
            want = merge_answer(scans, store.scan_many(scans), n, fresh, last)
            assert got == want, (scans, n, fresh, last)
            answers.append(got)
        assert any(m.slots for a in answers for m in a)
        assert any(m.live > len(m.slots) for a in answers for m in a)
        assert any(m.more is not None for a in answers for m in a)

    async def merged_async() -> list[object]:
        async with await open_async_store(own.url) as astore:
            return [await astore.merge_scan(*combo) for combo in combos]

    assert asyncio.run(merged_async()) == answers


def test_merge_scan_of_a_ts_kept_in_rest_merges_in_python(own, key, monkeypatch):
    """A live entry whose ts is not a 64-bit integer has no ts column to order by:
    merge_scan reads the scans (scan_many) and merges them as the reference does, in the
    same call."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        store.claim(list_id, 0, [{"id": "a", "ts": 5, "v": "1"}, {"id": "b", "ts": 2**70}])
        store.claim(list_id + "-2", 0, [{"id": "c", "ts": 7, "v": "1"}])
        scans = (Scan(list_id, 0, None, 5, True), Scan(list_id + "-2", 0, None, 5, True))
        sent: list[str] = []
        real = store._send
        monkeypatch.setattr(store, "_send", lambda q: sent.append(q.name) or real(q))
        got = store.merge_scan(scans, 2)
        assert sent == ["merge_scan", "scan_many"]
        assert got == merge_answer(scans, store.scan_many(scans), 2)
        assert got[0].slots == ((1, {"id": "b", "ts": 2**70}),)
        # A tombstone is dropped before any ts is compared: one without a ts merges in SQL.
        store.claim(list_id + "-3", 0, [{"id": "d", "ts": 3, "v": "1"}, {"id": "t", "d": 1}])
        scans = (Scan(list_id + "-3", 0, None, 5, True), scans[1])
        sent.clear()
        got = store.merge_scan(scans, 5)
        assert sent == ["merge_scan"]
        assert got == merge_answer(scans, store.scan_many(scans), 5)


class _NoMerge(StoreWrapper):
    """The store with its merge hidden: the core merges scan_many's rows itself."""

    @property
    def features(self) -> Features:
        return dataclasses.replace(self.inner.features, merge=False)


def test_a_timeline_page_is_one_merge_scan(own, key):
    """On PostgreSQL a home timeline page (after the call that learns the lists'
    settings) is one merge_scan, and every page, to the end, holds the items the core's
    own merge of scan_many finds."""
    ids = [f"{key[:-2]}-{i}" for i in range(20)]
    with open_store(own.url) as store:
        assert store.features.merge
        lists = [PagedList.create(store, list_id) for list_id in ids]
        for r in range(6):  # in rounds, so that a page's items come from several lists
            for handle in lists:
                handle.extend([{"k": 10 * r + k} for k in range(10)])
        counted = CountingStore(store)
        PagedList.latest_many(counted, ids, 50)
        counted.reset()
        page = PagedList.latest_many(counted, ids, 50)
        assert len(page.items) == 50 and page.cursor is not None
        assert dict(counted.calls) == {"merge_scan": 1}
        plain = _NoMerge(store)
        cursor: str | None = None
        pages = 0
        while True:
            merged = PagedList.latest_many(store, ids, 50, cursor=cursor)
            assert merged == PagedList.latest_many(plain, ids, 50, cursor=cursor)
            pages += 1
            cursor = merged.cursor
            if cursor is None:
                break
        assert pages == 24  # 1,200 items, 50 a page


def test_purge_and_drop_delete_in_bounded_statements(own, key, monkeypatch):
    """However many rows a purge or a drop removes, each statement deletes at most
    PURGE_ROWS of them (each within the deadline); the counter survives a purge only."""
    list_id = key[:-2]
    monkeypatch.setattr(postgres, "PURGE_ROWS", 3)
    with open_store(own.url) as store:
        store.push(list_id, [{"id": f"i{i}", "ts": 1, "v": "1"} for i in range(11)])
        sent: list[str] = []
        real = store._send
        monkeypatch.setattr(store, "_send", lambda q: sent.append(q.name) or real(q))
        store.purge(list_id, 8)
        assert sent == ["purge"] * 3  # 3 + 3 + 2 rows
        assert [p for p, _ in store.scan(list_id, 0, None, 99)] == [8, 9, 10]
        assert store.push(list_id, [{"id": "n", "ts": 1, "v": "1"}]) == Pushed((11,))
        sent.clear()
        store.drop_entries(list_id)
        assert sent == ["purge", "purge", "drop_entries"]  # 3 + 1 rows, then the counter
        assert store.scan(list_id, 0, None, 99) == ()
        assert store.push(list_id, [{"id": "n", "ts": 1, "v": "1"}]) == Pushed((0,))


def test_every_call_is_one_request_whatever_it_must_set_up_first(own, key):
    """A connection's first call must also set statement_timeout and prepare the
    statement, and psycopg prepares a statement on its sixth use: both go in the call's
    own round trip. So a write whose answer is lost (the fault proxy cuts it) was sent,
    whole, once: on a fresh connection, and on the sixth use of a statement."""
    with FaultProxies() as proxies, PostgresStore.through(own.url, proxies.route) as store:
        store._pool.wait(timeout=30)  # the pooled connection is open and configured
        proxies.lose_answers(1)
        with pytest.raises(StoreUnavailable):
            store.put_if_absent(key, {"n": 0})  # the connection's very first call
        assert proxies.lost == 1
        assert store.get(key).doc == {"n": 0}
        for i in range(4):
            assert store.increment(key, "n", 1) == i + 1
        proxies.lose_answers(1)
        with pytest.raises(StoreUnavailable):
            store.increment(key, "n", 1)  # its statement's sixth use on this connection
        assert proxies.lost == 2
        assert store.get(key).doc == {"n": 5}


def test_pooled_sessions_use_generic_plans(own):
    """Without plan_cache_mode = force_generic_plan, PostgreSQL plans a push (its
    ``= ANY($ids)`` lookup) anew on every call."""
    with open_store(own.url) as store, store._pool.connection() as conn:
        assert conn.execute("SHOW plan_cache_mode").fetchone() == ("force_generic_plan",)


def test_a_one_thread_client_runs_every_call_on_one_connection(own):
    """The pool opens with its first connection ready: a call made at once does not find
    it empty and grow it, which would leave two connections for the pool to hand out in
    turn, each call on a cold one."""
    with open_store(own.url) as store:
        list_id = f"one-{uuid.uuid4().hex[:6]}"
        for i in range(20):
            store.push(list_id, [{"id": f"i{i}", "ts": i, "v": "1"}])
        assert store._pool.get_stats()["pool_size"] == 1


def test_an_async_one_task_client_runs_every_call_on_one_connection(own):
    async def main() -> int:
        async with await open_async_store(own.url) as store:
            list_id = f"one-{uuid.uuid4().hex[:6]}"
            for i in range(20):
                await store.push(list_id, [{"id": f"i{i}", "ts": i, "v": "1"}])
            return store._pool.get_stats()["pool_size"]

    assert asyncio.run(main()) == 1


def test_loopback_hosts_go_without_tls_unless_asked():
    def mode(url: str) -> str | None:
        return psycopg.conninfo.conninfo_to_dict(parse_url(url).conninfo()).get("sslmode")

    assert mode("postgresql://u@127.0.0.1:5/db") == "disable"
    assert mode("postgresql://u@[::1]:5/db") == "disable"
    assert mode("postgresql://u@localhost/db") == "disable"
    assert mode("postgresql://u@127.0.0.1/db?sslmode=require") == "require"
    assert mode("postgresql://u@db.example/db") is None  # libpq's own default


def test_a_list_written_in_layout_one_is_read_and_appended_as_before(own, admin):
    """A table made by pagedlist 0.1 (the rows table alone) with a list in it (layout 1):
    opening it adds the entry tables; the old list stays layout 1, is read and appended;
    new lists are layout 2."""
    table = f"old_{uuid.uuid4().hex[:8]}"
    url = f"{own.url}?table={table}"
    with open_store(url) as store:
        old = PagedList.create(store, "old-feed", capacity=3, layout=1)
        old.extend([f"v{i}" for i in range(5)])
    admin.execute(f"DROP TABLE {table}_entries, {table}_tails")  # as 0.1 left it
    with open_store(url) as store:
        assert store.features.entries
        old = PagedList.open(store, "old-feed")
        assert old.layout == 1
        assert [i.value for i in old.latest(10)] == ["v4", "v3", "v2", "v1", "v0"]
        assert old.append("v5") == 5
        assert [i.value for i in old.iter()] == [f"v{i}" for i in range(6)]
        new = PagedList.create(store, "new-feed")
        assert new.layout == 2 and new.append("n0") == 0
    summary = admin.execute(f"SELECT doc FROM {table} WHERE key = 'old-feed|s'").fetchone()[0]
    assert summary["format"] == 1
    pages = admin.execute(f"SELECT doc FROM {table} WHERE key IN ('old-feed|0', 'old-feed|1')")
    assert sorted(len(doc["items"]) for (doc,) in pages.fetchall()) == [3, 3]
    lists = {name for (name,) in admin.execute(f"SELECT DISTINCT list FROM {table}_entries")}
    assert "new-feed" in lists and "old-feed" not in lists  # and the catalogue of lists


def test_a_role_that_may_not_create_the_entry_tables_keeps_layout_one(own, admin):
    """A 0.1 table opened by a role that may not create tables: every list in layout 1
    (describe says why), until `pagedlist init` adds the entry tables; then the role is
    told what to grant before its first push."""
    role = f"old_{uuid.uuid4().hex[:8]}"
    table = f"lim_{uuid.uuid4().hex[:8]}"
    admin.execute(f"CREATE ROLE {role} LOGIN")
    PostgresStore.provision(f"{own.url}?table={table}")
    admin.execute(f"DROP TABLE {table}_entries, {table}_tails")
    admin.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}")
    url = f"postgresql://{role}@127.0.0.1:{own.ports[0]}/postgres?table={table}"
    with open_store(url) as store:
        assert not store.features.entries
        assert "layout 1 only" in store.describe() and "pagedlist init" in store.describe()
        feed = PagedList.create(store, "feed")
        assert feed.layout == 1 and feed.append("x") == 0
        with pytest.raises(Unsupported):
            store.scan("feed")
    assert PostgresStore.provision(f"{own.url}?table={table}") == (
        f"created {table}_entries, {table}_tails; {table} already existed"
    )
    with open_store(url) as store:
        assert store.features.entries
        with pytest.raises(
            ConfigError, match=f"GRANT|grant the role .* on {table}, {table}_entries"
        ):
            store.push("feed2", [{"id": "a", "ts": 1, "v": "1"}])
        admin.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table}_entries, {table}_tails TO {role}"
        )
        assert store.push("feed2", [{"id": "a", "ts": 1, "v": "1"}]) == Pushed((0,))
        assert [i.value for i in PagedList.open(store, "feed").latest(5)] == ["x"]


def test_a_table_name_too_long_for_the_entry_tables_keeps_layout_one(own):
    table = "t" + "x" * 55  # 56 characters: "<table>_entries_pkey" would be over 63
    with open_store(f"{own.url}?table={table}") as store:
        assert not store.features.entries
        assert "too long" in store.describe()
        feed = PagedList.create(store, f"long-{uuid.uuid4().hex[:6]}")
        assert feed.layout == 1 and feed.append(1) == 0
    with pytest.raises(ConfigError, match="too long"):
        PostgresStore.provision(f"{own.url}?table={table}")


# --- the asyncio adapter ---------------------------------------------------------------


def test_the_async_adapter_serves_both_schemes(own):
    async def main() -> list[object]:
        out = []
        for scheme in ("postgresql", "postgres"):
            url = own.url.replace("postgresql://", f"{scheme}://")
            async with await open_async_store(url) as store:
                assert isinstance(store, AsyncPostgresStore)
                list_id = f"a-{scheme}-{uuid.uuid4().hex[:6]}"
                out.append(await store.push(list_id, [{"id": "a", "ts": 1, "v": "1"}]))
                out.append(await store.scan(list_id, 0, None, 5))
        return out

    assert asyncio.run(main()) == [Pushed((0,)), ((0, {"id": "a", "ts": 1, "v": "1"}),)] * 2


def test_async_statement_timeout_follows_the_operation_deadline(own, key):
    """As for the sync adapter: a statement stuck behind a row lock is cancelled by the
    server at the deadline; DeadlineExceeded, nothing written."""
    list_id = key[:-2]

    async def main(locker: psycopg.Connection) -> float:
        async with await open_async_store(own.url) as store:
            await store.push(list_id, [{"id": "a", "ts": 1, "v": "1"}])
            locker.execute("SELECT 1 FROM pagedlist_tails WHERE list = %s FOR UPDATE", [list_id])
            started = time.monotonic()
            with active(time.monotonic() + 0.5), pytest.raises(DeadlineExceeded) as caught:
                await store.push(list_id, [{"id": "b", "ts": 1, "v": "2"}])
            took = time.monotonic() - started
            locker.rollback()
            assert "nothing was written" in str(caught.value)
            assert isinstance(caught.value.__cause__, psycopg.errors.QueryCanceled)
            assert await store.find_id(list_id, "b") is None
            assert await store.push(list_id, [{"id": "b", "ts": 1, "v": "2"}]) == Pushed((1,))
            return took

    with psycopg.connect(own.url) as locker:
        took = asyncio.run(main(locker))
    assert took < 1.4, took


def test_async_a_silent_server_is_cut_off_at_the_deadline(own, key):
    """A frozen server: the loop timer cuts the connection shortly after the deadline;
    DeadlineExceeded (outcome unknown), and the next call gets a fresh connection."""

    async def main() -> float:
        async with await open_async_store(own.url) as store:
            await store.put_if_absent(key, {"v": 1})
            own.pause()
            try:
                started = time.monotonic()
                with active(time.monotonic() + 0.5), pytest.raises(DeadlineExceeded) as caught:
                    await store.get(key)
                took = time.monotonic() - started
            finally:
                own.resume()
            assert "outcome is unknown" in str(caught.value)
            assert (await store.get(key)).doc == {"v": 1}
            return took

    took = asyncio.run(main())
    assert 0.5 <= took < 3.0, took


# --- the bench's native design ---------------------------------------------------------


def test_bench_native_table_design_loses_nothing(servers):
    """The textbook table (``(list, seq)`` primary key, ``ORDER BY seq DESC``) next to
    pagedlist in the bench's own workloads: every subject keeps every append."""
    from pagedlist.bench.counting import TimedStore
    from pagedlist.bench.native import native_subjects
    from pagedlist.bench.subjects import PagedListSubject
    from pagedlist.bench.workloads import BenchConfig, run_workloads

    url = servers.get("postgres").url
    with open_store(url) as store:
        timed = TimedStore(store)
        lists = PagedListSubject(timed, capacity=7, max_item_bytes=64)
        natives = native_subjects(url, store)
        assert [s.name for s in natives] == ["native:postgres-table"]
        cfg = BenchConfig(
            ops=20, concurrency=(1, 4), n=5, value_bytes=12, feed_lists=2, feed_fill=6,
            feed_threads=2,
        )  # fmt: skip
        try:
            results = run_workloads(cfg, [lists, *natives])
        finally:
            for native in natives:
                native.close()
    assert {r.subject for r in results} == {"pagedlist", "native:postgres-table"}
    for r in results:
        assert r.summary.errors == 0, r.first_error
        if r.workload in ("append", "concurrent"):
            assert (r.lost, r.duplicated) == (0, 0)
    latest = [r for r in results if r.workload == "latest" and r.kind == "native"]
    assert latest and latest[0].summary.calls_per_op == 1.0


def test_the_watchdog_outlives_a_deadline_no_lock_can_wait_for():
    # A deadline of 1e12 s is allowed (positive, finite); waiting for it raised
    # OverflowError in the watchdog's thread, which then cut nothing ever again.
    import time as clock

    from pagedlist.adapters.postgres import _Watchdog

    class NoSocket:
        def fileno(self):
            raise OSError("no socket: cutting it is a no-op")

    dog = _Watchdog()
    far, _ = dog.arm(NoSocket(), clock.monotonic() + 1e12)
    clock.sleep(0.1)
    _, fired = dog.arm(NoSocket(), clock.monotonic() + 0.05)
    limit = clock.monotonic() + 5
    while not fired[0] and clock.monotonic() < limit:
        clock.sleep(0.01)
    assert fired[0], "the watchdog thread died on the far deadline"
    dog.disarm(far)


# --- review of merge_scan: ties, bounds, U+0000, pages ----------------------------------------


def test_merge_scan_review_duplicate_scans_tie_like_the_reference(own, key):
    """Two scans of one list (same or overlapping ranges): every row of the overlap ties
    on (ts, list id, position), and the reference gives the tie to the later scan (its
    streams carry the scan's index): _MERGE_SCAN's orders end with ``ord DESC`` for it
    (without it, the first scan got the tie). The core never sends one list twice, so
    this is E17's exactness only."""
    list_id = key[:-2]
    with open_store(own.url) as store:
        store.claim(list_id, 0, [{"id": f"e{p}", "ts": 100 + p, "v": "1"} for p in range(12)])
        bad = []
        for scans in (
            (Scan(list_id, 0, None, 5, True), Scan(list_id, 0, None, 5, True)),
            (Scan(list_id, 0, None, 8, True), Scan(list_id, 0, 10, 8, True)),
            (Scan(list_id, 0, 10, 8, True), Scan(list_id, 0, None, 8, True)),
            tuple(Scan(list_id, 0, None, 4, True) for _ in range(3)),
        ):
            for n in (1, 2, 3, 5, 7, 20):
                got = store.merge_scan(scans, n)
                want = merge_answer(scans, store.scan_many(scans), n)
                if got != want:
                    bad.append((scans, n, got, want))
        assert not bad, bad[0]


def test_merge_scan_review_extreme_bounds(own, key):
    """Positions, limits, n and cursor marks at and past the 64-bit edges, and entries
    whose ts sits on the edges: merge_scan answers what the reference does (no overflow,
    no error)."""
    big = 1 << 63
    list_id = key[:-2]
    other = list_id + "-z"
    with open_store(own.url) as store:
        store.claim(list_id, 0, [
            {"id": "lo", "ts": -big, "v": "1"},
            {"id": "hi", "ts": big - 1, "v": "1"},
            {"id": "mid", "ts": 0, "v": "1"},
            {"id": "dead", "ts": 5, "v": "1", "d": 1},
            {"id": "neg", "ts": -5, "v": "1"},
        ])  # fmt: skip
        store.claim(other, 0, [{"id": f"o{p}", "ts": p - 2, "v": "1"} for p in range(5)])
        bad = []
        for lo, hi, limit in ((0, None, 10), (0, big + 7, 1 << 70), (big + 1, None, 5),
                              (2, 4, 2), (0, 1, 1), (0, big - 1, big)):  # fmt: skip
            scans = (Scan(list_id, lo, hi, limit, True), Scan(other, lo, hi, limit, True))
            for n in (1, 3, 1 << 70):
                for last in (
                    None,
                    (big, list_id, 0),
                    (1 << 80, other, -3),
                    (-big - 1, list_id, 3),
                    (-(1 << 80), other, 1 << 80),
                    (-big, list_id, 1),
                    (big - 1, list_id, 1),
                    (big - 1, other, 0),
                    (0, list_id + "-", 1 << 70),
                    (-2, other, 1),
                    (-2, "", 0),
                    (3, "\U0010ffff", -1 << 70),
                ):
                    for fresh in ((), (list_id,), (list_id, other)):
                        want = merge_answer(scans, store.scan_many(scans), n, fresh, last)
                        got = store.merge_scan(scans, n, fresh, last)
                        if got != want:
                            bad.append((lo, hi, limit, n, last, fresh, got, want))
        assert not bad, bad[0]


def test_merge_scan_review_nul_escapes_and_odd_list_ids(own, key):
    """Fields in rest with U+0000 in keys and values, the text \\u0000 itself (a
    backslash before it), a key "d" spelt next to NUL, tombstones holding NUL; list ids
    with quotes and SQL: merge_scan answers what the reference does, in SQL (no
    fallback to scan_many)."""
    base = key[:-2]
    ids = [base + "-'; DROP TABLE x; --", base + '-"\\%_', base + "-é"]
    odd = [
        {"x": "\x00"},
        {"x\x00": 1},
        {"x": "\\u0000"},
        {"x": "\\\x00d"},
        {"\x00d": 1},
        {"d\x00": 1},
        {"e": 5, "x": "a\x00b", "d": 1},
        {"d": None},
        {"d": 0},
        {"x": ["\x00", {"d": 1}]},
        {"y": {"d": 1}},
    ]
    with open_store(own.url) as store:
        for k, list_id in enumerate(ids):
            rows = [
                {"id": f"{k}-{p}", "ts": 100 + (p * 7 + k) % 9, "v": str(p), **odd[(p + k) % 11]}
                for p in range(len(odd) * 2)
            ]
            assert store.claim(list_id, 0, rows) == Claimed()
        scans = tuple(Scan(lid, 0, None, 30, True) for lid in ids)
        bad = []
        for n in (1, 4, 9, 30, 100):
            for last in (None, (103, ids[1], 5)):
                want = merge_answer(scans, store.scan_many(scans), n, tuple(ids), last)
                got = store.merge_scan(scans, n, tuple(ids), last)
                if got != want:
                    bad.append((n, last, got, want))
        assert not bad, bad[0]


@pytest.mark.parametrize("seed", range(6))
def test_merge_scan_review_random_pages_match_the_core_merge(own, key, seed):
    """latest_many on PostgreSQL (merge_scan) against the same store with its merge
    hidden, page after page: tombstones (bursts), clock skew, appends and deletes between
    pages, lists joining the set."""
    rng = random.Random(seed)
    base = key[:-2]
    with open_store(own.url) as store:
        plain = _NoMerge(store)
        sizes: dict[str, int] = {}
        clock = [10_000]

        def grow(list_id: str, k: int, dead: float) -> None:
            if list_id not in sizes:
                PagedList.create(store, list_id)
                sizes[list_id] = 0
            burst = rng.random() < 0.2
            rows = []
            for _ in range(k):
                clock[0] += rng.randrange(0, 3)
                pos = sizes[list_id] + len(rows)
                e = {"id": f"{list_id}-{pos}", "ts": clock[0] + rng.randrange(-3, 4), "v": "1"}
                if burst or rng.random() < dead:
                    e["d"] = 1
                rows.append(e)
            if rows:
                assert store.claim(list_id, sizes[list_id], rows) == Claimed()
            sizes[list_id] += k

        ids = [f"{base}-{i}" for i in range(rng.randrange(2, 7))]
        for list_id in ids:
            grow(list_id, rng.randrange(0, 50), rng.choice([0.0, 0.3, 0.9]))
        n = rng.choice([1, 3, 7, 20])
        cursor = None
        for pages in range(500):
            want = PagedList.latest_many(plain, ids, n, cursor=cursor)
            got = PagedList.latest_many(store, ids, n, cursor=cursor)
            assert got == want, (seed, pages)
            cursor = want.cursor
            if cursor is None:
                break
            if pages < 15:
                for list_id in rng.sample(ids, 2):
                    if rng.random() < 0.6:
                        grow(list_id, rng.randrange(0, 2 * n + 2), rng.choice([0.0, 1.0]))
                    elif sizes.get(list_id):
                        pos = rng.randrange(sizes[list_id])
                        row = store.get_entry(list_id, pos)
                        if row is not None and "d" not in row.doc:
                            store.replace_entry(list_id, pos, {**row.doc, "d": 1}, row.version)
                if rng.random() < 0.2:
                    ids.append(f"{base}-j{pages}")
                    grow(ids[-1], rng.randrange(0, 3 * n), 0.2)
        else:
            raise AssertionError("the cursor never ended")
