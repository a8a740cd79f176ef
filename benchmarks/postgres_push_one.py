"""Statement shapes for the one-entry push (layout 2's append), measured on one server
next to the native ``INSERT``: which part of the statement the server spends its time on.

    .venv/bin/python benchmarks/postgres_push_one.py [URL] [--ops N] [--rounds R] [--fill F]

Without a URL it starts a throw-away server with ``pg_stat_statements`` loaded, and then
also reports each statement's mean execution time on the server (planning excluded: the
generic plans are cached). Each shape gets tables of its own with the
adapter's DDL (``push1_*``, dropped first) and a list filled with ``--fill`` entries;
statements run as the adapter runs them (psycopg, autocommit, prepared,
``plan_cache_mode = force_generic_plan``), the shapes taking turns call by call. Reported
per shape: median wall time, median client CPU (``time.thread_time``), their difference
(the server and the wire), and the WAL one append writes.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator

import psycopg
from psycopg import sql

from pagedlist.adapters import postgres as adapter

X = adapter._VERSION

# The adapter's statement as it is: the counter as one upsert, which bumps an existing row
# or creates it in one ModifyTable node (ON CONFLICT DO UPDATE locks the row like an
# UPDATE does, and waits for a racing creator instead of returning nothing).
CURRENT = adapter._PUSH_ONE

# The push before the counter's upsert: an UPDATE, then an INSERT ... DO NOTHING.
BEFORE = f"""
WITH known AS (
    SELECT pos FROM {{e}} WHERE list = %(list)s AND pushed AND id = %(id)s
),
bump AS (
    UPDATE {{tails}} SET next = greatest(next, %(floor)s) + 1
    WHERE list = %(list)s AND NOT EXISTS (SELECT 1 FROM known)
    RETURNING next - 1 AS pos
),
made AS (
    INSERT INTO {{tails}} (list, next)
    SELECT %(list)s, %(floor)s::bigint + 1
    WHERE NOT EXISTS (SELECT 1 FROM known) AND NOT EXISTS (SELECT 1 FROM bump)
    ON CONFLICT (list) DO NOTHING
    RETURNING next - 1 AS pos
),
ins AS (
    INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
    SELECT n.pos, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s
    FROM (SELECT pos FROM bump UNION ALL SELECT pos FROM made) AS n
    RETURNING pos
)
SELECT (SELECT pos FROM known), (SELECT pos FROM ins)
"""

# The upsert, the entry insert as the main statement (a known id answers no row).
UPSERT_MAIN = f"""
WITH bump AS (
    INSERT INTO {{tails}} AS t (list, next)
    SELECT %(list)s, %(floor)s::bigint + 1
    WHERE NOT EXISTS (SELECT 1 FROM {{e}} WHERE list = %(list)s AND pushed AND id = %(id)s)
    ON CONFLICT (list) DO UPDATE SET next = greatest(t.next, %(floor)s) + 1
    RETURNING t.next - 1 AS pos
)
INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
SELECT bump.pos, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s FROM bump
RETURNING pos
"""

# Optimistic: no id lookup; a pushed id fails the id index (23505, the whole statement
# rolled back, the counter too), and only then would the full statement run.
OPTIMISTIC = f"""
WITH bump AS (
    INSERT INTO {{tails}} AS t (list, next)
    VALUES (%(list)s, %(floor)s::bigint + 1)
    ON CONFLICT (list) DO UPDATE SET next = greatest(t.next, %(floor)s) + 1
    RETURNING t.next - 1 AS pos
)
INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
SELECT bump.pos, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s FROM bump
RETURNING pos
"""

# Parts: the id lookup and the insert (no counter); the counter and the insert (no lookup).
LOOKUP_INSERT = f"""
WITH known AS (
    SELECT pos FROM {{e}} WHERE list = %(list)s AND pushed AND id = %(id)s
),
ins AS (
    INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
    SELECT %(pos)s, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s
    WHERE NOT EXISTS (SELECT 1 FROM known)
    RETURNING pos
)
SELECT (SELECT pos FROM known), (SELECT pos FROM ins)
"""
LOOKUP_INSERT_PLAIN = f"""
INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
SELECT %(pos)s, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s
WHERE NOT EXISTS (SELECT 1 FROM {{e}} WHERE list = %(list)s AND pushed AND id = %(id)s)
"""
INSERT_SELECT = f"""
INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
SELECT %(pos)s, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s
"""
INSERT_CTE = f"""
WITH ins AS (
    INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
    VALUES (%(pos)s, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s)
    RETURNING pos
)
SELECT NULL::bigint, (SELECT pos FROM ins)
"""
COUNTER_INSERT = f"""
WITH bump AS (
    UPDATE {{tails}} SET next = greatest(next, %(floor)s) + 1
    WHERE list = %(list)s RETURNING next - 1 AS pos
)
INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
SELECT bump.pos, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s FROM bump
"""

# Only the entry insert (no id lookup, no counter): the floor of any layout-2 push.
INSERT_ONLY = f"""
INSERT INTO {{e}} (pos, version, ts, pushed, list, id, v, rest)
VALUES (%(pos)s, {X}, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s)
"""

INSERT_NO_VERSION = """
INSERT INTO {e} (pos, version, ts, pushed, list, id, v, rest)
VALUES (%(pos)s, 0, %(ts)s, true, %(list)s, %(id)s, %(v)s, %(rest)s)
"""

NATIVE_DDL = """
DROP TABLE IF EXISTS push1_native;
CREATE TABLE push1_native (list text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY, item_id text COLLATE "C" NOT NULL,
    ts bigint NOT NULL, v text NOT NULL, PRIMARY KEY (list, seq), UNIQUE (list, item_id))
"""
NATIVE = (
    "INSERT INTO push1_native (list, item_id, ts, v) VALUES (%(list)s, %(id)s, %(ts)s, "
    "%(v)s) ON CONFLICT (list, item_id) DO NOTHING"
)


def _tables(conn: psycopg.Connection, prefix: str) -> dict[str, sql.Identifier]:
    names = {
        "t": sql.Identifier(f"{prefix}"),
        "e": sql.Identifier(f"{prefix}_entries"),
        "tails": sql.Identifier(f"{prefix}_tails"),
        "e_pkey": sql.Identifier(f"{prefix}_entries_pkey"),
        "e_ids": sql.Identifier(f"{prefix}_entries_ids"),
    }
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {e}, {tails}").format(**names))
    for part in adapter._ENTRIES_DDL.split(";"):
        if part.strip():
            conn.execute(sql.SQL(part).format(**names))
    return names


@contextlib.contextmanager
def _server(url: str | None) -> Iterator[str]:
    """``url``, or a throw-away local server that loads pg_stat_statements."""
    if url:
        yield url
        return
    from pagedlist.emulators.postgres import PostgresEmulator

    settings = {"shared_preload_libraries": "pg_stat_statements"}
    with PostgresEmulator(settings=settings).start() as running:
        yield running.url


def _server_times(conn: psycopg.Connection, tables: dict[str, str]) -> dict[str, float]:
    """Mean execution time (us) of each shape's statement, by the table it writes."""
    rows = conn.execute(
        "SELECT query, mean_exec_time FROM pg_stat_statements WHERE calls > 100"
    ).fetchall()
    out = {}
    for name, table in tables.items():
        times = [t for q, t in rows if f"{table} " in q or f'"{table}"' in q]
        if times:
            out[name] = max(times) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fill", type=int, default=5000)
    args = parser.parse_args()
    shapes = {
        "adapter's push_one": CURRENT,
        "0.1 push_one (UPDATE + INSERT)": BEFORE,
        "upsert, insert as main": UPSERT_MAIN,
        "optimistic: no lookup": OPTIMISTIC,
        "part: lookup + insert": LOOKUP_INSERT,
        "part: counter + insert": COUNTER_INSERT,
        "part: lookup + insert, no CTE": LOOKUP_INSERT_PLAIN,
        "part: insert ... select": INSERT_SELECT,
        "part: insert in a CTE": INSERT_CTE,
        "entry insert only": INSERT_ONLY,
        "entry insert, constant version": INSERT_NO_VERSION,
    }
    with _server(args.url) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(adapter._SESSION)
        stats = conn.execute(
            "SELECT count(*) FROM pg_settings WHERE name = 'shared_preload_libraries' "
            "AND setting LIKE '%%pg_stat_statements%%'"
        ).fetchone() == (1,)
        if stats:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        tables = {"native INSERT": "push1_native"}
        conn.execute(NATIVE_DDL)
        lid = f"L{uuid.uuid4().hex[:8]}"
        value = "x" * 200
        calls: dict[str, Callable[[], object]] = {}
        for k, (name, text) in enumerate(shapes.items()):
            names = _tables(conn, f"push1_{k}")
            tables[name] = f"push1_{k}_entries"
            statement = sql.SQL(text).format(**names).as_string(conn)
            fill = sql.SQL(CURRENT).format(**names).as_string(conn)
            with conn.transaction():
                for i in range(args.fill):
                    p = {"list": lid, "id": f"f{i}", "ts": i, "v": value, "rest": None,
                         "floor": 0}  # fmt: skip
                    conn.execute(fill, p)
            counter = [args.fill]

            def call(statement: str = statement, counter: list[int] = counter) -> object:
                counter[0] += 1
                n = counter[0]
                p = {"list": lid, "id": f"n{n}", "ts": n, "v": value, "rest": None,
                     "floor": 0, "pos": n}  # fmt: skip
                cur = conn.execute(statement, p)
                # As the adapter reads an answer: one row, no column descriptions.
                return cur.fetchone() if cur.pgresult and cur.pgresult.nfields else None

            calls[name] = call
        with conn.transaction():
            for i in range(args.fill):
                conn.execute(NATIVE, {"list": lid, "id": f"f{i}", "ts": i, "v": value})
        native_n = [0]

        def native() -> object:
            native_n[0] += 1
            return conn.execute(NATIVE, {"list": lid, "id": f"n{native_n[0]}", "ts": 1, "v": value})

        calls["native INSERT"] = native
        for each in calls.values():
            for _ in range(30):
                each()
        if stats:
            conn.execute("SELECT pg_stat_statements_reset()")
        wall: dict[str, list[float]] = {name: [] for name in calls}
        cpu: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.ops * args.rounds):
            for name, each in calls.items():
                c, w = time.thread_time(), time.perf_counter()
                each()
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.thread_time() - c)
        server_us = _server_times(conn, tables) if stats else {}
        wal = {}
        for name, each in calls.items():
            (before,) = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()  # type: ignore[misc]
            for _ in range(args.ops):
                each()
            (diff,) = conn.execute(  # type: ignore[misc]
                "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [before]
            ).fetchone()
            wal[name] = float(diff) / args.ops

        def med(xs: list[float]) -> float:
            return sorted(xs)[len(xs) // 2] * 1e6

        base = med(wall["native INSERT"])
        print(f"one-entry push shapes, list of {args.fill}: median of "
              f"{args.ops * args.rounds} calls each, interleaved")  # fmt: skip
        for name in calls:
            w, c = med(wall[name]), med(cpu[name])
            on_server = f"  server {server_us[name]:4.0f} us" if name in server_us else ""
            print(f"  {name:32} wall {w:5.0f} us ({w / base:4.2f}x)  client CPU {c:4.0f} us"
                  f"  rest {w - c:5.0f} us{on_server}  WAL {wal[name]:4.0f} B")  # fmt: skip


if __name__ == "__main__":
    main()
