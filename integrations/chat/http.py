"""Posting a payload to a chat webhook and reading the answer the same way for every platform.

Errors name the status and the platform's reason, never the webhook URL: it is a secret.
"""

from __future__ import annotations

import json
import re
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


def post_json(
    http: requests.Session,
    url: str,
    payload: dict[str, Any],
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> requests.Response:
    """POST `payload` as JSON; the response when it is a 2xx, else one of the errors above."""
    data = body if body is not None else encode(payload)
    try:
        response = http.post(
            url,
            data=data,
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


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


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
