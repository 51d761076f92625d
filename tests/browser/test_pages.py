"""The pages in a real browser: Playwright driving Debian's Chromium against `shiplog run`.

Skips cleanly where Chromium or Playwright is absent; `.ci/run` installs Chromium.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SECRET, assert_no_secrets, sign, subprocess_secrets_env

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
playwright_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`shiplog run` on a free port, with the demo timeline and a webhook secret."""
    yield from serve(tmp_path_factory.mktemp("browser"), {})


@pytest.fixture(scope="module")
def private_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same, private, with one person; (its URL, their access token)."""
    folder = tmp_path_factory.mktemp("private")
    added = subprocess.run(
        [SHIPLOG, "people", "add", "mara"],
        env=environment(folder, {}),
        check=True,
        capture_output=True,
        text=True,
    )
    token = added.stdout.split("access token ")[1].strip()
    for url in serve(folder, {"SHIPLOG_PRIVATE": "true", "SHIPLOG_SECRET_KEY": "k" * 32}):
        yield url, token


SHIPLOG = str(Path(sys.executable).with_name("shiplog"))


def environment(folder: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLOG_")}
    env.update(
        SHIPLOG_DATABASE_URL=f"sqlite:///{folder / 'shiplog.db'}", SHIPLOG_LIVE_POLL_MS="300"
    )
    return env | extra


def serve(folder: Path, extra: dict[str, str]) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = environment(folder, extra | subprocess_secrets_env(folder, github=False))
    subprocess.run([SHIPLOG, "demo"], env=env, check=True, capture_output=True)
    env["SHIPLOG_GITHUB_WEBHOOK_SECRET"] = SECRET
    log = folder / "shiplog-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SHIPLOG, "run", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)
    assert_no_secrets("shiplog run (browser tests)", log.read_bytes())


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: errors.append(str(e)))
    yield opened
    context.close()
    assert errors == [], errors


def test_the_demo_timeline_renders_with_local_times(page, server) -> None:
    page.goto(server)
    assert page.locator("li.entry").count() == 20
    assert "demo data" in page.inner_text("aside.notice")
    first = page.locator("li.entry time").first
    assert first.get_attribute("title").endswith("UTC")
    assert not re.search(r"ago$", first.inner_text())  # replaced by the local time


def test_the_filter_form_narrows_and_the_url_says_so(page, server) -> None:
    page.goto(server)
    page.fill("form.filters input[name=repo]", "acme/web")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"repo=acme%2Fweb"))
    repos = page.locator("li.entry a.repo").all_inner_texts()
    assert repos and set(repos) == {"acme/web"}


def test_keyboard_navigation(page, server) -> None:
    page.goto(server)
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    selected = page.locator("li.entry.selected")
    assert selected.count() == 1
    assert selected.get_attribute("data-id") == page.locator("li.entry").first.get_attribute(
        "data-id"
    )
    page.keyboard.press("j")
    title = page.locator("li.entry.selected a.title").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/events/\d+$"))
    assert title in page.inner_text("h1")
    page.goto(server)
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "q"


def test_diff_sections_fold_and_unfold(page, server) -> None:
    page.goto(f"{server}/?q=Cache+session")
    page.locator("li.entry.kind-commit a.title").first.click()
    section = page.locator("ul.files details").first
    assert section.get_attribute("open") is not None
    section.locator("summary").click()
    assert section.get_attribute("open") is None
    section.locator("summary").click()
    assert section.get_attribute("open") is not None


def test_a_new_event_appears_without_a_reload(page, server) -> None:
    page.goto(server)
    assert page.locator("#news").is_hidden()
    sha = "9f" * 20
    push = {
        "ref": "refs/heads/main",
        "after": sha,
        "repository": {"full_name": "acme/web"},
        "commits": [
            {
                "id": sha,
                "message": "Hotfix the banner",
                "timestamp": "2030-01-01T00:00:00Z",
                "added": [],
                "removed": [],
                "modified": ["a.py"],
            }
        ],
    }
    body = json.dumps(push).encode()
    request = urllib.request.Request(
        f"{server}/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "browser-1",
            "X-Hub-Signature-256": sign(body),
        },
    )
    urllib.request.urlopen(request).close()
    page.wait_for_selector("#news:not([hidden])", timeout=5000)
    assert page.inner_text("#news") == "1 new event — show"
    assert page.locator("li.entry").count() == 20  # nothing moved under the reader
    page.click("#news a")
    page.wait_for_selector("li.entry.new")
    assert "Hotfix the banner" in page.locator("li.entry.new").first.inner_text()


@pytest.mark.parametrize("path", ["/status", "/incidents/1", "/events/1", "/feed.atom"])
def test_the_other_pages_render(page, server, path) -> None:
    response = page.goto(f"{server}{path}")
    assert response.status == 200


@pytest.mark.parametrize(
    ("width", "scheme"), [(1280, "light"), (1280, "dark"), (375, "light"), (375, "dark")]
)
def test_screenshots(browser, server, tmp_path, width, scheme) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    shot = context.new_page()
    shot.goto(server)
    folder = Path(os.environ.get("SHIPLOG_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"activity-{width}-{scheme}.png"
    shot.screenshot(path=str(target), full_page=False)
    assert target.stat().st_size > 10_000
    scroll_width = shot.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width  # nothing sticks out sideways at 375 px
    context.close()


def test_older_pages_with_the_cursor(page, server) -> None:
    """60 commits in a repository of their own (so the other tests' pages stay as they are):
    the first page shows 50, "Older" the rest. Runs last in this module."""
    sha = [f"{n:040x}" for n in range(1, 61)]
    commits = [
        {
            "id": s,
            "message": f"Bulk change {n}",
            "timestamp": f"2026-11-20T10:{n:02d}:00Z",
            "added": [],
            "removed": [],
            "modified": ["a.py"],
        }
        for n, s in enumerate(sha)
    ]
    body = json.dumps(
        {
            "ref": "refs/heads/main",
            "after": sha[-1],
            "commits": commits,
            "repository": {"full_name": "acme/bulk"},
        }
    ).encode()
    request = urllib.request.Request(
        f"{server}/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "browser-bulk",
            "X-Hub-Signature-256": sign(body),
        },
    )
    urllib.request.urlopen(request).close()
    page.goto(f"{server}/?repo=acme/bulk")
    assert page.locator("li.entry").count() == 50
    page.click("nav.pager a[rel=next]")
    page.wait_for_url(re.compile(r"cursor="))
    assert page.locator("li.entry").count() == 10
    assert "Bulk change 0" in page.locator("li.entry").last.inner_text()
    assert page.locator("nav.pager a[rel=next]").count() == 0


def _deliver(server: str, event: str, payload: dict, delivery: str) -> None:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{server}/webhooks/github",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": sign(body),
        },
    )
    urllib.request.urlopen(request).close()


def test_the_incident_and_status_pages_notice_changes(page, server) -> None:
    issue = {
        "number": 77,
        "title": "Search is slow",
        "state": "open",
        "labels": [{"name": "incident"}, {"name": "sev3"}],
        "user": {"login": "sam"},
        "html_url": "https://github.com/acme/api/issues/77",
        "created_at": "2030-01-01T00:00:00Z",
        "updated_at": "2030-01-01T00:00:00Z",
    }
    page.goto(f"{server}/status")
    page.wait_for_timeout(400)  # the page has read the status once
    _deliver(
        server,
        "issues",
        {"action": "opened", "issue": issue, "repository": {"full_name": "acme/api"}},
        "watch-1",
    )
    page.wait_for_selector("#news:not([hidden])", timeout=5000)
    page.click("#news a")
    page.click("text=Search is slow")
    page.wait_for_url(re.compile(r"/incidents/\d+$"))
    page.wait_for_timeout(400)
    assert page.locator("#news").is_hidden()
    _deliver(
        server,
        "issue_comment",
        {
            "action": "created",
            "issue": issue,
            "repository": {"full_name": "acme/api"},
            "comment": {
                "id": 5,
                "body": "/status identified\nFound it",
                "user": {"login": "s"},
                "created_at": "2030-01-01T00:05:00Z",
                "updated_at": "2030-01-01T00:05:00Z",
            },
        },
        "watch-2",
    )
    page.wait_for_selector("#news:not([hidden])", timeout=5000)
    page.click("#news a")
    assert "identified" in page.inner_text(".badges").lower()


def test_private_mode_signs_in_through_the_form_with_a_secure_cookie(
    browser, private_server
) -> None:
    """The session cookie is Secure, and Chromium keeps it on http://127.0.0.1 (a secure
    context), so `make run` in private mode works locally; elsewhere, serve over https."""
    url, token = private_server
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.wait_for_url(re.compile(r"/signin\?next=/$"))
    page.fill("input[name=token]", token)
    page.click("form.panel button[type=submit]")
    page.wait_for_url(f"{url}/")
    assert page.locator("li.entry").count() == 20
    [cookie] = context.cookies()
    assert (cookie["name"], cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (
        "shiplog_session",
        True,
        True,
        "Lax",
    )
    page.goto(f"{url}/account")
    page.fill("input[name=label]", "laptop")
    page.click("text=Make a feed token")
    feed_url = page.locator("dl.feed-urls code").first.inner_text()
    assert "/feed.atom?token=shiplog_f_" in feed_url
    page.click("header .who button")
    page.wait_for_url(re.compile(r"/signin$"))
    page.goto(url)
    page.wait_for_url(re.compile(r"/signin"))
    with urllib.request.urlopen(feed_url.replace("http://localhost", url)) as answer:
        assert answer.status == 200 and b"<entry>" in answer.read()
    context.close()
