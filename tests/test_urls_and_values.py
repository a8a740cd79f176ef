"""open_store URLs, value encoding, sizing and the no-SDK-on-import promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pagedlist import ConfigError, InvalidValue, ItemTooLarge, PagedList, open_store
from pagedlist.adapters import ADAPTERS, AdapterInfo
from pagedlist.adapters.memory import MemoryStore
from pagedlist.adapters.sqlite import SQLiteStore
from pagedlist.core.ops import Limits
from pagedlist.core.sizing import check_capacity, derive_capacity, page_bytes
from pagedlist.core.values import decode_value, encode_value


def test_memory_and_sqlite_urls(tmp_path):
    assert isinstance(open_store("memory://"), MemoryStore)
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    assert isinstance(store, SQLiteStore) and (tmp_path / "a.db").exists()
    assert isinstance(open_store("sqlite://"), SQLiteStore)


def test_env_var_is_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("PAGEDLIST_STORE", f"sqlite:///{tmp_path / 'env.db'}")
    assert isinstance(open_store(), SQLiteStore)
    monkeypatch.delenv("PAGEDLIST_STORE")
    with pytest.raises(ConfigError, match="PAGEDLIST_STORE"):
        open_store()


@pytest.mark.parametrize(
    "url", ["nosuch://x", "feed.db", "", "http://example", "redis://[::1:7000"]
)
def test_unknown_or_malformed_urls_name_the_accepted_forms(url):
    with pytest.raises(ConfigError, match=r"sqlite:///path/to/file\.db") as info:
        open_store(url)
    assert "memory://" in str(info.value)


def test_sqlite_url_with_host_or_missing_directory():
    with pytest.raises(ConfigError, match="three slashes"):
        open_store("sqlite://host/file.db")
    with pytest.raises(ConfigError, match="does not exist"):
        open_store("sqlite:////no/such/dir/file.db")


@pytest.mark.parametrize(
    "url", ["nosuch://user:s3cret@host:1/x", "nosuch://:s3cret@h1:1,h2:2", "redis://:s3cret@[::1"]
)
def test_password_is_redacted_in_errors(url):
    with pytest.raises(ConfigError) as info:
        open_store(url)
    assert "s3cret" not in str(info.value)


def test_missing_sdk_names_the_extra(monkeypatch, tmp_path):
    (tmp_path / "fake_adapter_needing_sdk.py").write_text("import pagedlist_no_such_sdk\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        ADAPTERS, "fake", AdapterInfo("fake_adapter_needing_sdk:Store", "fake", "fake://")
    )
    with pytest.raises(ConfigError, match=r"pip install 'pagedlist\[fake\]'"):
        open_store("fake://x")


def test_import_loads_no_sdk():
    code = (
        "import sys, pagedlist; pagedlist.open_store('memory://');"
        "bad=[m for m in ('redis','boto3','botocore','azure','borneo','oci','click') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -1, 2**64, -(2**70), 1.5, -0.0, 1e-310, "", "é漢🚀", [], {},
     {"a": [1, {"b": None}]}, {"key with spaces/|#": "v"}, [[[[[]]]]]],
)
def test_values_round_trip(value):
    text = encode_value(value, 10_000)
    back = decode_value(text)
    assert back == value and type(back) is type(value)
    assert repr(back) == repr(value)


@pytest.mark.parametrize(
    "value",
    [{1, 2}, b"x", bytearray(b"x"), float("nan"), float("-inf"), (1,), {1: 2}, {(1,): 2},
     "\ud800", {"k": object()}, [1, {"deep": {3}}]],
)
def test_non_json_values_are_refused(value):
    with pytest.raises(InvalidValue):
        encode_value(value, 10_000)


def test_deep_nesting_is_refused_cleanly():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidValue, match="nested"):
        encode_value(deep, 10**9)


def test_item_size_is_utf8_length_of_json_text():
    assert encode_value("é" * 4, 10) == '"éééé"'  # 8 bytes + 2 quotes
    with pytest.raises(ItemTooLarge, match="11 bytes"):
        encode_value("é" * 4 + "x", 10)


def test_derived_capacity_follows_the_talks_rule():
    """400 KB rows and 1 KB items: about 390 fit, halved for safety."""
    limits = Limits(row_bytes=400 * 1024, entry_overhead=96)
    cap = derive_capacity(limits, 1024)
    assert 120 <= cap <= 200
    assert page_bytes(limits, 1024, cap) * 2 <= 400 * 1024 + 1024
    assert derive_capacity(Limits(row_bytes=None), 1024) == 1000
    with pytest.raises(ConfigError, match="max_item_bytes"):
        derive_capacity(Limits(row_bytes=10_000), 8_000)
    with pytest.raises(ConfigError, match="capacity <="):
        check_capacity(limits, 1024, 1000)


def test_handle_without_io_loads_lazily():
    store = MemoryStore()
    handle = PagedList(store, "lazy")  # no store call yet
    PagedList.create(store, "lazy", capacity=3)
    assert handle.append("x") == 0 and handle.capacity == 3
