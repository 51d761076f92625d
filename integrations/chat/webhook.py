"""A generic JSON webhook: shiplog's own documented schema, signed by the sender.

Schema `shiplog.message/1`: {"schema", "kind": "digest"|"alert", "title", "summary", "url",
"severity", "thread_key", "sections": [{"heading", "more", "lines": [{"text", "url",
"detail", "quote"}]}]}. Text is as written (JSON needs no escaping); receivers escape it for
wherever they show it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta
from typing import Any

import requests

from feed.digest import Message
from integrations.chat.http import encode, post_json

SCHEMA = "shiplog.message/1"
MAX_LINES = 1000
PACE = timedelta(0)
SIGNATURE_HEADER = "X-Shiplog-Signature-256"


def render(message: Message) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "kind": message.kind,
        "title": message.title,
        "summary": message.summary,
        "url": message.url,
        "severity": message.severity,
        "thread_key": message.thread_key,
        "sections": [
            {
                "heading": section.heading,
                "more": section.more + max(len(section.lines) - MAX_LINES, 0),
                "lines": [
                    {"text": line.text, "url": line.url, "detail": line.detail, "quote": line.quote}
                    for line in section.lines[:MAX_LINES]
                ],
            }
            for section in message.sections
        ],
    }


def send(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None,
    thread_key: str | None,
) -> None:
    """Signed like GitHub signs its webhooks: `sha256=` and the HMAC of the exact body."""
    body = encode(payload)
    headers = {"X-Shiplog-Schema": SCHEMA}
    if secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    post_json(http, url, payload, headers=headers, body=body)
