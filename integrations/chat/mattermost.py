"""Mattermost incoming webhooks: Slack-style attachments, no @-mentions, 16,383 characters."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import requests

from feed.digest import Line, Message, Section
from feed.render import safe_url
from integrations.chat.http import post_json
from integrations.chat.text import clip, fit, more, render_line

MAX_TEXT = 16383  # message text and attachment text together
COLOURS = {"sev1": "#cf222e", "sev2": "#cf222e", "failure": "#cf222e", None: "#0969da"}
MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<:!])")
PACE = timedelta(seconds=0.2)


def render(message: Message) -> dict[str, Any]:
    text = clip(f"{message.title}\n{message.summary}", 1000, escape)
    budget = MAX_TEXT - len(text) - 400  # room for the closing "...and N more" link
    pieces: list[str] = []
    used = 0
    left = 0
    for section in message.sections:
        if used > budget:  # full: count what is left without rendering it
            left += len(section.lines) + section.more
            continue
        for piece in _section(section, message.url):
            if used + len(piece) > budget:
                left += 1
                used = budget + 1
                continue
            pieces.append(piece)
            used += len(piece)
    if left:
        pieces.append(_more(left, message.url))
    body = fit(pieces, MAX_TEXT - len(text) - 10)
    attachment: dict[str, Any] = {
        "fallback": clip(message.title, 300, escape),
        "color": COLOURS.get(message.severity, COLOURS[None]),
        "text": body,
    }
    if safe_url(message.url):
        attachment["title"] = "Open in shiplog"
        attachment["title_link"] = message.url
    return {"text": text, "attachments": [attachment]}


def send(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    thread_key: str | None,
) -> None:
    post_json(http, url, payload)


def _section(section: Section, url: str | None) -> Iterator[str]:
    yield f"\n#### {clip(section.heading, 300, escape)}\n"
    for line in section.lines:
        yield _line(line) + "\n"
    if section.more:
        yield _more(section.more, url) + "\n"


def escape(text: str) -> str:
    """Markdown made literal; `@` cannot start a mention (`@channel`, `@all`, `@here`)."""
    return MARKDOWN.sub(r"\\\1", text).replace("@", "@\u200b")


def _link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    text = clip(label, 200, escape)
    return f"[{text}]({quote(safe, safe=':/?#@!$&*+,;=%-._~')})" if safe else text


def _line(line: Line) -> str:
    return render_line(line, link=_link, escape=escape, bullet="- ", quote_start="\n  > ")


def _more(count: int, url: str | None) -> str:
    return more(count, url, _link)
