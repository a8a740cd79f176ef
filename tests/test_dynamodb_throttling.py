"""Throttling and lost answers on DynamoDB, injected on the client side of a real client
talking to DynamoDB Local.

botocore's ``before-send`` event lets a hook answer a request instead of the network: the
hooks here answer with DynamoDB's own 400 ``ThrottlingException`` (or a BatchGetItem answer
with every key unprocessed), so the request never reaches the server. An ``after-call``
hook that raises simulates the opposite failure: the write committed on the server, but
its answer was lost on the way back.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

from pagedlist.adapters import dynamodb as ddb
from pagedlist.adapters import open_store
from pagedlist.core.pagedlist import PagedList
from pagedlist.emulators.dynamodb import dynamodb_url
from pagedlist.errors import Throttled


class _Body:
    """The raw body botocore reads an injected response from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: object) -> Iterator[bytes]:
        yield self._data


def _response(request, status: int, body: dict) -> AWSResponse:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(data))}
    return AWSResponse(request.url, status, headers, _Body(data))


def _throttle(request) -> AWSResponse:
    return _response(
        request,
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
            "message": "Rate of requests exceeds the allowed throughput.",
        },
    )


class Injector:
    """A ``before-send`` hook on one operation that answers the first ``times`` requests
    itself (``times=None``: every request), counting what it saw."""

    def __init__(self, answer: Callable, times: int | None) -> None:
        self.answer = answer
        self.times = times
        self.injected = 0
        self.passed = 0
        self._lock = threading.Lock()

    def __call__(self, request, **_: object):
        with self._lock:
            if self.times is None or self.injected < self.times:
                self.injected += 1
                return self.answer(request)
            self.passed += 1
        return None


@pytest.fixture
def store(servers):
    with open_store(dynamodb_url(servers)) as opened:
        yield opened


def _loser(lost: list[int]) -> Callable:
    """An ``after-call`` hook that loses the first answer (a read timeout after the
    request committed on the server), noting its HTTP status in ``lost``."""

    def lose_first_answer(http_response, **_: object) -> None:
        if not lost:
            lost.append(http_response.status_code)
            raise ReadTimeoutError(endpoint_url="http://dynamodb-local (injected)")

    return lose_first_answer


def _inject(store, operation: str, injector: Injector) -> Injector:
    store.client.meta.events.register(f"before-send.dynamodb.{operation}", injector)
    return injector


def test_persistent_throttling_retries_then_raises_throttled(store):
    plist = PagedList.create(
        store, f"thr-{uuid.uuid4().hex[:12]}", capacity=10, deadline=1.5, layout=1
    )
    plist.count()  # summary cached: the append below is one UpdateItem per attempt
    hook = _inject(store, "UpdateItem", Injector(_throttle, times=None))
    before = store.stats()["throttled"]
    with pytest.raises(Throttled):
        plist.append("never stored")
    assert hook.injected > 1, "the driver should have retried before giving up"
    assert store.stats()["throttled"] - before == hook.injected
    store.client.meta.events.unregister("before-send.dynamodb.UpdateItem", hook)
    assert plist.count() == 0


def test_transient_throttling_then_success_appends_once(store):
    plist = PagedList.create(
        store, f"thr-{uuid.uuid4().hex[:12]}", capacity=10, deadline=30, layout=1
    )
    plist.count()
    hook = _inject(store, "UpdateItem", Injector(_throttle, times=3))
    position = plist.append({"hello": "world"}, id="only-once")
    assert hook.injected == 3 and hook.passed == 1
    items = plist.latest(10)
    assert [(it.position, it.id, it.value) for it in items] == [
        (position, "only-once", {"hello": "world"})
    ]


def test_lost_answer_after_commit_appends_once(store):
    """The append commits, its answer is lost (read timeout), the driver retries the same
    append and DynamoDB's duplicate check finds the earlier commit."""
    plist = PagedList.create(
        store, f"lost-{uuid.uuid4().hex[:12]}", capacity=10, deadline=30, layout=1
    )
    plist.count()
    lost: list[int] = []
    lose_first_answer = _loser(lost)
    store.client.meta.events.register("after-call.dynamodb.UpdateItem", lose_first_answer)
    position = plist.append("once", id="lost-answer")
    assert lost == [200], "the first append should have committed before its answer was lost"
    assert plist.count() == 1
    assert [(it.position, it.id) for it in plist.latest(5)] == [(position, "lost-answer")]


def _all_unprocessed(request) -> AWSResponse:
    asked = json.loads(request.body)["RequestItems"]
    table = next(iter(asked))
    return _response(request, 200, {"Responses": {table: []}, "UnprocessedKeys": asked})


def test_unprocessed_batch_keys_are_retried(store):
    prefix = f"unp-{uuid.uuid4().hex}"
    keys = [f"{prefix}|{i}" for i in range(5)]
    for k in keys:
        store.put_if_absent(k, {"k": k})
    hook = _inject(store, "BatchGetItem", Injector(_all_unprocessed, times=2))
    found = store.get_many(keys)
    assert hook.injected == 2 and hook.passed == 1
    assert {k: r.doc for k, r in found.items()} == {k: {"k": k} for k in keys}


def test_unprocessed_batch_keys_give_up_with_throttled(store, monkeypatch):
    monkeypatch.setattr(ddb, "UNPROCESSED_BUDGET", 0.5)
    hook = _inject(store, "BatchGetItem", Injector(_all_unprocessed, times=None))
    with pytest.raises(Throttled, match="unprocessed"):
        store.get_many([f"unp-{uuid.uuid4().hex}|0"])
    assert hook.injected > 1


# --- layout 2: an append is a conditional PutItem (a claim) -------------------------------


def test_layout_two_throttled_claims_retry_then_raise_throttled(store):
    plist = PagedList.create(store, f"thr2-{uuid.uuid4().hex[:12]}", deadline=1.5)
    plist.append("first")  # the tail is known: each attempt below is one PutItem
    hook = _inject(store, "PutItem", Injector(_throttle, times=None))
    before = store.stats()["throttled"]
    try:
        with pytest.raises(Throttled):
            plist.append("never stored")
    finally:
        store.client.meta.events.unregister("before-send.dynamodb.PutItem", hook)
    assert hook.injected > 1, "the driver should have retried before giving up"
    assert store.stats()["throttled"] - before == hook.injected
    assert plist.count() == 1


def test_layout_two_lost_answer_after_commit_appends_once(store):
    """The claim commits, its answer is lost; the driver repeats the claim, which finds its
    own entry at that position (Taken with its own id): one item, at the told position."""
    plist = PagedList.create(store, f"lost2-{uuid.uuid4().hex[:12]}", deadline=30)
    plist.append("first")
    lost: list[int] = []
    lose_first_answer = _loser(lost)
    store.client.meta.events.register("after-call.dynamodb.PutItem", lose_first_answer)
    try:
        position = plist.append("once")
    finally:
        store.client.meta.events.unregister("after-call.dynamodb.PutItem", lose_first_answer)
    assert lost == [200], "the first claim should have committed before its answer was lost"
    assert position == 1 and plist.count() == 2
    assert [(it.position, it.value) for it in plist.latest(5)] == [(1, "once"), (0, "first")]


def _conflict(request) -> AWSResponse:
    asked = json.loads(request.body)["TransactItems"]
    reasons = [{"Code": "None"} for _ in asked]
    reasons[0] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing"}
    return _response(
        request,
        400,
        {
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific "
            "reasons [TransactionConflict, None]",
            "CancellationReasons": reasons,
        },
    )


def test_layout_two_transaction_conflict_is_retried(store):
    """A multi-entry claim cancelled by a conflicting transaction (nothing written) is
    Throttled for the driver, which claims again: written once."""
    plist = PagedList.create(store, f"conf-{uuid.uuid4().hex[:12]}", deadline=30)
    hook = _inject(store, "TransactWriteItems", Injector(_conflict, times=2))
    try:
        positions = plist.extend(["a", "b", "c"])
    finally:
        store.client.meta.events.unregister("before-send.dynamodb.TransactWriteItems", hook)
    assert hook.injected == 2 and hook.passed == 1
    assert positions == [0, 1, 2]
    assert [it.value for it in plist.after(-1, 10)] == ["a", "b", "c"]
