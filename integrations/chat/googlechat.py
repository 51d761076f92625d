"""Google Chat webhooks: a cardsV2 card with a plain fallback; one thread per incident."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from typing import Any

from feed.digest import Line, Message, Section
from feed.render import safe_url
from integrations.chat.http import Post, size
from integrations.chat.text import (
    Limits,
    Pieces,
    clip,
    json_size,
    layout,
    left,
    mentions,
    more,
    older,
    render_line,
    window,
)

MAX_TEXT = 4096  # the `text` field
# "The maximum message size (including any text or cards) is 32,000 bytes"
# (developers.google.com/workspace/chat/create-messages); measured as the JSON sent.
MAX_BYTES = 32_000
# "You can add up to 100 widgets per card. Any widgets beyond this limit are ignored."
# (developers.google.com/workspace/chat/api/reference/rest/v1/cards)
MAX_WIDGETS = 100
PACE = timedelta(seconds=1)  # a Chat space takes about one message a second
# Messages with the same `thread.threadKey` reply in one thread (or start it): the query's
# `threadKey` is deprecated (developers.google.com/workspace/chat/api/reference/rest/v1/
# spaces.messages/create).
REPLY_OPTION = "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
# One thread per incident: a message naming a thread replies in it, or starts it.
POST = Post(thread_query={"messageReplyOption": REPLY_OPTION})
# A user's resource name in the Chat API; `<users/123>` in a webhook message's `text`
# mentions them (developers.google.com/workspace/chat/format-messages). Never users/all.
HANDLE = re.compile(r"users/[0-9]{1,30}")
HANDLE_FORM = "a Google Chat user name such as users/123456789012345678901"


def render(message: Message) -> dict[str, Any]:
    """The payload: a card section per section of the message, then one for what they leave
    out and one linking the digest's window; an incident's messages name its thread."""
    sections: list[dict[str, Any]] = []
    pings = mentions(message, "googlechat", lambda handle: f"<{handle}>", plain)
    payload: dict[str, Any] = {
        "text": clip(f"{message.title}: {message.summary}", MAX_TEXT - len(pings), plain) + pings,
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
    if message.thread_key:
        payload["thread"] = {"threadKey": message.thread_key}
    link = window(message, _link, before="")
    ending = [_paragraph(None, link)] if link else []
    room = left(MAX_BYTES, payload, ending)
    laid = layout(message, _PIECES, Limits(total=room, sections=MAX_WIDGETS - len(ending)))
    for part in laid.parts:
        sections.append(_paragraph(part.heading, "".join(part.lines) + (part.more or "")))
    if laid.older:
        sections.append(_paragraph(None, laid.older))
    sections += ending
    return payload


def plain(text: str) -> str:
    """For the `text` field: no `<users/all>` or `<url|label>` can be formed."""
    return text.replace("<", "\u2039").replace(">", "\u203a")


def _link(url: str | None, label: str) -> str:
    safe = safe_url(url)
    text = clip(label, 200, html.escape)
    return f'<a href="{html.escape(safe)}">{text}</a>' if safe else text


def _paragraph(header: str | None, text: str) -> dict[str, Any]:
    section: dict[str, Any] = {"widgets": [{"textParagraph": {"text": text}}]}
    return {"header": header, **section} if header is not None else section


def _line(line: Line) -> str:
    quoted = {"quote_start": "<br>&nbsp;&nbsp;<i>", "quote_end": "</i>"}
    return render_line(line, link=_link, escape=html.escape, **quoted) + "<br>"


def _heading(section: Section) -> str:
    return clip(section.heading, 200)


_PIECES = Pieces(
    heading=_heading,
    line=_line,
    more=lambda count, url: more(count, url, _link),
    older=lambda count, repos, url: older(count, repos, url, _link),
    measure=json_size,
    # A card section with one paragraph, both empty, and the comma before it.
    container=size(_paragraph("", "")) + 1,
)
