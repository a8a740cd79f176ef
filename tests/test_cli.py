"""The pagedlist command, through click's runner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pagedlist import open_store
from pagedlist.adapters.memory import MemoryStore
from pagedlist.cli import main
from pagedlist.core.pagedlist import PagedList
from pagedlist.errors import ListNotFound


def run(*args: str, env: dict | None = None, input: str | bytes | None = None):
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


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
    # The application's seed: three posts, six comments and replies.
    assert tree(first.output).count("\n") == 9
    assert "    - bob: Define the limits first: max message size?" in first.output


def _served_tree(url: str) -> list[str]:
    """What the feed application serves on ``url``, through its JSON API, as demo lines."""
    import asyncio

    import httpx

    from pagedlist.app import create_app

    async def walk() -> list[str]:
        lines: list[str] = []
        transport = httpx.ASGITransport(app=create_app(url))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:

            async def show(item_id: str, depth: int) -> None:
                got = await client.get(f"/api/items/{item_id}/replies", params={"limit": 20})
                for item in got.json()["items"]:
                    lines.append(
                        f"{'    ' * depth}- {item['author']}: {item['text']}  "
                        f"[#{item['position']}]"
                    )
                    await show(item["id"], depth + 1)

            feed = await client.get("/api/feed", params={"limit": 20})
            for post in feed.json()["items"]:
                lines.append(f"- {post['author']}: {post['text']}  [#{post['position']}]")
                await show(post["id"], 1)
        return lines

    return asyncio.run(walk())


def test_demo_prints_what_the_app_serves_on_the_same_file(tmp_path):
    """`make demo` prints the demo feed, then serves the app on that file: same data."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    printed = run("demo", "--store", url).output.split("\n", 2)[2].splitlines()
    served = _served_tree(url)
    assert len(served) == 9
    assert printed == served


def test_serve_seed_after_demo_adds_nothing(tmp_path):
    import asyncio

    from pagedlist import open_async_store
    from pagedlist.app.feed import Feed

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    run("demo", "--store", url)

    async def seed_again() -> bool:
        async with await open_async_store(url) as store:
            return await (await Feed.open(store)).seed()

    assert asyncio.run(seed_again()) is False


def test_conformance_command_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'conf.db'}"
    args = ["conformance", url, "--clause", "S1", "--clause", "a3", "--clause", "P1"]
    result = CliRunner().invoke(main, [*args, "--api", "sync"])
    assert result.exit_code == 0, result.output
    assert "A3      passed" in result.output and "3 passed, 0 failed" in result.output
    both = CliRunner().invoke(main, args)  # the default: the sync and the asyncio adapter
    assert both.exit_code == 0, both.output
    assert "clause  sync     async" in both.output and "A3      passed   passed" in both.output
    assert "6 passed, 0 failed, 0 skipped" in both.output and "(sync and async)" in both.output


def test_conformance_unreachable_is_not_run(tmp_path):
    result = CliRunner().invoke(main, ["conformance", "sqlite:////no/such/dir/x.db"])
    assert result.exit_code == 2 and "NOT RUN" in result.output


def test_emulator_list():
    out = run("emulator", "list").output
    assert "redis" in out and "dynamodb" in out


# --- mistakes on the command line: one line, exit 2, no traceback ---------------------------


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_negative_counts_are_one_line_usage_errors(tmp_path):
    url = f"sqlite:///{tmp_path / 'n.db'}"
    run("create", "--store", url, "feed")
    _one_line_error(run("latest", "--store", url, "feed", "-n", "-1"), "-n", "latest --help")
    _one_line_error(run("latest", "--store", url, "feed", "--before", "-3"), "--before")
    _one_line_error(run("create", "--store", url, "f2", "--capacity", "0"), "--capacity")
    _one_line_error(run("create", "--store", url, "f2", "--max-item-bytes", "0"))
    _one_line_error(run("append", "--store", url, "feed", "--json", "{"), "not JSON")
    _one_line_error(run("append", "--store", url, "feed", "a", "b", "--id", "x"), "--id")
    _one_line_error(run("nosuch"), "No such command")
    _one_line_error(run("emulator", "start", "nosuch"), "'nosuch' is not one of")
    _one_line_error(run("emulator", "install"), "name BACKENDS or pass --all")


def test_latest_never_asks_for_an_unbounded_read(tmp_path):
    url = f"sqlite:///{tmp_path / 'n.db'}"
    run("create", "--store", url, "feed")
    _one_line_error(run("latest", "--store", url, "feed", "-n", str(10**9)), "-n")


def test_bench_enforces_the_writer_limit_its_help_states(tmp_path):
    help_text = run("bench", "--help").output
    assert "up to 100" in " ".join(help_text.split())
    result = run("bench", "memory://", "-c", "1,500", "--out", str(tmp_path / "b"), "-q")
    _one_line_error(result, "at most 100 concurrent writers")
    assert not (tmp_path / "b").exists(), "nothing ran"


# --- command-line advice ------------------------------------------------------------------

PYTHON_SPELLINGS = ("PagedList.", "max_item_bytes", "capacity=", "deadline=", "(store")


def _advice(result) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for spelling in PYTHON_SPELLINGS:
        assert spelling not in result.output, result.output
    return result.output


def test_missing_list_advises_the_create_command(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    out = _advice(run("latest", "--store", url, "nope"))
    assert "create it with 'pagedlist create --store URL nope'" in out
    out = _advice(run("append", "--store", url, "nope", "x"))
    assert "pagedlist create --store URL nope" in out


def test_impossible_capacity_advises_options_that_exist(tmp_path):
    from pagedlist.core.sizing import entry_bytes, max_item_bytes_for

    # Layout 1: a page row must hold `capacity` items (layout 2 has no page rows).
    url = f"sqlite:///{tmp_path / 'a.db'}?entries=false"
    limits = open_store(url).limits
    best = (limits.row_bytes - limits.row_overhead) // entry_bytes(limits, 1024)
    out = _advice(run("create", "--store", url, "feed", "--capacity", "100000"))
    assert "--capacity 100000 with --max-item-bytes 1024" in out
    assert f"use --capacity {best} or less (or omit --capacity to derive one)" in out
    assert "<= 0" not in out and "--max-item-bytes 0" not in out
    out = _advice(run("create", "--store", url, "feed", "--max-item-bytes", str(10**9)))
    assert f"use --max-item-bytes {max_item_bytes_for(limits, 2)} or less" in out


def test_other_settings_and_large_items_advise_options(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    run("create", "--store", url, "feed", "--capacity", "3")
    out = _advice(run("create", "--store", url, "feed", "--capacity", "4"))
    assert "already exists with capacity 3 (asked 4)" in out
    assert "omit --capacity and --max-item-bytes" in out and "another LIST_ID" in out
    out = _advice(run("append", "--store", url, "feed", "x" * 2000))
    assert "over this list's limit of 1024 bytes" in out
    assert "a larger --max-item-bytes" in out


def test_deadline_advice_names_the_option():
    from pagedlist.cli import cli_message
    from pagedlist.errors import DeadlineExceeded

    err = DeadlineExceeded("append did not finish: retry later, or raise the deadline with "
                           "deadline=...")
    assert cli_message(err, has_deadline=True).endswith("raise it with --deadline SECONDS")
    assert cli_message(err).endswith("try again later")


def test_deadline_option_reaches_the_list(tmp_path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    assert run("create", "--store", url, "feed", "--deadline", "5").exit_code == 0
    assert run("append", "--store", url, "feed", "x", "--deadline", "5").output.strip() == "0"
    _one_line_error(run("latest", "--store", url, "feed", "--deadline", "0"), "--deadline")


# --- create says what it did --------------------------------------------------------------


def test_create_says_whether_it_created_or_found(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    made = run("create", "--store", url, "feed", "--capacity", "2")
    assert made.output == "created list 'feed': capacity 2 items per page, max item 1024 bytes\n"
    found = run("create", "--store", url, "feed")
    assert found.output == (
        "list 'feed' exists already: capacity 2 items per page, max item 1024 bytes\n"
    )
    same = run("create", "--store", url, "feed", "--capacity", "2", "--max-item-bytes", "1024")
    assert same.output.startswith("list 'feed' exists already, as asked: capacity 2")
    assert made.exit_code == found.exit_code == same.exit_code == 0


def test_create_finds_a_list_made_with_other_settings_when_none_are_asked(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    run("create", "--store", url, "big", "--max-item-bytes", "4096")
    found = run("create", "--store", url, "big")
    assert found.exit_code == 0 and "max item 4096 bytes" in found.output


# --- help on every option -----------------------------------------------------------------


def _commands(group, ctx, path=()):
    import click

    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield (*path, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, ctx, (*path, name))


def test_every_option_has_help_text():
    import click

    ctx = click.Context(main)
    seen = []
    for path, cmd in _commands(main, ctx):
        assert cmd.help, f"pagedlist {' '.join(path)} has no help"
        for param in cmd.params:
            if isinstance(param, click.Option):
                seen.append(param.name)
                assert param.help, f"pagedlist {' '.join(path)} {param.opts[0]} has no help"
    assert {"feed_lists", "feed_threads", "count", "max_item_bytes", "owner"} <= set(seen)


# --- tables fit 80 columns ----------------------------------------------------------------


def test_conformance_table_fits_80_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'conf.db'}"
    for api in ("sync", "both"):
        args = ["conformance", url, "--clause", "F2", "--clause", "P3", "--api", api]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        table = result.output.split("pagedlist conformance: ", 1)[1]
        if api == "sync":
            assert "non_json_values_are_refused_before_writing[float0]" in table
        assert max(len(line) for line in table.splitlines()) <= 80, table


def test_conformance_table_wraps_long_reasons_and_names():
    from pagedlist.conformance.runner import ClauseResult, table

    rows = [
        ClauseResult("P3", "test_" + "x" * 120, "skipped", 0.1, "needs capability " * 12),
        ClauseResult("S1", "test_short", "FAILED", 1.5, "E" * 200),
    ]
    lines = table(rows)
    assert max(map(len, lines)) <= 80
    assert "…" in lines[1] and lines[1].split()[-1].startswith("xxx")
    assert [ln.split()[-1] for ln in lines if ln.startswith("S1 ")] == ["short"]
    assert sum(line.strip().startswith("-> ") for line in lines) == 2
    text = "".join(line.strip() for line in lines)
    assert "E" * 200 in text.replace(" ", ""), "the reason is wrapped, not cut"


def test_bench_summary_fits_80_columns_for_every_recorded_backend():
    """The committed reports of every backend, rendered as `pagedlist bench` prints them."""
    import io
    from pathlib import Path

    from pagedlist.bench.command import print_summary

    results = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
    reports = sorted(results.glob("*.json"))
    assert len(reports) >= 5
    for path in reports:
        report = json.loads(path.read_text())
        out = io.StringIO()
        print_summary(report, file=out)
        text = out.getvalue()
        assert max(len(line) for line in text.splitlines()) <= 80, path.name
        assert "…" not in text, f"{path.name}: a cell was cut"
        first = report["results"][0]
        assert f"{first['p50_ms']:.3f}" in text
        for target in report["targets"]:
            assert f"{float(target['value']):.2f}" in text


# --- moving data: copy, export, import, delete, drop --------------------------------------


def _error(result, code: int, *needles: str) -> str:
    """The one ``Error:`` line of a failed data command (progress lines may come before)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def shared(monkeypatch):
    """``memory://NAME`` URLs that name one shared in-process store each (the real memory
    adapter, which has entry rows), so the data commands can be run on layout 2 here."""
    from pagedlist import cli

    stores: dict[str, MemoryStore] = {}
    real = cli.open_store

    def opened(url: str):
        if url.startswith("memory://") and len(url) > len("memory://"):
            name = url[len("memory://") :]
            return stores.setdefault(name, MemoryStore(push=not name.startswith("claim")))
        return real(url)

    monkeypatch.setattr(cli, "open_store", opened)
    return stores


def _feed(store, n: int = 30) -> PagedList:
    plist = PagedList.create(store, "feed", capacity=4, metadata={"m": 1})
    plist.extend([{"i": i} for i in range(n)], ts=[100.5 + i for i in range(n)])
    plist.append("mine", id="caller-1", ts=99)
    return plist


def test_copy_verifies_and_resumes(tmp_path):
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with open_store(a) as store:
        _feed(store)
    first = run("copy", a, b, "--list", "feed")
    assert first.exit_code == 0, first.output
    assert "positions 0..30 (31 written, 0 there already and checked)" in first.stdout
    assert "verified 'feed' item by item: 31 items and 0 tombstones identical" in first.stdout
    assert "copy feed: 31/31 positions" in first.stderr  # plain progress: not a terminal
    again = run("copy", a, b, "--all")
    assert again.exit_code == 0 and "(0 written, 31 there already and checked)" in again.stdout
    with open_store(a) as x, open_store(b) as y:
        assert list(PagedList.open(x, "feed").iter()) == list(PagedList.open(y, "feed").iter())


def test_copy_of_tombstones_edits_and_a_trim(shared):
    plist = _feed(shared.setdefault("src", MemoryStore()))
    plist.delete(9)
    plist.replace(11, "edited")
    plist.trim(before=5)
    result = run("copy", "memory://src", "memory://claim-dst", "--list", "feed")
    assert result.exit_code == 0, result.output
    assert "positions 5..30" in result.stdout and "1 tombstones identical" in result.stdout
    copy = PagedList.open(shared["claim-dst"], "feed")
    assert copy.first() == 5 and copy.get(9) is None and copy.get(11).edited is not None
    assert list(copy.iter()) == list(plist.iter())


def test_copy_bad_input_exits_2(tmp_path, shared):
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with open_store(a) as store:
        _feed(store)
    with open_store(b) as store:
        PagedList.create(store, "feed").append("another list")
    _error(
        run("copy", a, b, "--list", "feed"), 2, "b.db already holds a list 'feed'", "a.db"
    )
    _error(run("copy", a, b, "--list", "nope"), 2, "'nope' does not exist in sqlite:///")
    neither = run("copy", a, b)
    assert neither.exit_code == 2 and "--list ID, or pass --all" in neither.output
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    _error(run("copy", empty, b, "--all"), 2, "no lists in its catalogue", "--list ID")
    shared["src"] = MemoryStore()
    _feed(shared["src"]).delete(3)
    layout_one = f"sqlite:///{tmp_path / 'c.db'}?entries=false"
    _error(
        run("copy", "memory://src", layout_one, "--list", "feed"),
        2,
        "1 deleted item(s) (tombstones)",
        "layout 1",
    )


def test_copy_exits_1_on_a_mismatch(tmp_path):
    """Verification reads everything again: an id record lost at the destination (which the
    copy itself does not re-check) is a mismatch, reported with exit status 1."""
    from pagedlist.core.values import id_record_key

    # A layout-1 destination keeps an id record per caller id (a push store needs none).
    a, b = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}?entries=false"
    with open_store(a) as store:
        _feed(store)
    assert run("copy", a, b, "--list", "feed").exit_code == 0
    with open_store(b) as store:
        store.delete(id_record_key("feed", "caller-1"))
    result = run("copy", a, b, "--list", "feed")
    assert result.exit_code == 1
    assert "MISMATCH in 'feed': 1 difference(s)" in result.stderr
    assert "the id record of 'caller-1' is None" in result.stderr


def test_export_import_through_stdin_and_stdout(tmp_path, shared):
    plist = _feed(shared.setdefault("src", MemoryStore()))
    plist.delete(2)
    out = run("export", "memory://src", "feed")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert json.loads(lines[0])["pagedlist"] == 1 and len(lines) == 32
    third = json.loads(lines[3])
    assert third == {"position": 2, "id": third["id"], "ts": 102.5, "deleted": True}
    assert json.loads(lines[4])["value"] == {"i": 3} and json.loads(lines[4])["edited"] is None
    done = run("import", "memory://claim-copy", "feed", input=out.stdout)
    assert done.exit_code == 0 and "(31 written, 0 there already" in done.stdout, done.output
    again = run("import", "memory://claim-copy", "feed", input=out.stdout)
    assert "(0 written, 31 there already and checked)" in again.stdout
    assert list(PagedList.open(shared["claim-copy"], "feed").iter()) == list(plist.iter())
    broken = out.stdout.replace('"position":7,', '"position":8,', 1)
    _error(
        run("import", "memory://other", "feed", input=broken), 2, "line 9: position 8, expected 7"
    )
    not_text = "\xff\n".encode("latin-1")
    _error(run("import", "memory://other", "feed", input=not_text), 2, "line 1: not UTF-8 text")
    _error(run("export", "memory://src", "nope"), 2, "'nope' does not exist")


def test_delete_and_drop(tmp_path, shared):
    shared["s"] = MemoryStore()
    _feed(shared["s"])
    assert run("delete", "memory://s", "feed", "3").stdout == "deleted position 3 of 'feed'\n"
    assert "was deleted already" in run("delete", "memory://s", "feed", "3").stdout
    assert PagedList.open(shared["s"], "feed").get(3) is None
    _error(run("delete", "memory://s", "feed", "99"), 2, "no item at position 99")
    bad = run("delete", "memory://s", "feed", "--", "-1")
    assert bad.exit_code == 2 and "POSITION" in bad.output and "-1" in bad.output
    _error(run("delete", "memory://s", "nope", "1"), 2, "'nope' does not exist")
    url = f"sqlite:///{tmp_path / 'l1.db'}?entries=false"
    with open_store(url) as store:
        _feed(store)
    _error(run("delete", url, "feed", "1"), 2, "layout 1", "pagedlist copy")
    kept = run("drop", "memory://s", "feed", input="n\n")
    assert kept.exit_code == 1 and "31 positions" in kept.output
    assert PagedList.open(shared["s"], "feed").count() == 31
    gone = run("drop", "memory://s", "feed", input="y\n")
    assert gone.exit_code == 0 and "dropped list 'feed'" in gone.stdout
    left = shared["s"].keys()
    assert all(k.startswith("pagedlist.catalog|") for k in left), left
    assert PagedList.lists(shared["s"]) == []
    _error(run("drop", "memory://s", "feed", "--yes"), 2, "nothing to drop")
    with open_store(url) as store:
        assert run("drop", url, "feed", "--yes").exit_code == 0
        with pytest.raises(ListNotFound):
            PagedList.open(store, "feed")
