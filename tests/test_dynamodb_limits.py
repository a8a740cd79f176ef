"""DynamoDB's 400 KB item limit: the adapter counts item size the way DynamoDB does, refuses
oversized writes with ``ItemTooLarge`` (nothing written), and its ``Limits`` overheads are
large enough that the biggest page the core allows always fits.

Each boundary is checked against DynamoDB Local itself: an item of exactly
``row_bytes`` by ``row_size`` is accepted by the server, one byte more is rejected by it.
"""

from __future__ import annotations

import uuid

import pytest

from pagedlist.adapters import open_store
from pagedlist.adapters.dynamodb import DYNAMODB_ITEM_BYTES, _to_item, item_size
from pagedlist.core.sizing import check_capacity, derive_capacity
from pagedlist.core.values import ITEM_ID_MAX_BYTES, list_id_max_len, page_key
from pagedlist.emulators.dynamodb import dynamodb_url
from pagedlist.errors import ItemTooLarge

LIMIT = 400 * 1024


@pytest.fixture(scope="module")
def store(servers):
    with open_store(dynamodb_url(servers)) as opened:
        yield opened


def _fill(shape: dict, key: str, target: int) -> dict:
    """``shape`` plus a padding string sized so the item is ``target`` bytes."""
    base = dict(shape, pad="")
    size = item_size(_to_item(key, base, "0123456789abcdef", sort=True))
    return dict(shape, pad="x" * (target - size))


SHAPES = {
    "strings": {"a": "é" * 100, "b": ""},
    "numbers": {"n": [0, 7, -7, 10**37, -(10**37), 1000, 123456789, 10**100, 2**63]},
    "bool-null": {"t": True, "f": False, "z": None, "l": [None, True]},
    "nested": {"m": {"x": [{"y": {}}, [], {"": "~"}], "~k": {"pk": [1, "two"]}}},
    "entries": {"items": [{"id": f"id-{i}", "ts": 1700000000000 + i, "v": "v"} for i in range(30)]},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_row_size_matches_dynamodb_at_the_limit(store, shape):
    """row_size(doc) == limit is accepted by DynamoDB Local; one byte more is rejected."""
    key = f"lim-{uuid.uuid4().hex}|0"
    for extra, accepted in ((0, True), (1, False)):
        doc = _fill(SHAPES[shape], key, LIMIT + extra)
        assert store.row_size(key, doc) == LIMIT + extra
        item = _to_item(key, doc, "0123456789abcdef", store.features.entries)
        try:
            store.client.put_item(TableName=store.table, Item=item)
            stored = True
        except store.client.exceptions.ClientError as err:
            assert "size" in str(err)
            stored = False
        assert stored is accepted, f"DynamoDB and row_size disagree at {LIMIT + extra} bytes"
        store.delete(key)


def test_oversized_put_and_replace_write_nothing(store):
    key = f"big-{uuid.uuid4().hex}|0"
    with pytest.raises(ItemTooLarge):
        store.put_if_absent(key, _fill({}, key, LIMIT + 1))
    assert store.get(key) is None
    assert store.put_if_absent(key, {"small": 1})
    version = store.get(key).version
    with pytest.raises(ItemTooLarge):
        store.replace(key, _fill({}, key, LIMIT + 1), version)
    assert store.get(key).doc == {"small": 1}
    assert store.get(key).version == version


def test_oversized_append_writes_nothing(store):
    """DynamoDB's own ValidationException on UpdateItem is mapped to ItemTooLarge."""
    key = f"bigapp-{uuid.uuid4().hex}|0"
    first = {"id": "a", "ts": 1, "v": "x"}
    assert store.append(key, "items", [first], 100).length == 1
    row = store.get(key)
    pad = "y" * (LIMIT - store.row_size(key, row.doc) - 10)
    with pytest.raises(ItemTooLarge):
        store.append(key, "items", [{"id": "b", "ts": 2, "v": pad}], 100)
    after = store.get(key)
    assert after.doc == row.doc and after.version == row.version
    # An id already present is still reported as a duplicate, whatever its size.
    assert store.append(key, "items", [{"id": "a", "ts": 3, "v": pad}], 100).index == 0


def test_largest_page_the_core_allows_fits(store):
    """Worst case everywhere: the longest list id, 128-byte item ids, 19-digit timestamps,
    values of exactly max_item_bytes, and the largest capacity check_capacity accepts."""
    limits = store.limits
    max_item_bytes = 4000
    best = (limits.row_bytes - limits.row_overhead) // (
        max_item_bytes + ITEM_ID_MAX_BYTES + limits.entry_overhead
    )
    assert check_capacity(limits, max_item_bytes, best) == best
    assert 1 <= derive_capacity(limits, max_item_bytes) <= best
    list_id = ("L" + uuid.uuid4().hex) * 40
    list_id = list_id[: list_id_max_len(limits.key_bytes)]
    key = page_key(list_id, 2**63 - 1)
    assert len(key.encode()) == limits.key_bytes
    tag = uuid.uuid4().hex
    entries = [
        {
            # 128 bytes: two-byte characters plus a unique suffix
            "id": ("é" * 64)[: (ITEM_ID_MAX_BYTES - 40) // 2] + f"{tag}{i:08d}",
            "ts": 2**63 - 1,
            "v": "\u00e9" * (max_item_bytes // 2),
        }
        for i in range(best)
    ]
    assert all(len(e["id"].encode()) == ITEM_ID_MAX_BYTES for e in entries)
    chunk = limits.append_entries
    for i in range(0, best, chunk):
        outcome = store.append(key, "items", entries[i : i + chunk], best)
        assert outcome.length == min(i + chunk, best)
    row = store.get(key)
    assert len(row.doc["items"]) == best
    assert store.row_size(key, row.doc) <= DYNAMODB_ITEM_BYTES
    store.delete(key)
