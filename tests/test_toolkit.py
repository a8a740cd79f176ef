"""The adapter toolkit (``pagedlist.adapters._toolkit``), the capabilities adapters declare,
and the passthrough ``StoreWrapper`` every store wrapper is built on."""

from __future__ import annotations

import pytest

from pagedlist.adapters import adapter_for, open_store, redact
from pagedlist.adapters._toolkit import (
    ErrorTable,
    Rule,
    UrlOptions,
    class_keys,
    host_port,
    is_loopback,
    new_version,
    not_a_list,
    not_an_integer,
    too_many_entries,
)
from pagedlist.adapters.memory import MemoryStore
from pagedlist.core.capabilities import Capabilities, capabilities_of
from pagedlist.core.counting import CountingStore
from pagedlist.core.ops import Appended, Claimed, Merged, Scan
from pagedlist.core.store import Store
from pagedlist.core.wrapper import CALLS, StoreWrapper
from pagedlist.errors import (
    ConfigError,
    ContractViolation,
    DeadlineExceeded,
    InvalidValue,
    StoreUnavailable,
    Throttled,
    UsageError,
)

FORM = "x://HOST/DB[?timeout=S&create=true&mode=a|b&name=TEXT&n=N]"


def opts(query: str, url: str = "x://user:s3cret@host/db") -> UrlOptions:
    return UrlOptions(
        f"{url}?{query}", accepted=("timeout", "create", "mode", "name", "n"), form=FORM
    )


# --- URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://user:s3cret@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:s3cret@host", "redis://:***@host"),
        ("redis://s3cret@host", "redis://***@host"),
        ("redis+cluster://:s3cret@a:1,b:2?ssl=true", "redis+cluster://:***@a:1,b:2?ssl=true"),
        ("redis://:s3cret@[::1", "redis://:***@[::1"),
        ("redis://:pa/s3cret@host/0", "redis://:***@host/0"),
        ("sqlite:///dir/a@b.db", "sqlite:///dir/a@b.db"),
        ("cosmos://host:1/db/coll?tls=false", "cosmos://host:1/db/coll?tls=false"),
        ("no scheme at all", "no scheme at all"),
    ],
)
def test_redact_hides_every_password(url, shown):
    assert redact(url) == shown
    assert "s3cret" not in redact(url)


def test_loopback_hosts_and_urls():
    for host in ("localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]", "http://127.0.0.1:8000"):
        assert is_loopback(host), host
    for host in ("", None, "example.com", "10.0.0.1", "http://[::1", "db.localhost.example"):
        assert not is_loopback(host), host


def test_versions_are_fresh_random_tokens():
    tokens = {new_version() for _ in range(1000)}
    assert len(tokens) == 1000
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in tokens)


def test_unknown_option_is_refused_naming_the_accepted_ones_and_the_form():
    with pytest.raises(ConfigError) as caught:
        opts("colour=red&timeout=1")
    message = str(caught.value)
    assert "colour" in message and "create, mode, n, name, timeout" in message
    assert FORM in message and "s3cret" not in message and "***" in message


def test_typed_options():
    o = opts("timeout=1.5&create=YES&mode=B&name=a%20b&n=3")
    assert o.number("timeout", 5.0) == 1.5
    assert o.flag("create") is True
    assert o.choice("mode", ("a", "b"), "a") == "b"
    assert o.text("name") == "a b"
    assert o.whole("n", 1) == 3
    assert o.given() == ["create", "mode", "n", "name", "timeout"]
    empty = opts("timeout=&create=")  # empty counts as absent
    assert empty.number("timeout", 5.0) == 5.0 and empty.flag("create", True) is True
    assert opts("timeout=1&timeout=2").number("timeout", 5.0) == 2.0  # the last one wins


@pytest.mark.parametrize(
    ("query", "read"),
    [
        ("timeout=soon", lambda o: o.number("timeout", 1.0)),
        ("timeout=0", lambda o: o.number("timeout", 1.0)),
        ("timeout=-1", lambda o: o.number("timeout", 1.0, positive=False)),
        ("timeout=nan", lambda o: o.number("timeout", 1.0)),
        ("create=perhaps", lambda o: o.flag("create")),
        ("mode=c", lambda o: o.choice("mode", ("a", "b"), "a")),
        ("n=1.5", lambda o: o.whole("n", 1)),
        ("n=0", lambda o: o.whole("n", 1)),
        ("create", lambda o: None),  # a bare name has no value
    ],
)
def test_malformed_option_values_are_config_errors(query, read):
    with pytest.raises(ConfigError, match=r"x://HOST/DB") as caught:
        read(opts(query))
    assert "s3cret" not in str(caught.value)


def test_reading_an_undeclared_option_is_the_adapters_bug():
    with pytest.raises(ContractViolation):
        opts("").text("region")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("h", ("h", 9)), ("h:1", ("h", 1)), ("[::1]:80", ("::1", 80)), ("[::1]", ("::1", 9))],
)
def test_host_port(text, expected):
    assert host_port(text, 9, ConfigError) == expected


@pytest.mark.parametrize("text", ["h:x", "h:0", "h:70000", ":80", "[::1", "[::1]x", "h:-1"])
def test_bad_host_port_is_a_config_error(text):
    with pytest.raises(ConfigError):
        host_port(text, 9, ConfigError)


def test_sqlite_refuses_unknown_options(tmp_path):
    """Found defect: SQLite silently ignored unknown options (a typo'd timeout, mode=ro)."""
    with pytest.raises(ConfigError, match=r"unknown option.*mode.*accepted: entries, timeout"):
        open_store(f"sqlite:///{tmp_path / 'a.db'}?mode=ro")
    with pytest.raises(ConfigError, match="timeout"):
        open_store(f"sqlite:///{tmp_path / 'a.db'}?timeout=soon")
    with open_store(f"sqlite:///{tmp_path / 'a.db'}?timeout=0.5") as store:
        assert store.put_if_absent("k|1", {"a": 1})


# --- errors ------------------------------------------------------------------------------


class SDKError(Exception):
    """Stands in for an SDK's base exception class."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class SDKTimeout(SDKError):
    pass


TABLE = ErrorTable(
    {
        "SlowDown": Rule(Throttled, "{where} throttled {what}: {detail}", retry_after=0.5),
        SDKTimeout: Rule(DeadlineExceeded, "{where}: no answer to {what} ({code})"),
        SDKError: Rule(StoreUnavailable, "{where}: {what} failed: {code} {detail}"),
    },
    keys=lambda err: (getattr(err, "code", None), *class_keys(err)),
)


def test_error_table_picks_the_most_specific_key_and_chains():
    err = SDKTimeout("took too long\nsecond line", code="Unknown")
    mapped = TABLE.error(err, what="get", where="db")
    assert type(mapped) is DeadlineExceeded and mapped.__cause__ is err
    assert str(mapped) == "db: no answer to get (SDKTimeout)"
    # A code outranks the class when the adapter's keys list it first.
    throttled = TABLE.error(SDKTimeout("busy", code="SlowDown"), what="put", where="db")
    assert type(throttled) is Throttled and throttled.retry_after == 0.5
    assert str(throttled) == "db throttled put: busy"
    asked = TABLE.error(SDKError("busy", code="SlowDown"), retry_after=2.0, what="p", where="d")
    assert asked.retry_after == 2.0


def test_error_table_fields_override_and_missing_fields_do_not_crash():
    mapped = TABLE.error(SDKError("raw text"), what="put", detail="clean text")
    assert str(mapped) == "{where}: put failed: SDKError clean text"


def test_an_unmapped_exception_is_a_contract_violation_naming_it():
    mapped = TABLE.error(KeyError("x"), what="get", where="db")
    assert type(mapped) is ContractViolation and "KeyError" in str(mapped)
    assert mapped.__cause__ is not None


def test_shared_fault_errors_have_one_class_each():
    assert type(not_a_list("k|0", "items", "text")) is InvalidValue
    assert "a string, not a list" in str(not_a_list("k|0", "items", "text"))
    assert type(not_an_integer("k|s", "head", True)) is InvalidValue
    assert "a boolean, not an integer" in str(not_an_integer("k|s", "head", True))
    too_many = too_many_entries("k|0", 10, 9)
    assert type(too_many) is UsageError and "at most 9 entries" in str(too_many)


# --- capabilities ------------------------------------------------------------------------


def test_adapters_declare_their_capabilities():
    memory = capabilities_of(adapter_for("memory://"))()
    assert not memory.shared_across_processes and not memory.independent_clients
    assert "one process" in memory.why_not("shared_across_processes")
    sqlite = capabilities_of(adapter_for("sqlite:///x.db"))()
    assert sqlite.shared_across_processes and sqlite.independent_clients


def test_a_capability_switched_off_needs_a_reason():
    with pytest.raises(ContractViolation, match="without saying why"):

        class Silent(Capabilities):
            shared_across_processes = False

    class Said(Capabilities):
        independent_clients = False
        reason = {"independent_clients": "every open is a new store"}

    assert Said().why_not("independent_clients") == "every open is a new store"


def test_capabilities_must_be_a_capabilities_class():
    class Odd(MemoryStore):
        capabilities = {"shared_across_processes": False}

    with pytest.raises(ContractViolation, match="Capabilities subclass"):
        capabilities_of(Odd)


# --- StoreWrapper ------------------------------------------------------------------------


class Recording(StoreWrapper):
    """A wrapper that overrides only the hook."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.seen: list[str] = []

    def _call(self, name, fn, *args, **kwargs):
        self.seen.append(name)
        return fn(*args, **kwargs)


def test_calls_are_every_store_call_of_the_protocol():
    protocol = {"put_if_absent", "replace", "get", "get_many", "append", "increment", "delete"}
    entries = {
        "insert", "claim", "push", "scan", "scan_many", "merge_scan", "get_entry",
        "replace_entry", "purge", "drop_entries", "find_id",
    }  # fmt: skip
    assert protocol | entries == CALLS
    assert not StoreWrapper.__abstractmethods__


def test_every_store_call_goes_through_the_one_hook():
    inner = MemoryStore()
    store = Recording(inner)
    assert store.put_if_absent("k|1", {"a": 1}) is True
    version = store.get("k|1").version
    assert store.replace("k|1", {"a": 2}, version) is not None
    assert list(store.get_many(["k|1", "k|2"])) == ["k|1"]
    assert store.append("k|2", "items", [{"id": "x", "ts": 1, "v": "1"}], 5) == Appended(1)
    assert store.increment("k|3", "n", 2) == 2
    store.delete("k|3")
    assert store.insert("k|4", {"a": 1}) is None
    entry = {"id": "e", "ts": 1, "v": "1"}
    assert store.claim("l", 0, [entry]) == Claimed()
    assert store.push("m", [entry]).positions == (0,)
    assert store.scan("l", 0, None, 5) == ((0, entry),)
    assert store.scan_many([Scan("m", 0, None, 5)]) == (((0, entry),),)
    assert store.merge_scan((Scan("m", 0, None, 5, True),), 5) == (Merged(((0, entry),), 1, None),)
    row = store.get_entry("l", 0)
    assert store.replace_entry("l", 0, entry, row.version) is not None
    assert store.find_id("m", "e") == 0
    store.purge("l", 1)
    store.drop_entries("m")
    assert store.seen == [
        "put_if_absent", "get", "replace", "get_many", "append", "increment", "delete",
        "insert", "claim", "push", "scan", "scan_many", "merge_scan", "get_entry",
        "replace_entry", "find_id", "purge", "drop_entries",
    ]  # fmt: skip
    assert set(store.seen) == CALLS
    # Not round trips: straight through, no hook.
    assert store.limits == inner.limits
    assert store.row_size("k", {"a": 1}) == inner.row_size("k", {"a": 1})
    assert store.describe() == inner.describe() and store.stats() == inner.stats()
    assert len(store.seen) == len(CALLS)
    # An adapter's own extras are reached through the wrapper.
    assert store.keys() == ["k|1", "k|2", "k|4"]
    with pytest.raises(AttributeError):
        store.no_such_thing  # noqa: B018


def test_wrappers_stack_and_close_the_inner_store():
    closed: list[bool] = []

    class Closing(MemoryStore):
        def close(self) -> None:
            closed.append(True)

    outer = CountingStore(Recording(Closing()))
    with outer:
        outer.increment("k|1", "n")
        outer.get("k|1")
    assert outer.calls == {"increment": 1, "get": 1} and outer.inner.seen == ["increment", "get"]
    assert closed == [True]


def test_sqlite_entries_option_is_a_flag(tmp_path):
    """``?entries=false``: no entry rows, so new lists use layout 1; anything else but a
    yes/no word is refused."""
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}?entries=false")
    assert not store.features.entries
    store.close()
    assert open_store(f"sqlite:///{tmp_path / 'a.db'}?entries=yes").features.push
    with pytest.raises(ConfigError, match="entries='maybe' must be true or false"):
        open_store(f"sqlite:///{tmp_path / 'a.db'}?entries=maybe")
