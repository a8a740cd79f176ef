"""SQLite's layout 2 beyond the conformance suite: what one append costs (one autocommit
statement), the tail a purge keeps, rows a claim wrote at the tail,
failed pushes that leave no transaction open, and files written before layout 2 (their
lists keep layout 1; a read-only one serves them without the entry tables)."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from pagedlist import PagedList, open_store
from pagedlist.adapters.sqlite import _SCAN_DESC, CLAIM_ENTRIES, SQLiteStore
from pagedlist.conformance.fixtures import LayoutOneStore
from pagedlist.core.ops import Claimed, Features, Pushed
from pagedlist.core.store import NO_FEATURES
from pagedlist.errors import ItemTooLarge, StoreError, Throttled, Unsupported


def _entry(item_id: str, v: str = '"x"') -> dict:
    return {"id": item_id, "ts": 1, "v": v}


@pytest.fixture
def path(tmp_path):
    return tmp_path / "entries.db"


@pytest.fixture
def store(path):
    opened = SQLiteStore(str(path))
    yield opened
    opened.close()


def _traced(store: SQLiteStore) -> list[str]:
    """Every statement this thread's connection of ``store`` runs from now on."""
    seen: list[str] = []
    store._conn().set_trace_callback(seen.append)
    return seen


def test_features_declare_entries_with_push(store):
    assert store.features == Features(entries=True, push=True, claim_entries=CLAIM_ENTRIES)


def test_one_append_is_one_autocommit_statement(store, path):
    lst = PagedList.create(store, "feed")
    lst.append("warm")  # settings loaded: the next append makes only its push
    seen = _traced(store)
    lst.append("hello")
    assert len(seen) == 1 and seen[0].startswith("INSERT INTO pagedlist_entries")
    assert "RETURNING pos" in seen[0] and "pagedlist_rows" not in seen[0]
    assert not store._conn().in_transaction
    assert [i.value for i in lst.latest(5)] == ["hello", "warm"]


def test_a_repeated_push_of_one_entry_writes_nothing_and_answers_its_position(store):
    assert store.push("L", [_entry("a")]) == Pushed((0,))
    assert store.push("L", [_entry("b")]) == Pushed((1,))
    seen = _traced(store)
    # The single statement inserts nothing; the transaction reads the id's position.
    assert store.push("L", [_entry("a", '"other"')]) == Pushed((0,))
    assert [s.split()[0] for s in seen] == ["INSERT", "BEGIN", "SELECT", "COMMIT"]
    assert [(p, e["v"]) for p, e in store.scan("L", limit=10)] == [(0, '"x"'), (1, '"x"')]
    assert store.push("L", [_entry("c")]) == Pushed((2,))


def test_a_push_of_one_entry_honours_the_floor_and_the_tail_a_purge_kept(store):
    assert store.push("L", [_entry("a")], floor=5) == Pushed((5,))
    assert store.push("L", [_entry("b")], floor=2) == Pushed((6,))
    store.purge("L", 7)
    assert store.scan("L", limit=10) == ()
    assert store.push("L", [_entry("a")]) == Pushed((7,))  # purged: its id left the index
    assert store.push("L", [_entry("c")], floor=20) == Pushed((20,))


def test_a_batch_push_is_one_transaction_and_repeats_answer_their_first_positions(store):
    batch = [_entry("a"), _entry("b"), _entry("a"), _entry("c")]
    assert store.push("L", batch) == Pushed((0, 1, 0, 2))
    seen = _traced(store)
    assert store.push("L", [_entry("c"), _entry("d")]) == Pushed((2, 3))
    assert [s.split()[0] for s in seen] == ["BEGIN", "SELECT", "SELECT", "INSERT", "COMMIT"]
    assert [p for p, _ in store.scan("L", limit=10)] == [0, 1, 2, 3]
    assert store.find_id("L", "d") == 3 and store.find_id("L", "zz") is None


def test_scans_are_ordered_range_reads_on_the_primary_key(store, path):
    store.push("L", [_entry(str(i)) for i in range(20)])
    seen = _traced(store)
    got = store.scan("L", lo=5, hi=15, limit=3, newest_first=True)
    assert [p for p, _ in got] == [14, 13, 12]
    # One statement (no BEGIN/COMMIT around it); the trace shows it with its parameters
    # bound, the module's text has them as ? marks.
    assert len(seen) == 1 and seen[0].endswith("ORDER BY pos DESC LIMIT 3")
    assert _SCAN_DESC.endswith("ORDER BY pos DESC LIMIT ?")
    db = sqlite3.connect(path)
    plan = db.execute(f"EXPLAIN QUERY PLAN {_SCAN_DESC}", ("L", 5, 15, 3)).fetchall()
    assert "USING PRIMARY KEY (list=? AND pos>? AND pos<?)" in plan[0][3]
    ids = db.execute(
        "EXPLAIN QUERY PLAN SELECT pos FROM pagedlist_entries WHERE list = ? AND pushed_id = ?",
        ("L", "3"),
    ).fetchall()
    assert "pagedlist_entries_ids" in ids[0][3]


def test_a_purge_of_every_row_never_lets_a_push_reuse_a_position(store):
    store.push("L", [_entry(str(i)) for i in range(5)])
    store.purge("L", 100)
    assert store.scan("L", limit=10) == ()
    assert store.find_id("L", "4") is None  # ids leave the index with their rows
    assert store.push("L", [_entry("4")]) == Pushed((5,))
    store.drop_entries("L")  # forgets the tail too
    assert store.push("L", [_entry("x")]) == Pushed((0,))


def test_a_purge_bounded_per_transaction_removes_everything_below(store, monkeypatch):
    monkeypatch.setattr("pagedlist.adapters.sqlite.PURGE_ROWS", 7)
    store.push("L", [_entry(str(i)) for i in range(30)])
    store.purge("L", 25)
    assert [p for p, _ in store.scan("L", limit=100)] == [25, 26, 27, 28, 29]
    assert store.push("L", [_entry("new")]) == Pushed((30,))


def test_a_push_goes_past_rows_a_claim_wrote_at_the_tail(store, path):
    store.push("L", [_entry("a")])
    # A client that sees no push feature (an older pagedlist, LayoutOneStore) claims.
    assert store.claim("L", 1, [_entry("b"), _entry("c")]) == Claimed()
    assert store.push("L", [_entry("d")]) == Pushed((3,))
    assert [e["id"] for _, e in store.scan("L", limit=10)] == ["a", "b", "c", "d"]


def test_entries_come_back_exactly(store):
    odd = [
        {"id": "t", "ts": 7, "d": 1},
        {"id": "e", "ts": 1 << 70, "v": '{"k": [1, 2]}', "e": 9, "x": 1},
        {"id": "n\x00ul", "ts": -1, "v": "\x00 é 😀"},
        {"id": "s", "ts": "not an int", "v": 5},
    ]
    store.push("L", odd)
    assert [e for _, e in store.scan("L", limit=10)] == odd
    row = store.get_entry("L", 1)
    assert row.doc == odd[1]
    edited = {"id": "e", "ts": 2, "v": '"new"'}
    version = store.replace_entry("L", 1, edited, row.version)
    assert version is not None and version != row.version
    assert store.replace_entry("L", 1, edited, row.version) is None  # stale version
    assert store.replace_entry("L", 99, edited, version) is None  # never creates
    assert store.get_entry("L", 1).doc == edited


def test_a_push_over_the_row_limit_writes_nothing(store):
    with pytest.raises(ItemTooLarge, match="nothing was written"):
        store.push("L", [_entry("a"), _entry("b", "x" * 500_000)])
    assert store.scan("L", limit=10) == ()
    assert not store._conn().in_transaction


def test_a_push_refused_inside_its_transaction_rolls_back(store, path):
    store.push("L", [_entry("a")])
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON pagedlist_entries WHEN NEW.id = 'bad' "
            "BEGIN SELECT RAISE(ABORT, 'refused by trigger'); END"
        )
    with pytest.raises(StoreError, match="refused by trigger"):
        store.push("L", [_entry("ok"), _entry("bad")])
    assert not store._conn().in_transaction
    assert store.find_id("L", "ok") is None  # all or nothing
    assert store.push("L", [_entry("ok")]) == Pushed((1,))
    other = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    other.execute("BEGIN IMMEDIATE")  # the write lock was released
    other.execute("ROLLBACK")


def test_a_busy_push_commits_nothing_and_the_next_one_works(path):
    store = open_store(f"sqlite:///{path}?timeout=0.02")
    store.push("L", [_entry("a")])
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    with pytest.raises(Throttled, match="nothing was committed"):
        store.push("L", [_entry("b")])
    writer.execute("ROLLBACK")
    assert store.push("L", [_entry("b")]) == Pushed((1,))
    store.close()


def test_threads_pushing_to_one_list_get_dense_unique_positions(path):
    store = SQLiteStore(str(path), timeout=30)
    got: list[int] = []
    lock = threading.Lock()

    def run(w: int) -> None:
        for j in range(25):
            positions = store.push("L", [_entry(f"{w}-{j}"), _entry(f"{w}-{j}b")]).positions
            with lock:
                got.extend(positions)

    pool = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert sorted(got) == list(range(200))
    assert len(store.scan("L", limit=1000)) == 200
    store.close()


def _old_file(path) -> None:
    """A file as pagedlist before layout 2 left it: a list of page rows, no entry tables."""
    store = SQLiteStore(str(path))
    lst = PagedList.create(LayoutOneStore(store), "old", capacity=4)
    for i in range(10):
        lst.append(f"v{i}")
    store.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE pagedlist_entries")
        db.execute("DROP TABLE pagedlist_tails")


def test_a_list_of_a_file_made_before_layout_2_keeps_layout_1(path):
    _old_file(path)
    store = SQLiteStore(str(path))
    assert store.features.entries  # the entry tables were created on open
    old = PagedList(store, "old")
    assert old.layout == 1
    old.append("v10")
    assert [i.value for i in old.latest(3)] == ["v10", "v9", "v8"]
    assert PagedList.create(store, "new").layout == 2
    store.close()


def test_a_read_only_file_made_before_layout_2_serves_its_lists_in_layout_1(path):
    _old_file(path)
    store = SQLiteStore(f"file:{path}?mode=ro")
    assert store.features == NO_FEATURES
    assert [i.value for i in PagedList(store, "old").latest(2)] == ["v9", "v8"]
    with pytest.raises(Unsupported, match="layout 1"):
        store.scan("old")
    store.close()
