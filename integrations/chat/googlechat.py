"""Google Chat webhooks: a cardsV2 card with a plain fallback; one thread per incident."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

import requests

from feed.digest import Line, Message
from feed.render import safe_url
from integrations.chat.http import post_json
from integrations.chat.text import clip, fit, more, render_line

MAX_TEXT = 4096
MAX_BYTES = 30000  # Google Chat refuses messages over 32,000 bytes
PACE = timedelta(seconds=1)  # a Chat space takes about one message a second


def render(message: Message) -> dict[str, Any]:
    """The payload; the thread key goes in the URL (`thread_key(message)`)."""
    sections: list[dict[str, Any]] = []
    payload: dict[str, Any] = {
        "text": clip(f"{message.title}: {message.summary}", MAX_TEXT, plain),
        "cardsV2": [
            {
                "cardId": "shiplog",
                "card": {
                    "header": {
                        "title": clip(message.title, 200),
                        "subtitle": clip(message.summary, 300),
                    },
                    "sections": sections,
                },
            }
        ],
    }
    remaining = list(message.sections)
    while remaining:
        section = remaining[0]
        pieces = [_line(line) + "<br>" for line in section.lines]
        if section.more:
            pieces.append(_more(section.more, message.url))
        widget = {
            "header": clip(section.heading, 200),
            "widgets": [{"textParagraph": {"text": fit(pieces, 4000)}}],
        }
        sections.append(widget)
        if size(payload) > MAX_BYTES - 500:
            sections.pop()
            break
        remaining.pop(0)
    if remaining:
        left = sum(len(s.lines) + s.more for s in remaining)
        sections.append({"widgets": [{"textParagraph": {"text": _more(left, message.url)}}]})
    return payload


def send(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    thread_key: str | None,
) -> None:
    """One thread per incident: messages with the same key reply in it."""
    params = None
    if thread_key:
        params = {
            "threadKey": thread_key,
            "messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD",
        }
    post_json(http, url, payload, params=params)


def thread_key(message: Message) -> str | None:
    return message.thread_key


def plain(text: str) -> str:
    """For the `text` field: no `<users/all>` or `<url|label>` can be formed."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


def size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    text = clip(label, 200, html.escape)
    return f'<a href="{html.escape(safe)}">{text}</a>' if safe else text


def _line(line: Line) -> str:
    return render_line(
        line, link=_link, escape=html.escape, quote_start="<br>&nbsp;&nbsp;<i>", quote_end="</i>"
    )


def _more(count: int, url: str | None) -> str:
    return more(count, url, _link)
