"""Docs that must match the code."""

from __future__ import annotations

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
