"""The benchmark harness: percentiles, per-op accounting, units, targets, and a CLI smoke run.

Nothing here asserts speed: only that the harness counts and computes correctly.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from pagedlist.adapters.memory import MemoryStore
from pagedlist.bench.command import bench
from pagedlist.bench.counting import TimedStore
from pagedlist.bench.report import evaluate_targets, render_markdown
from pagedlist.bench.runner import Phase, merge_phases, run_phase, summarize_phase
from pagedlist.bench.stats import Sample, is_unit, percentile, summarize, unit_deltas
from pagedlist.bench.subjects import (
    Entry,
    PagedListSubject,
    RawPageSubject,
    RawSubject,
    make_entry,
)
from pagedlist.bench.sweep import sweep_capacity
from pagedlist.bench.workloads import BenchConfig, run_workloads, verify


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 99) == 7.0
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_summarize_divides_units_calls_and_cpu_per_operation() -> None:
    samples = [
        Sample(latency=0.001, cpu=0.0001, calls=1, store_cpu=0.00004),
        Sample(latency=0.003, cpu=0.0003, calls=3, store_cpu=0.0001),
    ]
    s = summarize(samples, 0.5, errors=1, units={"write_units": 9.0})
    assert s.ops == 2 and s.errors == 1
    assert s.p50_ms == pytest.approx(2.0)
    assert s.mean_ms == pytest.approx(2.0)
    assert s.max_ms == pytest.approx(3.0)
    assert s.throughput == pytest.approx(4.0)
    assert s.calls_per_op == 2.0
    assert s.cpu_us_per_op == pytest.approx(200.0)
    assert s.overhead_us_per_op == pytest.approx(130.0)
    assert s.units_per_op == {"write_units": 4.5}


def test_unit_deltas_keep_grown_numeric_totals_only() -> None:
    before = {"read_units": 1.5, "calls": 3, "ok": True}
    after = {"read_units": 4.0, "write_units": 2, "calls": 9, "ok": False, "name": "x"}
    assert unit_deltas(before, after) == {"read_units": 2.5, "write_units": 2.0}
    assert is_unit("request_charge_ru") and is_unit("write_units")
    assert not is_unit("round_trips") and not is_unit("throttled")


def test_timed_store_counts_calls_per_thread() -> None:
    store = TimedStore(MemoryStore())
    counts: dict[int, int] = {}

    def work(k: int) -> None:
        for i in range(k):
            store.put_if_absent(f"t{k}-{i}", {"a": 1})
        store.get_many([f"t{k}-0", f"t{k}-1"])
        counts[k] = store.mark()[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in (3, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == {3: 4, 7: 8}
    assert store.total_calls == 12
    assert store.mark() == (0, 0.0)  # this thread made none


def test_verify_counts_lost_and_duplicated_ids() -> None:
    assert verify(["a", "b", "c"], ["a", "b", "c"]) == (0, 0)
    assert verify(["a", "b", "c"], ["a", "c", "c", "c"]) == (1, 2)
    assert verify(["a"], None) == (None, None)


def test_run_phase_splits_ops_and_counts_errors() -> None:
    store = TimedStore(MemoryStore())
    lists = PagedListSubject(store, capacity=5, max_item_bytes=64)
    lists.create("l")
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def op(t: int, i: int) -> str:
        with lock:
            seen.append((t, i))
        if i == 1:
            raise RuntimeError("boom")
        lists.append("l", make_entry(10))
        return "append"

    phase = run_phase(lists, op, ops=10, concurrency=3, list_ids=["l"])
    assert len(phase.samples) == 10
    assert sorted({t for t, _ in seen}) == [0, 1, 2]
    assert phase.errors == 3  # op index 1 of each of the three threads
    assert phase.first_error == "RuntimeError: boom"
    # 7 appends on capacity 5: one page roll (refused append, summary read, increment) costs
    # 3 calls; each of the 3 threads, racing, may pay for the roll itself (at most 3 each).
    assert 7 + 3 <= sum(s.calls for s in phase.samples) <= 7 + 3 * 3
    result = summarize_phase(phase, "append", lists, 3)
    assert result.summary.errors == 3 and result.subject == "pagedlist"
    # read_ids names each item by the harness id of the append told its position.
    told = [lists._acked["l"][i.position] for i in lists.handle("l").iter()]
    assert told == lists.read_ids("l") and len(set(told)) == 7
    assert lists.size("l") == 7


def test_raw_subject_reads_exactly_the_rows_pagedlist_reads() -> None:
    store = TimedStore(MemoryStore())
    lists = PagedListSubject(store, capacity=10, max_item_bytes=64)
    raw = RawSubject(store, lists)
    lists.create("feed")
    lists.populate("feed", [make_entry(10) for _ in range(35)])
    before = store.total_calls
    assert raw.latest("feed", 12) == 12
    assert lists.latest("feed", 12) == 12
    assert store.total_calls - before == 2  # one get_many each
    assert raw.before("feed", None, 10) == (10, 25)
    assert raw.before("feed", 5, 10) == (5, None)
    entry = Entry("x1", 1, '"v"')
    raw.append("feed", entry)
    assert store.total_calls - before == 5


def test_rounds_merge_samples_wall_time_and_units() -> None:
    a = Phase([Sample(0.001, 0.0)], ["read"], 0.5, 1, "E: first", {"read_units": 2.0})
    b = Phase(
        [Sample(0.002, 0.0)] * 2,
        ["append"] * 2,
        1.5,
        0,
        None,
        {"read_units": 1.0, "write_units": 4.0},
    )
    m = merge_phases(a, b)
    assert len(m.samples) == 3 and m.tags == ["read", "append", "append"]
    assert m.wall == 2.0 and m.errors == 1 and m.first_error == "E: first"
    assert m.units == {"read_units": 3.0, "write_units": 4.0}


def test_raw_page_subject_fills_rows_to_capacity_then_moves_on() -> None:
    inner = MemoryStore()
    store = TimedStore(inner)
    lists = PagedListSubject(store, capacity=3, max_item_bytes=64)
    lists.create("feed")
    page = RawPageSubject(store, lists)
    base = store.total_calls  # creating the list took one
    for k in range(7):
        page.append("feed", Entry(f"e{k}", 1, '"v"'))
    every_key = inner.keys()  # MemoryStore.keys(): sorted row keys
    rows = [k for k in every_key if k.startswith(page.prefix)]
    assert [len(inner.get(k).doc["items"]) for k in rows] == [3, 3, 1]
    # seven appends, plus one refused (Full) append at each of the two page changes
    assert store.total_calls - base == 7 + 2


def _rows(results, workload):
    return [r for r in results if r.workload == workload]


def test_workloads_on_memory_lose_nothing_and_report_every_subject() -> None:
    from pagedlist.bench.native import native_subjects

    store = MemoryStore()
    timed = TimedStore(store)
    lists = PagedListSubject(timed, capacity=7, max_item_bytes=64)
    subjects = [lists, RawSubject(timed, lists), *native_subjects("memory://", store)]
    cfg = BenchConfig(
        ops=30, concurrency=(1, 8), n=5, value_bytes=12, feed_lists=3, feed_fill=6, feed_threads=2
    )
    results = run_workloads(cfg, subjects)
    names = {(r.workload, r.subject, r.concurrency) for r in results}
    for subject in ("pagedlist", "raw", "native:python-list"):
        for workload, conc in (
            ("append", 1),
            ("concurrent", 8),
            ("latest", 1),
            ("before", 1),
            ("feed", 2),
        ):
            assert (workload, subject, conc) in names
    for r in results:
        assert r.summary.errors == 0, r.first_error
        # Many writers each append five times, so contention lasts beyond the first burst.
        expected = 40 if r.workload == "concurrent" and r.concurrency == 8 else 30
        assert r.summary.ops == expected
        if r.workload in ("append", "concurrent") and r.kind != "raw":
            assert (r.lost, r.duplicated) == (0, 0)
            assert r.extra["acknowledged"] == expected
            assert r.extra["committed_unacknowledged"] == 0
    feed = next(r for r in _rows(results, "feed") if r.subject == "pagedlist")
    assert set(feed.by_tag) <= {"read", "append"}
    raw_latest = next(r for r in _rows(results, "latest") if r.kind == "raw")
    assert raw_latest.summary.calls_per_op == 1.0


def test_sweep_measures_round_trips_the_model_predicts() -> None:
    timed = TimedStore(MemoryStore())
    lists = PagedListSubject(timed, capacity=None, max_item_bytes=64)
    out = sweep_capacity(
        lists,
        "memory",
        value_bytes=20,
        n=5,
        read_fraction=0.9,
        capacities=(4, 10),
        min_appends=20,
        reads=5,
    )
    assert [r["capacity"] for r in out["rows"]] == [4, 10]
    for row in out["rows"]:
        # Every timed page starts with its roll: exactly the model's average.
        assert row["measured_append_calls"] == pytest.approx(row["model_append_calls"])
        assert row["measured_latest_calls"] == 1.0
    assert out["recommended_capacity"] >= 1


def _result(workload, kind, conc=1, p50=1.0, **kw):
    base = {
        "workload": workload,
        "kind": kind,
        "subject": kind,
        "concurrency": conc,
        "p50_ms": p50,
        "p99_ms": p50 * 2,
        "throughput_ops_s": 100.0,
        "lost": 0,
        "duplicated": 0,
        "errors": 0,
        "overhead_us_per_op": 10.0,
    }
    base.update(kw)
    return base


def test_targets_say_by_how_much_they_were_missed() -> None:
    results = [
        _result("append", "pagedlist", p50=1.2),
        _result("append", "raw", p50=1.0),
        _result("latest", "pagedlist", p50=1.3),
        _result("latest", "raw", p50=1.0, overhead_us_per_op=3.0),
        _result("concurrent", "pagedlist", conc=100, lost=0, duplicated=1),
        _result("concurrent", "raw", conc=100, lost=None, duplicated=None),
    ]
    targets = {t["name"]: t for t in evaluate_targets("memory", results)}
    assert targets["append_p50_ratio"]["value"] == pytest.approx(1.2)
    assert not targets["append_p50_ratio"]["met"]
    assert targets["append_p50_ratio"]["missed_by"] == "missed by 4.3%"
    assert targets["latest_p50_ratio"]["met"]
    assert targets["core_overhead_us"]["met"]
    assert not targets["concurrent_integrity"]["met"]
    assert "100 writers" in targets["concurrent_integrity"]["detail"]
    assert "core_overhead_us" not in {t["name"] for t in evaluate_targets("redis", results)}


def test_core_cpu_targets_leave_out_the_harness_the_raw_subject_measured() -> None:
    results = [
        _result("append", "pagedlist", p50=1.0, overhead_us_per_op=50.0),
        _result("append", "raw", p50=1.0, overhead_us_per_op=25.0),
        _result("latest", "pagedlist", p50=1.0, overhead_us_per_op=40.0),
    ]
    targets = {t["name"]: t for t in evaluate_targets("memory", results)}
    assert targets["core_overhead_us"]["value"] == pytest.approx(25.0)
    assert targets["core_overhead_us"]["met"]
    assert "less the harness's 25.0" in targets["core_overhead_us"]["detail"]
    # Without a raw run in the same results nothing is subtracted.
    assert targets["latest_overhead_us"]["value"] == pytest.approx(40.0)
    assert not targets["latest_overhead_us"]["met"]


def test_cli_smoke_run_on_memory(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        bench,
        [
            "memory://",
            "--ops",
            "6",
            "--concurrency",
            "1,4",
            "--out",
            str(out),
            "--quiet",
            "--sweep-capacity",
            "--capacities",
            "3,6",
            "--latest-n",
            "4",
            "--feed-lists",
            "2",
            "--feed-threads",
            "2",
            "--value-bytes",
            "16",
        ],
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads((out / "memory.json").read_text())
    assert report["machine"]["cores"] >= 1
    assert report["backend"]["scheme"] == "memory"
    kinds = {(r["workload"], r["kind"]) for r in report["results"]}
    assert ("concurrent", "native") in kinds and ("latest", "raw") in kinds
    for r in report["results"]:
        assert r["errors"] == 0, r["first_error"]
        if r["workload"] == "concurrent" and r["kind"] not in ("raw", "raw-page"):
            assert (r["lost"], r["duplicated"]) == (0, 0)
    assert [row["capacity"] for row in report["sweep"]["rows"]] == [3, 6]
    assert (out / "memory-concurrency.png").stat().st_size > 1000
    assert (out / "memory-capacity.png").stat().st_size > 1000
    md = (out / "memory.md").read_text()
    assert "| append | pagedlist | 1 |" in md
    assert "Capacity sweep" in md
    assert render_markdown([]).startswith("# pagedlist benchmark")


def test_cli_rejects_an_unknown_target(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench, ["no-such-server", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "neither a store URL" in result.output


def test_native_ratios_and_targets_compare_pagedlist_with_the_first_native_design() -> None:
    from pagedlist.bench.report import native_ratios

    units = {"write_units": 3.0, "read_units": 1.0, "round_trips": 9.0}
    results = [
        _result(
            "append", "pagedlist", p50=2.4, units_per_op=units, calls_per_op=1.0, cpu_us_per_op=60.0
        ),
        _result(
            "append",
            "native",
            p50=2.0,
            units_per_op={"write_units": 2.0},
            calls_per_op=1.0,
            cpu_us_per_op=30.0,
        ),
        _result("latest", "pagedlist", p50=1.0, calls_per_op=1.0, cpu_us_per_op=20.0),
        _result(
            "latest", "native", p50=1.0, calls_per_op=1.0, cpu_us_per_op=20.0, subject="native:a"
        ),
        _result(
            "latest", "native", p50=0.5, calls_per_op=1.0, cpu_us_per_op=20.0, subject="native:b"
        ),
        _result(
            "concurrent",
            "pagedlist",
            conc=100,
            p50=5.0,
            p99_ms=30.0,
            calls_per_op=1.5,
            throughput_ops_s=500.0,
        ),
        _result("concurrent", "native", conc=100, p50=5.0, throughput_ops_s=1000.0),
    ]
    ratios = native_ratios(results)
    append = next(r for r in ratios if r["workload"] == "append")
    assert append["p50"] == pytest.approx(1.2)
    # Billed units only (round trips are not billed): 4 / 2.
    assert append["units"] == pytest.approx(2.0)
    assert append["cpu"] == pytest.approx(2.0) and append["calls"] == 1.0
    latest = [r for r in ratios if r["workload"] == "latest"]
    assert [(r["native"], r["primary"]) for r in latest] == [
        ("native:a", True),
        ("native:b", False),
    ]
    assert latest[0]["units"] is None  # nothing billed
    assert latest[1]["p50"] == pytest.approx(2.0)
    targets = {t["name"]: t for t in evaluate_targets("redis", results)}
    assert targets["native_append_p50"]["met"]  # 1.2 is within "at most 1.2x"
    assert not targets["native_append_units"]["met"]
    assert targets["native_append_units"]["missed_by"] == "missed by 66.7%"
    assert targets["native_latest_p50"]["met"]  # against the first native design only
    assert "native_latest_units" not in targets
    assert not targets["native_concurrent_throughput"]["met"]
    assert targets["native_concurrent_throughput"]["value"] == pytest.approx(2.0)
    assert not targets["concurrent_p99_ms"]["met"]
    assert not targets["concurrent_calls_per_op"]["met"]
    # Redis's p99 target is Redis's own.
    assert "concurrent_p99_ms" not in {t["name"] for t in evaluate_targets("sqlite", results)}


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_timeline_and_native_ratios_end_to_end(backend: str, tmp_path: Path) -> None:
    from pagedlist.bench.command import print_summary, run_bench

    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path}/bench.db"
    cfg = BenchConfig(
        ops=9,
        concurrency=(1, 4),
        n=5,
        value_bytes=16,
        feed_lists=3,
        feed_fill=6,
        feed_threads=2,
        timeline_lists=4,
        warmup=2,
    )
    report = run_bench(url, cfg=cfg, sweep=False)
    assert report["config"]["layout_measured"] in (1, 2)
    rows = {(r["workload"], r["kind"]): r for r in report["results"] if r["concurrency"] == 1}
    for r in report["results"]:
        assert r["errors"] == 0, (r["workload"], r["subject"], r["first_error"])
    # Every timeline read returned exactly n items (the op raises otherwise).
    assert rows[("timeline", "pagedlist")]["extra"] == {"n": 5, "lists": 4}
    assert ("timeline", "native") in rows and ("timeline", "raw") in rows
    workloads = {(q["workload"], q["concurrency"]) for q in report["native_ratios"]}
    for w in ("append", "latest", "before", "feed", "timeline"):
        assert any(k[0] == w for k in workloads), w
    t = next(q for q in report["native_ratios"] if q["workload"] == "timeline")
    mine, native = rows[("timeline", "pagedlist")], rows[("timeline", "native")]
    assert t["p50"] == pytest.approx(mine["p50_ms"] / native["p50_ms"])
    assert t["calls"] == pytest.approx(mine["calls_per_op"] / native["calls_per_op"])
    names = {x["name"] for x in report["targets"]}
    assert {"native_append_p50", "native_latest_p50", "native_timeline_p50"} <= names
    assert ("core_overhead_us" in names) == (backend == "memory")
    md = render_markdown([report])
    assert "Ratio to the native design" in md
    assert f"| timeline | 1 | {t['native']} | {t['p50']:.2f}x |" in md
    import io

    buf = io.StringIO()
    print_summary(report, file=buf)
    assert "Ratio to the native design" in buf.getvalue()
    assert "timeline" in buf.getvalue()


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_async_api_runs_the_same_workloads_with_tasks_against_threads(
    backend: str, tmp_path: Path
) -> None:
    from pagedlist.bench.asyncbench import ASYNC_KIND
    from pagedlist.bench.command import run_bench

    url = "memory://" if backend == "memory" else f"sqlite:///{tmp_path}/bench.db"
    cfg = BenchConfig(
        ops=8,
        concurrency=(1, 6),
        n=4,
        value_bytes=16,
        feed_lists=2,
        feed_fill=5,
        feed_threads=2,
        timeline_lists=3,
        warmup=2,
    )
    report = run_bench(url, cfg=cfg, sweep=False, native=False, async_api=True)
    rows = [r for r in report["results"] if r["kind"] == ASYNC_KIND]
    assert {(r["workload"], r["concurrency"]) for r in rows} == {
        ("append", 1),
        ("concurrent", 1),
        ("concurrent", 6),
        ("latest", 1),
        ("before", 1),
        ("feed", 2),
        ("timeline", 1),
    }
    for r in rows:
        assert r["errors"] == 0, (r["workload"], r["first_error"])
        if r["workload"] in ("append", "concurrent"):
            # Six tasks append five times each (at least ops): all read back exactly once.
            assert (r["lost"], r["duplicated"]) == (0, 0)
            assert r["extra"]["acknowledged"] == r["ops"] == (30 if r["concurrency"] == 6 else 8)
        assert r["calls_per_op"] > 0
    versus = {(v["workload"], v["concurrency"]): v for v in report["async_vs_sync"]}
    six = versus[("concurrent", 6)]
    sync_row = next(
        r
        for r in report["results"]
        if r["kind"] == "pagedlist" and r["workload"] == "concurrent" and r["concurrency"] == 6
    )
    assert six["p50_ms_sync"] == sync_row["p50_ms"]
    assert six["throughput_ops_s_ratio"] == pytest.approx(
        six["throughput_ops_s_async"] / sync_row["throughput_ops_s"]
    )
    assert "asyncio API" in render_markdown([report])
