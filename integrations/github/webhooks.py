"""GitHub webhooks: verify the signature, parse the body, route it, store it once.

The view does only that; what each delivery means lives in `events.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from flask import Blueprint, Response, jsonify, request

from feed.db import Database
from feed.ingest import Intake
from feed.state import shiplog_state
from feed.store import claim_delivery, scrub, upsert_repo
from integrations.github.events import route
from integrations.github.followups import batch
from integrations.github.routing import Context

MAX_BODY_BYTES = 25 * 1024 * 1024
# GitHub's event names: lower-case words joined by `_`, some with digits (`projects_v2_item`).
EVENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
DELIVERY_ID = re.compile(r"[A-Za-z0-9._-]{1,100}")
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
NO_SECRET = (
    "github webhooks: no secret is configured, so no delivery can be verified. Set "
    "SHIPLOG_GITHUB_WEBHOOK_SECRET to the secret entered in the webhook's settings on GitHub."
)

log = logging.getLogger(__name__)
blueprint = Blueprint("github_webhooks", __name__)


class BadDelivery(ValueError):
    """A delivery refused before anything is written; `status` is the HTTP answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Outcome:
    """How a delivery was taken: the HTTP status and what to tell GitHub."""

    status: int
    result: str
    detail: str = ""
    events_created: int = 0
    events_updated: int = 0
    events_removed: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "detail": self.detail,
            "events_created": self.events_created,
            "events_updated": self.events_updated,
            "events_removed": self.events_removed,
        }


def signature_matches(secret: str, body: bytes, header: str | None) -> bool:
    """True if `header` is exactly `sha256=<hex HMAC-SHA256 of body under secret>`, as GitHub
    sends it (compared as bytes: any header text, however odd, is an answer, never an error)."""
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.encode("utf-8", "surrogateescape"))


def parse_body(mimetype: str, body: bytes) -> dict[str, Any]:
    """The delivery's JSON object, from either content type GitHub sends."""
    if mimetype == "application/json":
        raw: bytes | str = body
    elif mimetype == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(
                body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict"
            )
        except (UnicodeDecodeError, ValueError):
            raise BadDelivery(400, "github webhooks: the form body cannot be parsed") from None
        if len(fields.get("payload", [])) != 1:
            raise BadDelivery(400, "github webhooks: the form body needs one `payload` field")
        raw = fields["payload"][0]
    else:
        raise BadDelivery(
            415,
            "github webhooks: send application/json or application/x-www-form-urlencoded, "
            f"not {mimetype or 'no content type'}",
        )
    try:
        # Decoded strictly here: json.loads would let UTF-8-encoded surrogates through.
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise BadDelivery(400, "github webhooks: the payload is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadDelivery(400, "github webhooks: the payload must be a JSON object")
    if SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(payload):
        raise BadDelivery(
            400, "github webhooks: the payload holds an unpaired surrogate (\\ud800-\\udfff)"
        )
    return payload


def take_delivery(
    db: Database,
    intake: Intake,
    context: Context,
    *,
    delivery_id: str,
    event: str,
    payload: dict[str, Any],
    demo: bool = False,
) -> Outcome:
    """Take one delivery: route it, then store the delivery and its events (through
    `intake`, with what follows them) in one transaction.

    A delivery id seen before writes nothing. Routing happens first, so a payload that
    cannot be understood is refused before any row is written.
    """
    try:
        routed = route(event, payload, context)
    except ValueError as exc:  # PayloadError, or a record the store would refuse
        raise BadDelivery(400, f"github webhooks: {exc}") from None
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    action = scrub(action[:64]) if action else None
    repo = routed.repo["full_name"] if routed.repo else None

    with db.write() as session:
        delivery = claim_delivery(session, delivery_id, event, action, repo)
        if delivery is None:
            return Outcome(200, "duplicate", f"delivery {delivery_id} was received before")
        if routed.ignored:
            reason = scrub(routed.ignored)[:300]
            delivery.outcome, delivery.detail = "ignored", reason
            return Outcome(202, "ignored", reason)
        if routed.repo:
            upsert_repo(
                session,
                routed.repo["full_name"],
                html_url=routed.repo.get("html_url"),
                default_branch=routed.repo.get("default_branch"),
                is_demo=demo,
            )
        stored = intake.ingest(session, batch(routed, demo=demo))
        result = Outcome(
            200,
            "processed",
            events_created=stored.created,
            events_updated=stored.updated,
            events_removed=stored.removed,
        )
        delivery.outcome, delivery.events_created = "processed", result.events_created
    return result


@blueprint.after_request
def count_answer(response: Response) -> Response:
    """Count every answer, refusals included, by status."""
    shiplog_state().metrics.webhook_responses.labels(str(response.status_code)).inc()
    return response


@blueprint.post("/webhooks/github")
def receive() -> tuple[Response, int]:
    """Verify, parse, route and store one GitHub delivery."""
    shiplog = shiplog_state()
    secret = shiplog.settings.github_webhook_secret
    if not secret:
        return _answer(403, "refused", NO_SECRET)

    request.max_content_length = MAX_BODY_BYTES
    body = request.get_data(cache=False)
    if not signature_matches(secret, body, request.headers.get("X-Hub-Signature-256")):
        log.warning("github webhooks: refused a delivery with a missing or wrong signature")
        return _answer(401, "refused", "github webhooks: X-Hub-Signature-256 does not match")

    event = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    try:
        if not EVENT_NAME.fullmatch(event):
            raise BadDelivery(400, "github webhooks: missing or malformed X-GitHub-Event header")
        if not DELIVERY_ID.fullmatch(delivery_id):
            raise BadDelivery(400, "github webhooks: missing or malformed X-GitHub-Delivery header")
        payload = parse_body(request.mimetype, body)
        outcome = take_delivery(
            shiplog.db,
            shiplog.intake,
            Context(incident_label=shiplog.settings.incident_label),
            delivery_id=delivery_id,
            event=event,
            payload=payload,
        )
    except BadDelivery as exc:
        return _answer(exc.status, "refused", str(exc))
    log.info(
        "github webhooks: delivery %s (%s) %s, %d created",
        delivery_id,
        event,
        outcome.result,
        outcome.events_created,
    )
    return jsonify(outcome.as_json()), outcome.status


# The endpoint of signed deliveries: open in private mode, and no CSRF token asked.
ENDPOINT = f"{blueprint.name}.{receive.__name__}"


def _has_lone_surrogate(payload: dict[str, Any]) -> bool:
    """Whether a key or text in the parsed JSON holds half a surrogate pair: that is not text,
    and no database stores it."""
    stack: list[Any] = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, str) and LONE_SURROGATE.search(value):
            return True
        if isinstance(value, dict):
            stack += [*value, *value.values()]
        elif isinstance(value, list):
            stack += value
    return False


def _answer(status: int, result: str, detail: str) -> tuple[Response, int]:
    return jsonify(Outcome(status, result, detail).as_json()), status
