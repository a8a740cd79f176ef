"""Regenerate the command samples in README.md from real runs.

Run: .venv/bin/python scripts/gen_readme_samples.py   (tests/test_docs.py checks the result
against the suite; rerun this after adding or renaming a clause)

Each sample sits between ``<!-- sample: NAME -->`` and ``<!-- /sample -->`` in README.md
and is replaced by the output of the command, run now:

* ``conformance``: ``pagedlist conformance URL`` against a local Redis server started for
  the run (``pagedlist.emulators``), everything it prints (pytest's progress and warnings
  included); table rows of clauses not in :data:`SHOWN` are elided as ``...``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGEDLIST = Path(sys.executable).with_name("pagedlist")

#: Clauses whose rows the conformance sample keeps (the others become "...").
SHOWN = ("S1", "S2", "A3", "A8", "L1", "P2", "P3", "R1", "R3", "H2", "F1")

_ROW = re.compile(r"^([A-Z]+\d+)\s+(passed|FAILED|ERROR|skipped)\s")
_BLOCK = re.compile(r"(<!-- sample: (\w+) -->\n)(.*?)(<!-- /sample -->)", re.S)


def conformance_sample() -> str:
    """Run the suite against a fresh local Redis; the sample's text (a fenced block)."""
    from pagedlist.emulators import get_emulator

    with get_emulator("redis").running() as server:
        done = subprocess.run(
            [str(PAGEDLIST), "conformance", server.url],
            capture_output=True,
            text=True,
            timeout=900,
            env={**os.environ, "COLUMNS": "80"},
        )
        url = server.url
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise SystemExit(f"pagedlist conformance {url} exited {done.returncode}:\n{output}")
    lines, elided = [], False
    for line in output.rstrip("\n").splitlines():
        row = _ROW.match(line)
        if row is None:
            # An indented "-> reason" line belongs to the row above it.
            if not (elided and line.startswith(" ")):
                lines.append(line)
            continue
        if row[1] in SHOWN:
            lines.append(line)
            elided = False
        else:
            if not elided:
                lines.append("...")
            elided = True
    return "```\n$ pagedlist conformance " + url + "\n" + "\n".join(lines) + "\n```\n"


SAMPLES = {"conformance": conformance_sample}


def main() -> None:
    text = README.read_text()
    names = [m[2] for m in _BLOCK.finditer(text)]
    unknown = set(names) - set(SAMPLES)
    if unknown or not names:
        raise SystemExit(f"README.md samples {sorted(unknown) or 'missing'}: known {list(SAMPLES)}")
    made = {name: SAMPLES[name]() for name in names}
    README.write_text(_BLOCK.sub(lambda m: m[1] + made[m[2]] + m[4], text))
    print(f"wrote {README} ({', '.join(names)})")


if __name__ == "__main__":
    main()
