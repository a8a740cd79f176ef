"""Run the benchmark on every local backend and write docs/performance.md's data.

    .venv/bin/python benchmarks/run_all.py [--backends memory,sqlite,redis,...] [--ops N]

Each server comes from the project's launchers (``pagedlist.emulators.get_emulator(name)``),
started on free loopback ports and stopped afterwards; memory and SQLite need none. For
each backend this writes ``benchmarks/results/NAME.json`` (raw numbers) and
``docs/img/NAME-*.png`` (plots), then regenerates the measured part of
``docs/performance.md`` between its ``<!-- bench:begin -->`` and ``<!-- bench:end -->``
markers (the analysis around them is written by hand). A backend that cannot start is
listed as missing, with the reason, instead of failing the run.
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
}


def run_one(name: str, args: argparse.Namespace) -> dict:
    """Benchmark one backend; return its report."""
    from pagedlist.bench.command import run_bench
    from pagedlist.bench.workloads import BenchConfig

    cfg = BenchConfig(ops=args.ops, concurrency=tuple(args.concurrency))
    url = BACKENDS[name]
    if url is not None:
        with tempfile.TemporaryDirectory() as tmp:
            return run_bench(
                url.format(tmp=tmp), name=name, cfg=cfg, sweep=True, show_progress=args.progress
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
            sweep=True,
            note=f"local server started by pagedlist.emulators ({name})",
            extra_versions=server_versions(emulator),
            show_progress=args.progress,
        )
    finally:
        running.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
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
    missing: dict[str, str] = {}
    for name in [] if args.doc_only else args.backends.split(","):
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
    from pagedlist.bench.report import evaluate_targets

    report["targets"] = evaluate_targets(report["backend"]["scheme"], report["results"])
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
    for name in BACKENDS:
        path = RESULTS / f"{name}.json"
        if path.exists():
            reports.append(_with_native_model(json.loads(path.read_text())))
        elif (RESULTS / f"{name}.missing").exists():
            missing.setdefault(name, (RESULTS / f"{name}.missing").read_text().strip())
    body = render_markdown(
        reports,
        title="Measured on this machine",
        img_prefix="img/",
        command="python benchmarks/run_all.py",
    )
    body = body.replace("# Measured on this machine", "## Measured on this machine", 1)
    body = body.replace("\n### ", "\n### Backend: ")
    if missing:
        body += "\n\nNot measured:\n\n" + "\n".join(f"- {k}: {v}" for k, v in missing.items())
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
