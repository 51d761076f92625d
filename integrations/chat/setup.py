"""Channels and subscriptions from the config file: checked, written to the database, and
retired when the config no longer lists them."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from feed import notify
from feed.filters import Filter, FilterError
from feed.models import Channel, Subscription
from feed.store import insert_for
from integrations.chat import UnknownPlatform, platform
from integrations.chat.hosts import HostRefused, WebhookHosts

NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
# Each option and the values it takes: (type, least value).
OPTIONS: dict[str, tuple[type, int]] = {
    "max_items": (int, 1),
    "message_lines": (int, 0),
    "diff_stats": (bool, 0),
    "diff_lines": (int, 0),
}
OPTION_KEYS = set(OPTIONS)
CHANNEL_KEYS = {"name", "platform", "url", "secret"}
SUBSCRIPTION_KEYS = {"name", "channel", "mode", "schedule", "timezone", "filter", "options"}
SUBSCRIPTION_KEYS |= {"send_empty", "mention_suspects"}
LIMITS = {"schedule": 100, "timezone": 64}  # the columns' sizes

log = logging.getLogger(__name__)
Row = TypeVar("Row", Channel, Subscription)


class ChatConfigError(ValueError):
    """A channel or subscription that cannot be used; the message names it, not its URL."""


@dataclass(frozen=True)
class ChatConfig:
    """The config's [[channels]] and [[subscriptions]], read from the app's settings
    (`CHANNELS`, `SUBSCRIPTIONS`) when used, and the webhook host policy."""

    settings: Mapping[str, Any]
    hosts: WebhookHosts = field(default_factory=WebhookHosts)

    @property
    def channels(self) -> Sequence[Mapping[str, Any]]:
        return self.settings.get("CHANNELS") or ()

    @property
    def subscriptions(self) -> Sequence[Mapping[str, Any]]:
        return self.settings.get("SUBSCRIPTIONS") or ()

    def apply(self, session: Session) -> None:
        """Write the config's channels and subscriptions and retire what it no longer lists."""
        apply_config(session, self.channels, self.subscriptions, self.hosts)

    def find(self, session: Session, name: str) -> tuple[Subscription, Channel] | None:
        """The subscription named `name` (or numbered, once it is in the database) and its
        channel as the config and the database together make them, read without writing:
        a subscription in the config is built from its entry (with the window it reached, if
        it is in the database yet); one the config made and no longer lists is no more.
        The whole config is checked as `apply` would check it."""
        for entry in self.channels:
            check_channel(entry, self.hosts)
        listed = {values["name"]: values for values in map(check_subscription, self.subscriptions)}
        by = Subscription.id == int(name) if name.isdigit() else Subscription.name == name
        row = session.scalars(select(Subscription).where(by)).one_or_none()
        values = listed.get(row.name if row else name)
        if values is None:
            if row is None or row.source == "config":
                return None
            return row, session.get(Channel, row.channel_id)
        channel = self._channel(session, values)
        subscription = Subscription(
            id=row.id if row else None,
            window_end=row.window_end if row else None,
            channel_id=channel.id,
            source="config",
            **{key: value for key, value in values.items() if key != "channel"},
        )
        return subscription, channel

    def _channel(self, session: Session, subscription: Mapping[str, Any]) -> Channel:
        name = subscription["channel"]
        for entry in self.channels:
            if entry.get("name") == name:
                return Channel(**check_channel(entry, self.hosts), source="config")
        row = session.scalars(select(Channel).where(Channel.name == name)).one_or_none()
        if row is None or row.source == "config":
            raise ChatConfigError(f"subscription {subscription['name']}: no channel named {name!r}")
        return row


def apply_config(
    session: Session,
    channels: Sequence[Mapping[str, Any]],
    subscriptions: Sequence[Mapping[str, Any]],
    hosts: WebhookHosts,
) -> None:
    """Create or update the config file's channels and subscriptions (by name), and retire
    what the config made and no longer lists: its subscriptions with their queued messages,
    and its channels, unless a subscription made through the admin API sends to one. What
    the admin API made is left alone."""
    kept = {save_channel(session, entry, source="config", hosts=hosts).name for entry in channels}
    listed = {_name(entry.get("name"), "subscription") for entry in subscriptions}
    gone_channels = _unlisted_channels(session, kept)
    gone = session.scalars(
        select(Subscription.id).where(
            Subscription.source == "config",
            or_(Subscription.name.not_in(listed), Subscription.channel_id.in_(gone_channels)),
        )
    ).all()
    notify.remove_subscriptions(session, gone)
    session.execute(delete(Channel).where(Channel.id.in_(gone_channels)))
    for entry in subscriptions:
        save_subscription(session, entry, source="config")


def check_channel(entry: Mapping[str, Any], hosts: WebhookHosts) -> dict[str, Any]:
    """A channel's columns from its entry; its URL must pass `hosts` (https, a platform's
    host)."""
    name = _name(entry.get("name"), "channel")
    _known_keys(entry, CHANNEL_KEYS, f"channel {name}")
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
    secret = entry.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret or "\x00" in secret):
        raise ChatConfigError(f"channel {name}: secret must be text")
    if "\x00" in url:
        raise ChatConfigError(f"channel {name}: the webhook URL is not a valid URL")
    return {"name": name, "platform": kind, "url": url, "secret": secret}


def save_channel(
    session: Session, entry: Mapping[str, Any], *, source: str, hosts: WebhookHosts
) -> Channel:
    """Create or update a channel; its URL must pass `hosts` (https, a platform's host)."""
    return _save(session, Channel, {**check_channel(entry, hosts), "source": source})


def check_subscription(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A subscription's columns from its entry (its channel by name); every field is
    checked, and unknown ones refused."""
    name = _name(entry.get("name"), "subscription")
    what = f"subscription {name}"
    _known_keys(entry, SUBSCRIPTION_KEYS, what)
    mode = entry.get("mode", "realtime")
    if mode not in ("realtime", "digest"):
        raise ChatConfigError(f"subscription {name}: mode must be realtime or digest")
    schedule = entry.get("schedule")
    if (schedule is not None or mode == "digest") and not _is_cron(schedule):
        raise ChatConfigError(f"{what}: schedule must be a cron expression")
    zone = entry.get("timezone", "UTC")
    if not isinstance(zone, str) or len(zone) > LIMITS["timezone"]:
        raise ChatConfigError(f"{what}: timezone must be a time zone name such as Europe/Berlin")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ChatConfigError(f"{what}: unknown time zone {zone!r}") from None
    raw_filter = entry.get("filter") or {}
    if not isinstance(raw_filter, Mapping):
        raise ChatConfigError(f'{what}: filter must be a table such as {{ repo = ["acme/*"] }}')
    try:
        rule = Filter.from_dict(raw_filter)
    except FilterError as exc:
        raise ChatConfigError(f"subscription {name}: filter: {exc}") from None
    if rule.since or rule.until or rule.around:
        raise ChatConfigError(f"subscription {name}: filter: since, until and around do not apply")
    options = _options(entry.get("options") or {}, what)
    send_empty = entry.get("send_empty", False)
    if not isinstance(send_empty, bool):
        raise ChatConfigError(f"{what}: send_empty must be true or false")
    mention_suspects = entry.get("mention_suspects", False)
    if not isinstance(mention_suspects, bool):
        raise ChatConfigError(f"{what}: mention_suspects must be true or false")
    return {
        "name": name,
        "channel": str(entry.get("channel")),
        "mode": mode,
        "schedule": schedule,
        "timezone": zone,
        "filter": rule.to_dict(),
        "options": dict(options),
        "send_empty": send_empty,
        "mention_suspects": mention_suspects,
    }


def save_subscription(session: Session, entry: Mapping[str, Any], *, source: str) -> Subscription:
    """Create or update a subscription; every field is checked, and unknown ones refused."""
    values = check_subscription(entry)
    name = values.pop("channel")
    channel = session.scalars(select(Channel).where(Channel.name == name)).one_or_none()
    if channel is None:
        raise ChatConfigError(f"subscription {values['name']}: no channel named {name!r}")
    return _save(session, Subscription, {**values, "channel_id": channel.id, "source": source})


def _save(session: Session, model: type[Row], values: dict[str, Any]) -> Row:
    """Create the row named `values["name"]` or update it. The INSERT does nothing when the
    name is taken, waiting for a transaction that is taking it: processes that start
    together and write the same config never fail on the unique name."""
    table = model.__table__
    session.execute(
        insert_for(session)(table).on_conflict_do_nothing(index_elements=["name"]), values
    )
    row = session.scalars(select(model).where(table.c.name == values["name"])).one()
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    return row


def _unlisted_channels(session: Session, listed: set[str]) -> list[int]:
    """The channels the config made and no longer lists, but those a subscription made
    through the admin API sends to: those stay, with a warning."""
    rows = session.scalars(
        select(Channel).where(Channel.source == "config", Channel.name.not_in(listed))
    ).all()
    used = set(
        session.scalars(
            select(Subscription.channel_id).where(
                Subscription.source != "config", Subscription.channel_id.in_([r.id for r in rows])
            )
        )
    )
    for row in rows:
        if row.id in used:
            log.warning(
                "chat config: channel %s is no longer in the config, but a subscription made "
                "through the admin API sends to it, so it stays",
                row.name,
            )
    return [row.id for row in rows if row.id not in used]


def _known_keys(entry: Mapping[str, Any], known: set[str], what: str) -> None:
    unknown = sorted(str(key) for key in set(entry) - known)
    if unknown:
        raise ChatConfigError(
            f"{what}: unknown field {unknown[0]!r}; use {', '.join(sorted(known))}"
        )


def _is_cron(schedule: Any) -> bool:
    return (
        isinstance(schedule, str)
        and len(schedule) <= LIMITS["schedule"]
        and croniter.is_valid(schedule)
    )


def _options(options: Any, what: str) -> dict[str, Any]:
    if not isinstance(options, Mapping) or set(options) - OPTION_KEYS:
        raise ChatConfigError(f"{what}: options are {', '.join(sorted(OPTION_KEYS))}")
    for key, value in options.items():
        kind, least = OPTIONS[key]
        if kind is bool and not isinstance(value, bool):
            raise ChatConfigError(f"{what}: options.{key} must be true or false")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise ChatConfigError(f"{what}: options.{key} must be a whole number from {least}")
    return dict(options)


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise ChatConfigError(f"{what}: name must be 1 to 100 letters, digits, '.', '_' or '-'")
    return value
