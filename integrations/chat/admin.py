"""The admin API for channels, subscriptions and the delivery log (see `feed.web.auth`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    render_template,
    url_for,
)
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from feed import metrics, notify
from feed.models import Channel, Job, Subscription
from feed.state import shiplog_state
from feed.timefmt import iso_utc
from feed.web import absolute, admin_only, json_object, listing_url
from integrations.chat import platform
from integrations.chat.hosts import WebhookHosts
from integrations.chat.setup import NAME, ChatConfigError, save_channel, save_subscription

blueprint = Blueprint("chat_admin", __name__)


@blueprint.get("/api/channels")
@admin_only
def channels() -> Response:
    with _db().read() as session:
        rows = session.scalars(select(Channel).order_by(Channel.name)).all()
    return jsonify(channels=[channel_json(row) for row in rows])


@blueprint.post("/api/channels")
@admin_only
def add_channel() -> tuple[Response, int]:
    entry = json_object("admin API")
    hosts = WebhookHosts(shiplog_state().settings.allow_webhook_hosts)
    return _created(
        lambda session: channel_json(save_channel(session, entry, source="api", hosts=hosts))
    )


@blueprint.delete("/api/channels/<name>")
@admin_only
def remove_channel(name: str) -> tuple[str, int]:
    _named("channel", name)
    with _db().write() as session:
        notify.remove_subscriptions(
            session,
            session.scalars(
                select(Subscription.id)
                .join(Channel, Channel.id == Subscription.channel_id)
                .where(Channel.name == name)
            ).all(),
        )
        removed = session.execute(delete(Channel).where(Channel.name == name)).rowcount
    if not removed:
        abort(404, description=f"no channel {name!r}")
    return "", 204


@blueprint.get("/api/subscriptions")
@admin_only
def subscriptions() -> Response:
    with _db().read() as session:
        rows = session.scalars(select(Subscription).order_by(Subscription.name)).all()
        names = _channel_names(session)
    return jsonify(subscriptions=[subscription_json(row, names) for row in rows])


@blueprint.post("/api/subscriptions")
@admin_only
def add_subscription() -> tuple[Response, int]:
    entry = json_object("admin API")
    return _created(
        lambda session: subscription_json(
            save_subscription(session, entry, source="api"), _channel_names(session)
        )
    )


@blueprint.delete("/api/subscriptions/<name>")
@admin_only
def remove_subscription(name: str) -> tuple[str, int]:
    _named("subscription", name)
    with _db().write() as session:
        ids = session.scalars(select(Subscription.id).where(Subscription.name == name)).all()
        notify.remove_subscriptions(session, ids)
        removed = len(ids)
    if not removed:
        abort(404, description=f"no subscription {name!r}")
    return "", 204


@blueprint.get("/api/deliveries")
@admin_only
def deliveries() -> Response:
    """Each message: its key, state, attempts and last error, newest first."""
    with _db().read() as session:
        rows = _recent_deliveries(session)
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


@blueprint.get("/admin/deliveries")
@admin_only
def delivery_log() -> str:
    """The delivery log as a page: each message's state, attempts and last error."""
    with _db().read() as session:
        rows = _recent_deliveries(session)
        channels = session.scalars(select(Channel).order_by(Channel.name)).all()
        now = datetime.now(UTC)
        return render_template(
            "admin_deliveries.html",
            jobs=rows,
            channels=channels,
            now=now,
            lanes=metrics.lanes(session, now),
            circuits=metrics.open_circuits(session, now),
            latencies=metrics.alert_latencies(session),
            buckets=metrics.LATENCY_BUCKETS,
        )


@blueprint.get("/admin/subscriptions/<name>/preview")
@admin_only
def preview(name: str) -> str:
    """What the subscription's next message will look like, and its exact payload."""
    _named("subscription", name)
    now = datetime.now(UTC).replace(microsecond=0)
    with _db().read() as session:
        subscription = session.scalars(
            select(Subscription).where(Subscription.name == name)
        ).one_or_none()
        if subscription is None:
            abort(404, description=f"no subscription {name!r}")
        channel = session.get(Channel, subscription.channel_id)
        since, until = notify.preview_window(subscription, now)
        payload = {
            "subscription": subscription.id,
            "since": iso_utc(since),
            "until": iso_utc(until),
        }
        message = notify.build_message(
            session,
            subscription,
            payload,
            event_url=lambda e: absolute(url_for("pages.event", event_id=e.id)),
            listing_url=lambda rule: listing_url("pages.activity", rule, external=True),
        )
    rendered = platform(channel.platform).render(message)
    return render_template(
        "preview.html",
        subscription=subscription,
        channel=channel,
        message=message,
        payload=json.dumps(rendered, indent=2, ensure_ascii=False),
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
        "mention_suspects": row.mention_suspects,
        "source": row.source,
        "window_end": iso_utc(row.window_end) if row.window_end else None,
    }


def _named(what: str, name: str) -> None:
    """404 for a name no channel or subscription can have (NUL, say, which PostgreSQL would
    refuse as a query parameter), before it reaches the database."""
    if not NAME.fullmatch(name):
        abort(404, description=f"no {what} {name!r}")


def _db():  # type: ignore[no-untyped-def]
    """The database, holding the config file's channels and subscriptions: a web process
    brings them in before its first admin request, as before its first alert."""
    shiplog = shiplog_state()
    shiplog.intake.ready(shiplog.db)
    return shiplog.db


def _created(save: Callable[[Session], dict[str, Any]]) -> tuple[Response, int]:
    """Answer 201 with what `save` shows of the row it wrote in one transaction; a
    ChatConfigError is a 400 with its message, and nothing is written."""
    try:
        with _db().write() as session:
            shown = save(session)
    except ChatConfigError as exc:
        abort(400, description=str(exc))
    return jsonify(shown), 201


def _channel_names(session: Session) -> dict[int, str]:
    """Every channel's name by its id."""
    return {c.id: c.name for c in session.scalars(select(Channel))}


def _recent_deliveries(session: Session) -> Sequence[Job]:
    """The delivery log's rows: the newest 500 deliver jobs, most recently changed first."""
    return session.scalars(
        select(Job).where(Job.kind == "deliver").order_by(Job.updated_at.desc()).limit(500)
    ).all()
