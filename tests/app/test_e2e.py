"""The feed app in a real browser (headless Chromium), on every store, by URL only.

One flow per store: sign up, refuse an empty post, post (with HTML that must stay text),
comment, reply, reply to a reply (collapsed, then expanded in place), page back through
the whole feed with the "older posts" cursor, and see the "new posts" notice appear when
someone else posts. Screenshots go to ``test-artifacts/app/``; with
``PAGEDLIST_UPDATE_SCREENSHOTS=1`` the SQLite run also refreshes ``docs/img/app-feed.png``
and ``docs/img/app-thread.png`` for the README.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

TIMEOUT_MS = 15_000
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "app"
DOCS_IMG = ROOT / "docs" / "img"
#: The stores the flow runs on; the server sees only the URL.
STORES = ["sqlite", "redis", "dynamodb"]


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_feed_flow_in_browser(browser, live_server, store_url, request) -> None:
    kind = request.node.callspec.params["store_url"]
    server = live_server(store_url, page_size=3, poll_ms=300)
    # Someone else's posts, so the feed has pages to go back through.
    for i in range(5):
        server.feed.add_post("ana", f"Earlier post number {i}")

    shots = ARTIFACTS / kind
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 900, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        base = server.url
        # Sign up (and be signed in).
        page.goto(f"{base}/signup")
        page.fill("input[name=username]", "carol")
        page.fill("input[name=password]", "correct horse battery")
        page.click("form.account button[type=submit]")
        page.wait_for_url(f"{base}/")
        assert "signed in as" in page.inner_text("header")

        # An empty post is refused with a message, and nothing is written.
        page.fill("#post-text", "   ")
        page.click("#new-post button[type=submit]")
        assert "Write something first" in page.inner_text("#new-post .error")
        assert server.feed.post_count() == 5

        # A post with markup: shown as text, never run.
        hostile = "<b>bold?</b> <script>window.pwned = 1</script> hello from carol"
        page.fill("#post-text", hostile)
        page.click("#new-post button[type=submit]")
        page.wait_for_url(f"{base}/")
        first = page.locator("li.post").first
        assert first.locator(".text").inner_text() == hostile
        assert first.locator("b").count() == 0
        assert page.evaluate("window.pwned") is None
        assert page.inner_text("#post-count") == "6"

        # Comment on it, then reply, then reply to the reply.
        first.locator("a.comments").click()
        page.wait_for_selector("#new-reply")
        post_url = page.url
        page.fill("#reply-text", "A comment from carol")
        page.click("#new-reply button[type=submit]")
        comment = page.locator("li.comment", has_text="A comment from carol").first
        comment.wait_for()
        assert page.inner_text("#reply-count") == "1"

        comment.locator("details.reply summary").first.click()
        comment.locator("details.reply textarea").first.fill("A reply to the comment")
        comment.locator("details.reply button").first.click()
        reply = page.locator("li.comment", has_text="A reply to the comment").last
        reply.wait_for()
        assert page.url.startswith(post_url.split("#")[0])

        reply.locator("details.reply summary").first.click()
        reply.locator("details.reply textarea").first.fill("A reply to the reply <i>deep</i>")
        reply.locator("details.reply button").first.click()
        # Two levels below the post, so it starts collapsed behind "show replies (1)".
        page.wait_for_load_state()
        show = page.locator("a.show-replies", has_text="show replies (1)")
        show.wait_for()
        assert page.locator("li.comment", has_text="A reply to the reply").count() == 0
        show.click()
        deep = page.locator("li.comment", has_text="A reply to the reply <i>deep</i>").last
        deep.wait_for()
        assert deep.locator("i").count() == 0
        page.screenshot(path=str(shots / "thread.png"), full_page=True)

        # Page back through the whole feed: every post once, newest first.
        page.goto(f"{base}/")
        seen: list[int] = []
        for _ in range(10):
            seen += [
                int(p)
                for p in page.locator("li.post").evaluate_all(
                    "els => els.map(e => e.dataset.position)"
                )
            ]
            older = page.locator("#older")
            if older.count() == 0:
                break
            older.click()
            page.wait_for_load_state()
        assert seen == [5, 4, 3, 2, 1, 0]

        # The "new posts" notice: someone posts while the page is open.
        page.goto(f"{base}/")
        notice = page.locator("#new-posts")
        assert notice.is_hidden()
        server.feed.add_post("ana", "Fresh news while you were reading")
        server.feed.add_post("ana", "And more fresh news")
        notice.wait_for(state="visible")
        # The poll may land between the two posts; the next one must count both.
        page.wait_for_function(
            "document.getElementById('new-posts').textContent.includes('2 new posts')"
        )
        page.screenshot(path=str(shots / "feed.png"), full_page=True)
        notice.locator("a").click()
        page.wait_for_load_state()
        assert "And more fresh news" in page.locator("li.post").first.inner_text()
        assert errors == []
    finally:
        context.close()

    if kind == "sqlite" and os.environ.get("PAGEDLIST_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "feed.png", DOCS_IMG / "app-feed.png")
        shutil.copyfile(shots / "thread.png", DOCS_IMG / "app-thread.png")
