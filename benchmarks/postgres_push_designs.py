"""The physical designs PostgreSQL's layout 2 was chosen from, measured statement by
statement on one server (the adapter's choice is the first of each group).

    .venv/bin/python benchmarks/postgres_push_designs.py [URL] [--ops N] [--rounds R]

Without a URL it starts a throw-away server and stops it afterwards. Each design gets
tables of its own (``design_*``, dropped first); statements run as the adapter runs them
(psycopg, autocommit, prepared, ``plan_cache_mode = force_generic_plan``). Reported: the
median latency of ``--ops`` x ``--rounds`` calls, the designs taking turns call by call (so
the machine's other load falls on all of them alike), and the WAL each append writes.

Appends (one entry, 200-byte value):

* ``counter + id index``: the adapter's push (``_PUSH_ONE``): the list's id index looked
  up, its tail counter row bumped or created by one upsert (locked until commit), the
  entry inserted (``postgres_push_one.py`` takes this statement apart);
* ``max + 1, optimistic``: no counter row; the tail is the index's newest position + 1,
  a racing push fails the primary key (23505) and runs again; the id index deduplicates
  by ``ON CONFLICT``. Cheaper by a row update, but under contention every lost race is a
  failed statement (and an ERROR line in the server's log), and a purge of a list's newest
  rows racing a push could hand a purged position out again;
* ``counter, no id index``: what list-wide deduplication by id costs;
* ``counter + id index, JSON entry``: the entry as one JSON text column instead of typed
  columns;
* ``native``: ``bench/native/postgres.py``'s ``INSERT ... ON CONFLICT (list, item_id) DO
  NOTHING`` into ``(list, seq)``.

Then the adapter's ``scan_many`` of 2, 5 and 20 lists under PostgreSQL's default
``plan_cache_mode = auto`` (which keeps planning it afresh on every call for a few lists)
and under ``force_generic_plan``, which the adapter's sessions use.

Reads (``latest(50)``, rows turned into entry dicts as the adapter returns them): typed
columns, one JSON text column per row, one ``json_agg`` of typed columns, and the native
four columns (tuples only: the native subject builds no entries).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable

import psycopg
from pg_server import server

X = "pg_current_xact_id()::text::bigint"


def _tables(conn: psycopg.Connection, p: str, *, ids: bool = True, typed: bool = True) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {p}_e, {p}_t")
    cols = "ts bigint, pushed boolean NOT NULL, list text COLLATE \"C\" NOT NULL, id text " \
        "COLLATE \"C\" NOT NULL, v text, rest text" if typed else \
        "pushed boolean NOT NULL, list text COLLATE \"C\" NOT NULL, id text COLLATE \"C\" " \
        "NOT NULL, entry text NOT NULL"  # fmt: skip
    conn.execute(
        f"CREATE TABLE {p}_e (pos bigint NOT NULL, version bigint NOT NULL, {cols}, "
        "PRIMARY KEY (list, pos))"
    )
    if ids:
        conn.execute(f"CREATE UNIQUE INDEX ON {p}_e (list, id) WHERE pushed")
    conn.execute(
        f'CREATE TABLE {p}_t (list text COLLATE "C" PRIMARY KEY, next bigint NOT NULL) '
        "WITH (fillfactor = 50)"
    )


def _counter(p: str, *, ids: bool = True, typed: bool = True) -> str:
    known = (
        f"SELECT pos FROM {p}_e WHERE list = %(l)s AND pushed AND id = %(id)s"
        if ids
        else "SELECT NULL::bigint AS pos WHERE false"
    )
    cols, vals = ("ts, v, rest", "%(ts)s, %(v)s, NULL") if typed else ("entry", "%(entry)s")
    return f"""
WITH known AS ({known}),
bump AS (INSERT INTO {p}_t AS t (list, next)
         SELECT %(l)s, 1 WHERE NOT EXISTS (SELECT 1 FROM known)
         ON CONFLICT (list) DO UPDATE SET next = t.next + 1 RETURNING t.next - 1 AS pos),
ins AS (INSERT INTO {p}_e (pos, version, pushed, list, id, {cols})
        SELECT bump.pos, {X}, true, %(l)s, %(id)s, {vals} FROM bump RETURNING pos)
SELECT (SELECT pos FROM known), (SELECT pos FROM ins)"""


def _optimistic(p: str) -> str:
    return f"""
INSERT INTO {p}_e (pos, version, ts, pushed, list, id, v, rest)
SELECT coalesce((SELECT pos + 1 FROM {p}_e WHERE list = %(l)s ORDER BY pos DESC LIMIT 1), 0),
       {X}, %(ts)s, true, %(l)s, %(id)s, %(v)s, NULL
ON CONFLICT (list, id) WHERE pushed DO NOTHING RETURNING NULL::bigint, pos"""


_NATIVE_DDL = """
DROP TABLE IF EXISTS design_native;
CREATE TABLE design_native (list text COLLATE "C" NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY, item_id text COLLATE "C" NOT NULL,
    ts bigint NOT NULL, v text NOT NULL, PRIMARY KEY (list, seq), UNIQUE (list, item_id))
"""
_NATIVE = (
    "INSERT INTO design_native (list, item_id, ts, v) VALUES (%(l)s, %(id)s, %(ts)s, %(v)s) "
    "ON CONFLICT (list, item_id) DO NOTHING"
)


def _params(list_id: str) -> dict:
    item = uuid.uuid4().hex
    v = json.dumps("x" * 198)
    ts = int(time.time() * 1000)
    entry = json.dumps({"id": item, "ts": ts, "v": v}, separators=(",", ":"))
    return {"l": list_id, "id": item, "ts": ts, "v": v, "entry": entry}


def _medians(designs: dict[str, Callable[[], object]], ops: int, rounds: int) -> dict[str, float]:
    """Each design's median latency (µs) over ``ops * rounds`` calls, the designs taking
    turns call by call, so a change in the machine's other load falls on all of them."""
    times: dict[str, list[float]] = {name: [] for name in designs}
    for _ in range(ops * rounds):
        for name, call in designs.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {name: sorted(t)[len(t) // 2] * 1e6 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", nargs="?")
    parser.add_argument("--ops", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with server(args.url) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        _tables(conn, "design_counter")
        _tables(conn, "design_optimistic")
        _tables(conn, "design_noids", ids=False)
        _tables(conn, "design_json", typed=False)
        conn.execute(_NATIVE_DDL)
        lid = f"L{uuid.uuid4().hex[:8]}"
        statements = {
            "counter + id index": _counter("design_counter"),
            "max + 1, optimistic": _optimistic("design_optimistic"),
            "counter, no id index": _counter("design_noids", ids=False),
            "counter + id index, JSON entry": _counter("design_json", typed=False),
            "native": _NATIVE,
        }

        def call(statement: str) -> Callable[[], object]:
            return lambda: conn.execute(statement, _params(lid))

        appends = {name: call(statement) for name, statement in statements.items()}
        for each in appends.values():  # prepared, generic plans chosen
            for _ in range(20):
                each()
        latency = _medians(appends, args.ops, args.rounds)
        wal: dict[str, float] = {}
        for name, each in appends.items():
            before = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
            for _ in range(args.ops):
                each()
            wal[name] = (
                conn.execute(
                    "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)", [before]
                ).fetchone()[0]
                / args.ops
            )
        print(f"append, one entry: median of {args.ops * args.rounds} calls each, interleaved")
        for name in statements:
            ratio = latency[name] / latency["native"]
            print(f"  {name:32} {latency[name]:6.0f} us ({ratio:4.2f}x)  WAL {wal[name]:5.0f} B")

        # The adapter's scan_many (the home timeline's read), planned the way PostgreSQL
        # does by default (a custom plan per call whenever it cannot cost a generic one
        # as cheaply) and the way the adapter's sessions do (force_generic_plan).
        from pagedlist.adapters import postgres as adapter

        scan_many = adapter._SCAN_MANY.replace("{e}", "design_counter_e")
        with psycopg.connect(url, autocommit=True) as default:
            calls = {}
            for count in (2, 5, 20):
                lists = [f"{lid}-m{count}-{i}" for i in range(count)]
                for name in lists:
                    for _ in range(50):
                        conn.execute(_counter("design_counter"), _params(name))
                params = {
                    "lists": lists,
                    "los": [0] * count,
                    "his": [(1 << 63) - 1] * count,
                    "limits": [50] * count,
                    "newest": [True] * count,
                }
                for mode, session in (("default", default), ("generic", conn)):
                    calls[f"scan_many of {count:2} lists, {mode}"] = (
                        lambda session=session, params=params: session.execute(
                            scan_many, params
                        ).fetchall()
                    )
            for each in calls.values():
                for _ in range(20):
                    each()
            plans = _medians(calls, args.ops // 2, args.rounds)
        print("scan_many by plan_cache_mode (auto, PostgreSQL's default; force_generic_plan)")
        for name, took in plans.items():
            print(f"  {name:32} {took:6.0f} us")

        def latest(query: str, build: Callable[[list], list]) -> Callable[[], object]:
            def run() -> object:
                out = build(conn.execute(query, {"l": lid, "n": 50}).fetchall())
                assert len(out) == 50
                return out

            return run

        def typed(rows: list) -> list:
            return [(p, {"id": i, "ts": ts, "v": v}) for p, i, ts, v, _ in rows]

        def agg(rows: list) -> list:
            return [(p, {"id": i, "ts": ts, "v": v}) for p, i, ts, v, _ in rows[0][0]]

        reads = {
            "typed columns": latest(
                "SELECT pos, id, ts, v, rest FROM design_counter_e WHERE list = %(l)s "
                "ORDER BY pos DESC LIMIT %(n)s",
                typed,
            ),
            "JSON text column": latest(
                "SELECT pos, entry FROM design_json_e WHERE list = %(l)s "
                "ORDER BY pos DESC LIMIT %(n)s",
                lambda rows: [(p, json.loads(t)) for p, t in rows],
            ),
            "json_agg of typed columns": latest(
                "SELECT json_agg(json_build_array(pos, id, ts, v, rest)) FROM (SELECT pos, id, "
                "ts, v, rest FROM design_counter_e WHERE list = %(l)s ORDER BY pos DESC "
                "LIMIT %(n)s) AS s",
                agg,
            ),
            "native": latest(
                "SELECT seq, item_id, ts, v FROM design_native WHERE list = %(l)s "
                "ORDER BY seq DESC LIMIT %(n)s",
                lambda rows: rows,
            ),
        }
        for each in reads.values():
            for _ in range(20):
                each()
        latency = _medians(reads, args.ops, args.rounds)
        print("latest(50), rows to entries")
        for name in reads:
            ratio = latency[name] / latency["native"]
            print(f"  {name:32} {latency[name]:6.0f} us ({ratio:4.2f}x)")


if __name__ == "__main__":
    main()
