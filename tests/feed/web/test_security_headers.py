"""Every answer carries the headers that keep it inert, and the pages need nothing inline."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from integrations.github.demo import load
from tests.conftest import deliver

PATHS = [
    "/",
    "/?kind=revert",
    "/events/1",
    "/status",
    "/incidents/1",
    "/feed.atom",
    "/feed.json",
    "/api/events",
    "/api/status",
    "/healthz",
    "/metrics",
    "/events/999999",  # a 404 page
    "/?kind=nonsense",  # a 400 page
]
PAGES = ["/", "/events/1", "/status", "/incidents/1", "/events/999999", "/?kind=nonsense"]


class InlineCode(HTMLParser):
    """Collects what a strict Content-Security-Policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self._in_script = True
        if tag == "style":
            self.found.append("<style>")
        self.found.extend(f"{tag} {name}" for name in names if name.startswith("on"))
        if "style" in names:
            self.found.append(f"{tag} style=")
        for name, value in attrs:
            if name in ("href", "src") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"{tag} {name}=javascript:")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.found.append("inline <script>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False


@pytest.fixture
def demo(db) -> None:
    load(db, "incident")


@pytest.mark.parametrize("path", PATHS)
def test_every_answer_carries_the_security_headers(client, demo, path) -> None:
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_webhook_answers_carry_them_too(client) -> None:
    response = deliver(client, "ping", {"zen": "hi", "hook_id": 1})
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_hold_no_inline_script_or_style(client, demo, path) -> None:
    parser = InlineCode()
    parser.feed(client.get(path).get_data(as_text=True))
    assert parser.found == []


def test_the_checker_finds_what_it_looks_for() -> None:
    parser = InlineCode()
    parser.feed(
        '<script>alert(1)</script><p onclick="x()" style="color:red">'
        '<a href=" JavaScript:alert(1)">x</a><style>p{}</style><script src="/a.js"></script>'
    )
    assert parser.found == [
        "inline <script>",
        "p onclick",
        "p style=",
        "a href=javascript:",
        "<style>",
    ]
