"""The worker's chat jobs: close digest windows, and deliver each message once.

A channel whose sends fail CIRCUIT_AFTER times in a row (5xx, timeouts, lost connections)
is put aside: its circuit opens for a while that doubles with each further failure, its
messages wait (one channel's messages go in order, so they wait behind the first), and
when the time is up that first message probes whether the channel is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from feed import notify
from feed.build_alerts import People
from feed.db import Database
from feed.filters import Filter
from feed.models import Channel, Event, Incident, Subscription
from feed.worker import GiveUp, Handler, RetryAt
from integrations.chat import platform
from integrations.chat.hosts import HostRefused, WebhookHosts
from integrations.chat.http import Failed, Rejected, RetryLater, send

log = logging.getLogger(__name__)
CIRCUIT_AFTER = 3  # failures in a row that open a channel's circuit
QUICK_RETRY = timedelta(seconds=2)  # the first retries, before the circuit opens
CIRCUIT_WAIT = timedelta(seconds=15)  # the first time a circuit stays open; then doubled
CIRCUIT_MAX = timedelta(minutes=30)


def handlers(
    db: Database,
    *,
    event_url: Callable[[Event], str],
    listing_url: Callable[[Filter], str],
    incident_url: Callable[[Incident], str] = lambda incident: "",
    http: requests.Session | None = None,
    hosts: WebhookHosts | None = None,
    clock: Callable[[], datetime] | None = None,
    people: People | None = None,
) -> dict[str, Handler]:
    """`digest` and `deliver` jobs, bound to the database, one HTTP session, the webhook
    host policy (checked again before every send: a host may resolve elsewhere since), the
    clock they read (tests move it on instead of sleeping) and the config's [people]."""
    hosts = hosts or WebhookHosts()
    clock = clock or (lambda: datetime.now(UTC))
    session_http = http or requests.Session()

    def digest(payload: dict[str, Any]) -> datetime | None:
        with db.write() as session:
            return notify.close_window(session, payload["subscription"], clock())

    def deliver(payload: dict[str, Any]) -> datetime | None:
        now = clock()
        with db.read() as session:
            subscription = session.get(Subscription, payload["subscription"])
            if subscription is None:
                return None  # deleted since: nothing to send
            channel = session.get(Channel, subscription.channel_id)
            module = platform(channel.platform)
            if channel.circuit_until and now < channel.circuit_until:
                raise RetryAt(channel.circuit_until, f"{channel.name}: circuit open")
            if module.PACE and channel.last_sent_at and now < channel.last_sent_at + module.PACE:
                raise RetryAt(channel.last_sent_at + module.PACE, f"{channel.name}: pacing")
            message = notify.build_message(
                session,
                subscription,
                payload,
                event_url=event_url,
                listing_url=listing_url,
                incident_url=incident_url,
                people=people,
            )
        if message is None:
            return None
        rendered = module.render(message)
        try:
            hosts.check(channel.platform, channel.url)
            send(session_http, module.POST, channel.url, rendered, secret=channel.secret)
        except RetryLater as exc:
            raise RetryAt(now + timedelta(seconds=exc.seconds), f"{channel.name}: {exc}") from None
        except (Rejected, HostRefused) as exc:
            with db.write() as session:
                session.get(Channel, channel.id).failing_reason = f"{channel.platform}: {exc}"
            raise GiveUp(f"{channel.name}: {exc}") from None
        except Failed as exc:
            with db.write() as session:
                at = _failed(session.get(Channel, channel.id), clock())
            raise RetryAt(at, f"{channel.name}: {exc}", failed=True) from None
        with db.write() as session:
            row = session.get(Channel, channel.id)
            row.last_sent_at, row.failing_reason = clock(), None
            row.failures, row.circuit_until = 0, None
        log.info("chat: delivered to %s (%s)", channel.name, channel.platform)
        return None

    return {"digest": digest, "deliver": deliver}


def _failed(channel: Channel, now: datetime) -> datetime:
    """Count a failed send; when the channel's next message may try again."""
    channel.failures += 1
    if channel.failures < CIRCUIT_AFTER:
        return now + QUICK_RETRY * channel.failures
    wait = min(CIRCUIT_WAIT * 2 ** (channel.failures - CIRCUIT_AFTER), CIRCUIT_MAX)
    channel.circuit_until = now + wait
    if channel.failures == CIRCUIT_AFTER:
        log.warning("chat: %s failed %d times in a row; put aside", channel.name, CIRCUIT_AFTER)
    return channel.circuit_until
