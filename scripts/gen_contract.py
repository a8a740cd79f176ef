"""Regenerate docs/contract.md from the conformance suite's clause docstrings.

Run: .venv/bin/python scripts/gen_contract.py   (tests/test_docs.py checks it is current)
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from pagedlist.conformance import ConformanceSuite
from pagedlist.conformance.capabilities import CLAUSE_FAMILIES as FAMILIES
from pagedlist.conformance.capabilities import clause_order

HEADER = """# The pagedlist contract

Every store adapter keeps these clauses; every list built on a conforming store keeps the
list clauses. Each clause is checked by one test of the conformance suite
(`src/pagedlist/conformance/`), which cites the clause id. Run it against any store
(it needs `pip install 'pagedlist[conformance]'`):

    pagedlist conformance URL
    pytest --pagedlist-store URL --pyargs pagedlist.conformance.url_suite

The five invariants (docs/architecture.md) are not capabilities: no adapter can opt out of them.

1. a page never holds more than `capacity` items;
2. every page below the head is exactly full, so positions are dense;
3. each acknowledged append appears exactly once, at the position it was told;
4. if append A was acknowledged before append B started, A's position < B's;
5. a reader never sees an item that later disappears, or a gap that later fills below the
   head.

Families: **S** rows (put_if_absent, replace, get, delete), **A** bounded de-duplicating
append, **I** increment, **G** batch get, **L** size limits, **P** positions and
invariants, **C** cursors and reads, **R** round trips, **V** input validation, **W**
writes sent at most once (lost answers on a real connection), and, where present, **H**
concurrent histories with faults and **F** value fidelity.

This file is generated from the suite by `scripts/gen_contract.py`.
"""

def clauses() -> list[tuple[str, str, str]]:
    """(clause id, test name, docstring without the id) for every clause test."""
    out = []
    for name, fn in inspect.getmembers(ConformanceSuite, inspect.isfunction):
        if not name.startswith("test_"):
            continue
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "pagedlist_clause"]
        if not marks:
            continue
        cid = marks[0].args[0]
        doc = " ".join(inspect.getdoc(fn).split())
        out.append((cid, name, doc.split(":", 1)[1].strip() if ":" in doc else doc))
    return sorted(out, key=lambda t: clause_order(t[0]))


def render() -> str:
    lines = [HEADER]
    family = None
    for cid, name, doc in clauses():
        fam = cid.rstrip("0123456789")
        if fam != family:
            family = fam
            lines.append(f"\n## {fam}: {FAMILIES.get(fam, fam)}\n")
        lines.append(f"- **{cid}** — {doc} *(`{name}`)*")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    target = Path(__file__).resolve().parent.parent / "docs" / "contract.md"
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if target.read_text() == text else 1)
    target.write_text(text)
    print(f"wrote {target}")
