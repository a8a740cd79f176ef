"""The conformance suite against a throw-away PostgreSQL server, plus what is PostgreSQL's
own: URL forms, passwords (never in the URL, only from libpq's sources), the size the SQL
keeps, U+0000 in jsonb, statement_timeout and the watchdog, and the mapping of server
errors (by SQLSTATE) to pagedlist errors."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from pagedlist import PagedList
from pagedlist.adapters import open_store
from pagedlist.adapters.postgres import POSTGRES_ROW_BYTES, PostgresStore, parse_url
from pagedlist.conformance import ConformanceSuite, StoreFixtures
from pagedlist.conformance.blocking import AsyncAdapterFixtures
from pagedlist.conformance.fixtures import LayoutOneFixtures
from pagedlist.conformance.history_clauses import AbstractHistoryTests
from pagedlist.conformance.list_clauses import AbstractListTests
from pagedlist.conformance.store_clauses import race
from pagedlist.core.deadline import active
from pagedlist.core.ops import Appended, Duplicate
from pagedlist.emulators.base import free_port
from pagedlist.emulators.postgres import PostgresEmulator, PostgresRunning
from pagedlist.errors import (
    ConfigError,
    DeadlineExceeded,
    InvalidValue,
    ItemTooLarge,
    StoreUnavailable,
    Throttled,
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
