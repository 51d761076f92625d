"""Slack incoming webhooks: Block Kit with a text fallback, user text escaped for mrkdwn."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

import requests

from feed.digest import Line, Message
from feed.render import safe_url
from integrations.chat.http import post_json
from integrations.chat.text import clip, fit, more, render_line, units

MAX_BLOCKS = 50
HEADER_TEXT = 150
SECTION_TEXT = 3000
FALLBACK_TEXT = 3000
PACE = timedelta(seconds=1)  # Slack allows about one message a second per webhook


def render(message: Message) -> dict[str, Any]:
    """A Block Kit payload within Slack's limits."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _plain(message.title)}},
        _section(clip(message.summary, SECTION_TEXT, escape)),
    ]
    sections = list(message.sections)
    while sections and len(blocks) < MAX_BLOCKS - 1:
        section = sections.pop(0)
        pieces = [f"*{clip(section.heading, 300, escape)}*"]
        pieces += ["\n" + _line(line) for line in section.lines]
        if section.more:
            pieces.append("\n" + _more(section.more, message.url))
        blocks.append(_section(fit(pieces, SECTION_TEXT)))
    if sections:
        left = sum(len(s.lines) + s.more for s in sections)
        blocks.append(_section(_more(left, message.url)))
    fallback = clip(f"{message.title}: {message.summary}", FALLBACK_TEXT, escape)
    return {"text": fallback, "blocks": blocks}


def send(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    thread_key: str | None,
) -> None:
    """Post to an incoming webhook; Slack answers errors in words (`channel_is_archived`)."""
    post_json(http, url, payload)


def escape(text: str) -> str:
    """mrkdwn's three control characters; what remains cannot link, mention or format.

    mrkdwn that is not `verbatim` may have `@channel`, `@here` or `@everyone` parsed as the
    mention it spells: a zero-width space after each `@` stops that (text is escaped a
    character at a time, so a word cannot be matched here)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("@", "@\u200b")


def link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    text = clip(label, 200, escape).replace("|", "\u2223")
    if not safe:
        return text
    return f"<{quote(safe, safe=':/?#[]@!$&()*+,;=%-._~')}|{text}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def _plain(text: str) -> str:
    return fit(units(text), HEADER_TEXT)


def _line(line: Line) -> str:
    return render_line(line, link=link, escape=escape)


def _more(count: int, url: str | None) -> str:
    return more(count, url, link)
