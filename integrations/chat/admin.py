"""The admin API for channels, subscriptions and the delivery log, behind SHIPLOG_ADMIN_TOKEN."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, jsonify, request
from sqlalchemy import delete, select

from feed.models import Channel, Job, Subscription
from feed.timefmt import iso_utc
from integrations.chat.setup import ChatConfigError, save_channel, save_subscription

blueprint = Blueprint("chat_admin", __name__, url_prefix="/api")
ADMIN_OFF = "admin API is off: set SHIPLOG_ADMIN_TOKEN to turn it on"


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require `Authorization: Bearer <SHIPLOG_ADMIN_TOKEN>`, compared in constant time."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        token = current_app.extensions["shiplog"].settings.admin_token
        if not token:
            abort(403, description=ADMIN_OFF)
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = jsonify(error="admin API: a valid bearer token is required")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="shiplog admin"'
            return response
        return view(*args, **kwargs)

    return guarded


@blueprint.get("/channels")
@admin_only
def channels() -> Response:
    with _db().read() as session:
        rows = session.scalars(select(Channel).order_by(Channel.name)).all()
    return jsonify(channels=[channel_json(row) for row in rows])


@blueprint.post("/channels")
@admin_only
def add_channel() -> tuple[Response, int]:
    entry = _json_body()
    try:
        with _db().write() as session:
            row = save_channel(session, entry, source="api")
            shown = channel_json(row)
    except ChatConfigError as exc:
        abort(400, description=str(exc))
    return jsonify(shown), 201


@blueprint.delete("/channels/<name>")
@admin_only
def remove_channel(name: str) -> tuple[str, int]:
    with _db().write() as session:
        removed = session.execute(delete(Channel).where(Channel.name == name)).rowcount
    if not removed:
        abort(404, description=f"no channel {name!r}")
    return "", 204


@blueprint.get("/subscriptions")
@admin_only
def subscriptions() -> Response:
    with _db().read() as session:
        rows = session.scalars(select(Subscription).order_by(Subscription.name)).all()
        names = {c.id: c.name for c in session.scalars(select(Channel))}
    return jsonify(subscriptions=[subscription_json(row, names) for row in rows])


@blueprint.post("/subscriptions")
@admin_only
def add_subscription() -> tuple[Response, int]:
    entry = _json_body()
    try:
        with _db().write() as session:
            row = save_subscription(session, entry, source="api")
            names = {c.id: c.name for c in session.scalars(select(Channel))}
            shown = subscription_json(row, names)
    except ChatConfigError as exc:
        abort(400, description=str(exc))
    return jsonify(shown), 201


@blueprint.delete("/subscriptions/<name>")
@admin_only
def remove_subscription(name: str) -> tuple[str, int]:
    with _db().write() as session:
        removed = session.execute(delete(Subscription).where(Subscription.name == name)).rowcount
    if not removed:
        abort(404, description=f"no subscription {name!r}")
    return "", 204


@blueprint.get("/deliveries")
@admin_only
def deliveries() -> Response:
    """Each message: its key, state, attempts and last error, newest first."""
    with _db().read() as session:
        rows = session.scalars(
            select(Job).where(Job.kind == "deliver").order_by(Job.updated_at.desc()).limit(500)
        ).all()
    return jsonify(
        deliveries=[
            {
                "key": job.key,
                "state": job.state,
                "attempts": job.attempts,
                "due_at": iso_utc(job.due_at),
                "updated_at": iso_utc(job.updated_at),
                "last_error": job.last_error,
            }
            for job in rows
        ]
    )


def channel_json(row: Channel) -> dict[str, Any]:
    """A channel as the API shows it: the webhook URL is a secret, so only its host."""
    return {
        "name": row.name,
        "platform": row.platform,
        "url": f"https://{urlsplit(row.url).hostname}/…" if row.url else None,
        "signed": bool(row.secret),
        "source": row.source,
        "failing": row.failing_reason,
        "last_sent_at": iso_utc(row.last_sent_at) if row.last_sent_at else None,
    }


def subscription_json(row: Subscription, channel_names: dict[int, str]) -> dict[str, Any]:
    return {
        "name": row.name,
        "channel": channel_names.get(row.channel_id),
        "mode": row.mode,
        "schedule": row.schedule,
        "timezone": row.timezone,
        "filter": row.filter,
        "options": row.options,
        "send_empty": row.send_empty,
        "source": row.source,
        "window_end": iso_utc(row.window_end) if row.window_end else None,
    }


def _json_body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        abort(400, description="admin API: send a JSON object")
    return data


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["shiplog"].db
