"""Slack incoming webhooks: Block Kit with a text fallback, user text escaped for mrkdwn."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from feed.digest import Line, Message, Section
from feed.render import safe_url
from integrations.chat.http import Post
from integrations.chat.text import (
    Limits,
    Pieces,
    clip,
    fit,
    layout,
    left,
    mentions,
    more,
    older,
    render_line,
    units,
    window,
)

MAX_BLOCKS = 50
HEADER_TEXT = 150
SECTION_TEXT = 3000
FALLBACK_TEXT = 3000
# All block text together. Slack refuses more with `msg_blocks_too_long` long before
# 50 x 3,000: at about 13,200 characters in slackapi/bolt-js#2509 (Slack's answer: "12,000
# text characters with a buffer for block containers"), at 11,341 in slackapi/bolt-js#2867.
BLOCKS_TEXT = 10_000
PACE = timedelta(seconds=1)  # Slack allows about one message a second per webhook
POST = Post()  # Slack answers errors in words (`channel_is_archived`)
# A member's id (profile, "Copy member ID"); `<@U024BE7LH>` notifies them, verbatim or not.
HANDLE = re.compile(r"[UW][A-Z0-9]{8,11}")
HANDLE_FORM = "a Slack member id such as U024BE7LH"


def render(message: Message) -> dict[str, Any]:
    """A Block Kit payload within Slack's limits: a block per section, then one for what
    the sections leave out."""
    title = _plain(message.title)
    pings = mentions(message, "slack", lambda handle: f"<@{handle}>", escape)
    summary = fit([clip(message.summary, 1000, escape), pings, window(message, link)], SECTION_TEXT)
    limits = Limits(
        total=left(BLOCKS_TEXT, title, summary, measure=len),
        section=SECTION_TEXT,
        sections=MAX_BLOCKS - 2,
    )
    laid = layout(message, _PIECES, limits)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        _section(summary),
        *(_section(part.heading + "".join(part.lines) + (part.more or "")) for part in laid.parts),
        *([_section(laid.older)] if laid.older else []),
    ]
    fallback = clip(f"{message.title}: {message.summary}", FALLBACK_TEXT - len(pings), escape)
    fallback += pings
    return {"text": fallback, "blocks": blocks}


def escape(text: str) -> str:
    """mrkdwn's three control characters; what remains cannot link, mention or format.

    Every mrkdwn object shiplog sends is `verbatim`, so Slack makes no link of a bare URL
    and no mention of `@channel`; the fallback `text` is not an object and cannot say so:
    a zero-width space after each `@` stops a mention there too (text is escaped a
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
    # `verbatim`: Slack would otherwise turn a URL in a commit message into a link to
    # anywhere, and names into mentions; shiplog's own links are written out as <url|label>.
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " ", "verbatim": True}}


def _plain(text: str) -> str:
    # Slack refuses a header without text.
    return fit(units(text), HEADER_TEXT) or "shiplog"


def _heading(section: Section) -> str:
    return f"*{clip(section.heading, 300, escape)}*"


def _line(line: Line) -> str:
    return "\n" + render_line(line, link=link, escape=escape)


_PIECES = Pieces(
    heading=_heading,
    line=_line,
    more=lambda count, url: "\n" + more(count, url, link),
    older=lambda count, repos, url: older(count, repos, url, link),
    measure=len,
)
