"""The pages in a real browser: Playwright driving Debian's Chromium against `shiplog run`.

The server and browser are shared (tests/browser/conftest.py); skips cleanly where Chromium
or Playwright is absent; `.ci/run` installs Chromium.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, deliver
from tests.conftest import sign

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")


def test_the_demo_timeline_renders_with_local_times(page, server) -> None:
    page.goto(server)
    assert (
        page.locator("li.entry").count() == 22
    )  # the demo: 20 events, a staging deploy and a break (for /health)
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


def test_enter_acts_on_the_focused_control_and_j_starts_from_the_focus(page, server) -> None:
    """After j chose an entry, Enter on a repo link or the Filter button does what that
    control does; j and k go on from where Tab focus is."""
    page.goto(server)
    page.keyboard.press("j")
    chosen = page.locator("li.entry.selected a.title").get_attribute("href")
    page.keyboard.press("Tab")  # the chosen entry's title link, then its repo link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "repo"
    repo = page.evaluate("document.activeElement.textContent")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"\?repo="))
    assert set(page.locator("li.entry a.repo").all_inner_texts()) == {repo}
    assert chosen not in page.url

    page.goto(server)
    page.keyboard.press("j")
    page.focus("form.filters button[type=submit]")
    page.keyboard.press("Enter")  # submits the filter form: the page reloads, on /?...
    page.wait_for_url(re.compile(r"/\?repo=&kind=&branch="))

    entries = page.locator("li.entry")
    entries.nth(3).locator("a.title").focus()
    page.keyboard.press("j")
    assert page.locator("li.entry.selected").get_attribute("data-id") == entries.nth(
        4
    ).get_attribute("data-id")
    page.focus("form.filters button[type=submit]")  # above every entry
    page.keyboard.press("j")
    assert page.locator("li.entry.selected").get_attribute(
        "data-id"
    ) == entries.first.get_attribute("data-id")


def test_a_skip_link_leads_past_the_header_and_filters_to_the_timeline(page, server) -> None:
    page.goto(server)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to timeline"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    first = page.locator("li.entry a.title").first
    assert page.evaluate("document.activeElement.href") == first.evaluate("a => a.href")
    page.goto(f"{server}/status")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"


def test_the_filter_bar_has_a_path_field(page, server) -> None:
    page.goto(server)
    page.fill("form.filters input[name=path]", "*.css")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"path=(\*|%2A)\.css"))
    assert 0 < page.locator("li.entry").count() < 20  # the demo's commits to CSS files
    assert page.locator("form.filters input[name=path]").input_value() == "*.css"


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
    assert page.locator("li.entry").count() == 22  # nothing moved under the reader
    page.click("#news a")
    page.wait_for_selector("li.entry.new")
    assert "Hotfix the banner" in page.locator("li.entry.new").first.inner_text()


def test_the_feed_opens_in_the_browser(page, server) -> None:
    """The pages themselves load in tests/browser/test_accessibility.py."""
    assert page.goto(f"{server}/feed.atom").status == 200


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
    deliver(
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
    deliver(
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
    assert page.locator("li.entry").count() == 22
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
