"""Posting a payload to a chat webhook and reading the answer the same way for every platform.

Errors name the status and the platform's reason, never the webhook URL: it is a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

# Seconds to connect and to wait for an answer, apart: a dead host is noticed in seconds.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
TIMEOUT: float | tuple[float, float] = (CONNECT_TIMEOUT, READ_TIMEOUT)
DEFAULT_RETRY_AFTER = 30.0


class RetryLater(Exception):
    """429: try again after `seconds`."""

    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class Rejected(Exception):
    """A permanent refusal (the channel is gone, the payload is invalid): do not retry."""


class Failed(Exception):
    """A 5xx, a timeout or a lost connection: retry with backoff."""


@dataclass(frozen=True)
class Post:
    """What a platform's webhook wants besides the JSON body."""

    query: Mapping[str, str] = field(default_factory=dict)
    thread_query: Mapping[str, str] = field(default_factory=dict)  # when a thread is named
    headers: Mapping[str, str] = field(default_factory=dict)
    signature: str | None = None  # the header for `sha256=` and the body's HMAC, if signed


def send(
    http: requests.Session,
    post: Post,
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None = None,
) -> None:
    """POST `payload` as `post` says, signed with `secret` where the platform signs; returns
    on a 2xx, else raises one of the errors above."""
    body = encode(payload)
    params = {**post.query, **(post.thread_query if "thread" in payload else {})}
    headers = dict(post.headers)
    if post.signature and secret:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers[post.signature] = f"sha256={digest}"
    post_json(http, url, body, params=params or None, headers=headers)


def post_json(
    http: requests.Session,
    url: str,
    body: bytes,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """POST `body` as JSON; the response when it is a 2xx, else one of the errors above."""
    try:
        response = http.post(
            url,
            data=body,
            params=params,
            timeout=TIMEOUT,
            allow_redirects=False,  # a redirect could lead anywhere, the network inside too
            headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )
    except requests.Timeout:
        raise Failed("timed out") from None
    except requests.RequestException as exc:
        raise Failed(f"connection failed ({type(exc).__name__})") from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    if 300 <= status < 400:
        raise Rejected(f"{status} redirect refused: post to the URL the platform gave")
    reason = _reason(response)
    if status == 429:
        raise RetryLater(_retry_after(response), f"429 {reason}".strip())
    if status >= 500:
        raise Failed(f"{status} {reason}".strip())
    raise Rejected(f"{status} {reason}".strip())


def encode(payload: Any) -> bytes:
    """A payload as it is sent: compact JSON, UTF-8."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def size(payload: Any) -> int:
    """Bytes of a payload (or of any part of one) as it is sent."""
    return len(encode(payload))


def _retry_after(response: requests.Response) -> float:
    header = response.headers.get("Retry-After")
    try:
        if header is not None:
            return max(float(header), 0.0)
        data = response.json()
        return max(float(data.get("retry_after", DEFAULT_RETRY_AFTER)), 0.0)
    except (ValueError, TypeError, AttributeError):
        return DEFAULT_RETRY_AFTER


def _reason(response: requests.Response) -> str:
    """The platform's words for the error (Slack's `channel_is_archived`, Discord's message)."""
    text = response.text[:500]
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            text = str(data.get("message") or data.get("error") or data.get("text") or "")
    except ValueError:
        pass
    return re.sub(r"https?://\S+", "[link]", " ".join(text.split()))[:200]
