"""Microsoft Teams through a Workflows webhook: an Adaptive Card, kept under 28 KB."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import requests

from feed.digest import Line, Message
from feed.render import safe_url
from integrations.chat.http import post_json
from integrations.chat.text import clip, more, render_line

MAX_BYTES = 28 * 1000  # the whole request body
CARD_VERSION = "1.4"
MARKDOWN = re.compile(r"([\\*_~`>#\-\[\]()<])")
PACE = timedelta(seconds=1)


def render(message: Message) -> dict[str, Any]:
    """A message with one Adaptive Card; sections that would pass 28 KB become a link."""
    body: list[dict[str, Any]] = [
        _text(clip(message.title, 300, escape), size="Large", weight="Bolder"),
        _text(clip(message.summary, 1000, escape), isSubtle=True),
    ]
    payload = _payload(body, message.url)
    sections = list(message.sections)
    while sections:
        section = sections[0]
        lines = [_line(line) for line in section.lines]
        if section.more:
            lines.append(_more(section.more, message.url))
        candidate = [
            _text(clip(section.heading, 300, escape), weight="Bolder", separator=True),
            _text("\n\n".join(lines)),
        ]
        if _size(_payload(body + candidate, message.url)) > MAX_BYTES - 400:
            break
        body += candidate
        sections.pop(0)
    if sections:
        left = sum(len(s.lines) + s.more for s in sections)
        body.append(_text(_more(left, message.url)))
    payload = _payload(body, message.url)
    return payload


def send(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    thread_key: str | None,
) -> None:
    post_json(http, url, payload)


def escape(text: str) -> str:
    return MARKDOWN.sub(r"\\\1", text)


def size(payload: dict[str, Any]) -> int:
    return _size(payload)


def _payload(body: list[dict[str, Any]], url: str | None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if safe_url(url):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in shiplog", "url": url}]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text or " ", "wrap": True, **style}


def _link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    text = clip(label, 200, escape)
    return f"[{text}]({quote(safe, safe=':/?#@!$&*+,;=%-._~')})" if safe else text


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _line(line: Line) -> str:
    return render_line(line, link=_link, escape=escape, bullet="- ", quote_start="\n\n    ")


def _more(count: int, url: str | None) -> str:
    return more(count, url, _link)
