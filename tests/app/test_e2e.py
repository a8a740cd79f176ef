"""The feed app in a real browser (headless Chromium), on every store, by URL only.

Two flows per store (SQLite, Redis, DynamoDB Local, PostgreSQL). The feed: sign up,
refuse an empty post, post (with HTML that must stay text), comment, reply, reply to a
reply (shown at once; collapsed on a fresh visit, then expanded in place), page back
through the whole feed with the "older posts" cursor, and see the "new posts" notice
appear when someone else posts. The social network: two
people sign up (every sign-up error reported at once), follow each other from their
profiles, post, reply to a reply and see it at once, edit and delete (a deleted comment
with a reply stays as "[deleted]" and keeps it; only authors get the controls), and page
the home timeline; axe-core checks every page they see (WCAG 2.1 AA and best practices:
labels, landmarks, contrast) and the keyboard focus is visible. On a store that keeps its
lists in layout 1 (no entry rows), nobody gets edit or delete controls and the API says
409 instead.

Screenshots go to ``test-artifacts/app/{store}/``; with ``PAGEDLIST_UPDATE_SCREENSHOTS=1``
the ``DOCS_FROM`` run also refreshes ``docs/img/app-{feed,home,profile,thread}.png``.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)

TIMEOUT_MS = 15_000
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "app"
DOCS_IMG = ROOT / "docs" / "img"
#: The stores the flow runs on; the server sees only the URL.
STORES = ["sqlite", "redis", "dynamodb", "postgres"]
#: The run whose screenshots refresh docs/img with PAGEDLIST_UPDATE_SCREENSHOTS=1: a
#: store whose items can be edited and deleted (entry rows), so the pictures show it.
DOCS_FROM = os.environ.get("PAGEDLIST_SCREENSHOTS_FROM", "dynamodb")


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_feed_flow_in_browser(browser, live_server, store_url, request) -> None:
    kind = request.node.callspec.params["store_url"]
    server = live_server(store_url, page_size=3, poll_ms=300)
    # Someone else's posts, so the feed has pages to go back through.
    for i in range(5):
        server.call(server.feed.add_post("ana", f"Earlier post number {i}"))

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
        assert server.call(server.feed.post_count()) == 5

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
        # Visible at once, its branch opened down to it, though it is deeper than the
        # levels a thread shows inline.
        page.wait_for_load_state()
        deep = page.locator("li.comment.focused", has_text="A reply to the reply <i>deep</i>")
        deep.wait_for(state="visible")
        assert deep.locator("i").count() == 0
        # Seen afresh, two levels below the post, it starts collapsed behind
        # "show replies (1)", and that link loads it in place.
        page.goto(post_url)
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
        server.call(server.feed.add_post("ana", "Fresh news while you were reading"))
        server.call(server.feed.add_post("ana", "And more fresh news"))
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

    if kind == DOCS_FROM and os.environ.get("PAGEDLIST_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "feed.png", DOCS_IMG / "app-feed.png")


#: The axe-core rule sets every page must pass.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def _axe(page, source: str, where: str) -> None:
    """Run axe-core on the page as it is now; fail listing every violation."""
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(source)  # through the DevTools protocol: the page's CSP stays on
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)})))",
        AXE_TAGS,
    )
    assert found == [], f"accessibility violations on {where}: {found}"


def _sign_up(page, base: str, name: str) -> None:
    page.goto(f"{base}/signup")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill("correct horse battery")
    page.click("form.account button[type=submit]")
    page.wait_for_url(f"{base}/")


def _follow(page, base: str, name: str) -> None:
    page.goto(f"{base}/u/{name}")
    before = int(page.inner_text("#followers-count"))
    page.click("#follow-button")
    page.wait_for_url(f"{base}/u/{name}")
    assert page.inner_text("#follow-button") == "Unfollow"
    assert int(page.inner_text("#followers-count")) == before + 1


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_social_flow_in_browser(browser, live_server, store_url, axe_source, request) -> None:
    kind = request.node.callspec.params["store_url"]
    server = live_server(store_url, page_size=3)
    server.call(server.feed.create_user("zoe", "!"))
    server.call(server.feed.add_post("zoe", "Nobody follows zoe: never on a home timeline"))
    shots = ARTIFACTS / kind
    shots.mkdir(parents=True, exist_ok=True)
    base = server.url
    contexts = [browser.new_context(viewport={"width": 900, "height": 1000}) for _ in range(2)]
    errors: list[str] = []
    try:
        alice, bruno = (ctx.new_page() for ctx in contexts)
        for ctx, page in zip(contexts, (alice, bruno), strict=True):
            ctx.set_default_timeout(TIMEOUT_MS)
            page.on("pageerror", lambda exc: errors.append(str(exc)))

        # Sign-up names every problem at once, then both sign up.
        alice.goto(f"{base}/signup")
        _axe(alice, axe_source, "the sign-up page")
        alice.get_by_label("Username").fill("Alice!")
        alice.get_by_label("Password").fill("short")
        alice.click("form.account button[type=submit]")
        problems = alice.locator("ul.error li").all_inner_texts()
        assert len(problems) == 2, problems
        _axe(alice, axe_source, "the sign-up page with errors")
        _sign_up(alice, base, "alice")
        _sign_up(bruno, base, "bruno")

        # Keyboard focus is visible: the first Tab lands on the skip link, outlined.
        alice.keyboard.press("Tab")
        outline = alice.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return [document.activeElement.className, s.outlineStyle, s.outlineWidth]; })()"
        )
        assert outline[0] == "skip" and outline[1] != "none" and outline[2] != "0px", outline

        # Posts: one by alice, four by bruno (two pages of home timeline at 3 a page).
        alice.fill("#post-text", "Hello from alice")
        alice.click("#new-post button[type=submit]")
        alice.wait_for_url(f"{base}/")
        for i in range(4):
            bruno.goto(f"{base}/home")
            bruno.fill("#post-text", f"Bruno's post {i}")
            bruno.click("#new-post button[type=submit]")
            bruno.wait_for_url(f"{base}/home")
            time.sleep(0.01)  # distinct times, so newest first is the writing order

        # They follow each other from the profiles.
        _follow(alice, base, "bruno")
        _follow(bruno, base, "alice")
        alice.goto(f"{base}/u/bruno")
        assert alice.inner_text("#posts-count") == "4"
        assert alice.inner_text("#following-count") == "1"
        _axe(alice, axe_source, "a profile")

        # alice's home timeline, paged: every post of both, once, newest first.
        alice.goto(f"{base}/home")
        _axe(alice, axe_source, "the home timeline")
        expected = [f"Bruno's post {i}" for i in (3, 2, 1, 0)] + ["Hello from alice"]
        assert _page_home(alice, base) == expected

        # bruno comments on alice's post from her profile, alice replies, and bruno
        # replies to her reply: each sees their reply at once.
        bruno.goto(f"{base}/u/alice")
        bruno.locator("li.post", has_text="Hello from alice").locator("a.comments").click()
        bruno.wait_for_selector("#new-reply")
        post_url = bruno.url
        assert bruno.locator("#item .meta time[datetime]").count() == 1  # the post's time
        bruno.fill("#reply-text", "Welcome, alice")
        bruno.click("#new-reply button[type=submit]")
        bruno.locator("li.comment.focused", has_text="Welcome, alice").wait_for(state="visible")

        alice.goto(post_url)
        comment = alice.locator("li.comment", has_text="Welcome, alice").first
        comment.locator("details.reply summary").first.click()
        comment.get_by_label("Your reply").first.fill("Thanks, bruno")
        comment.locator("details.reply button").first.click()
        alice.locator("li.comment.focused", has_text="Thanks, bruno").wait_for(state="visible")

        bruno.goto(post_url)
        mine = bruno.locator("li.comment", has_text="Thanks, bruno").last
        mine.locator("details.reply summary").first.click()
        mine.get_by_label("Your reply").first.fill("Any time (a reply to a reply)")
        mine.locator("details.reply button").first.click()
        deep = bruno.locator("li.comment.focused", has_text="Any time (a reply to a reply)")
        deep.wait_for(state="visible")  # no "show replies" to click
        assert "focus=" in bruno.url
        # The thread opened down to that reply, three levels deep.
        thread_url = f"{post_url}?focus={deep.get_attribute('data-id')}"

        editable = server.feed.editable
        if editable:
            _edit_and_delete(alice, bruno, base, thread_url)
            expected = [f"Bruno's post {i}" for i in (2, 1, 0)] + ["Hello from alice, edited"]
        else:
            _no_edits_here(alice, bruno, base, thread_url)
        bruno.goto(thread_url)
        bruno.locator("li.comment", has_text="Any time").last.wait_for()
        _axe(bruno, axe_source, "a thread")
        bruno.screenshot(path=str(shots / "thread-social.png"), full_page=True)

        # The home timeline again, paged: every post once, edited and deleted as asked.
        assert _page_home(alice, base) == expected
        _axe(alice, axe_source, "the last page of a home timeline")
        bruno.goto(f"{base}/home")  # his own posts, with their edit and delete controls
        _axe(bruno, axe_source, "the home timeline")
        bruno.screenshot(path=str(shots / "home.png"), full_page=True)
        alice.goto(f"{base}/u/bruno")
        assert alice.inner_text("#posts-count") == ("3" if editable else "4")
        _axe(alice, axe_source, "a profile")
        alice.screenshot(path=str(shots / "profile.png"), full_page=True)

        # The global feed and an error page pass too.
        bruno.goto(f"{base}/")
        _axe(bruno, axe_source, "the feed")
        bruno.goto(f"{base}/u/nobody_here")
        assert "<h1>404</h1>" in bruno.content()
        _axe(bruno, axe_source, "the 404 page")
        assert errors == []
    finally:
        for ctx in contexts:
            ctx.close()

    if kind == DOCS_FROM and os.environ.get("PAGEDLIST_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots / "home.png", DOCS_IMG / "app-home.png")
        shutil.copyfile(shots / "profile.png", DOCS_IMG / "app-profile.png")
        shutil.copyfile(shots / "thread-social.png", DOCS_IMG / "app-thread.png")


def _page_home(page, base: str) -> list[str]:
    """The texts of the whole home timeline, page after page ("older posts")."""
    page.goto(f"{base}/home")
    seen: list[str] = []
    for _ in range(10):
        seen += page.locator("li.post .text").all_inner_texts()
        assert page.locator("li.post time[datetime]").count() == len(page.locator("li.post").all())
        older = page.locator("#older")
        if older.count() == 0:
            break
        older.click()
        page.wait_for_load_state()
    return seen


def _own(comment):
    """A comment's own controls, not those of the replies below it."""
    return comment.locator(":scope > .actions")


def _edit_and_delete(alice, bruno, base: str, thread_url: str) -> None:
    """Authors edit and delete; everyone sees it at once; nobody else gets the controls.

    ``thread_url`` opens the thread down to bruno's reply to alice's reply."""
    # bruno edits his reply to alice's reply, on the page he sent it from: the thread
    # opens at it again, marked edited.
    mine = bruno.locator("li.comment", has_text="Any time (a reply to a reply)").last
    _own(mine).locator("details.edit summary").click()
    _own(mine).get_by_label("New text").fill("Any time, really (edited)")
    _own(mine).locator("details.edit button").click()
    edited = bruno.locator("li.comment.focused", has_text="Any time, really (edited)")
    edited.wait_for(state="visible")
    assert "edited" in edited.locator(":scope > .meta").inner_text()
    assert "a reply to a reply" not in bruno.content()

    # alice sees it, without controls for it; she deletes her comment, which has that
    # reply: it stays as "[deleted]", the reply under it.
    alice.goto(thread_url)
    theirs = alice.locator("li.comment", has_text="Any time, really (edited)").last
    theirs.wait_for()
    assert _own(theirs).locator("details.edit, details.delete").count() == 0
    hers = alice.locator("li.comment", has_text="Thanks, bruno").last
    _own(hers).locator("details.delete summary").click()
    _own(hers).locator("details.delete button").click()
    alice.wait_for_load_state()
    assert "Thanks, bruno" not in alice.content()
    alice.goto(thread_url)
    gone = alice.locator("li.comment", has_text="[deleted]").last
    gone.wait_for()
    assert "Thanks, bruno" not in alice.content()
    assert gone.locator("li.comment", has_text="Any time, really (edited)").count() == 1
    assert _own(gone).locator("details.reply, details.edit, details.delete").count() == 0

    # bruno deletes his newest post from his profile: gone from every list.
    bruno.goto(f"{base}/u/bruno")
    post = bruno.locator("li.post", has_text="Bruno's post 3")
    post.locator("details.delete summary").click()
    post.locator("details.delete button").click()
    bruno.wait_for_url(f"{base}/u/bruno")
    assert bruno.locator("li.post", has_text="Bruno's post 3").count() == 0
    assert bruno.inner_text("#posts-count") == "3"

    # alice edits her post from her profile: back there, the new text marked edited.
    alice.goto(f"{base}/u/alice")
    post = alice.locator("li.post", has_text="Hello from alice")
    post.locator("details.edit summary").click()
    post.get_by_label("New text").fill("Hello from alice, edited")
    post.locator("details.edit button").click()
    alice.wait_for_url(f"{base}/u/alice#*")
    post = alice.locator("li.post", has_text="Hello from alice, edited")
    assert post.locator(".edited").inner_text() == "edited"
    bruno.goto(f"{base}/u/alice")
    assert bruno.locator("li.post details.edit").count() == 0


def _no_edits_here(alice, bruno, base: str, thread_url: str) -> None:
    """A store in layout 1: no controls for anyone, and the API says why (409)."""
    bruno.goto(thread_url)
    bruno.locator("li.comment", has_text="Any time").last.wait_for()
    assert bruno.locator("details.edit, details.delete").count() == 0
    bruno.goto(f"{base}/u/bruno")
    assert bruno.locator("details.edit, details.delete").count() == 0
    csrf = bruno.request.get(f"{base}/api/session").json()["csrf"]
    item = bruno.locator("li.post").first.get_attribute("id").removeprefix("p-")
    r = bruno.request.patch(
        f"{base}/api/items/{item}", data={"text": "changed"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status == 409 and "layout 1" in r.json()["error"]
