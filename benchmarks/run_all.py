"""Run the benchmark on every local backend and write docs/performance.md's data.

    .venv/bin/python benchmarks/run_all.py [--backends memory,sqlite,redis,...] [--ops N]
    .venv/bin/python benchmarks/run_all.py --only sqlite      # re-run one, keep the others

Each server comes from the project's launchers (``pagedlist.emulators.get_emulator(name)``),
started on free loopback ports and stopped afterwards; memory and SQLite need none. For
each backend this writes ``benchmarks/results/NAME.json`` (raw numbers) and
``docs/img/NAME-*.png`` (plots), then regenerates the measured part of
``docs/performance.md`` between its ``<!-- bench:begin -->`` and ``<!-- bench:end -->``
markers (the analysis around them is written by hand). A backend that cannot start is
listed as missing, with the reason, instead of failing the run. Every backend's stored
report is kept until that backend is run again, so ``--only NAME`` re-measures one backend
and regenerates the page with the others' stored numbers.

``benchmarks/results/baseline/NAME.json`` is the "before" of each backend (the reports
measured before the performance work of issue 12); the page shows it next to the new
figures. ``--save-baseline`` copies the current results there (only to start a new
comparison).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
BASELINE = RESULTS / "baseline"
IMG = ROOT / "docs" / "img"
DOC = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

#: name -> store URL, or None for a server started by its launcher.
BACKENDS: dict[str, str | None] = {
    "memory": "memory://",
    "sqlite": "sqlite:///{tmp}/bench.db",
    "redis": None,
    "redis-cluster": None,
    "dynamodb": None,
    "cosmos": None,
    "oci-nosql": None,
    "postgres": None,
}


def run_one(name: str, args: argparse.Namespace) -> dict:
    """Benchmark one backend; return its report."""
    from pagedlist.bench.command import run_bench
    from pagedlist.bench.workloads import BenchConfig

    cfg = BenchConfig(ops=args.ops, concurrency=tuple(args.concurrency))
    sweep = not args.no_sweep
    url = BACKENDS[name]
    if url is not None:
        with tempfile.TemporaryDirectory() as tmp:
            return run_bench(
                url.format(tmp=tmp), name=name, cfg=cfg, sweep=sweep, show_progress=args.progress
            )
    from pagedlist.bench.command import server_versions
    from pagedlist.emulators import get_emulator

    emulator = get_emulator(name)
    running = emulator.start()
    try:
        return run_bench(
            running.url,
            name=name,
            cfg=cfg,
            sweep=sweep,
            note=f"local server started by pagedlist.emulators ({name})",
            extra_versions=server_versions(emulator),
            show_progress=args.progress,
        )
    finally:
        running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--only",
        default=None,
        help="re-run only these backends (comma-separated); the others' stored results stay",
    )
    parser.add_argument("--no-sweep", action="store_true", help="skip the capacity sweep")
    parser.add_argument(
        "--save-baseline",
        action="store_true",
        help="copy benchmarks/results/*.json to benchmarks/results/baseline/ and stop",
    )
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 10, 100]
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/performance.md")
    parser.add_argument(
        "--doc-only", action="store_true", help="only regenerate docs/performance.md from results"
    )
    args = parser.parse_args()

    from pagedlist.bench.report import plot_capacity, plot_concurrency, render_markdown, slug

    RESULTS.mkdir(parents=True, exist_ok=True)
    IMG.mkdir(parents=True, exist_ok=True)
    if args.save_baseline:
        BASELINE.mkdir(exist_ok=True)
        for path in sorted(RESULTS.glob("*.json")):
            (BASELINE / path.name).write_text(path.read_text())
            print(f"baseline: {path.name}")
        return 0
    names = (args.only or args.backends).split(",")
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(BACKENDS)}")
    missing: dict[str, str] = {}
    for name in [] if args.doc_only else names:
        started = time.monotonic()
        print(f"== {name}", flush=True)
        try:
            report = run_one(name, args)
        except Exception as err:  # a missing backend is reported, not fatal
            traceback.print_exc()
            missing[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
            (RESULTS / f"{name}.missing").write_text(missing[name] + "\n")
            continue
        (RESULTS / f"{name}.missing").unlink(missing_ok=True)
        (RESULTS / f"{slug(report)}.json").write_text(json.dumps(report, indent=2, default=str))
        plot_concurrency(report, IMG / f"{slug(report)}-concurrency.png")
        plot_capacity(report, IMG / f"{slug(report)}-capacity.png")
        print(f"   done in {time.monotonic() - started:.0f} s", flush=True)

    if args.doc_only:
        # Redraw every plot from the stored numbers (the model's native lines included).
        for path in sorted(RESULTS.glob("*.json")):
            report = _with_native_model(json.loads(path.read_text()))
            plot_concurrency(report, IMG / f"{slug(report)}-concurrency.png")
            plot_capacity(report, IMG / f"{slug(report)}-capacity.png")
    if not args.no_doc:
        write_doc(render_markdown, missing)
    return 0


def _with_native_model(report: dict) -> dict:
    """Bring a stored report up to the current report code: targets re-evaluated from the
    stored numbers, and the cost model's native-design figures added if missing."""
    from pagedlist.bench.report import evaluate_targets, native_ratios

    name = report["backend"].get("name") or report["backend"]["scheme"]
    report["targets"] = evaluate_targets(report["backend"]["scheme"], report["results"], name)
    report["native_ratios"] = native_ratios(report["results"])
    sweep = report.get("sweep")
    if not sweep or "native_model" in sweep:
        return report
    from pagedlist.core import costs

    billing = costs.billing_for(report["backend"]["scheme"])
    work = costs.Workload(**sweep["model_inputs"])
    app, lat = costs.native_append_cost(billing, work), costs.native_latest_cost(billing, work)
    mix = lat.scaled(work.read_fraction) + app.scaled(1 - work.read_fraction)
    sweep["native_model"] = {
        "append_units": app.units,
        "latest_units": lat.units,
        "mix_weighted": billing.weighted(mix),
    }
    return report


def write_doc(render_markdown, missing: dict[str, str]) -> None:
    """Regenerate the measured section of docs/performance.md from benchmarks/results."""
    reports = []
    baselines: dict[str, dict] = {}
    for name in BACKENDS:
        path = RESULTS / f"{name}.json"
        if path.exists():
            reports.append(_with_native_model(json.loads(path.read_text())))
        elif (RESULTS / f"{name}.missing").exists():
            missing.setdefault(name, (RESULTS / f"{name}.missing").read_text().strip())
        if (BASELINE / f"{name}.json").exists():
            baselines[name] = _with_native_model(
                json.loads((BASELINE / f"{name}.json").read_text())
            )
    body = render_markdown(
        reports,
        title="Measured on this machine",
        img_prefix="img/",
        command="python benchmarks/run_all.py",
    )
    body = body.replace("# Measured on this machine", "## Measured on this machine", 1)
    body = before_after(reports, baselines) + "\n" + body
    body = body.replace("\n### ", "\n### Backend: ")
    if missing:
        body += "\n\nNot measured:\n\n" + "\n".join(f"- {k}: {v}" for k, v in missing.items())
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


#: The rows the before/after table compares: (workload, subject kind, concurrency or None
#: for the highest measured).
_HEADLINE = (
    ("append", "pagedlist", 1),
    ("latest", "pagedlist", 1),
    ("before", "pagedlist", 1),
    ("concurrent", "pagedlist", None),
    ("feed", "pagedlist", None),
    ("timeline", "pagedlist", 1),
)


def _row(report: dict | None, workload: str, kind: str, conc: int | None) -> dict | None:
    if report is None:
        return None
    rows = [r for r in report["results"] if r["workload"] == workload and r["kind"] == kind]
    if conc is not None:
        rows = [r for r in rows if r["concurrency"] == conc]
    return max(rows, key=lambda r: r["concurrency"]) if rows else None


def _ratio(report: dict | None, workload: str, conc: int, metric: str) -> float | None:
    if report is None:
        return None
    for q in report.get("native_ratios", []):
        if q["primary"] and q["workload"] == workload and q["concurrency"] == conc:
            return q[metric]
    return None


X = "{:.2f}"


def _cell(old: float | None, new: float | None, fmt: str = "{:.3f}", x: str = "") -> str:
    def one(v: float | None) -> str:
        return "-" if v is None else fmt.format(v) + x

    return f"{one(old)} → **{one(new)}**"


def before_after(reports: list[dict], baselines: dict[str, dict]) -> str:
    """Old (benchmarks/results/baseline) and new figures side by side, per backend: the
    headline rows' p50, round trips and units, and the ratio to the native design."""
    from pagedlist.bench.stats import is_unit

    out = [
        "## Before and after",
        "",
        "Old figures: `benchmarks/results/baseline/` (measured before the work of issue 12, "
        "layout 1); new: `benchmarks/results/` (this run, the store's default layout). "
        "x: pagedlist over the backend's first native design in the same run (p50).",
        "",
        "| backend | workload | conc. | p50 ms | vs native (p50) | round trips/op | "
        "units/op | vs native (units) |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for report in reports:
        name = report["backend"].get("name") or report["backend"]["scheme"]
        old = baselines.get(name)
        for workload, kind, conc in _HEADLINE:
            new_row = _row(report, workload, kind, conc)
            old_row = _row(old, workload, kind, conc)
            if new_row is None and old_row is None:
                continue
            c = (new_row or old_row)["concurrency"]

            def units(r: dict | None) -> float | None:
                if r is None:
                    return None
                total = sum(v for k, v in r["units_per_op"].items() if is_unit(k))
                return total or None

            def pick(r: dict | None, key: str) -> float | None:
                return None if r is None else r[key]

            p50 = _cell(pick(old_row, "p50_ms"), pick(new_row, "p50_ms"))
            calls = _cell(pick(old_row, "calls_per_op"), pick(new_row, "calls_per_op"), "{:.2f}")
            x_p50 = _cell(
                _ratio(old, workload, c, "p50"), _ratio(report, workload, c, "p50"), X, "x"
            )
            x_units = _cell(
                _ratio(old, workload, c, "units"), _ratio(report, workload, c, "units"), X, "x"
            )
            spent = _cell(units(old_row), units(new_row), "{:.2f}")
            out.append(
                f"| {name} | {workload} | {c} | {p50} | {x_p50} | {calls} | {spent} | {x_units} |"
            )
    out += ["", "Targets, before and after:", ""]
    out += [
        "| backend | target | before | after | limit | verdict now |",
        "|---|---|--:|--:|--:|---|",
    ]
    for report in reports:
        name = report["backend"].get("name") or report["backend"]["scheme"]
        old = {t["name"]: t for t in (baselines.get(name) or {}).get("targets", [])}
        for t in report["targets"]:
            before = old.get(t["name"])
            verdict = "met" if t["met"] else f"**{t['missed_by'] or 'missed'}**"
            was = "-" if before is None else f"{float(before['value']):.2f}"
            out.append(
                f"| {name} | {t['description']} | {was} | {float(t['value']):.2f} "
                f"| {float(t['limit']):.2f} | {verdict} |"
            )
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main())
