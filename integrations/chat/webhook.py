"""A generic JSON webhook: shiplog's own documented schema, signed by the sender.

Schema `shiplog.message/1`: {"schema", "kind": "digest"|"alert", "title", "summary", "url",
"severity", "thread_key", "sections": [{"heading", "lines": [{"text", "url", "detail",
"quote"}], "more", "more_url"}], "rest": null | {"count", "repositories", "url"}}. A
section's `more` events are listed at `more_url`; `rest` counts the events no section
covers. Text is as written (JSON needs no escaping); receivers escape it for wherever they
show it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from feed.digest import Line, Message, Section
from integrations.chat.http import Post, size
from integrations.chat.text import Limits, Pieces, clip, json_size, layout, left

SCHEMA = "shiplog.message/1"
MAX_LINES = 1000
# The whole body, so that a receiver can hand it on as one event: "The maximum size for a
# PutEvents event entry is 256 KB" (Amazon EventBridge, docs.aws.amazon.com/eventbridge/
# latest/APIReference/API_PutEvents.html), read as 256,000 bytes.
MAX_BYTES = 256 * 1000
TEXT_BYTES = 64 * 1024  # the title and the summary, each (as JSON)
PACE = timedelta(0)
HANDLE = None  # a generic webhook notifies nobody
HANDLE_FORM = "nothing: a generic webhook cannot notify anyone"
SIGNATURE_HEADER = "X-Shiplog-Signature-256"
# Signed like GitHub signs its webhooks: `sha256=` and the HMAC of the exact body.
POST = Post(headers={"X-Shiplog-Schema": SCHEMA}, signature=SIGNATURE_HEADER)


def render(message: Message) -> dict[str, Any]:
    """The message as data, within MAX_BYTES: the sections that fit, each with the lines
    that fit, and counts with links for the rest."""
    payload: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": message.kind,
        "title": clip(message.title, TEXT_BYTES, measure=json_size),
        "summary": clip(message.summary, TEXT_BYTES, measure=json_size),
        "url": message.url,
        "severity": message.severity,
        "thread_key": message.thread_key,
        "sections": [],
        "rest": None,
    }
    room = left(MAX_BYTES, payload)
    laid = layout(message, _PIECES, Limits(total=room, lines=MAX_LINES))
    for part in laid.parts:
        more = part.more or {"more": 0, "more_url": None}
        payload["sections"].append({"heading": part.heading, "lines": part.lines, **more})
    payload["rest"] = laid.older
    return payload


def _line(line: Line) -> dict[str, Any]:
    return {"text": line.text, "url": line.url, "detail": line.detail, "quote": line.quote}


def _heading(section: Section) -> str:
    return section.heading


_PIECES: Pieces[Any] = Pieces(
    heading=_heading,
    line=_line,
    more=lambda count, url: {"more": count, "more_url": url},
    older=lambda count, repos, url: {"count": count, "repositories": repos, "url": url},
    measure=lambda piece: size(piece) + 1,  # and a comma
    container=size({"heading": "", "lines": [], "more": 0, "more_url": None}) + 1,
)
