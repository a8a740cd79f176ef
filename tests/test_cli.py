"""The pagedlist command, through click's runner."""

from __future__ import annotations

import json

from click.testing import CliRunner

from pagedlist.cli import main


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_create_append_latest_info(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert "capacity 2" in run("create", "--store", url, "feed", "--capacity", "2").output
    out = run("append", "--store", url, "feed", "a", "b", "c")
    assert out.exit_code == 0 and out.output.split() == ["0", "1", "2"]
    assert run("append", "--store", url, "feed", "--json", '{"x": 1}').output.split() == ["3"]
    lines = run("latest", "--store", url, "feed", "-n", "2", "--json").output.splitlines()
    assert [json.loads(ln)["value"] for ln in lines] == [{"x": 1}, "c"]
    older = run("latest", "--store", url, "feed", "--before", "2").output
    assert '"b"' in older and '"a"' in older and '"c"' not in older
    info = run("info", "--store", url, "feed").output
    assert "items:       4" in info and "capacity:    2" in info


def test_store_from_environment(tmp_path):
    env = {"PAGEDLIST_STORE": f"sqlite:///{tmp_path / 'env.db'}"}
    assert run("create", "feed", env=env).exit_code == 0
    assert run("append", "feed", "x", env=env).output.strip() == "0"


def test_errors_are_clear_and_nonzero(tmp_path):
    url = f"sqlite:///{tmp_path / 'e.db'}"
    missing = run("latest", "--store", url, "nope")
    assert missing.exit_code == 1 and "does not exist" in missing.output
    bad = run("create", "--store", url, "bad/id")
    assert bad.exit_code == 1 and "contains '/'" in bad.output
    scheme = run("info", "--store", "nosuch://x")
    assert scheme.exit_code == 1 and "Accepted forms" in scheme.output


def test_demo_twice_does_not_duplicate(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = run("demo", "--store", url)
    second = run("demo", "--store", url)
    assert "built the demo feed" in first.output and "reused the demo feed" in second.output
    tree = lambda out: out.split("\n", 2)[2]  # noqa: E731 - drop the status line
    assert tree(first.output) == tree(second.output)
    assert tree(first.output).count("\n") == 8
    assert "    - bo: Bounded appends" in first.output


def test_conformance_command_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'conf.db'}"
    args = ["conformance", url, "--clause", "S1", "--clause", "a3", "--clause", "P1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "A3      passed" in result.output and "3 passed, 0 failed" in result.output


def test_conformance_unreachable_is_not_run(tmp_path):
    result = CliRunner().invoke(main, ["conformance", "sqlite:////no/such/dir/x.db"])
    assert result.exit_code == 2 and "NOT RUN" in result.output


def test_emulator_list():
    out = run("emulator", "list").output
    assert "redis" in out and "dynamodb" in out
