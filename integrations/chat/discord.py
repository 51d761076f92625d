"""Discord webhooks: content and embeds within Discord's limits; nobody can be mentioned."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import requests

from feed.digest import Line, Message
from feed.render import safe_url
from integrations.chat.http import post_json
from integrations.chat.text import clip, fit, more, render_line

CONTENT = 2000
MAX_EMBEDS = 10
TITLE = 256
DESCRIPTION = 4096
FOOTER = 2048
ALL_EMBEDS = 6000
COLOURS = {"sev1": 0xCF222E, "sev2": 0xCF222E, "failure": 0xCF222E, None: 0x0969DA}
MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<:])")
PACE = timedelta(seconds=0.5)


def render(message: Message) -> dict[str, Any]:
    """A webhook payload; `allowed_mentions` with no parse types stops every ping."""
    embeds: list[dict[str, Any]] = []
    budget = ALL_EMBEDS
    sections = list(message.sections)
    while sections and len(embeds) < MAX_EMBEDS:
        section = sections[0]
        title = clip(section.heading, TITLE, escape)
        pieces = [_line(line) + "\n" for line in section.lines]
        if section.more:
            pieces.append(_more(section.more, message.url))
        room = min(DESCRIPTION, budget - len(title))
        if room < 100:
            break
        description = fit(pieces, room)
        embeds.append(
            {
                "title": title,
                "description": description,
                "color": COLOURS.get(message.severity, COLOURS[None]),
            }
        )
        budget -= len(title) + len(description)
        sections.pop(0)
    pieces = [clip(f"{message.title}\n{message.summary}", CONTENT // 2, escape)]
    if sections:
        left = sum(len(s.lines) + s.more for s in sections)
        pieces.append("\n" + _more(left, message.url))
    content = fit(pieces, CONTENT)
    return {"content": content, "embeds": embeds, "allowed_mentions": {"parse": []}}


def send(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    thread_key: str | None,
) -> None:
    """`wait=true`: Discord answers with the message it created, so delivery is confirmed."""
    post_json(http, url, payload, params={"wait": "true"})


def escape(text: str) -> str:
    """Markdown and mention syntax made literal."""
    text = MARKDOWN.sub(r"\\\1", text)
    return text.replace("@", "@\u200b")


def _link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    text = clip(label, 200, escape)
    if not safe:
        return text
    return f"[{text}]({quote(safe, safe=':/?#@!$&*+,;=%-._~')})"


def _line(line: Line) -> str:
    return render_line(line, link=_link, escape=escape)


def _more(count: int, url: str | None) -> str:
    return more(count, url, _link)
