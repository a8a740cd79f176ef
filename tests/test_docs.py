"""Docs that must match the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_contract_md_is_generated_from_the_suite():
    """docs/contract.md lists exactly the suite's clauses: regenerate with
    `.venv/bin/python scripts/gen_contract.py` after changing a clause."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_contract.py"), "--check"], cwd=ROOT
    )
    assert done.returncode == 0, "docs/contract.md is stale: run scripts/gen_contract.py"


def test_readme_quick_start_has_two_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = [ln.strip() for ln in quick.splitlines() if ln.strip().startswith("make ")]
    assert commands == ["make demo", "make test"]


# --- user-facing docs -----------------------------------------------------------------------

#: Phrases that belong to the project's own working notes, not to its users' documentation.
INTERNAL = re.compile(
    r"\bthe talk\b|\bthe lead\b|\bproposed patch|\bdesign\.md\b|\bstyle\.md\b|\.\./shared"
    r"|example\.invalid",
    re.I,
)


def test_user_docs_carry_no_internal_notes():
    files = [ROOT / "README.md", ROOT / "pyproject.toml", *sorted((ROOT / "docs").rglob("*.md"))]
    found = []
    for path in files:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(ROOT)}:{n}: {m[0]!r}" for m in INTERNAL.finditer(line)]
    assert not found, "internal notes in user docs:\n" + "\n".join(found)


def _readme_sample(name: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(f"<!-- sample: {name} -->\n", 1)[1].split("<!-- /sample -->", 1)[0]
    lines = block.strip().splitlines()
    assert lines[0] == "```" and lines[-1] == "```"
    return lines[1:-1]


def _collected_suite() -> list[str]:
    """``Class::test_name`` (with parameters) of every test pytest collects from the URL
    suite."""
    done = subprocess.run(
        [
            sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
            "-o", "addopts=", "--pyargs", "pagedlist.conformance.url_suite",
            "--pagedlist-store", "memory://",
        ],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return ["::".join(ln.split("::")[-2:]) for ln in done.stdout.splitlines() if "::" in ln]


def test_readme_conformance_sample_matches_the_suite():
    """The sample was made by scripts/gen_readme_samples.py from a run of today's suite:
    regenerate it after adding, removing or renaming a clause."""
    from pagedlist.conformance import ConformanceSuite
    from pagedlist.conformance.capabilities import clause_order

    lines = _readme_sample("conformance")
    collected = [c.split("::")[1] for c in _collected_suite()]
    classes = [c.split("::")[0] for c in _collected_suite()]
    assert len(collected) > 50
    clause_of = {}
    for name in dir(ConformanceSuite):
        marks = getattr(getattr(ConformanceSuite, name), "pytestmark", [])
        for mark in marks:
            if mark.name == "pagedlist_clause":
                clause_of[name] = mark.args[0]
    known = {(clause_of[n.split("[")[0]], n.removeprefix("test_")) for n in collected}

    command = lines[0]
    assert command.startswith("$ pagedlist conformance ")
    url = command.split()[-1]
    assert f"pagedlist conformance: {url}" in lines

    # One result column per API run: "clause sync async time test", or "clause result time test".
    header = next(ln for ln in lines if ln.startswith("clause "))
    name_at = len(header.split()) - 1
    rows = [ln.split() for ln in lines if re.match(r"^[A-Z]+\d+ ", ln)]
    assert len(rows) >= 5
    for row in rows:
        assert (row[0], row[name_at]) in known, f"not in the suite: {row}"
    order = [clause_order(row[0]) for row in rows]
    assert order == sorted(order)

    total = re.fullmatch(
        r"(\d+) passed, (\d+) failed, (\d+) skipped in [\d.]+s( \(sync and async\))?", lines[-1]
    )
    assert total, lines[-1]
    passed, failed, skipped = map(int, total.groups()[:3])
    # The asyncio clauses (Y) are reported once, from the sync class.
    reported = [
        c
        for c, k in zip(collected, classes, strict=True)
        if not (k == "TestConformanceAsync" and clause_of.get(c.split("[")[0], "")[:1] == "Y")
    ]
    assert failed == 0 and passed + skipped == len(reported), (
        "README sample is stale: run scripts/gen_readme_samples.py"
    )
    pytest_line = next(ln for ln in lines if re.fullmatch(r"\d+ passed.* in [\d.]+s", ln))
    assert int(pytest_line.split()[0]) == passed
    assert max(len(ln) for ln in lines[1:]) <= 80


def test_adapter_guide_quotes_the_tested_example_verbatim():
    """Every code block of docs/adapters.md that names a file in its first line is a
    verbatim excerpt of that file (the example adapter, run through the conformance suite
    by docs/examples/test_example_adapter.py), so the guide cannot drift from working code."""
    import re

    guide = (ROOT / "docs" / "adapters.md").read_text()
    blocks = re.findall(r"```python\n# (\S+)\n(.*?)```", guide, flags=re.S)
    assert len(blocks) >= 5, "the guide quotes the example adapter and its test module"
    for path, excerpt in blocks:
        source = (ROOT / path).read_text()
        assert excerpt in source, f"docs/adapters.md quotes {path}, which no longer has:\n{excerpt}"
