"""Mattermost incoming webhooks: Slack-style attachments, no @-mentions, 16,383 characters."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import requests

from feed.digest import Line, Message
from feed.render import safe_url
from integrations.chat.http import post_json
from integrations.chat.text import clip, fit

MAX_TEXT = 16383  # message text and attachment text together
COLOURS = {"sev1": "#cf222e", "sev2": "#cf222e", "failure": "#cf222e", None: "#0969da"}
MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<:!])")


def render(message: Message) -> dict[str, Any]:
    text = clip(f"{message.title}\n{message.summary}", 1000, escape)
    pieces = []
    for section in message.sections:
        pieces.append(f"\n#### {clip(section.heading, 300, escape)}\n")
        pieces += [_line(line) + "\n" for line in section.lines]
        if section.more:
            pieces.append(_more(section.more, message.url) + "\n")
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


def escape(text: str) -> str:
    """Markdown made literal; `@` cannot start a mention (`@channel`, `@all`, `@here`)."""
    return MARKDOWN.sub(r"\\\1", text).replace("@", "@\u200b")


def _link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    text = clip(label, 200, escape)
    return f"[{text}]({quote(safe, safe=':/?#@!$&*+,;=%-._~')})" if safe else text


def _line(line: Line) -> str:
    text = f"- {_link(line.url, line.text)}"
    if line.detail:
        text += f" — {clip(line.detail, 200, escape)}"
    if line.quote:
        text += "".join(f"\n  > {clip(q, 300, escape)}" for q in line.quote.splitlines()[:10])
    return text


def _more(count: int, url: str | None) -> str:
    return f"…and {count} more: {_link(url, 'see them all in shiplog')}"


PACE = timedelta(seconds=0.2)


def send(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    thread_key: str | None,
) -> None:
    post_json(http, url, payload)
