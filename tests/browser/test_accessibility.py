"""Every page through axe-core (WCAG 2.1 AA) in light and dark, at 1280 and 375 px.

One page load per page: the width and the colour scheme change in place, and axe runs in
each of the four combinations. At 375 px nothing may stick out sideways. With
SHIPLOG_SCREENSHOTS set to a folder, each combination is also saved there as a PNG; the
README's are activity-1280-light.png (docs/activity.png) and activity-375-dark.png
(docs/activity-phone-dark.png), from `SHIPLOG_SCREENSHOTS=DIR pytest
"tests/browser/test_accessibility.py::test_a_public_page[activity]"`.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, sign_in, watch_errors
from tests.conftest import ADMIN_TOKEN

pytest.importorskip("playwright.sync_api")
AXE_SCRIPT = pytest.importorskip("axe_playwright_python.base").AXE_SCRIPT  # axe-core
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")

WCAG_21_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
COMBINATIONS = [(1280, "light"), (375, "light"), (375, "dark"), (1280, "dark")]
PHONE = 375


def check(page, name: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """axe finds nothing, and a phone needs no sideways scroll, in every combination."""
    page.evaluate(AXE_SCRIPT)
    folder = os.environ.get("SHIPLOG_SCREENSHOTS")
    found: dict[str, list[str]] = {}
    for width, scheme in COMBINATIONS:
        page.set_viewport_size({"width": width, "height": 900})
        page.emulate_media(color_scheme=scheme)
        where = f"{name} at {width} px, {scheme}"
        if width == PHONE:
            assert page.evaluate("document.scrollingElement.scrollWidth") <= PHONE, where
        violations = page.evaluate("options => axe.run(document, options)", WCAG_21_AA)[
            "violations"
        ]
        if violations:
            found[where] = [
                f"{v['id']}: {node['target']} {node['failureSummary']}"
                for v in violations
                for node in v["nodes"]
            ]
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}-{width}-{scheme}.png"))
    assert found == {}, json.dumps(found, indent=1)


def event_ids(server: str) -> dict[str, int]:
    """Demo events whose pages show the most: the newest of each kind, by kind, and
    "reverted" (a commit with its diffs, full SHA and the revert that undid it)."""
    with urllib.request.urlopen(f"{server}/api/events?limit=200") as answer:
        events = json.load(answer)["events"]
    chosen: dict[str, int] = {}
    for event in events:
        chosen.setdefault(event["kind"], event["id"])
    undone = {e["data"].get("reverts") for e in events if e["kind"] == "revert"}
    chosen["reverted"] = next(e["id"] for e in events if e.get("sha") in undone)
    return chosen


PUBLIC_PAGES = {
    "activity": "/",
    "health": "/health",
    "status": "/status",
    "incident": "/incidents/1",
    "signin": "/signin",
    "not-found": "/events/999999",
}


@pytest.mark.parametrize("name", PUBLIC_PAGES)
def test_a_public_page(browser, server, tmp_path, name: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors = watch_errors(page)
    response = page.goto(f"{server}{PUBLIC_PAGES[name]}")
    assert response.status == (404 if name == "not-found" else 200)
    check(page, name, tmp_path)
    context.close()
    assert [e for e in errors if "404" not in e] == []


def test_a_status_day_in_keyboard_focus(browser, server, tmp_path) -> None:
    """A day of the 90-day bar in focus shows its outline and its tip, whose incident link
    comes next in the tab order; axe finds nothing with the tip open."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(f"{server}/status")
    page.keyboard.press("Tab")  # from here on the keyboard leads, as for its users
    day = page.locator("section.uptime").nth(1).locator("li.day:not(.lvl-none)").first
    mark = day.locator(".mark")
    mark.focus()
    assert mark.evaluate("m => m.matches(':focus-visible')")
    assert mark.evaluate("m => getComputedStyle(m).outlineStyle") == "solid"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d: 1 major incident, .+", mark.get_attribute("aria-label"))
    tip = day.locator(".tip")
    assert tip.is_visible() and "Login failures after yesterday's deploy" in tip.inner_text()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('.tip') !== null")
    assert re.search(r"/incidents/\d+$", page.evaluate("document.activeElement.href"))
    check(page, "status-day-focused", tmp_path)
    page.keyboard.press("Escape")  # the tip closes (WCAG 1.4.13), the focus back on the day
    assert tip.is_hidden() and mark.evaluate("m => m === document.activeElement")
    page.keyboard.press("Tab")  # on past the quiet days, which take no stop (90 a bar would)
    assert page.evaluate("document.activeElement.closest('li.day.lvl-none') === null")
    assert tip.is_hidden()
    quiet = page.locator("li.day.lvl-none .mark")
    assert quiet.count() > 0 and quiet.evaluate_all("ms => ms.every(m => m.tabIndex < 0)")
    context.close()
    assert errors == []


@pytest.mark.parametrize("kind", ["reverted", "revert", "deployment"])
def test_an_event_page(browser, server, tmp_path, kind: str) -> None:
    """A reverted commit (diffs, SHA, "Reverted by"), its revert, a deployment's state: every
    part of the event page (the other kinds show a subset of these)."""
    context = browser.new_context()
    page = context.new_page()
    errors = watch_errors(page)
    assert page.goto(f"{server}/events/{event_ids(server)[kind]}").ok
    check(page, f"event-{kind}", tmp_path)
    context.close()
    assert errors == []


@pytest.mark.parametrize(
    "path", ["/admin/sync", "/admin/deliveries", "/admin/subscriptions/leap-day-digest/preview"]
)
def test_an_admin_page(browser, server, tmp_path, path: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors = watch_errors(page)
    sign_in(page, server, ADMIN_TOKEN)
    assert page.goto(f"{server}{path}").ok
    check(page, path.split("/")[-1], tmp_path)
    context.close()
    assert errors == []


def test_private_sign_in_and_a_persons_account(browser, private_server, tmp_path) -> None:
    url, token = private_server
    context = browser.new_context()
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(url)
    check(page, "private-signin", tmp_path)
    sign_in(page, url, token)
    page.goto(f"{url}/account")
    page.fill("input[name=label]", "phone")
    page.click("text=Make a feed token")  # the page then shows the new token and the list
    check(page, "account", tmp_path)
    context.close()
    assert errors == []
