"""Operating the running app: the store stopped and restarted under it, the access log,
``/healthz`` and ``/metrics``, over real HTTP.

The outage test starts a Redis server of its own (not the session pool's, which other
tests share) with an append-only file, so the data is still there when it comes back.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from pagedlist.emulators import EmulatorError
from pagedlist.emulators.redis import RedisEmulator, RedisRunning

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[RedisRunning]:
    emulator = RedisEmulator(appendonly=True, appendfsync="always", data_dir=tmp_path / "redis")
    why = emulator.available()
    if why is not None:
        pytest.fail(f"BACKEND NOT TESTED: {why}", pytrace=False)
    try:
        running = emulator.start(log_dir=tmp_path)
    except EmulatorError as err:
        pytest.fail(f"BACKEND NOT TESTED: redis did not start: {err}", pytrace=False)
    yield running
    running.stop()


def _log_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pagedlist.app"]


def test_store_stopped_under_the_app_then_back(own_redis, live_server, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pagedlist.app")
    server = live_server(own_redis.url)
    server.call(server.feed.add_post("ana", "written before the outage"))
    with httpx.Client(base_url=server.url, timeout=30) as http:
        r = http.get("/healthz")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        assert "written before the outage" in http.get("/").text

        own_redis.stop_node(0)
        r = http.get("/healthz")  # the first request after the stop already says so
        assert r.status_code == 503
        assert r.json()["status"] == "unavailable"
        assert "StoreUnavailable" in r.json()["reason"]

        start = time.monotonic()
        page = http.get("/")
        took = time.monotonic() - start
        assert page.status_code == 503
        # The styled error page, like the 404 one, not a bare fragment...
        assert '<link rel="stylesheet" href="/static/app.css">' in page.text
        assert "<h1>503</h1>" in page.text and "try again shortly" in page.text
        # ...within the read deadline (2 s) plus slack for a busy machine, not 10 s.
        assert took < 6, f"the 503 page took {took:.1f}s"
        api = http.get("/api/feed")
        assert api.status_code == 503 and "unavailable" in api.json()["error"]

        own_redis.start_node(0)
        deadline = time.monotonic() + 20
        while (r := http.get("/healthz")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            time.sleep(0.2)
        assert "written before the outage" in http.get("/").text
        metrics = http.get("/metrics").text

    lines = _log_lines(caplog)
    assert "GET /healthz 503" in "\n".join(lines)
    assert any(re.fullmatch(r"GET / 503 \d+\.\dms", line) for line in lines), lines
    assert any(re.fullmatch(r"GET /healthz 200 \d+\.\dms", line) for line in lines)
    assert re.search(
        r'pagedlist_app_requests_total\{method="GET",route="/healthz",status="503"\} [1-9]',
        metrics,
    )


def test_access_log_has_no_query_or_cookies(live_server, tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="pagedlist.app")
    server = live_server(f"sqlite:///{tmp_path / 'log.db'}")
    cookies = {"pagedlist_session": "planted-cookie-value"}
    with httpx.Client(base_url=server.url, cookies=cookies) as http:
        assert http.get("/api/feed", params={"limit": 5, "token": "planted-secret"}).status_code
        assert http.get("/items/" + "0" * 32).status_code == 404
        http.post("/signin", data={"password": "planted-password"})
    lines = _log_lines(caplog)
    text = "\n".join(lines)
    assert re.search(r"^GET /api/feed 200 \d+\.\dms$", text, re.M), lines
    assert f"GET /items/{'0' * 32} 404" in text
    assert "POST /signin 403" in text
    for planted in ("planted-secret", "planted-cookie-value", "planted-password", "limit="):
        assert planted not in text


def test_metrics_by_route_template_and_status(live_server, tmp_path) -> None:
    server = live_server(f"sqlite:///{tmp_path / 'metrics.db'}")
    with httpx.Client(base_url=server.url) as http:
        for _ in range(3):
            http.get("/api/feed")
        http.get(f"/api/items/{'1' * 32}")
        http.get("/no/such/page")
        text = http.get("/metrics").text
    assert 'pagedlist_app_requests_total{method="GET",route="/api/feed",status="200"} 3.0' in text
    assert 'route="/api/items/{item_id:item_id}",status="404"} 1.0' in text
    assert 'route="unmatched",status="404"} 1.0' in text
    assert (
        'pagedlist_app_request_duration_seconds_count{method="GET",route="/api/feed",'
        'status="200"} 3.0' in text
    )
    assert "1" * 32 not in text  # ids never become label values
