// The app's only script: the "new posts" notice and in-place loading of collapsed
// replies. Without it every link still works (it opens the thread's own page).
"use strict";

function pollNewPosts() {
  const feed = document.getElementById("feed");
  if (!feed || feed.dataset.live !== "yes") return;
  const seen = Number(feed.dataset.count);
  const every = Math.max(200, Number(feed.dataset.pollMs) || 5000);
  const notice = document.getElementById("new-posts");
  const tick = async () => {
    try {
      const res = await fetch("/api/feed/count", { headers: { accept: "application/json" } });
      if (res.ok) {
        const { count } = await res.json();
        if (count > seen) {
          const n = count - seen;
          notice.firstElementChild.textContent =
            n + (n === 1 ? " new post" : " new posts") + " — show";
          notice.hidden = false;
        }
      }
    } catch (_) {
      // Offline for a moment: try again next tick.
    }
    setTimeout(tick, every);
  };
  setTimeout(tick, every);
}

function expandReplies() {
  document.addEventListener("click", async (event) => {
    const link = event.target.closest("a.show-replies");
    if (!link || !link.dataset.fragment) return;
    event.preventDefault();
    link.classList.add("loading");
    try {
      const res = await fetch(link.dataset.fragment);
      if (!res.ok) throw new Error(res.status);
      const box = document.createElement("div");
      box.className = "loaded";
      box.innerHTML = await res.text();  // server-rendered, escaped by Jinja2
      link.replaceWith(box);
    } catch (_) {
      window.location.href = link.href;
    }
  });
}

pollNewPosts();
expandReplies();
