"""Installing pagedlist without extras must not break anything else: pytest loads the
package's plugin in every project of that environment, so the plugin imports nothing
optional, and the conformance suite names its extra when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pagedlist.conformance import EXTRA_HINT

ROOT = Path(__file__).resolve().parent.parent

# Runs in a child interpreter: hypothesis looks uninstalled there (a finder refuses it the
# way a missing package is refused), whatever this environment holds.
BLOCK_HYPOTHESIS = textwrap.dedent(
    """
    import sys

    class _NotInstalled:
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "hypothesis":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NotInstalled())
    """
)


def _clean_env() -> dict[str, str]:
    """This environment without what the running pytest or the project put in it."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "PAGEDLIST_")) and k != "PYTHONPATH"
    }


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK_HYPOTHESIS + code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_clean_env(),
    )


def test_plugin_loads_without_hypothesis():
    done = _python(
        "import pagedlist.conformance.plugin, pagedlist.conformance as c\n"
        "assert 'hypothesis' not in sys.modules\n"
        "print(c.missing_requirement())\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"the pagedlist conformance suite needs 'hypothesis', which is not installed: "
        f"{EXTRA_HINT}"
    )


def test_suite_import_without_hypothesis_names_the_extra():
    done = _python("from pagedlist.conformance import ConformanceSuite")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: the pagedlist conformance suite needs")
    assert "pip install 'pagedlist[conformance]'" in last


def test_conformance_command_without_hypothesis_prints_the_pip_line():
    done = _python(
        "sys.argv = ['pagedlist', 'conformance', 'memory://']\n"
        "from pagedlist.cli import main\n"
        "main()\n"
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "Error: the pagedlist conformance suite needs 'hypothesis', which is not installed: "
        "pip install 'pagedlist[conformance]'"
    ]


def test_suite_imports_with_its_requirements():
    from pagedlist.conformance import ConformanceSuite, StoreFixtures, missing_requirement

    assert missing_requirement() is None
    assert any(name.startswith("test_") for name in dir(ConformanceSuite))
    assert StoreFixtures.__module__ == "pagedlist.conformance.fixtures"


@pytest.mark.slow
def test_bare_install_leaves_another_projects_pytest_alone(tmp_path):
    """`pip install pagedlist pytest` into a fresh venv, then pytest in an unrelated project.

    The wheel is built from this checkout; pytest (and the build backend) come from the
    package index pip is configured with.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = _clean_env()

    def pip(*args: str) -> None:
        # This environment's pip installs into the fresh venv: no ensurepip run needed.
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", *args],
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr

    pip(str(ROOT), "pytest")
    have = subprocess.run(
        [str(python), "-c", "import importlib.util as u; print(u.find_spec('hypothesis'))"],
        capture_output=True, text=True, env=env,
    )
    assert have.stdout.strip() == "None", "the bare install must not bring hypothesis"

    project = tmp_path / "project"
    project.mkdir()
    (project / "test_unrelated.py").write_text("def test_sum():\n    assert 1 + 1 == 2\n")
    run = subprocess.run(
        [str(python), "-m", "pytest", "-q", "test_unrelated.py"],
        cwd=project, capture_output=True, text=True, timeout=120, env=env,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout
    # The plugin did load (its option is there), it just imported nothing optional.
    helped = subprocess.run(
        [str(python), "-m", "pytest", "--help"],
        cwd=project, capture_output=True, text=True, timeout=120, env=env,
    )
    assert "--pagedlist-store" in helped.stdout

    suite = subprocess.run(
        [str(python), "-c", "from pagedlist.conformance import ConformanceSuite"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert suite.returncode == 1
    assert EXTRA_HINT in suite.stderr.strip().splitlines()[-1]
