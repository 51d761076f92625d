"""Microsoft Teams through a Workflows webhook: an Adaptive Card, kept under 28 KB."""

from __future__ import annotations

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
    handles,
    json_size,
    layout,
    left,
    markdown_link,
    mentions,
    more,
    older,
    render_line,
)

# The whole request body: "The message size limit is 28 KB" (learn.microsoft.com,
# microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using), read as 28,000.
MAX_BYTES = 28 * 1000
CARD_VERSION = "1.4"
MARKDOWN = re.compile(r"([\\*_~`>#\-\[\]()<])")
PACE = timedelta(seconds=1)
POST = Post()
SEPARATOR = "\n\n"
# An incoming webhook's Adaptive Card may mention a user by their Microsoft Entra object id
# or user principal name: `<at>name</at>` in the text and a `msteams.entities` mention
# (learn.microsoft.com/microsoftteams/platform/task-modules-and-cards/cards/cards-format,
# "User mention in Incoming Webhook with Adaptive Cards").
HANDLE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
)
HANDLE_FORM = "a Microsoft Entra object id or user principal name (name@example.com)"


def render(message: Message) -> dict[str, Any]:
    """A message with one Adaptive Card: two text blocks per section (its heading, then its
    lines), then one for what the sections leave out; the whole body under MAX_BYTES."""
    body: list[dict[str, Any]] = [
        _text(clip(message.title, 300, escape), size="Large", weight="Bolder"),
        _text(clip(message.summary, 1000, escape), isSubtle=True),
    ]
    entities = _entities(message)
    pings = mentions(message, "teams", lambda handle: entities[handle]["text"], escape, "")
    if pings:
        body.append(_text(pings))
    room = left(MAX_BYTES - 1, _payload(body, message.url, entities))  # under 28 KB
    laid = layout(message, _PIECES, Limits(total=room))
    for part in laid.parts:
        lines = "".join(part.lines) + (part.more or "")
        body += [_heading(part.heading), _text(lines.removeprefix(SEPARATOR))]
    if laid.older:
        body.append(_text(laid.older))
    return _payload(body, message.url, entities)


def escape(text: str) -> str:
    return MARKDOWN.sub(r"\\\1", text)


def _entities(message: Message) -> dict[str, dict[str, Any]]:
    """A mention entity per handle the message may ping, named by the person's login (a
    GitHub login: letters, digits and '-', nothing Markdown or `<at>` could read)."""
    logins = {m.handles.get("teams"): m.login for m in message.mentions}
    return {
        handle: {
            "type": "mention",
            "text": f"<at>{logins[handle]}</at>",
            "mentioned": {"id": handle, "name": logins[handle]},
        }
        for handle in handles(message, "teams")
    }


def _payload(
    body: list[dict[str, Any]], url: str | None, entities: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if entities:
        card["msteams"] = {"entities": list(entities.values())}
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
    return markdown_link(url, label, escape)


def _heading(text: str) -> dict[str, Any]:
    return _text(text, weight="Bolder", separator=True)


def _line(line: Line) -> str:
    bullet = render_line(line, link=_link, escape=escape, bullet="- ", quote_start="\n\n    ")
    return SEPARATOR + bullet


def _title(section: Section) -> str:
    return clip(section.heading, 300, escape)


_PIECES = Pieces(
    heading=_title,
    line=_line,
    more=lambda count, url: SEPARATOR + more(count, url, _link),
    older=lambda count, repos, url: older(count, repos, url, _link),
    measure=json_size,
    # A section's two text blocks, empty, and the commas between blocks.
    container=size([_heading(" "), _text(" ")]),
)
