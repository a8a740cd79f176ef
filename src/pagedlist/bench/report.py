"""Reports: JSON with the raw numbers, Markdown for people, PNG plots (matplotlib, lazily).

A report is a plain dict (what :func:`build_report` returns and ``report.json`` holds), so
several backends' reports can be merged into one Markdown page
(:func:`render_markdown`), as ``benchmarks/run_all.py`` does for docs/performance.md.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pagedlist.bench.runner import PhaseResult
from pagedlist.bench.stats import is_unit

__all__ = [
    "NATIVE_TARGETS",
    "TARGETS",
    "build_report",
    "evaluate_targets",
    "machine_info",
    "native_ratios",
    "plot_capacity",
    "plot_concurrency",
    "render_markdown",
    "terminal_summary",
    "write_outputs",
]

#: name -> (description, limit). Ratios are pagedlist's p50 over the raw round trip's.
TARGETS = {
    "append_p50_ratio": ("append p50 / raw conditional update (fresh key) p50", 1.15),
    "append_p50_ratio_same_row": (
        "append p50 / raw conditional update of a same-size row (raw-page) p50",
        1.15,
    ),
    "latest_p50_ratio": ("latest(n) p50 / one raw get_many of the same rows p50", 1.3),
    "core_overhead_us": (
        "core CPU per append beyond the store call, less the harness's (the raw subject's "
        "beyond-store CPU in the same run; memory store), µs",
        30.0,
    ),
    "latest_overhead_us": (
        "core CPU per latest(n) beyond the store call, less the harness's (memory store), µs",
        30.0,
    ),
}


#: The issue's targets against the native design (pagedlist / native, same run):
#: ``(workload, metric) -> limit``. Metrics: ``p50`` latency, billed ``units`` (where the
#: backend bills), ``calls`` (store round trips), ``cpu`` (client CPU), ``throughput``
#: (native ops/s over pagedlist's: at most 1 means at least the native's throughput).
NATIVE_TARGETS: dict[tuple[str, str], float] = {
    ("append", "p50"): 1.2,
    ("append", "units"): 1.2,
    ("latest", "p50"): 1.2,
    ("latest", "units"): 1.2,
    ("before", "p50"): 1.2,
    ("before", "units"): 1.2,
    ("timeline", "p50"): 1.2,
    ("timeline", "units"): 1.2,
    ("concurrent", "throughput"): 1.0,
}

#: Absolute targets of the most concurrent writers' row: ``(metric, limit, backends)``
#: (``None``: every backend).
CONCURRENT_TARGETS = (
    ("p99_ms", 25.0, ("redis", "rediss", "redis-cluster", "redis+cluster")),
    ("calls_per_op", 1.2, None),
)

_METRICS = {
    "p50": ("p50 latency", "ms"),
    "units": ("billed units", "units"),
    "calls": ("store round trips", "calls"),
    "cpu": ("client CPU", "µs"),
    "throughput": ("native ops/s over pagedlist ops/s", "ops/s"),
}


def _unit_total(row: dict[str, Any]) -> float:
    return sum(v for k, v in (row.get("units_per_op") or {}).items() if is_unit(k))


def _metric(row: dict[str, Any], metric: str) -> float | None:
    value: Any = {
        "p50": row.get("p50_ms"),
        "units": _unit_total(row),
        "calls": row.get("calls_per_op"),
        "cpu": row.get("cpu_us_per_op"),
        "throughput": row.get("throughput_ops_s"),
    }[metric]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def native_ratios(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """pagedlist over each native design, per workload and concurrency: p50 latency, billed
    units (``None`` where neither bills), store round trips and client CPU per operation;
    ``primary`` marks the backend's first native design, the one the targets use."""
    out: list[dict[str, Any]] = []
    primary_seen: set[tuple[str, int]] = set()
    for mine in results:
        if mine["kind"] != "pagedlist":
            continue
        key = (mine["workload"], mine["concurrency"])
        for other in results:
            if other["kind"] != "native" or (other["workload"], other["concurrency"]) != key:
                continue
            row: dict[str, Any] = {
                "workload": mine["workload"],
                "concurrency": mine["concurrency"],
                "native": other["subject"],
                "primary": key not in primary_seen,
            }
            primary_seen.add(key)
            for metric in ("p50", "units", "calls", "cpu"):
                a, b = _metric(mine, metric), _metric(other, metric)
                if metric == "units" and not a and not b:
                    row[metric] = None  # nothing billed on this backend
                elif a is None or b is None or b == 0:
                    row[metric] = None if a is None or b is None else math.inf
                else:
                    row[metric] = a / b
                row[f"{metric}_pagedlist"], row[f"{metric}_native"] = a, b
            a, b = _metric(mine, "throughput"), _metric(other, "throughput")
            row["throughput"] = b / a if a and b else None
            row["throughput_pagedlist"], row["throughput_native"] = a, b
            out.append(row)
    return out


def _native_targets(scheme: str, name: str, results: Sequence[dict[str, Any]]):
    ratios = [r for r in native_ratios(results) if r["primary"]]
    out: list[dict[str, Any]] = []
    for (workload, metric), limit in NATIVE_TARGETS.items():
        rows = [r for r in ratios if r["workload"] == workload]
        if workload == "concurrent":
            rows = rows[-1:] if rows else []  # the most writers (rows are in ascending order)
        elif rows:
            rows = [min(rows, key=lambda r: r["concurrency"])]
        for r in rows:
            value = r[metric]
            if value is None:
                continue
            what, unit = _METRICS[metric]
            a, b = r[f"{metric}_pagedlist"], r[f"{metric}_native"]
            detail = f"pagedlist {_f(a, 3)} / {r['native']} {_f(b, 3)} {unit}"
            if metric == "throughput":
                detail = f"{r['native']} {_f(b, 0)} ops/s / pagedlist {_f(a, 0)} ops/s"
            if metric == "throughput":
                desc = f"{workload}, {r['concurrency']} writers: {what}"
            else:
                desc = f"{workload}: {what}, pagedlist / native"
            out.append(
                _verdict(
                    f"native_{workload}_{metric}",
                    desc,
                    value,
                    limit,
                    detail,
                )
            )
    conc = [r for r in results if r["workload"] == "concurrent" and r["kind"] == "pagedlist"]
    if conc:
        top = max(conc, key=lambda r: r["concurrency"])
        for field, limit, backends in CONCURRENT_TARGETS:
            if backends is not None and name not in backends and scheme not in backends:
                continue
            value = top.get(field)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            label = "p99 ms" if field == "p99_ms" else "store calls per append"
            out.append(
                _verdict(
                    f"concurrent_{field}",
                    f"concurrent, {top['concurrency']} writers: {label}",
                    float(value),
                    limit,
                    f"{_f(float(value), 2)}",
                )
            )
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, cores, OS and Python: the report header."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def _find(results: Sequence[dict[str, Any]], workload: str, kind: str, conc: int | None = None):
    for r in results:
        same = r["workload"] == workload and r["kind"] == kind
        if same and (conc is None or r["concurrency"] == conc):
            return r
    return None


def _ratio_target(name: str, mine: dict | None, raw: dict | None) -> dict[str, Any] | None:
    if not mine or not raw or not raw["p50_ms"]:
        return None
    desc, limit = TARGETS[name]
    value = mine["p50_ms"] / raw["p50_ms"]
    return _verdict(name, desc, value, limit, f"{mine['p50_ms']:.3f} ms / {raw['p50_ms']:.3f} ms")


def _verdict(name: str, desc: str, value: float, limit: float, detail: str) -> dict[str, Any]:
    met = value <= limit
    missed = "" if met else f"missed by {value / limit - 1:.1%}"
    return {
        "name": name,
        "description": desc,
        "value": value,
        "limit": limit,
        "met": met,
        "detail": detail,
        "missed_by": missed,
    }


def evaluate_targets(
    scheme: str, results: Sequence[dict[str, Any]], name: str | None = None
) -> list[dict[str, Any]]:
    """The issue's targets, measured: each with its value, limit and by how much it missed.
    The ratios to the native design come first, then those to the raw round trip."""
    out: list[dict[str, Any]] = _native_targets(scheme, name or scheme, results)
    for key, workload, kind in (
        ("append_p50_ratio", "append", "raw"),
        ("append_p50_ratio_same_row", "append", "raw-page"),
        ("latest_p50_ratio", "latest", "raw"),
    ):
        found = _ratio_target(
            key, _find(results, workload, "pagedlist", 1), _find(results, workload, kind, 1)
        )
        if found:
            out.append(found)
    if scheme == "memory":
        for key, workload in (("core_overhead_us", "append"), ("latest_overhead_us", "latest")):
            mine = _find(results, workload, "pagedlist", 1)
            if mine:
                desc, limit = TARGETS[key]
                value = mine["overhead_us_per_op"]
                detail = f"{value:.1f} µs"
                # The raw subject runs the same harness (timers, value generation, the
                # timed store's bookkeeping) around one adapter call and no core: its own
                # beyond-store CPU is the harness's, not the core's.
                raw = _find(results, workload, "raw", 1)
                if raw and raw.get("overhead_us_per_op") is not None:
                    harness = max(0.0, float(raw["overhead_us_per_op"]))
                    net = value - harness
                    detail = f"{net:.1f} µs ({value:.1f} less the harness's {harness:.1f})"
                    value = net
                out.append(_verdict(key, desc, value, limit, detail))
    conc = [r for r in results if r["workload"] == "concurrent" and r["kind"] == "pagedlist"]
    if conc:
        top = max(conc, key=lambda r: r["concurrency"])
        raw = _find(results, "concurrent", "raw", top["concurrency"])
        # Failed appends (errors) were reported to their caller: not losses, but shown.
        bad = (top["lost"] or 0) + (top["duplicated"] or 0)
        detail = (
            f"{top['concurrency']} writers: lost {top['lost']}, duplicated {top['duplicated']}, "
            f"errors {top['errors']}; p99 {top['p99_ms']:.2f} ms, {top['throughput_ops_s']:.0f} "
            "ops/s"
        )
        if raw:
            detail += (
                f" (raw at the same concurrency: p99 {raw['p99_ms']:.2f} ms, "
                f"{raw['throughput_ops_s']:.0f} ops/s"
            )
            page = _find(results, "concurrent", "raw-page", top["concurrency"])
            if page:
                detail += (
                    f"; raw-page: p99 {page['p99_ms']:.2f} ms, {page['throughput_ops_s']:.0f} ops/s"
                )
            detail += ")"
        out.append(
            {
                "name": "concurrent_integrity",
                "description": "lost + duplicated appends, most concurrent writers",
                "value": bad,
                "limit": 0,
                "met": bad == 0 and top["lost"] is not None,
                "detail": detail,
                "missed_by": "" if bad == 0 else f"{bad} items",
            }
        )
    return out


def build_report(
    *,
    url_shown: str,
    scheme: str,
    describe: str,
    capacity: int | None,
    versions: dict[str, str],
    config: dict[str, Any],
    results: Sequence[PhaseResult],
    sweep: dict[str, Any] | None,
    duration: float,
    backend_note: str = "",
) -> dict[str, Any]:
    """The whole run as one JSON-able dict."""
    rows = [r.to_dict() for r in results]
    return {
        "machine": machine_info(),
        "backend": {
            "url": url_shown,
            "scheme": scheme,
            "describe": describe,
            "capacity": capacity,
            "versions": versions,
            "note": backend_note,
        },
        "config": config,
        "results": rows,
        "native_ratios": native_ratios(rows),
        "targets": evaluate_targets(scheme, rows),
        "sweep": sweep,
        "duration_s": duration,
    }


# --- Markdown -------------------------------------------------------------------------------


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def _x(ratio: float | None) -> str:
    """A ratio as ``1.23x`` (``-`` when not measured or not billed)."""
    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio)):
        return "-"
    return "inf" if math.isinf(ratio) else f"{ratio:.2f}x"


def _units(units: dict[str, float]) -> str:
    shown = {k: v for k, v in units.items() if is_unit(k)}
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(shown.items())) or "-"


def slug(report: dict[str, Any]) -> str:
    """A file-name-safe name for a backend's report (``redis``, ``redis-cluster``...)."""
    name = report["backend"].get("name") or report["backend"]["scheme"]
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _backend_section(report: dict[str, Any], img_prefix: str | None) -> list[str]:
    b = report["backend"]
    cfg = report["config"]
    name = b.get("name") or b["scheme"]
    out = [f"### {name}", ""]
    out.append(f"- store: `{b['describe']}`; list capacity {b['capacity']} items per page")
    if b.get("versions"):
        out.append("- versions: " + ", ".join(f"{k} {v}" for k, v in sorted(b["versions"].items())))
    if b.get("note"):
        out.append(f"- note: {b['note']}")
    out.append(
        f"- {cfg['ops']} ops per phase, {cfg['value_bytes']}-byte values, n = {cfg['n']}, "
        f"feed: {cfg['feed_lists']} lists x {cfg['feed_threads']} threads, "
        f"{cfg['read_fraction']:.0%} reads; run took {report['duration_s']:.0f} s"
    )
    out += [
        "",
        "| workload | subject | conc. | p50 ms | p90 ms | p99 ms | ops/s | calls/op "
        "| CPU µs/op | beyond store µs/op | units/op | lost | dup | errors |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|",
    ]
    for r in report["results"]:
        out.append(
            f"| {r['workload']} | {r['subject']} | {r['concurrency']} | {_f(r['p50_ms'], 3)} "
            f"| {_f(r['p90_ms'], 3)} | {_f(r['p99_ms'], 3)} | {_f(r['throughput_ops_s'], 0)} "
            f"| {_f(r['calls_per_op'])} | {_f(r['cpu_us_per_op'], 1)} "
            f"| {_f(r['overhead_us_per_op'], 1)} | {_units(r['units_per_op'])} "
            f"| {_f(r['lost'])} | {_f(r['duplicated'])} | {r['errors']} |"
        )
        for tag, s in r.get("by_tag", {}).items():
            out.append(
                f"| ↳ {tag} | | | {_f(s['p50_ms'], 3)} | {_f(s['p90_ms'], 3)} "
                f"| {_f(s['p99_ms'], 3)} | | {_f(s['calls_per_op'])} | {_f(s['cpu_us_per_op'], 1)} "
                f"| {_f(s['overhead_us_per_op'], 1)} | | | | {s['errors']} |"
            )
    ratios = report.get("native_ratios") or native_ratios(report["results"])
    if ratios:
        out += [
            "",
            "Ratio to the native design (pagedlist / native, same run; below 1 is better; "
            "ops/s: native over pagedlist):",
            "",
            "| workload | conc. | native design | p50 | units | round trips | client CPU "
            "| ops/s |",
            "|---|--:|---|--:|--:|--:|--:|--:|",
        ]
        for q in ratios:
            out.append(
                f"| {q['workload']} | {q['concurrency']} | {q['native']} | {_x(q['p50'])} "
                f"| {_x(q['units'])} | {_x(q['calls'])} | {_x(q['cpu'])} "
                f"| {_x(q['throughput'])} |"
            )
    versus = report.get("async_vs_sync") or []
    if versus:
        out += [
            "",
            "asyncio API (`AsyncPagedList`, N tasks in one event loop) against the sync API "
            "(N threads), same run:",
            "",
            "| workload | tasks / threads | p50 ms async / sync | p99 ms async / sync "
            "| ops/s async / sync | calls/op async / sync | lost/dup async |",
            "|---|--:|--:|--:|--:|--:|--:|",
        ]
        for v in versus:
            out.append(
                f"| {v['workload']} | {v['concurrency']} "
                f"| {_f(v['p50_ms_async'], 3)} / {_f(v['p50_ms_sync'], 3)} "
                f"({_x(v['p50_ms_ratio'])}) "
                f"| {_f(v['p99_ms_async'], 3)} / {_f(v['p99_ms_sync'], 3)} "
                f"({_x(v['p99_ms_ratio'])}) "
                f"| {_f(v['throughput_ops_s_async'], 0)} / {_f(v['throughput_ops_s_sync'], 0)} "
                f"({_x(v['throughput_ops_s_ratio'])}) "
                f"| {_f(v['calls_per_op_async'])} / {_f(v['calls_per_op_sync'])} "
                f"| {_f(v['lost_async'])}/{_f(v['duplicated_async'])} |"
            )
    errors = [r for r in report["results"] if r.get("first_error")]
    for r in errors:
        late = r.get("extra", {}).get("committed_unacknowledged")
        extra = f" ({late} of the failed appends had committed anyway)" if late else ""
        out.append(
            f"\n{r['errors']} error(s) in {r['workload']}/{r['subject']} x{r['concurrency']}"
            f"{extra}; first: `{r['first_error'][:300]}`"
        )
    if report["targets"]:
        out += ["", "| target | measured | limit | verdict |", "|---|---|--:|---|"]
        for t in report["targets"]:
            verdict = "met" if t["met"] else f"**{t['missed_by'] or 'missed'}**"
            out.append(
                f"| {t['description']} | {_f(float(t['value']))} ({t['detail']}) "
                f"| {_f(float(t['limit']))} | {verdict} |"
            )
    sweep = report.get("sweep")
    if sweep:
        out += [
            "",
            f"Capacity sweep ({sweep['billing']} billing; model inputs: entry "
            f"{sweep['model_inputs']['entry_bytes']} B, page overhead "
            f"{sweep['model_inputs']['page_overhead']} B):",
            "",
            "| capacity | append units (measured) | append units (model) | append calls "
            "(meas./model) | append p50 ms | latest units (measured) | latest units (model) "
            "| latest p50 ms |",
            "|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for row in sweep["rows"]:
            out.append(
                f"| {row['capacity']} | {_f(row['measured_append_units_total'])} "
                f"| {_f(row['model_append_units_total'])} | {_f(row['measured_append_calls'])} / "
                f"{_f(row['model_append_calls'])} | {_f(row['measured_append_p50_ms'], 3)} "
                f"| {_f(row['measured_latest_units_total'])} "
                f"| {_f(row['model_latest_units_total'])} "
                f"| {_f(row['measured_latest_p50_ms'], 3)} |"
            )
        out.append("")
        out.append(
            f"Model's recommended capacity for this mix: **{sweep['recommended_capacity']}** "
            f"(append {sweep['recommended_cost']['append_units']:.2f} units, latest "
            f"{sweep['recommended_cost']['latest_units']:.2f} units, weighted mix "
            f"{sweep['recommended_cost']['mix_weighted']:.2f})."
        )
        native = sweep.get("native_model")
        if native and sweep["billing"] in ("dynamodb", "cosmos", "oci-nosql"):
            out.append(
                f"The model's native design (a row per entry, a range query): append "
                f"{native['append_units']:.2f} units, latest {native['latest_units']:.2f} units, "
                f"weighted mix {native['mix_weighted']:.2f}."
            )
        for s in sweep.get("skipped", []):
            out.append(f"- skipped capacity {s}")
    if img_prefix is not None:
        out += [
            "",
            f"![latency against concurrency, {name}]({img_prefix}{slug(report)}-concurrency.png)",
        ]
        if sweep:
            out.append(
                f"![units per operation against capacity, {name}]({img_prefix}"
                f"{slug(report)}-capacity.png)"
            )
    return out


def render_markdown(
    reports: Sequence[dict[str, Any]],
    *,
    title: str = "pagedlist benchmark",
    img_prefix: str | None = "",
    command: str | None = None,
) -> str:
    """A Markdown page: machine header, then one section per backend."""
    if not reports:
        return f"# {title}\n\nNo backend was measured.\n"
    m = reports[0]["machine"]
    out = [
        f"# {title}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['os']}, {m['python']}; {m['date']}.",
    ]
    if command:
        out += ["", f"Reproduce: `{command}`"]
    out += [
        "",
        "Subjects: **pagedlist** (the library, lists with default settings: the store's "
        "default layout), **raw** (the adapter's bare primitive on layout-1 rows: one "
        "conditional append on a fresh key; one get_many of exactly the rows a layout-1 "
        "read takes), **raw-page** (the same conditional append on rows filled to the "
        "list's capacity, like layout 1's pages, with no summary row or head pointer), "
        "**native:…** (the backend's usual one-row-per-entry feed design), and with "
        "`--async` **pagedlist-async** (`AsyncPagedList`, tasks where the sync run has "
        "threads). "
        '"beyond store" is client CPU per operation outside the store/SDK call.',
        "",
    ]
    for report in reports:
        out += _backend_section(report, img_prefix)
        out.append("")
    return "\n".join(out)


# --- terminal summary -----------------------------------------------------------------------

#: Width of the terminal summary: it fits an 80-column terminal.
TERMINAL_WIDTH = 80


def _subject(name: str) -> str:
    # "native:cosmos-documents" is 23 characters: shown as "n:documents", and the legend
    # under the tables gives the full name.
    if not name.startswith("native:"):
        return name
    rest = name.removeprefix("native:")
    return "n:" + (rest.split("-", 1)[1] if "-" in rest else rest)


def _short_units(units: dict[str, float]) -> str:
    shown = {k: v for k, v in units.items() if is_unit(k)}
    names = {"write_units": "w", "read_units": "r", "request_charge_ru": "RU"}
    return " ".join(f"{names.get(k, k)} {v:.2f}" for k, v in sorted(shown.items())) or "-"


def terminal_summary(report: dict[str, Any]) -> list[Any]:
    """The report as rich renderables that fit :data:`TERMINAL_WIDTH` columns: a header, a
    latency table, a cost table, the targets and the capacity sweep. Numbers are the
    Markdown report's; only the CPU total (the Markdown's "CPU µs/op") is left out."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    b, cfg, m = report["backend"], report["config"], report["machine"]
    out: list[Any] = [
        Text(f"{b.get('name') or b['scheme']}: {b['describe']}", style="bold"),
        Text(
            f"capacity {b['capacity']} items per page; {cfg['ops']} ops per phase, "
            f"{cfg['value_bytes']}-byte values, n = {cfg['n']}; run took "
            f"{report['duration_s']:.0f} s on {m['cpu']}, {m['cores']} cores"
        ),
    ]

    def table(title: str, *columns: str, text: int = 2) -> Table:
        # The first ``text`` columns are words and may wrap; numbers never do.
        t = Table(
            title=title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            show_edge=False,
            pad_edge=False,
        )
        for i, name in enumerate(columns):
            if i < text:
                t.add_column(name, overflow="fold")
            else:
                t.add_column(name, justify="right", no_wrap=True)
        return t

    latency = table(
        "Latency", "workload", "subject", "conc.", "p50 ms", "p90 ms", "p99 ms", "ops/s",
        "calls/op",
    )
    cost = table(
        "Cost per operation", "workload", "subject", "conc.", "core µs", "units/op",
        "lost/dup/err",
    )
    for r in report["results"]:
        latency.add_row(
            r["workload"], _subject(r["subject"]), str(r["concurrency"]), _f(r["p50_ms"], 3),
            _f(r["p90_ms"], 3), _f(r["p99_ms"], 3), _f(r["throughput_ops_s"], 0),
            _f(r["calls_per_op"]),
        )
        cost.add_row(
            r["workload"], _subject(r["subject"]), str(r["concurrency"]),
            _f(r["overhead_us_per_op"], 1), _short_units(r["units_per_op"]),
            f"{_f(r['lost'])}/{_f(r['duplicated'])}/{r['errors']}",
        )
        for tag, st in r.get("by_tag", {}).items():
            latency.add_row(
                f"↳ {tag}", "", "", _f(st["p50_ms"], 3), _f(st["p90_ms"], 3),
                _f(st["p99_ms"], 3), "", _f(st["calls_per_op"]),
            )
            cost.add_row(f"↳ {tag}", "", "", _f(st["overhead_us_per_op"], 1), "", "")
    out += [latency, cost]
    legend = [
        "core µs: client CPU per operation beyond the store call; units: w/r write/read "
        "units, RU request units; lost/dup/err: appends lost, duplicated, failed"
    ]
    natives = sorted({r["subject"] for r in report["results"]} - {"pagedlist", "raw", "raw-page"})
    natives = [n for n in natives if n != _subject(n)]
    if natives:
        names = ", ".join(f"{_subject(n)} is {n}" for n in natives)
        legend.append(f"{names}: the backend's native feed design (one row per entry)")
    out.append(Text("; ".join(legend) + ".", style="dim"))
    for r in report["results"]:
        if r.get("first_error"):
            out.append(
                Text(
                    f"{r['errors']} error(s) in {r['workload']}/{r['subject']} "
                    f"x{r['concurrency']}; first: {r['first_error'][:300]}"
                )
            )
    ratios = report.get("native_ratios") or native_ratios(report["results"])
    if ratios:
        rt = table(
            "Ratio to the native design (pagedlist / native)",
            "workload", "native", "conc.", "p50", "units", "calls", "CPU", "ops/s",
        )
        for q in ratios:
            rt.add_row(
                q["workload"], _subject(q["native"]), str(q["concurrency"]), _x(q["p50"]),
                _x(q["units"]), _x(q["calls"]), _x(q["cpu"]), _x(q["throughput"]),
            )
        out.append(rt)
        out.append(
            Text(
                "Below 1x is better; ops/s is native over pagedlist; units are billed units "
                "(- where the backend bills none).",
                style="dim",
            )
        )
    versus = report.get("async_vs_sync") or []
    if versus:
        vt = table(
            "asyncio (N tasks) against sync (N threads)",
            "workload", "N", "p50 ms a/s", "p99 ms a/s", "ops/s a/s", "lost/dup",
        )
        for v in versus:
            vt.add_row(
                v["workload"], str(v["concurrency"]),
                f"{_f(v['p50_ms_async'], 2)}/{_f(v['p50_ms_sync'], 2)}",
                f"{_f(v['p99_ms_async'], 2)}/{_f(v['p99_ms_sync'], 2)}",
                f"{_f(v['throughput_ops_s_async'], 0)}/{_f(v['throughput_ops_s_sync'], 0)}",
                f"{_f(v['lost_async'])}/{_f(v['duplicated_async'])}",
            )
        out.append(vt)
    if report["targets"]:
        targets = table("Targets", "target", "measured", "limit", "verdict", text=1)
        for t in report["targets"]:
            verdict = "met" if t["met"] else (t["missed_by"] or "missed")
            targets.add_row(
                Text(t["description"]).append(f"\n{t['detail']}", style="dim"),
                _f(float(t["value"])),
                _f(float(t["limit"])), verdict,
            )
        out.append(targets)
    sweep = report.get("sweep")
    if sweep:
        rows = table(
            f"Capacity sweep ({sweep['billing']} billing): measured / model",
            "capacity", "append\nunits", "append\ncalls", "append\np50 ms", "latest\nunits",
            "latest\np50 ms", text=0,
        )
        for row in sweep["rows"]:
            rows.add_row(
                str(row["capacity"]),
                f"{_f(row['measured_append_units_total'])} / "
                f"{_f(row['model_append_units_total'])}",
                f"{_f(row['measured_append_calls'])} / {_f(row['model_append_calls'])}",
                _f(row["measured_append_p50_ms"], 3),
                f"{_f(row['measured_latest_units_total'])} / "
                f"{_f(row['model_latest_units_total'])}",
                _f(row["measured_latest_p50_ms"], 3),
            )
        out.append(rows)
        out.append(Text(f"Recommended capacity for this mix: {sweep['recommended_capacity']}"))
    return out


# --- plots ----------------------------------------------------------------------------------


def plot_concurrency(report: dict[str, Any], path: Path) -> Path | None:
    """p50 and p99 append latency against the number of concurrent writers, per subject."""
    rows = [r for r in report["results"] if r["workload"] == "concurrent"]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for subject in dict.fromkeys(r["subject"] for r in rows):
        pts = sorted(
            (r["concurrency"], r["p50_ms"], r["p99_ms"]) for r in rows if r["subject"] == subject
        )
        xs = [p[0] for p in pts]
        line = ax.plot(xs, [p[1] for p in pts], marker="o", label=f"{subject} p50")[0]
        ax.plot(
            xs,
            [p[2] for p in pts],
            marker="x",
            linestyle="--",
            color=line.get_color(),
            label=f"{subject} p99",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent writers on one list")
    ax.set_ylabel("append latency (ms)")
    name = report["backend"].get("name") or report["backend"]["scheme"]
    ax.set_title(f"{name}: append latency against concurrency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_capacity(report: dict[str, Any], path: Path) -> Path | None:
    """Units (or round trips, where nothing is billed) per operation against capacity:
    measured points next to the model's lines."""
    sweep = report.get("sweep")
    if not sweep or not sweep["rows"]:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sweep["rows"]
    caps = [r["capacity"] for r in rows]
    billed = any(r["measured_append_units_total"] for r in rows) or any(
        r["model_append_units_total"] for r in rows
    )
    fig, ax = plt.subplots(figsize=(7, 4.2))
    if billed:
        series = [
            ("append", "measured_append_units_total", "model_append_units_total"),
            ("latest(n)", "measured_latest_units_total", "model_latest_units_total"),
        ]
        ax.set_ylabel("billing units per operation")
    else:
        series = [
            ("append", "measured_append_calls", "model_append_calls"),
            ("latest(n)", "measured_latest_calls", "model_latest_calls"),
        ]
        ax.set_ylabel("round trips per operation (no billing units)")
    for label, meas, model in series:
        line = ax.plot(
            caps, [r[meas] for r in rows], marker="o", linestyle="none", label=f"{label} measured"
        )[0]
        ax.plot(caps, [r[model] for r in rows], color=line.get_color(), label=f"{label} model")
    native = sweep.get("native_model")
    if billed and native:
        ax.axhline(
            native["append_units"],
            color="C0",
            linestyle=":",
            alpha=0.6,
            label="append, native design (model)",
        )
        ax.axhline(
            native["latest_units"],
            color="C1",
            linestyle=":",
            alpha=0.6,
            label="latest(n), native design (model)",
        )
    ax.axvline(
        sweep["recommended_capacity"],
        color="grey",
        linestyle=":",
        label=f"recommended {sweep['recommended_capacity']}",
    )
    ax.set_xscale("log")
    ax.set_xlabel("page capacity (items per page)")
    name = report["backend"].get("name") or report["backend"]["scheme"]
    ax.set_title(f"{name}: cost per operation against capacity")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(report: dict[str, Any], out_dir: Path, *, plots: bool = True) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plots into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    name = slug(report)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(report, indent=2, default=str))
    written.append(path)
    if plots:
        for fn, suffix in ((plot_concurrency, "concurrency"), (plot_capacity, "capacity")):
            made = fn(report, out_dir / f"{name}-{suffix}.png")
            if made:
                written.append(made)
    md = out_dir / f"{name}.md"
    md.write_text(render_markdown([report], img_prefix="" if plots else None))
    written.append(md)
    return written
