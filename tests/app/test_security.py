"""Bad input and attacks over real HTTP: every refusal writes nothing.

Empty and oversized text, markup in text, unknown and malformed ids, forms without their
CSRF token, writes without signing in, tampered cookies, and the row layout that keeps
user and session rows apart from every list.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx
import pytest

from pagedlist import AsyncPagedList, InvalidListId
from pagedlist.app.feed import MAX_TEXT_CHARS

pytestmark = pytest.mark.timeout(120)

PASSWORD = "a long enough password"


@pytest.fixture
def server(live_server, tmp_path):
    return live_server(f"sqlite:///{tmp_path / 'sec.db'}", page_size=3)


def _form_token(client: httpx.Client, path: str) -> tuple[str, str | None]:
    page = client.get(path).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    assert csrf is not None, page
    return csrf[1], nonce[1] if nonce else None


@contextlib.contextmanager
def _signed_in(server, name: str = "dave") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url) as client:
        csrf, _ = _form_token(client, "/signup")
        r = client.post("/signup", data={"csrf": csrf, "username": name, "password": PASSWORD})
        assert r.status_code == 303 and r.headers["location"] == "/"
        yield client


def test_empty_and_oversized_posts_are_refused_with_a_message(server) -> None:
    with _signed_in(server) as client:
        for text, message in [
            ("", "Write something first"),
            (" \n\t ", "Write something first"),
            ("x" * (MAX_TEXT_CHARS + 1), f"at most {MAX_TEXT_CHARS} are allowed"),
        ]:
            csrf, nonce = _form_token(client, "/")
            r = client.post("/posts", data={"csrf": csrf, "nonce": nonce, "text": text})
            assert r.status_code == 400
            assert message in r.text
        assert server.call(server.feed.post_count()) == 0
        # The longest allowed text, in 4-byte characters, fits.
        csrf, nonce = _form_token(client, "/")
        text = "\U0001f600" * MAX_TEXT_CHARS
        r = client.post("/posts", data={"csrf": csrf, "nonce": nonce, "text": text})
        assert r.status_code == 303
        assert server.call(server.feed.posts(None, 1)).items[0].text == text


def test_empty_and_oversized_replies_are_refused(server) -> None:
    post = server.call(server.feed.add_post("erin", "a post"))
    with _signed_in(server) as client:
        for text in ["", "y" * (MAX_TEXT_CHARS + 1)]:
            csrf, nonce = _form_token(client, f"/items/{post.id}")
            r = client.post(
                f"/items/{post.id}/replies", data={"csrf": csrf, "nonce": nonce, "text": text}
            )
            assert r.status_code == 400
            assert 'role="alert"' in r.text
        assert server.call(server.feed.reply_count(post.id)) == 0


def test_markup_is_escaped_everywhere(server) -> None:
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'
    post = server.call(server.feed.add_post("mallory", hostile))
    server.call(server.feed.add_reply(post.id, "mallory", hostile))
    for path in ["/", f"/items/{post.id}", f"/items/{post.id}?fragment=1"]:
        page = httpx.get(server.url + path).text
        assert "<script>alert" not in page and "<img src=x" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
    # The API returns the text as it was written: escaping is the renderer's job.
    assert httpx.get(f"{server.url}/api/items/{post.id}").json()["text"] == hostile


def test_unknown_and_malformed_ids_are_404(server) -> None:
    post = server.call(server.feed.add_post("erin", "a post"))
    unknown = "0" * 32
    for path in [
        f"/items/{unknown}",
        f"/api/items/{unknown}",
        f"/api/items/{unknown}/replies",
        f"/items/{post.id.upper()}",
        "/items/app.feed",
        "/items/..%2F..%2Fapp.feed",
        "/items/%7Capp.user%7Cdave",
        f"/items/{post.id}x",
    ]:
        assert httpx.get(server.url + path).status_code == 404, path
    with _signed_in(server) as client:
        csrf, _ = _form_token(client, "/")
        r = client.post(f"/items/{unknown}/replies", data={"csrf": csrf, "text": "hi"})
        assert r.status_code == 404
        api_csrf = client.get("/api/session").json()["csrf"]
        r = client.post(
            f"/api/items/{unknown}/replies",
            json={"text": "hi"},
            headers={"X-CSRF-Token": api_csrf},
        )
        assert r.status_code == 404
    assert server.call(server.feed.reply_count(post.id)) == 0


def test_bad_cursors_are_400(server) -> None:
    for path in ["/?before=-1", "/?before=abc", "/api/feed?limit=0", "/api/feed?before=1e3"]:
        assert httpx.get(server.url + path).status_code == 400, path


def test_every_form_needs_its_csrf_token(server) -> None:
    post = server.call(server.feed.add_post("erin", "a post"))
    with _signed_in(server) as client:
        for path, data in [
            ("/posts", {"text": "no token"}),
            (f"/items/{post.id}/replies", {"text": "no token"}),
            ("/signup", {"username": "other", "password": PASSWORD}),
            ("/signin", {"username": "dave", "password": PASSWORD}),
            ("/signout", {}),
        ]:
            for token in [None, "forged-token"]:
                body = data if token is None else {**data, "csrf": token}
                assert client.post(path, data=body).status_code == 403, (path, token)
        assert "signed in as" in client.get("/").text
    assert server.call(server.feed.post_count()) == 1
    assert server.call(server.feed.reply_count(post.id)) == 0
    assert server.call(server.feed.user("other")) is None


def test_edits_and_deletes_need_the_author_and_the_token(live_server) -> None:
    # memory://: a store with entry rows, whose items can change.
    server = live_server("memory://", page_size=3)
    post = server.call(server.feed.add_post("erin", "erin's words"))
    hostile = "<img src=x onerror=alert(1)> edited"
    with _signed_in(server, "dave") as dave:
        for path in [f"/items/{post.id}/edit", f"/items/{post.id}/delete"]:
            for token in [None, "forged-token"]:
                body = {"text": "no token"} if token is None else {"text": "x", "csrf": token}
                assert dave.post(path, data=body).status_code == 403, (path, token)
        csrf, _ = _form_token(dave, "/")
        r = dave.post(f"/items/{post.id}/edit", data={"csrf": csrf, "text": "dave's words"})
        assert r.status_code == 403 and "Only its author" in r.text
        assert dave.post(f"/items/{post.id}/delete", data={"csrf": csrf}).status_code == 403
        headers = {"X-CSRF-Token": dave.get("/api/session").json()["csrf"]}
        r = dave.patch(f"/api/items/{post.id}", json={"text": "dave's"}, headers=headers)
        assert r.status_code == 403
        assert dave.delete(f"/api/items/{post.id}", headers=headers).status_code == 403
        assert dave.delete(f"/api/items/{post.id}").status_code == 403  # no header
    with httpx.Client(base_url=server.url) as anon:
        assert anon.delete(f"/api/items/{post.id}").status_code == 401
        r = anon.patch(f"/api/items/{post.id}", json={"text": "anonymous"})
        assert r.status_code == 401
    assert server.call(server.feed.entry(post.id)).text == "erin's words"
    with _signed_in(server, "erin") as erin:
        csrf, _ = _form_token(erin, "/")
        r = erin.post(f"/items/{post.id}/edit", data={"csrf": csrf, "text": hostile, "back": "/"})
        assert r.status_code == 303
        page = erin.get("/").text
        assert "&lt;img src=x onerror=alert(1)&gt; edited" in page and "<img" not in page
        # A redirect goes only to a page of this app.
        for back in ["//evil.example/", "https://evil.example/", "/u/../../x"]:
            data = {"csrf": csrf, "text": "again", "back": back}
            r = erin.post(f"/items/{post.id}/edit", data=data)
            assert r.headers["location"] == f"/#p-{post.id}", back


def test_the_api_needs_a_session_and_the_csrf_header(server) -> None:
    with httpx.Client(base_url=server.url) as anon:
        assert anon.post("/api/posts", json={"text": "hi"}).status_code == 401
    with _signed_in(server) as client:
        assert client.post("/api/posts", json={"text": "hi"}).status_code == 403
        token = client.get("/api/session").json()["csrf"]
        headers = {"X-CSRF-Token": token}
        r = client.post("/api/posts", content="text=hi", headers=headers)
        assert r.status_code == 415
        assert client.post("/api/posts", json={"text": "hi"}, headers=headers).status_code == 201
    assert server.call(server.feed.post_count()) == 1


def test_only_signed_in_users_write(server) -> None:
    post = server.call(server.feed.add_post("erin", "a post"))
    with httpx.Client(base_url=server.url) as anon:
        csrf, _ = _form_token(anon, "/signin")
        r = anon.post("/posts", data={"csrf": csrf, "text": "anonymous"})
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        r = anon.post(f"/items/{post.id}/replies", data={"csrf": csrf, "text": "anonymous"})
        assert r.status_code == 303 and r.headers["location"] == "/signin"
        assert 'action="/posts"' not in anon.get("/").text
    assert server.call(server.feed.post_count()) == 1
    assert server.call(server.feed.reply_count(post.id)) == 0


def test_tampered_cookie_is_not_a_session(server) -> None:
    with _signed_in(server) as client:
        cookie = client.cookies["pagedlist_session"]
        payload, rest = cookie.split(".", 1)
        forged = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + rest
        with httpx.Client(base_url=server.url) as other:
            other.cookies.set("pagedlist_session", forged)
            assert other.get("/api/session").json()["username"] is None


def test_passwords_are_hashed_and_checked(server) -> None:
    with _signed_in(server, "frank"):
        pass
    row = server.call(server.feed.user("frank"))
    assert row["hash"].startswith("$argon2id$") and PASSWORD not in row["hash"]
    with httpx.Client(base_url=server.url) as client:
        csrf, _ = _form_token(client, "/signin")
        r = client.post("/signin", data={"csrf": csrf, "username": "frank", "password": "wrong!!!"})
        assert r.status_code == 400 and "Wrong username or password" in r.text
        r = client.post("/signin", data={"csrf": csrf, "username": "frank", "password": PASSWORD})
        assert r.status_code == 303
        assert "signed in as" in client.get("/").text
        # Signing up again with the same name is refused.
        csrf, _ = _form_token(client, "/signup")
        r = client.post("/signup", data={"csrf": csrf, "username": "frank", "password": PASSWORD})
        assert r.status_code == 400 and "taken" in r.text
        for bad in ["ab", "Frank", "frank!", "a" * 25, "../x"]:
            r = client.post("/signup", data={"csrf": csrf, "username": bad, "password": PASSWORD})
            assert r.status_code == 400, bad
            assert server.call(server.feed.user(bad)) is None


def test_user_rows_can_never_be_list_rows(server) -> None:
    with _signed_in(server, "app_feed"):
        pass
    store = server.feed.store
    assert server.call(store.get("|app.user|app_feed")) is not None
    # Every list key starts with a non-empty list id, which cannot contain "|".
    for list_id in ["|app.user", "", "|app.session|x"]:
        with pytest.raises(InvalidListId):
            server.call(AsyncPagedList.create(store, list_id))


def test_security_headers(server) -> None:
    r = httpx.get(server.url + "/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "samesite=lax" in r.headers["set-cookie"].lower()
    assert "httponly" in r.headers["set-cookie"].lower()


def test_api_posts_are_idempotent_by_id(server) -> None:
    with _signed_in(server) as client:
        headers = {"X-CSRF-Token": client.get("/api/session").json()["csrf"]}
        body = {"text": "once", "id": "ab" * 16}
        first = client.post("/api/posts", json=body, headers=headers)
        again = client.post("/api/posts", json=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json()["position"] == again.json()["position"]
        other = client.post("/api/posts", json={**body, "text": "twice"}, headers=headers)
        assert other.status_code == 409
    assert server.call(server.feed.post_count()) == 1


def test_reply_cursors_walk_every_reply_once(server) -> None:
    post = server.call(server.feed.add_post("erin", "a post"))
    written = [
        server.call(server.feed.add_reply(post.id, "erin", f"reply {i}")).id for i in range(7)
    ]
    seen: list[str] = []
    after = None
    with httpx.Client(base_url=server.url) as client:
        for _ in range(10):
            params = {"limit": 3} if after is None else {"limit": 3, "after": after}
            page = client.get(f"/api/items/{post.id}/replies", params=params).json()
            assert page["count"] == 7
            seen += [item["id"] for item in page["items"]]
            after = page["next_after"]
            if after is None:
                break
    assert seen == written


def test_deep_threads_collapse_and_load_in_place(server) -> None:
    post = server.call(server.feed.add_post("erin", "root"))
    parent, chain = post.id, []
    for depth in range(6):
        parent = server.call(server.feed.add_reply(parent, "erin", f"level {depth + 1}")).id
        chain.append(parent)
    page = httpx.get(f"{server.url}/items/{post.id}").text
    # inline_depth=2: the comment and its reply render; deeper levels wait behind a link.
    assert "level 1" in page and "level 2" in page and "level 3" not in page
    assert f'href="/items/{chain[1]}"' in page and "show replies (1)" in page
    fragment = httpx.get(f"{server.url}/items/{chain[1]}?fragment=1").text
    assert "level 3" in fragment and "level 4" in fragment and "level 5" not in fragment
    deepest = httpx.get(f"{server.url}/items/{chain[-1]}").text
    assert "level 6" in deepest and f'href="/items/{chain[-2]}"' in deepest


def test_huge_bodies_are_refused_unread(server) -> None:
    with _signed_in(server) as client:
        headers = {"X-CSRF-Token": client.get("/api/session").json()["csrf"]}
        big = {"text": "z" * 100_000}
        assert client.post("/api/posts", json=big, headers=headers).status_code == 413
        csrf, nonce = _form_token(client, "/")
        r = client.post("/posts", data={"csrf": csrf, "nonce": nonce, **big})
        assert r.status_code == 413

        def chunks():  # no Content-Length: the JSON reader stops at the limit itself
            yield b'{"text": "'
            for _ in range(100):
                yield b"z" * 1000
            yield b'"}'

        r = client.post(
            "/api/posts",
            content=chunks(),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == 413
    assert server.call(server.feed.post_count()) == 0


def test_seed_authors_are_reserved(server) -> None:
    assert server.call(server.feed.seed()) is True
    assert server.call(server.feed.seed()) is False
    assert server.call(server.feed.post_count()) == 3
    with httpx.Client(base_url=server.url) as client:
        r = client.post("/api/users", json={"username": "ana", "password": PASSWORD})
        assert r.status_code == 409
        r = client.post("/api/session", json={"username": "ana", "password": "!"})
        assert r.status_code == 401


def test_wrong_method_says_what_is_allowed(server) -> None:
    r = httpx.put(f"{server.url}/api/feed")
    assert r.status_code == 405 and "GET" in r.headers["allow"]


def test_items_appended_by_other_tools_do_not_break_pages(server) -> None:
    server.call(server.feed.feed.append("a bare string from the CLI", id="not/a hex id"))
    server.call(server.feed.feed.append({"author": 7}, id="x" * 128))
    server.call(server.feed.add_post("erin", "a real post"))
    page = httpx.get(server.url + "/")
    assert page.status_code == 200
    assert "a real post" in page.text and "a bare string from the CLI" in page.text
    assert httpx.get(server.url + "/api/feed").status_code == 200
