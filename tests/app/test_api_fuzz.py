"""The JSON API fuzzed against its own OpenAPI description (schemathesis).

The description is fetched from the running server's ``/openapi.json``; every operation
is called with generated valid and invalid input, signed in (session cookie and CSRF
header), and every answer must be no server error and match the documented status codes,
content types and response schemas.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.timeout(240)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(params=["sqlite", "memory"])
def api(live_server, tmp_path, request):
    """A live server with a signed-in user, and the auth to send with every request: on
    SQLite, and on the memory store (entry rows: items can be edited and deleted there)."""
    url = f"sqlite:///{tmp_path / 'fuzz.db'}" if request.param == "sqlite" else "memory://"
    # Far more writes than people make: the rate limit has its own tests.
    server = live_server(url, page_size=5, write_limit=100_000)
    server.call(server.feed.seed())
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/users", json={"username": "fuzzer", "password": "fuzz-pass-1"})
        assert r.status_code == 201, r.text
        cookie = r.cookies["pagedlist_session"]
        auth = {"Cookie": f"pagedlist_session={cookie}", "X-CSRF-Token": r.json()["csrf"]}
    return server, auth


EXAMPLES = 10


def _fuzz(strategy, call) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,
    )
    @given(case=strategy)
    def run(case) -> None:
        call(case)

    run()


def test_api_matches_its_openapi(api) -> None:
    server, auth = api
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    known = server.call(server.feed.posts(None, 1)).items[0].id
    # And items of the fuzzer's own, which it may edit and delete: a post with a comment
    # (deleted, it stays as [deleted]) and one without (deleted, it goes).
    own = server.call(server.feed.add_post("fuzzer", "the fuzzer's post"))
    server.call(server.feed.add_reply(own.id, "ana", "a comment"))
    lone = server.call(server.feed.add_post("fuzzer", "the fuzzer's lone post"))

    def call(case) -> None:
        # Signing in or up replaces the caller's session: keep ours out of those calls.
        mine = {} if case.operation.path in ("/api/users", "/api/session") else auth
        headers = {**mine, **(case.headers or {})}
        case.call_and_validate(base_url=server.url, headers=headers, checks=CHECKS)

    operations = [result.ok() for result in schema.get_all_operations()]
    # Signing out would end the session the other calls use: tested on its own below.
    operations = [op for op in operations if op.definition.raw["operationId"] != "signOut"]
    assert len(operations) == 16
    for op in operations:
        raw = op.definition.raw
        for mode in GenerationMode:
            if mode is GenerationMode.NEGATIVE and not (
                raw.get("parameters") or raw.get("requestBody")
            ):
                continue  # nothing to make invalid
            _fuzz(op.as_strategy(generation_mode=mode), call)
        if "{item_id}" in op.path:
            # Random ids are all unknown (404): also fuzz everything else on a real item,
            # someone else's and the fuzzer's own.
            for item_id in (known, own.id, lone.id):
                _fuzz(op.as_strategy(path_parameters={"item_id": item_id}), call)
        if "{name}" in op.path:
            # The same for users: a real one (and, for follows, yourself).
            for name in ("ana", "fuzzer"):
                _fuzz(op.as_strategy(path_parameters={"name": name}), call)


def test_sign_out_ends_the_session(api) -> None:
    server, auth = api
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/api/session", headers=auth).json()["username"] == "fuzzer"
        assert client.delete("/api/session", headers=auth).status_code == 204
        # The old cookie still carries a valid signature, but its session row is gone.
        assert client.get("/api/session", headers=auth).json()["username"] is None
        r = client.post("/api/posts", json={"text": "after sign-out"}, headers=auth)
        assert r.status_code == 401
