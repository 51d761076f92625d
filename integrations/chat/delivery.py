"""The worker's chat jobs: close digest windows, and deliver each message once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from feed import notify
from feed.db import Database
from feed.filters import Filter
from feed.models import Channel, Event, Incident, Subscription
from feed.worker import GiveUp, Handler, RetryAt
from integrations.chat import platform
from integrations.chat.hosts import HostRefused, WebhookHosts
from integrations.chat.http import Failed, Rejected, RetryLater

log = logging.getLogger(__name__)


def handlers(
    db: Database,
    *,
    event_url: Callable[[Event], str],
    listing_url: Callable[[Filter], str],
    incident_url: Callable[[Incident], str] = lambda incident: "",
    http: requests.Session | None = None,
    hosts: WebhookHosts | None = None,
) -> dict[str, Handler]:
    """`digest` and `deliver` jobs, bound to the database, one HTTP session and the webhook
    host policy (checked again before every send: a host may resolve elsewhere since)."""
    hosts = hosts or WebhookHosts()
    session_http = http or requests.Session()

    def digest(payload: dict[str, Any]) -> datetime | None:
        with db.write() as session:
            return notify.close_window(session, payload["subscription"], datetime.now(UTC))

    def deliver(payload: dict[str, Any]) -> datetime | None:
        now = datetime.now(UTC)
        with db.read() as session:
            subscription = session.get(Subscription, payload["subscription"])
            if subscription is None:
                return None  # deleted since: nothing to send
            channel = session.get(Channel, subscription.channel_id)
            module = platform(channel.platform)
            if module.PACE and channel.last_sent_at and now < channel.last_sent_at + module.PACE:
                raise RetryAt(channel.last_sent_at + module.PACE, f"{channel.name}: pacing")
            message = notify.build_message(
                session,
                subscription,
                payload,
                event_url=event_url,
                listing_url=listing_url,
                incident_url=incident_url,
            )
        if message is None:
            return None
        rendered = module.render(message)
        try:
            hosts.check(channel.platform, channel.url)
            module.send(
                session_http,
                channel.url,
                rendered,
                secret=channel.secret,
                thread_key=message.thread_key,
            )
        except RetryLater as exc:
            raise RetryAt(now + timedelta(seconds=exc.seconds), f"{channel.name}: {exc}") from None
        except (Rejected, HostRefused) as exc:
            with db.write() as session:
                session.get(Channel, channel.id).failing_reason = f"{channel.platform}: {exc}"
            raise GiveUp(f"{channel.name}: {exc}") from None
        except Failed as exc:
            raise RuntimeError(f"{channel.name}: {exc}") from None
        with db.write() as session:
            row = session.get(Channel, channel.id)
            row.last_sent_at, row.failing_reason = datetime.now(UTC), None
        log.info("chat: delivered to %s (%s)", channel.name, channel.platform)
        return None

    return {"digest": digest, "deliver": deliver}
