"""DynamoDB's batch read keeps the running operation's deadline (``core/deadline.py``).

DynamoDB Local leaves keys unprocessed for real when one BatchGetItem answer would pass
16 MB (it ignores provisioned throughput, so it never throttles): 100 rows of about
380 KB are about 38 MB, three rounds of requests. No client-side injection here.
"""

from __future__ import annotations

import time
import uuid

import pytest

from pagedlist.adapters import open_store
from pagedlist.core.deadline import active
from pagedlist.emulators.dynamodb import dynamodb_url
from pagedlist.errors import DeadlineExceeded

ROWS = 100
ROW_CHARS = 380_000


@pytest.fixture(scope="module")
def big_rows(servers):
    """(store, keys) of ROWS rows together far over one answer's 16 MB."""
    store = open_store(dynamodb_url(servers))
    prefix = f"big-{uuid.uuid4().hex[:12]}"
    keys = [f"{prefix}|{i}" for i in range(ROWS)]
    pad = "y" * ROW_CHARS
    for i, k in enumerate(keys):
        assert store.put_if_absent(k, {"i": i, "pad": pad})
    yield store, keys
    for k in keys:
        store.delete(k)
    store.close()


def _calls(store) -> int:
    return store.stats()["requests"]


def test_unprocessed_keys_are_real_and_all_read_without_a_deadline(big_rows):
    """The premise of the test below: the server really leaves keys unprocessed, and with
    no operation deadline the adapter asks again until every row is read."""
    store, keys = big_rows
    before = _calls(store)
    found = store.get_many(keys)
    assert sorted(found) == sorted(keys)
    assert all(found[k].doc["i"] == i for i, k in enumerate(keys))
    assert _calls(store) - before >= 3, "DynamoDB Local answered 38 MB in fewer than 3 rounds"


def test_no_request_for_unprocessed_keys_after_the_deadline(big_rows):
    store, keys = big_rows
    # How long one round takes here: the deadline cannot cut a request already sent.
    started = time.monotonic()
    store.client.batch_get_item(
        RequestItems={store.table: {"Keys": [store._key(k) for k in keys]}}
    )
    one_round = time.monotonic() - started
    before = _calls(store)
    deadline = 0.05
    started = time.monotonic()
    with active(started + deadline), pytest.raises(DeadlineExceeded, match="deadline passed"):
        store.get_many(keys)
    elapsed = time.monotonic() - started
    assert _calls(store) - before == 1, "a BatchGetItem was sent after the deadline passed"
    assert elapsed < deadline + 2 * one_round + 0.5, (elapsed, one_round)


def test_a_generous_deadline_reads_every_row(big_rows):
    store, keys = big_rows
    with active(time.monotonic() + 60):
        found = store.get_many(keys)
    assert sorted(found) == sorted(keys)
