"""Hostile text shared by the tests: markup, links, mentions and characters that must stay inert
in every medium shiplog writes (HTML pages, feed XML, JSON, chat payloads)."""

from __future__ import annotations

from typing import Any

# Short pieces, each trying one trick. The renderer fuzz tests combine them freely.
HOSTILE = [
    # HTML and script
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '"><svg onload=alert(1)>',
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    "<form action=javascript:alert(1)><button>go</button></form>",
    '<math><mtext><table><mglyph><style><img src=x onerror="alert(1)">',
    "</title></textarea></code><script>alert(1)</script>",
    "<!--<script>alert(1)</script>-->",
    "]]><script>alert(1)</script><![CDATA[",
    "{{ 7 * 7 }} {% raw %}",
    "&amp; &lt; &#x3c;script&#x3e;",
    # Markdown links
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](data:text/html,<script>alert(1)</script>)",
    "![x](javascript:alert(1))",
    "[click][evil]\n\n[evil]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<https://evil.example>",
    "*bold* _it_ ~strike~ `code`",
    "# Heading",
    "> quote",
    "||spoiler||",
    # chat mentions and links
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123ABC>",
    "<https://evil.example|Safe link>",
    "<http://evil.example|ok>",
    "@everyone",
    "@here",
    "@channel",
    "@all",
    "<users/all>",
    # characters
    "\u202etxt.exe",
    "evil\u202egnp.exe",
    "\u2066\u2067\u2068isolates\u2069 \u202aembed\u202c \u202doverride\u202c",
    "nul\x00here",
    "bell\x07 escape\x1b[31m del\x7f vt\x0b ff\x0c c1\x85\x9b",
    "👩\u200d👩\u200d👧\u200d👦",
    "é",
    "🇺🇦",
    "\u200d",
    "a\u0301",
    "\ufeff\ufffe\uffff",
]

# Long enough to hit every cut: one line of 100,000 characters.
LONG_LINE = "<b>x</b>@everyone " * 5_500

# Unicode characters that change the direction of the text around them (Trojan Source).
BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def strings(value: Any) -> list[str]:
    """Every string in a JSON value (a chat payload), keys left out."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []
