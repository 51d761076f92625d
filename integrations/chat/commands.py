"""The chat commands: `shiplog digest preview|send`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from feed import notify
from feed.commands import migrated
from feed.filters import Filter, FilterError
from feed.migrate import is_current
from feed.models import Channel, Job, Subscription
from feed.state import Shiplog, shiplog_state
from feed.timefmt import iso_utc
from feed.worker import run_due
from integrations.chat import platform
from integrations.chat.options import chat_links, delivery_handlers
from integrations.chat.setup import ChatConfigError

_NAME = click.option("--subscription", "name", required=True, help="Name or id.")
_SINCE = click.option("--since", help="Window start (default: where the last digest stopped).")
_UNTIL = click.option("--until", help="Window end (default: now).")


@click.group("digest")
def digest_group() -> None:
    """Look at or send a subscription's digest."""


@digest_group.command("preview")
@_NAME
@_SINCE
@_UNTIL
@with_appcontext
def digest_preview(name: str, since: str | None, until: str | None) -> None:
    """Print the exact payload the subscription's channel would receive."""
    shiplog = shiplog_state()
    if not is_current(shiplog.db.engine):  # a preview writes nothing, not even the schema
        raise click.ClickException("database: not migrated; run `shiplog db upgrade` first")
    subscription, channel, payload = _digest_window(shiplog, name, since, until)
    with shiplog.db.read() as session:
        message = notify.build_message(session, subscription, payload, **chat_links(shiplog))
    rendered = platform(channel.platform).render(message)
    click.echo(json.dumps(rendered, indent=2, ensure_ascii=False))


@digest_group.command("send", short_help="Send the subscription's digest now, once.")
@_NAME
@_SINCE
@_UNTIL
@migrated(chat=True)
def digest_send(shiplog: Shiplog, name: str, since: str | None, until: str | None) -> None:
    """Send the subscription's digest now (once: sending the same window again does nothing)."""
    subscription, channel, payload = _digest_window(shiplog, name, since, until)
    with shiplog.db.write() as session:
        key = notify.enqueue_digest(session, subscription, payload)
    run_due(shiplog.db, {"deliver": delivery_handlers(shiplog)["deliver"]})
    with shiplog.db.read() as session:
        job = session.scalars(select(Job).where(Job.key == key)).one()
    if job.state != "done":
        raise click.ClickException(f"digest to {channel.name}: {job.state}: {job.last_error}")
    click.echo(f"shiplog: digest {payload['since']} to {payload['until']} sent to {channel.name}")


def _digest_window(
    shiplog: Shiplog, name: str, since: str | None, until: str | None
) -> tuple[Subscription, Channel, dict[str, Any]]:
    """The subscription named (or numbered) `name`, its channel and the window to show; the
    subscription comes from the config file if it is there."""
    with shiplog.db.read() as session:
        try:
            found = shiplog.chat.find(session, name)
        except ChatConfigError as exc:
            raise click.ClickException(f"config: {exc}") from None
    if found is None:
        raise click.BadParameter(f"no subscription {name!r}", param_hint="--subscription")
    subscription, channel = found
    try:
        window = Filter.from_dict({"since": since, "until": until})
    except FilterError as exc:
        raise click.BadParameter(str(exc)) from None
    start, end = notify.preview_window(subscription, datetime.now(UTC), window.since, window.until)
    if start >= end:
        raise click.BadParameter("since must be earlier than until")
    payload = {"subscription": subscription.id, "since": iso_utc(start), "until": iso_utc(end)}
    return subscription, channel, payload
