"""Each route handler called alone: a Request built by hand on a test app state.

The state is what ``create_app`` and ``start`` put on ``app.state`` (a :class:`Feed` on a
fresh ``memory://`` store, the config, the templates, the limiter, the metrics); no server,
no router, no middleware run. Handlers and feed calls are coroutines, each run to its end
on an event loop of its own (the memory store holds nothing bound to a loop). Page
handlers answer template responses, so the tests read the context the template got as
well as the HTML.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from pagedlist.app import AppConfig, api, create_app, ops, pages
from pagedlist.app.ratelimit import RateLimited
from pagedlist.app.server import start
from pagedlist.errors import StoreUnavailable

T = TypeVar("T")


def _do(awaitable: Awaitable[T]) -> T:
    """Run one coroutine (a feed call) to its end."""

    async def run() -> T:
        return await awaitable

    return asyncio.run(run())


def _started(url: str = "memory://", config: AppConfig | None = None) -> Starlette:
    """An app with its state complete, as after the lifespan startup."""
    app = create_app(url, config)
    _do(start(app))
    return app


@pytest.fixture
def app() -> Starlette:
    return _started(config=AppConfig(page_size=3, replies_page=10, inline_replies=3))


def _request(
    app: Starlette,
    method: str = "GET",
    path: str = "/",
    *,
    query: dict[str, Any] | None = None,
    path_params: dict[str, str] | None = None,
    session: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    json_body: Any = None,
    headers: dict[str, str] | None = None,
) -> Request:
    body = b""
    head = {k.lower(): v for k, v in (headers or {}).items()}
    if form is not None:
        body = urlencode(form).encode()
        head["content-type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        head["content-type"] = "application/json"
    head["content-length"] = str(len(body))
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("test", 80),
        "client": ("127.0.0.1", 1),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(query or {}).encode(),
        "headers": [(k.encode(), v.encode()) for k, v in head.items()],
        "app": app,
        "session": {} if session is None else session,
        "path_params": path_params or {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def _run(handler: Any, request: Request) -> Response:
    return asyncio.run(handler(request))


def _signed_in(app: Starlette, name: str) -> dict[str, Any]:
    """A session dict for ``name`` (a user row and a session row in the store)."""
    feed = app.state.feed
    if _do(feed.user(name)) is None:
        _do(feed.create_user(name, "!"))
    return {"sid": _do(feed.open_session(name)), "csrf": secrets.token_urlsafe(32)}


def _body(response: Response) -> Any:
    return json.loads(bytes(response.body))


# --- pages ------------------------------------------------------------------------------


def test_feed_page_lists_posts_newest_first_without_positions(app) -> None:
    feed = app.state.feed
    for i in range(5):
        _do(feed.add_post("ana", f"post {i}"))
    r = _run(pages.feed_page, _request(app))
    assert r.status_code == 200
    assert [e.text for e, _ in r.context["posts"]] == ["post 4", "post 3", "post 2"]
    assert r.context["next"] == 2
    html = r.body.decode()
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\"", html)
    assert re.search(r'title="[^"]+ UTC">(now|a second ago|\d+ seconds ago)</time>', html)
    assert not re.search(r"#\d+", html), "internal positions are not shown"


def test_feed_page_past_the_end_shows_the_newest_page(app) -> None:
    feed = app.state.feed
    for i in range(4):
        _do(feed.add_post("ana", f"post {i}"))
    r = _run(pages.feed_page, _request(app, query={"before": 999999}))
    assert [e.text for e, _ in r.context["posts"]] == ["post 3", "post 2", "post 1"]
    assert "No posts yet" not in r.body.decode()
    empty = _run(pages.feed_page, _request(_started()))
    assert "No posts yet" in empty.body.decode()


def test_feed_page_rejects_a_malformed_cursor(app) -> None:
    with pytest.raises(HTTPException) as err:
        _run(pages.feed_page, _request(app, query={"before": "abc"}))
    assert err.value.status_code == 400


def test_create_post_needs_a_user_and_writes_to_feed_and_author_list(app) -> None:
    session = _signed_in(app, "carol")
    form = {"csrf": session["csrf"], "text": "hello", "nonce": "ab" * 16}
    r = _run(pages.create_post, _request(app, "POST", "/posts", session=session, form=form))
    assert r.status_code == 303 and r.headers["location"] == "/"
    feed = app.state.feed
    assert _do(feed.posts(None, 5)).items[0].text == "hello"
    assert _do(feed.author_posts("carol", None, 5)).items[0].id == "ab" * 16
    # The same form twice posts once, in both lists.
    _run(pages.create_post, _request(app, "POST", "/posts", session=session, form=form))
    assert _do(feed.post_count()) == 1 and _do(feed.author_post_count("carol")) == 1

    anon = {"csrf": session["csrf"]}
    r = _run(pages.create_post, _request(app, "POST", "/posts", session=anon, form=form))
    assert r.headers["location"] == "/signin"


def test_create_post_refuses_bad_text_and_a_missing_token(app) -> None:
    session = _signed_in(app, "carol")
    form = {"csrf": session["csrf"], "text": "  "}
    r = _run(pages.create_post, _request(app, "POST", "/posts", session=session, form=form))
    assert r.status_code == 400 and "Write something first" in r.body.decode()
    with pytest.raises(HTTPException) as err:
        _run(pages.create_post, _request(app, "POST", "/posts", session=session, form={}))
    assert err.value.status_code == 403
    assert _do(app.state.feed.post_count()) == 0


def test_create_post_is_rate_limited_per_account() -> None:
    app = _started(config=AppConfig(write_limit=2, write_window=3600))
    session = _signed_in(app, "carol")
    other = _signed_in(app, "dave")

    def post(s: dict[str, Any], text: str) -> Response:
        form = {"csrf": s["csrf"], "text": text}
        return _run(pages.create_post, _request(app, "POST", "/posts", session=s, form=form))

    post(session, "one")
    post(session, "two")
    with pytest.raises(RateLimited) as err:
        post(session, "three")
    assert "at most 2" in str(err.value) and err.value.retry_after >= 1
    assert post(other, "someone else").status_code == 303  # per account
    assert _do(app.state.feed.post_count()) == 3


def test_home_timeline_merges_own_and_followed_posts_with_a_cursor(app) -> None:
    feed = app.state.feed
    session = _signed_in(app, "carol")
    for name in ("ana", "bob", "eve"):
        _do(feed.create_user(name, "!"))
    _do(feed.follow("carol", "ana"))
    _do(feed.follow("carol", "bob"))
    written = []
    for i in range(4):
        for name in ("ana", "bob", "eve", "carol"):
            written.append(_do(feed.add_post(name, f"{name} {i}")))
            time.sleep(0.002)  # distinct append times: newest first is then write order
    expected = [e.text for e in reversed(written) if e.author != "eve"]
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query = {} if cursor is None else {"cursor": cursor}
        r = _run(pages.home_timeline, _request(app, "/home", query=query, session=session))
        seen += [e.text for e, _ in r.context["posts"]]
        cursor = r.context["next"]
        if cursor is None:
            break
        assert f"/home?cursor={cursor}" in r.body.decode()
    assert seen == expected
    assert r.context["following"] == 2


def test_home_timeline_needs_a_user_and_a_good_cursor(app) -> None:
    r = _run(pages.home_timeline, _request(app, "/home"))
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    session = _signed_in(app, "carol")
    with pytest.raises(HTTPException) as err:
        _run(
            pages.home_timeline,
            _request(app, query={"cursor": "bm90IGEgY3Vyc29y"}, session=session),
        )
    assert err.value.status_code == 400


def test_profile_page_shows_counts_and_the_follow_button(app) -> None:
    feed = app.state.feed
    session = _signed_in(app, "carol")
    _do(feed.create_user("ana", "!"))
    for i in range(4):
        _do(feed.add_post("ana", f"ana {i}"))
    _do(feed.add_post("carol", "not on ana's profile"))
    request = _request(app, "/u/ana", path_params={"name": "ana"}, session=session)
    r = _run(pages.profile_page, request)
    profile = r.context["profile"]
    assert (profile.posts, profile.followers, profile.following) == (4, 0, 0)
    assert profile.followed is False
    assert [e.text for e, _ in r.context["posts"]] == ["ana 3", "ana 2", "ana 1"]
    assert 'action="/u/ana/follow"' in r.body.decode()
    with pytest.raises(HTTPException) as err:
        _run(pages.profile_page, _request(app, "/u/nobody", path_params={"name": "nobody"}))
    assert err.value.status_code == 404


def test_follow_and_unfollow_forms(app) -> None:
    feed = app.state.feed
    session = _signed_in(app, "carol")
    _do(feed.create_user("ana", "!"))
    form = {"csrf": session["csrf"]}
    params = {"name": "ana"}

    def go(handler: Any, name: str = "ana") -> Response:
        request = _request(app, "POST", session=session, form=form, path_params={"name": name})
        return _run(handler, request)

    assert go(pages.follow).headers["location"] == "/u/ana"
    go(pages.follow)  # twice: still one follow
    assert _do(feed.followers("ana")) == ["carol"] and _do(feed.following("carol")) == ["ana"]
    r = _run(pages.profile_page, _request(app, path_params=params, session=session))
    assert r.context["profile"].followed is True and "Unfollow" in r.body.decode()
    go(pages.unfollow)
    assert _do(feed.followers("ana")) == [] and _do(feed.following("carol")) == []
    for name, status in [("carol", 400), ("nobody", 404)]:
        with pytest.raises(HTTPException) as err:
            go(pages.follow, name)
        assert err.value.status_code == status


def test_item_page_shows_the_root_time_and_expands_a_focused_deep_reply(app) -> None:
    feed = app.state.feed
    post = _do(feed.add_post("ana", "root"))
    parent, chain = post.id, []
    for depth in range(4):
        parent = _do(feed.add_reply(parent, "bob", f"level {depth + 1}")).id
        chain.append(parent)
    plain = _run(pages.item_page, _request(app, path_params={"item_id": post.id}))
    html = plain.body.decode()
    assert "level 2" in html and "level 3" not in html  # inline_depth=2 collapses the rest
    assert re.search(r'<div class="meta">.*?<time datetime=', html, re.S)
    request = _request(app, path_params={"item_id": post.id}, query={"focus": chain[-1]})
    html = _run(pages.item_page, request).body.decode()
    assert "level 4" in html
    assert re.search(rf'class="comment focused" id="c-{chain[-1]}"', html)


def test_item_page_focus_adds_a_reply_beyond_the_first_page(app) -> None:
    feed = app.state.feed
    post = _do(feed.add_post("ana", "root"))
    comment = _do(feed.add_reply(post.id, "bob", "a comment"))
    replies = [_do(feed.add_reply(comment.id, "bob", f"reply {i}")) for i in range(6)]
    html = _run(pages.item_page, _request(app, path_params={"item_id": post.id})).body.decode()
    assert "reply 2" in html and "reply 5" not in html  # inline_replies=3
    request = _request(app, path_params={"item_id": post.id}, query={"focus": replies[-1].id})
    html = _run(pages.item_page, request).body.decode()
    assert "reply 5" in html


def test_item_page_unknown_is_404(app) -> None:
    with pytest.raises(HTTPException) as err:
        _run(pages.item_page, _request(app, path_params={"item_id": "0" * 32}))
    assert err.value.status_code == 404


def test_create_reply_redirects_to_the_thread_focused_on_the_reply(app) -> None:
    feed = app.state.feed
    session = _signed_in(app, "carol")
    post = _do(feed.add_post("ana", "root"))
    form = {"csrf": session["csrf"], "text": "a reply", "back": post.id}
    request = _request(app, "POST", session=session, form=form, path_params={"item_id": post.id})
    r = _run(pages.create_reply, request)
    reply = _do(feed.replies(post.id, -1, 5)).items[0]
    assert r.headers["location"] == f"/items/{post.id}?focus={reply.id}#c-{reply.id}"


def test_signup_page_and_every_signup_error_at_once(app) -> None:
    r = _run(pages.signup_page, _request(app))
    assert r.status_code == 200 and 'for="signup-username"' in r.body.decode()
    csrf = secrets.token_urlsafe(32)
    session = {"csrf": csrf}
    form = {"csrf": csrf, "username": "No!", "password": "short"}
    r = _run(pages.do_signup, _request(app, "POST", session=session, form=form))
    assert r.status_code == 400
    assert len(r.context["errors"]) == 2
    html = r.body.decode()
    assert "Usernames are 3 to 24" in html and "Passwords are 8 to 256" in html
    _do(app.state.feed.create_user("taken", "!"))
    form = {"csrf": csrf, "username": "taken", "password": "short"}
    r = _run(pages.do_signup, _request(app, "POST", session=session, form=form))
    assert "is taken" in r.body.decode() and "Passwords are" in r.body.decode()
    form = {"csrf": csrf, "username": "newbie", "password": "long enough"}
    r = _run(pages.do_signup, _request(app, "POST", session=session, form=form))
    assert r.status_code == 303 and _do(app.state.feed.user("newbie")) is not None
    assert _do(app.state.feed.session_user(session["sid"])) == "newbie"


def test_signin_page_signin_and_signout(app) -> None:
    assert _run(pages.signin_page, _request(app)).status_code == 200
    csrf = secrets.token_urlsafe(32)
    session: dict[str, Any] = {"csrf": csrf}
    form = {"csrf": csrf, "username": "frank", "password": "long enough"}
    _run(pages.do_signup, _request(app, "POST", session=session, form=form))
    session = {"csrf": csrf}
    bad = {**form, "password": "wrong password"}
    r = _run(pages.do_signin, _request(app, "POST", session=session, form=bad))
    assert r.status_code == 400 and "Wrong username or password" in r.body.decode()
    r = _run(pages.do_signin, _request(app, "POST", session=session, form=form))
    assert r.status_code == 303
    sid = session["sid"]
    assert _do(app.state.feed.session_user(sid)) == "frank"
    signout = _request(app, "POST", session=session, form={"csrf": session["csrf"]})
    r = _run(pages.do_signout, signout)
    assert r.status_code == 303 and _do(app.state.feed.session_user(sid)) is None


def test_edit_and_delete_forms_for_the_author_only(app) -> None:
    feed = app.state.feed
    carol = _signed_in(app, "carol")
    dave = _signed_in(app, "dave")
    post = _do(feed.add_post("carol", "carol's post"))
    comment = _do(feed.add_reply(post.id, "carol", "carol's comment"))
    params = {"item_id": post.id}
    # The controls show on the author's own items only.
    html = _run(pages.feed_page, _request(app, session=carol)).body.decode()
    assert f'action="/items/{post.id}/edit"' in html and 'name="back" value="/"' in html
    html = _run(pages.feed_page, _request(app, session=dave)).body.decode()
    assert "/edit" not in html and "/delete" not in html
    html = _run(pages.item_page, _request(app, path_params=params, session=carol)).body
    assert f'action="/items/{comment.id}/delete"'.encode() in html

    form = {"csrf": carol["csrf"], "text": "carol's better post", "back": "/"}
    edit = _request(app, "POST", session=carol, form=form, path_params=params)
    r = _run(pages.edit_item, edit)
    assert r.status_code == 303 and r.headers["location"] == f"/#p-{post.id}"
    html = _run(pages.feed_page, _request(app)).body.decode()
    assert "carol&#39;s better post" in html and 'class="edited"' in html

    # Someone else's: 403, and nothing changed; a bad back page goes to the feed.
    form = {"csrf": dave["csrf"], "text": "dave was here", "back": "https://evil.example/"}
    with pytest.raises(HTTPException) as err:
        _run(pages.edit_item, _request(app, "POST", session=dave, form=form, path_params=params))
    assert err.value.status_code == 403
    with pytest.raises(HTTPException) as err:
        form = {"csrf": dave["csrf"]}
        _run(pages.delete_item, _request(app, "POST", session=dave, form=form, path_params=params))
    assert err.value.status_code == 403
    assert _do(feed.entry(post.id)).text == "carol's better post"

    # A comment edited from its thread: back there, focused on it.
    back = f"/items/{post.id}"
    form = {"csrf": carol["csrf"], "text": "carol's second thoughts", "back": back}
    request = _request(app, "POST", session=carol, form=form, path_params={"item_id": comment.id})
    r = _run(pages.edit_item, request)
    assert r.headers["location"] == f"{back}?focus={comment.id}#c-{comment.id}"

    # Deleting the post from its own page: it has a comment, so it stays as [deleted].
    form = {"csrf": carol["csrf"], "back": back}
    r = _run(pages.delete_item, _request(app, "POST", session=carol, form=form, path_params=params))
    assert r.headers["location"] == back
    html = _run(pages.item_page, _request(app, path_params=params)).body.decode()
    assert "[deleted]" in html and "carol&#39;s better post" not in html
    assert "carol&#39;s second thoughts" in html
    # The comment, without replies, goes; from its own page, back to its parent.
    form = {"csrf": carol["csrf"], "back": f"/items/{comment.id}"}
    request = _request(app, "POST", session=carol, form=form, path_params={"item_id": comment.id})
    assert _run(pages.delete_item, request).headers["location"] == back
    assert _do(feed.replies(post.id, -1, 5)).items == []
    with pytest.raises(HTTPException) as err:
        _run(pages.item_page, _request(app, path_params={"item_id": comment.id}))
    assert err.value.status_code == 404

    anon = {"csrf": carol["csrf"]}
    form = {"csrf": carol["csrf"], "text": "x"}
    request = _request(app, "POST", session=anon, form=form, path_params=params)
    assert _run(pages.edit_item, request).headers["location"] == "/signin"


def test_no_edit_controls_where_the_store_cannot_change_items(monkeypatch) -> None:
    import pagedlist.app.server as server
    from pagedlist import PagedList
    from pagedlist.adapters.memory import AsyncMemoryStore, MemoryStore
    from pagedlist.app.feed import FEED_ID

    # A store whose feed list was made in layout 1 (page rows), before the app opens it.
    store = MemoryStore()
    PagedList.create(store, FEED_ID, max_item_bytes=8192, layout=1)

    async def open_it(url: str) -> AsyncMemoryStore:
        return AsyncMemoryStore(store)

    monkeypatch.setattr(server, "open_async_store", open_it)
    app = _started()
    session = _signed_in(app, "carol")
    post = _do(app.state.feed.add_post("carol", "fixed"))
    html = _run(pages.feed_page, _request(app, session=session)).body.decode()
    assert "fixed" in html and "/edit" not in html and "/delete" not in html
    form = {"csrf": session["csrf"], "text": "changed"}
    request = _request(app, "POST", session=session, form=form, path_params={"item_id": post.id})
    with pytest.raises(HTTPException) as err:
        _run(pages.edit_item, request)
    assert err.value.status_code == 409 and "layout 1" in str(err.value.detail)


# --- the JSON API -----------------------------------------------------------------------


def _api_session(app: Starlette, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    session = _signed_in(app, name)
    return session, {"X-CSRF-Token": session["csrf"]}


def test_api_feed_count_item_and_replies(app) -> None:
    feed = app.state.feed
    post = _do(feed.add_post("ana", "root"))
    _do(feed.add_reply(post.id, "bob", "reply"))
    assert _body(_run(api.feed_count, _request(app)))["count"] == 1
    page = _body(_run(api.feed, _request(app, query={"before": 999})))
    assert page["count"] == 1 and page["items"][0]["replies"] == 1
    found = _body(_run(api.item, _request(app, path_params={"item_id": post.id})))
    assert found["text"] == "root" and found["ts"] > 0
    missing = _run(api.item, _request(app, path_params={"item_id": "0" * 32}))
    assert missing.status_code == 404
    replies = _body(_run(api.replies, _request(app, path_params={"item_id": post.id})))
    assert [r["text"] for r in replies["items"]] == ["reply"]


def test_api_create_post_and_reply(app) -> None:
    session, headers = _api_session(app, "carol")
    r = _run(
        api.create_post,
        _request(app, "POST", session=session, headers=headers, json_body={"text": "hi"}),
    )
    assert r.status_code == 201
    post_id = _body(r)["id"]
    request = _request(
        app,
        "POST",
        session=session,
        headers=headers,
        json_body={"text": "re"},
        path_params={"item_id": post_id},
    )
    assert _run(api.create_reply, request).status_code == 201
    with pytest.raises(HTTPException) as err:  # no CSRF header
        _run(api.create_post, _request(app, "POST", session=session, json_body={"text": "x"}))
    assert err.value.status_code == 403


def test_api_user_posts_follow_unfollow_and_home(app) -> None:
    feed = app.state.feed
    session, headers = _api_session(app, "carol")
    _do(feed.create_user("ana", "!"))
    _do(feed.add_post("ana", "from ana"))
    _do(feed.add_post("carol", "from carol"))
    params = {"name": "ana"}
    r = _run(api.user, _request(app, path_params=params, session=session))
    assert _body(r) == {
        "username": "ana",
        "posts": 1,
        "followers": 0,
        "following": 0,
        "you_follow": False,
    }
    posts = _body(_run(api.user_posts, _request(app, path_params=params)))
    assert [p["text"] for p in posts["items"]] == ["from ana"]
    home = _body(_run(api.home, _request(app, session=session)))
    assert [p["text"] for p in home["items"]] == ["from carol"]

    write = {"session": session, "headers": headers, "path_params": params}
    r = _run(api.follow, _request(app, "POST", **write))
    assert _body(r)["followers"] == 1 and _body(r)["you_follow"] is True
    home = _body(_run(api.home, _request(app, session=session)))
    assert [p["text"] for p in home["items"]] == ["from carol", "from ana"]
    assert home["next_cursor"] is None
    r = _run(api.unfollow, _request(app, "DELETE", **write))
    assert _body(r)["followers"] == 0 and _body(r)["you_follow"] is False

    assert _run(api.user, _request(app, path_params={"name": "nobody"})).status_code == 404
    self_follow = {**write, "path_params": {"name": "carol"}}
    assert _run(api.follow, _request(app, "POST", **self_follow)).status_code == 400
    assert _run(api.home, _request(app)).status_code == 401
    bad = _run(api.home, _request(app, session=session, query={"cursor": "!!"}))
    assert bad.status_code == 400


def test_api_edit_and_delete(app) -> None:
    feed = app.state.feed
    session, headers = _api_session(app, "carol")
    other, other_headers = _api_session(app, "dave")
    post = _do(feed.add_post("carol", "draft"))
    reply = _do(feed.add_reply(post.id, "dave", "a reply"))
    params = {"item_id": post.id}

    def call(handler: Any, method: str, s: dict[str, Any], h: dict[str, str], **kw: Any) -> Any:
        return _run(handler, _request(app, method, session=s, headers=h, **kw))

    r = call(
        api.edit_item, "PATCH", session, headers, path_params=params, json_body={"text": "final"}
    )
    assert r.status_code == 200
    body = _body(r)
    assert body["text"] == "final" and body["edited"] >= body["ts"] and body["replies"] == 1
    assert _body(_run(api.item, _request(app, path_params=params)))["edited"] == body["edited"]
    r = call(
        api.edit_item, "PATCH", other, other_headers, path_params=params, json_body={"text": "x"}
    )
    assert r.status_code == 403
    r = call(api.edit_item, "PATCH", session, headers, path_params=params, json_body={"text": ""})
    assert r.status_code == 400
    r = call(api.delete_item, "DELETE", other, other_headers, path_params=params)
    assert r.status_code == 403
    with pytest.raises(HTTPException) as err:  # no CSRF header
        call(api.delete_item, "DELETE", session, {}, path_params=params)
    assert err.value.status_code == 403

    # With a reply, the post stays, deleted: no author, no text, its reply kept.
    assert call(api.delete_item, "DELETE", session, headers, path_params=params).status_code == 204
    item = _body(_run(api.item, _request(app, path_params=params)))
    assert (item["deleted"], item["author"], item["text"], item["replies"]) == (True, None, "", 1)
    page = _body(_run(api.feed, _request(app)))
    assert page["count"] == 1 and page["items"][0]["deleted"] is True
    r = call(api.edit_item, "PATCH", session, headers, path_params=params, json_body={"text": "y"})
    assert r.status_code == 404
    # The reply, without replies, goes for good.
    reply_params = {"item_id": reply.id}
    r = call(api.delete_item, "DELETE", other, other_headers, path_params=reply_params)
    assert r.status_code == 204
    assert _run(api.item, _request(app, path_params=reply_params)).status_code == 404
    r = call(api.delete_item, "DELETE", other, other_headers, path_params=reply_params)
    assert r.status_code == 404
    replies = _body(_run(api.replies, _request(app, path_params=params)))
    assert replies == {"count": 0, "items": [], "next_after": None}


def test_api_signup_lists_every_problem_and_409_only_for_a_taken_name(app) -> None:
    r = _run(api.signup, _request(app, "POST", json_body={"username": "A", "password": "x"}))
    assert r.status_code == 400 and len(_body(r)["errors"]) == 2
    _do(app.state.feed.create_user("taken", "!"))
    body = {"username": "taken", "password": "long enough"}
    assert _run(api.signup, _request(app, "POST", json_body=body)).status_code == 409
    body = {"username": "taken", "password": "x"}
    r = _run(api.signup, _request(app, "POST", json_body=body))
    assert r.status_code == 400 and len(_body(r)["errors"]) == 2
    body = {"username": "newbie", "password": "long enough"}
    session: dict[str, Any] = {}
    r = _run(api.signup, _request(app, "POST", json_body=body, session=session))
    assert r.status_code == 201 and _body(r)["csrf"] == session["csrf"]


def test_api_session_signin_signout(app) -> None:
    session: dict[str, Any] = {}
    assert _body(_run(api.session, _request(app, session=session)))["username"] is None
    body = {"username": "grace", "password": "long enough"}
    _run(api.signup, _request(app, "POST", json_body=body, session=session))
    session = {}
    wrong = {**body, "password": "not it at all"}
    assert _run(api.signin, _request(app, "POST", json_body=wrong)).status_code == 401
    assert (
        _run(api.signin, _request(app, "POST", json_body=body, session=session)).status_code == 200
    )
    assert _body(_run(api.session, _request(app, session=session)))["username"] == "grace"
    assert _run(api.signout, _request(app, "DELETE", session=session)).status_code == 204
    assert session == {}


def test_openapi_describes_every_api_route(app) -> None:
    described = _body(_run(api.openapi, _request(app)))["paths"]
    routes = {
        route.path.replace("{item_id:item_id}", "{item_id}").replace("{name:username}", "{name}")
        for route in app.routes
        if getattr(route, "path", "").startswith("/api/")
    }
    assert routes == set(described)


# --- operations -------------------------------------------------------------------------


def test_healthz_says_ok_then_503_with_the_reason(app, monkeypatch) -> None:
    r = _run(ops.healthz, _request(app))
    assert r.status_code == 200 and _body(r)["status"] == "ok"

    async def down(key: str) -> None:
        raise StoreUnavailable("cannot reach the store (test)")

    monkeypatch.setattr(app.state.feed.store, "get", down)
    r = _run(ops.healthz, _request(app))
    assert r.status_code == 503
    assert _body(r) == {
        "status": "unavailable",
        "reason": "StoreUnavailable: cannot reach the store (test)",
    }


def test_metrics_count_requests_by_route_and_status(app) -> None:
    app.state.metrics.requests.labels("GET", "/items/{item_id:item_id}", "404").inc()
    r = _run(ops.metrics, _request(app))
    text = bytes(r.body).decode()
    assert r.headers["content-type"].startswith("text/plain")
    assert (
        'pagedlist_app_requests_total{method="GET",route="/items/{item_id:item_id}",status="404"}'
        " 1.0" in text
    )


# --- the event loop ---------------------------------------------------------------------


def _serve_on(monkeypatch, store: Any, config: AppConfig | None = None) -> Starlette:
    """The whole app (middleware included) on ``store``, an ``AsyncStore``."""
    import pagedlist.app.server as server

    async def open_it(url: str) -> Any:
        return store

    monkeypatch.setattr(server, "open_async_store", open_it)
    return create_app("memory://", config)


def test_every_store_call_runs_on_the_event_loop(monkeypatch) -> None:
    import threading

    import httpx

    from pagedlist.adapters.memory import AsyncMemoryStore, MemoryStore
    from pagedlist.core.wrapper import StoreWrapper

    threads: set[str] = set()

    class Recording(StoreWrapper):
        def _call(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
            threads.add(threading.current_thread().name)
            return fn(*args, **kwargs)

    # The memory store's calls run inline wherever they are awaited: a handler that put
    # them in a thread pool would show that pool's threads here.
    app = _serve_on(monkeypatch, AsyncMemoryStore(Recording(MemoryStore())))

    async def walk() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            await http.post("/api/users", json={"username": "bob", "password": "long enough"})
            r = await http.post("/api/users", json={"username": "ana", "password": "long enough"})
            h = {"X-CSRF-Token": r.json()["csrf"]}  # signed in as ana from here on
            post = (await http.post("/api/posts", json={"text": "hi"}, headers=h)).json()
            path = f"/api/items/{post['id']}"
            await http.post(f"{path}/replies", json={"text": "re"}, headers=h)
            await http.patch(path, json={"text": "hi again"}, headers=h)
            await http.post("/api/users/bob/follow", headers=h)
            for page in ["/", "/home", "/u/ana", f"/items/{post['id']}", "/api/home", path]:
                assert (await http.get(page)).status_code == 200, page
            assert (await http.delete(path, headers=h)).status_code == 204
            assert (await http.get("/healthz")).status_code == 200
        return threading.current_thread().name

    loop_thread = asyncio.run(walk())
    assert threads == {loop_thread}


def test_a_store_that_never_answers_gives_the_503_page_within_the_read_deadline(
    monkeypatch,
) -> None:
    import httpx

    from pagedlist.adapters.memory import AsyncMemoryStore, MemoryStore
    from pagedlist.core.awrapper import AsyncStoreWrapper

    hang = False

    class Silent(AsyncStoreWrapper):
        async def _call(self, name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
            if hang:
                await asyncio.sleep(3600)  # an adapter that ignores the operation deadline
            return await fn(*args, **kwargs)

    app = _serve_on(
        monkeypatch, Silent(AsyncMemoryStore(MemoryStore())), AppConfig(read_deadline=0.5)
    )

    async def visit() -> tuple[httpx.Response, httpx.Response, float]:
        nonlocal hang
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            assert (await http.get("/")).status_code == 200
            hang = True
            start = time.monotonic()
            page, api_page = await http.get("/"), await http.get("/api/feed")
            return page, api_page, time.monotonic() - start

    page, api_page, took = asyncio.run(visit())
    assert page.status_code == 503 and "<h1>503</h1>" in page.text
    assert page.headers["retry-after"] == "5"
    assert api_page.status_code == 503 and "unavailable" in api_page.json()["error"]
    assert took < 3, f"two 503s took {took:.1f} s with a 0.5 s read deadline"
