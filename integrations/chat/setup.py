"""Channels and subscriptions from the config file, checked and written to the database."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from feed.filters import Filter, FilterError
from feed.models import Channel, Subscription
from integrations.chat import UnknownPlatform, platform
from integrations.chat.hosts import HostRefused, WebhookHosts

NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
OPTION_KEYS = {"max_items", "message_lines", "diff_stats", "diff_lines"}


class ChatConfigError(ValueError):
    """A channel or subscription that cannot be used; the message names it, not its URL."""


def apply_config(
    session: Session,
    channels: Sequence[Mapping[str, Any]],
    subscriptions: Sequence[Mapping[str, Any]],
    hosts: WebhookHosts,
) -> None:
    """Create or update the config file's channels and subscriptions (by name)."""
    for entry in channels:
        save_channel(session, entry, source="config", hosts=hosts)
    for entry in subscriptions:
        save_subscription(session, entry, source="config")


def save_channel(
    session: Session, entry: Mapping[str, Any], *, source: str, hosts: WebhookHosts
) -> Channel:
    """Create or update a channel; its URL must pass `hosts` (https, a platform's host)."""
    name = _name(entry.get("name"), "channel")
    kind = str(entry.get("platform", ""))
    try:
        platform(kind)
    except UnknownPlatform as exc:
        raise ChatConfigError(f"channel {name}: {exc}") from None
    url = entry.get("url")
    if not isinstance(url, str) or not url:
        raise ChatConfigError(f"channel {name}: url must be the platform's https webhook URL")
    try:
        hosts.check_url(kind, url)
    except HostRefused as exc:
        raise ChatConfigError(f"channel {name}: {exc}") from None
    row = session.scalars(select(Channel).where(Channel.name == name)).one_or_none()
    if row is None:
        row = Channel(name=name, platform=kind, url=url)
        session.add(row)
    row.platform, row.url, row.source = kind, url, source
    row.secret = entry.get("secret") if isinstance(entry.get("secret"), str) else None
    session.flush()
    return row


def save_subscription(session: Session, entry: Mapping[str, Any], *, source: str) -> Subscription:
    name = _name(entry.get("name"), "subscription")
    channel = session.scalars(
        select(Channel).where(Channel.name == str(entry.get("channel")))
    ).one_or_none()
    if channel is None:
        raise ChatConfigError(f"subscription {name}: no channel named {entry.get('channel')!r}")
    mode = entry.get("mode", "realtime")
    if mode not in ("realtime", "digest"):
        raise ChatConfigError(f"subscription {name}: mode must be realtime or digest")
    schedule = entry.get("schedule")
    zone = str(entry.get("timezone", "UTC"))
    if mode == "digest":
        if not isinstance(schedule, str) or not croniter.is_valid(schedule):
            raise ChatConfigError(f"subscription {name}: schedule must be a cron expression")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ChatConfigError(f"subscription {name}: unknown time zone {zone!r}") from None
    raw_filter = entry.get("filter") or {}
    try:
        rule = Filter.from_dict(raw_filter)
    except FilterError as exc:
        raise ChatConfigError(f"subscription {name}: filter: {exc}") from None
    if rule.since or rule.until or rule.around:
        raise ChatConfigError(f"subscription {name}: filter: since, until and around do not apply")
    options = entry.get("options") or {}
    if not isinstance(options, dict) or set(options) - OPTION_KEYS:
        raise ChatConfigError(f"subscription {name}: options are {', '.join(sorted(OPTION_KEYS))}")
    row = session.scalars(select(Subscription).where(Subscription.name == name)).one_or_none()
    if row is None:
        row = Subscription(name=name, channel_id=channel.id, mode=mode)
        session.add(row)
    row.channel_id, row.mode, row.schedule, row.timezone = channel.id, mode, schedule, zone
    row.filter, row.options, row.source = rule.to_dict(), dict(options), source
    row.send_empty = bool(entry.get("send_empty", False))
    session.flush()
    return row


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ChatConfigError(f"{what}: name must be 1 to 100 letters, digits, '.', '_' or '-'")
    return value
