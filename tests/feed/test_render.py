"""Untrusted Markdown and diffs come out inert."""

from __future__ import annotations

import pytest

from feed.render import MARKDOWN_LIMIT, render_diff, render_markdown, safe_url

HOSTILE = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[click](javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="javascript:alert(1)">x</a>',
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "[x](  JaVaScRiPt:alert(1))",
    '<a href="&#106;avascript:alert(1)">x</a>',
    "![img](https://tracker.example/p.gif)",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_is_inert(source: str) -> None:
    html = render_markdown(source).lower()
    for needle in (
        "<script",
        "onerror",
        "onload",
        "javascript:",
        "data:text",
        "<iframe",
        "<svg",
        "style=",
        "<img",
    ):
        assert needle not in html


def test_ordinary_markdown_keeps_its_shape() -> None:
    html = render_markdown("Fix **login**\n\n- one\n- two\n\nSee [docs](https://example.com/d)")
    assert "<strong>login</strong>" in html
    assert "<li>one</li>" in html
    assert 'href="https://example.com/d"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_commit_message_line_breaks_survive() -> None:
    assert "<br" in render_markdown("first line\nsecond line")


def test_empty_body_renders_nothing() -> None:
    assert render_markdown("   ") == ""


def test_diff_is_escaped_and_highlighted() -> None:
    html = render_diff("@@ -1 +1 @@\n-<b>old</b>\n+<script>alert(1)</script>\n")
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'class="gi"' in html and 'class="gd"' in html


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/a/b", "https://github.com/a/b"),
        ("http://ci.example/run/1", "http://ci.example/run/1"),
        ("javascript:alert(1)", None),
        ("//evil.example/x", None),
        ("data:text/html,x", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url_allows_only_absolute_http(url, expected) -> None:
    assert safe_url(url) == expected


def test_names_and_diffs_show_direction_controls_instead_of_obeying_them() -> None:
    from feed.render import show_direction_controls

    assert show_direction_controls("evil\u202egnp.exe") == "evil<U+202E>gnp.exe"
    assert show_direction_controls("a\u2066b\u2069") == "a<U+2066>b<U+2069>"
    assert show_direction_controls("שלום main") == "שלום main"  # right-to-left text stays
    html = render_diff("+access = user\u202e } if admin {\u2066")
    assert "\u202e" not in html and "\u2066" not in html
    assert "&lt;U+202E&gt;" in html


def test_a_message_past_the_limit_is_cut_there_and_says_how_much_is_left_out() -> None:
    """A huge message costs the renderer more than its share (its time grows faster than
    the text), so only the first MARKDOWN_LIMIT characters are rendered."""
    kept = "<b>x</b>@everyone " * (MARKDOWN_LIMIT // 18)
    kept += "." * (MARKDOWN_LIMIT - len(kept))  # exactly the limit
    source = kept + "LEFT-OUT " * 10_000
    html = render_markdown(source)
    assert "LEFT-OUT" not in html
    assert html.count("@everyone") == MARKDOWN_LIMIT // 18
    assert f"{len(source) - MARKDOWN_LIMIT:,} more characters not shown." in html
    assert "not shown" not in render_markdown(kept)  # up to the limit, all of it
