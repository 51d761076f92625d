"""Who hears about what: realtime alerts and scheduled digests, as rows of due jobs.

Every message is a `deliver` job whose key is the subscription plus the event's uid (alerts)
or plus the digest's window, written in the transaction that makes it due: enqueuing twice,
retrying or running two workers never sends a message twice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import Select, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload

from feed import pulls
from feed.build_alerts import People, build_alert, red_periods
from feed.digest import (
    DigestOptions,
    Line,
    Listing,
    Message,
    Section,
    Unlisted,
    alert_message,
    digest_message,
)
from feed.filters import Filter
from feed.health import open_breaks
from feed.incidents import incident_uid
from feed.jobs import enqueue, enqueue_many
from feed.models import BUILD_KINDS, INCIDENT_KINDS, Event, Incident, Job, Subscription
from feed.store import author_aliases, encode_cursor
from feed.timefmt import iso_utc

ALERT_MAX_AGE = timedelta(days=1)  # a backfill of old history alerts nobody
PROTECTED_BRANCHES = ("main", "master", "production", "release/*", "release-*")


def default_alert(event: Any) -> bool:
    """What a realtime subscription without kinds hears: incidents, reverts, force pushes to
    main or release branches, failed deployments, and builds broken or fixed (which exist
    only for the counted branches, and only as changes of state: never a run, never a flaky
    result)."""
    if event.kind in (*INCIDENT_KINDS, *BUILD_KINDS, "revert"):
        return True
    if event.kind == "force_push":
        return Filter(branches=PROTECTED_BRANCHES).matches(event)
    return event.kind == "deployment" and event.data.get("state") in ("failure", "error")


def wants(rule: Filter, event: Any, aliases: Collection[str] = ()) -> bool:
    """Whether a realtime subscription with filter `rule` hears about `event`; `aliases` are
    the other names of the rule's authors (`feed.store.author_aliases`)."""
    return rule.matches(event, aliases=aliases) and (bool(rule.kinds) or default_alert(event))


@dataclass(frozen=True)
class Rule:
    """A realtime subscription with its filter parsed once, and its authors' other names."""

    subscription: Subscription
    filter: Filter
    aliases: frozenset[str]

    def wants(self, event: Any) -> bool:
        return wants(self.filter, event, self.aliases)


def realtime(session: Session) -> list[Rule]:
    """The realtime subscriptions, each with its filter parsed once."""
    subscriptions = session.scalars(select(Subscription).where(Subscription.mode == "realtime"))
    rules = []
    for subscription in subscriptions:
        rule = Filter.from_dict(subscription.filter)
        rules.append(Rule(subscription, rule, author_aliases(session, rule.authors)))
    return rules


DIGEST_LATE = timedelta(days=7)  # the oldest a late arrival may be and still be in a digest
DIGEST_EVENTS = 10_000  # a digest lists the newest; it counts the others in one link


def digest_key(subscription_id: int, since: str, until: str) -> str:
    """The delivery key of one digest window: a window is sent once, however it is asked for."""
    return f"deliver:{subscription_id}:digest:{since}..{until}"


def remove_subscriptions(session: Session, ids: Sequence[int]) -> None:
    """Delete subscriptions with their messages and digest schedule: nothing more is sent for
    them, queued or not, and a subscription given one of their ids later (SQLite gives the
    highest one again) inherits nothing of theirs."""
    for subscription_id in ids:
        session.execute(
            delete(Job).where(
                or_(
                    Job.key == f"digest:{subscription_id}",
                    Job.key.startswith(f"deliver:{subscription_id}:"),
                )
            )
        )
    if ids:
        session.execute(delete(Subscription).where(Subscription.id.in_(ids)))


def enqueue_alerts(session: Session, events: Sequence[Any], now: datetime) -> int:
    """Make one delivery due per realtime subscription that wants each new event."""
    fresh = [event for event in events if event.occurred_at >= now - ALERT_MAX_AGE]
    if not fresh:
        return 0
    rules = realtime(session)
    jobs = [
        (
            f"deliver:{rule.subscription.id}:event:{event.uid}",
            {"subscription": rule.subscription.id, "event": event.uid},
            channel_partition(rule.subscription.channel_id, "alerts"),
        )
        for event in fresh
        for rule in rules
        if rule.wants(event)
    ]
    enqueue_many(session, "deliver", jobs, lane="alerts")
    return len(jobs)


def channel_partition(channel_id: int, lane: str) -> str:
    """One channel's messages of one lane go out one at a time, in order."""
    return f"chat:{channel_id}:{lane}"


def remind_overdue(session: Session, now: datetime) -> int:
    """One reminder per realtime subscriber for each promised update that did not come."""
    overdue = session.scalars(
        select(Incident).where(
            Incident.active,
            Incident.status != "resolved",
            Incident.next_update_at.is_not(None),
            Incident.next_update_at < now,
        )
    ).all()
    if not overdue:
        return 0
    rules = realtime(session)
    jobs = []
    for incident in overdue:
        opened = session.scalars(select(Event).where(Event.uid == incident.uid)).one_or_none()
        if opened is None:
            continue
        promise = iso_utc(incident.next_update_at)
        jobs += [
            (
                f"deliver:{rule.subscription.id}:reminder:{incident.uid}:{promise}",
                {"subscription": rule.subscription.id, "reminder": incident.uid},
                channel_partition(rule.subscription.channel_id, "alerts"),
            )
            for rule in rules
            if rule.wants(opened)
        ]
    enqueue_many(session, "deliver", jobs, lane="alerts")
    return len(jobs)


def next_promise(session: Session, now: datetime) -> datetime | None:
    """When the next promised update falls due: its reminder is made at that moment."""
    return session.scalar(
        select(Incident.next_update_at)
        .where(
            Incident.active,
            Incident.status != "resolved",
            Incident.next_update_at > now,
        )
        .order_by(Incident.next_update_at)
        .limit(1)
    )


def next_run(subscription: Subscription, after: datetime) -> datetime:
    """The first time the digest's schedule fires after `after`, in UTC."""
    zone = ZoneInfo(subscription.timezone)
    local = croniter(subscription.schedule or "0 9 * * *", after.astimezone(zone))
    return local.get_next(datetime).astimezone(UTC)


def previous_run(subscription: Subscription, before: datetime) -> datetime:
    zone = ZoneInfo(subscription.timezone)
    local = croniter(subscription.schedule or "0 9 * * *", before.astimezone(zone))
    return local.get_prev(datetime).astimezone(UTC)


def schedule_digests(session: Session, now: datetime) -> None:
    """Each digest subscription has its job, due when its schedule next fires."""
    for subscription in session.scalars(select(Subscription).where(Subscription.mode == "digest")):
        enqueue(
            session,
            "digest",
            f"digest:{subscription.id}",
            {"subscription": subscription.id},
            due_at=next_run(subscription, now),
            if_absent=True,
            lane="digests",
        )


def close_window(session: Session, subscription_id: int, now: datetime) -> datetime | None:
    """The digest is due: queue its message for the window since the last one (unless it is
    empty and the subscription does not want empty digests); when to run next."""
    subscription = session.get(Subscription, subscription_id)
    if subscription is None:
        return None
    until = now.replace(microsecond=0)
    since = subscription.window_end or previous_run(subscription, until - timedelta(seconds=1))
    if since >= until:  # run twice in one second: nothing new to cover
        return next_run(subscription, until)
    has_events = session.scalar(_window(subscription, select(Event.id), since, until).limit(1))
    has_events = has_events is not None
    if has_events or subscription.send_empty:
        enqueue_digest(session, subscription, {"since": iso_utc(since), "until": iso_utc(until)})
    subscription.window_end = until
    return next_run(subscription, until)


def preview_window(
    subscription: Subscription,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The window a preview or a manual send covers: from `since` (default: where the last
    digest stopped, or a day back) to `until` (default: `now`, to the second)."""
    end = until or now.replace(microsecond=0)
    return since or subscription.window_end or end - timedelta(days=1), end


def enqueue_digest(session: Session, subscription: Subscription, window: dict[str, str]) -> str:
    """Make the digest of `window` (since, until) due for `subscription`, once; its key."""
    key = digest_key(subscription.id, window["since"], window["until"])
    enqueue(
        session,
        "deliver",
        key,
        {"subscription": subscription.id, **window},
        lane="digests",
        partition=channel_partition(subscription.channel_id, "digests"),
    )
    return key


def build_message(
    session: Session,
    subscription: Subscription,
    payload: dict[str, Any],
    *,
    event_url: Callable[[Event], str],
    listing_url: Callable[[Filter], str],
    incident_url: Callable[[Incident], str] = lambda incident: "",
    people: People | None = None,
) -> Message | None:
    """The message a delivery job stands for, from the data as it is now; `people` (the
    config's `[people]`) names a break's suspects where the subscription asks for it."""
    options = digest_options(subscription)
    if "reminder" in payload:
        incident = session.scalars(
            select(Incident).where(Incident.uid == payload["reminder"])
        ).one_or_none()
        if incident is None or incident.status == "resolved" or incident.next_update_at is None:
            return None  # answered or resolved since: no reminder
        return reminder_message(incident, incident_url(incident))
    if "event" in payload:
        event = session.scalars(
            select(Event).where(Event.uid == payload["event"]).options(selectinload(Event.files))
        ).one_or_none()
        if event is None:
            return None
        if event.kind in BUILD_KINDS:
            named = people if subscription.mention_suspects else None
            return build_alert(session, event, options=options, event_url=event_url, people=named)
        severity = None
        if event.kind in INCIDENT_KINDS:  # the incident's severity now, as reminders say it
            uid = incident_uid(event.uid)
            severity = session.scalar(select(Incident.severity).where(Incident.uid == uid))
        return alert_message(
            event,
            options=options,
            event_url=event_url(event),
            severity=severity,
            via=pulls.via(session, [event]),
        )
    since = datetime.fromisoformat(payload["since"])
    until = datetime.fromisoformat(payload["until"])
    newest_first = (Event.occurred_at.desc(), Event.id.desc())
    events = list(
        session.scalars(
            _window(subscription, select(Event), since, until)
            .options(selectinload(Event.files))
            .order_by(*newest_first)
            .limit(DIGEST_EVENTS)
        )
    )
    unlisted = Unlisted()
    if len(events) == DIGEST_EVENTS:
        unlisted = _unlisted(session, subscription, since, until, events[-1])
    return digest_message(
        events,
        since=since,
        until=until,
        options=options,
        event_url=event_url,
        listing=listing_after(listing_url),
        rule=Filter.from_dict(subscription.filter),
        unlisted=unlisted,
        notes=_red_periods(session, subscription, events, until),
        via=pulls.via(session, events),
    )


def listing_after(listing_url: Callable[[Filter], str]) -> Listing:
    """`listing_url`, able to start after an event: the activity page's keyset `cursor` is
    an argument of the page beside the filter, not part of it, so it joins the query of the
    URL the filter gives. A digest asks for one filter after many events: each filter's URL
    is made once."""
    of_filter = lru_cache(maxsize=1024)(lambda rule: urlsplit(listing_url(rule)))

    def url(rule: Filter, after: Event | None) -> str:
        parts = of_filter(rule)
        if after is None:
            return urlunsplit(parts)
        cursor = f"cursor={encode_cursor(after)}"  # URL-safe base64: nothing to quote
        query = f"{parts.query}&{cursor}" if parts.query else cursor
        return urlunsplit(parts._replace(query=query))

    return url


def _red_periods(
    session: Session, subscription: Subscription, events: Sequence[Event], until: datetime
) -> list[str]:
    """How long each branch the digest's filter selects was red (the fixes in its window),
    and which of its checks are red still, however long ago they broke."""
    rule = replace(Filter.from_dict(subscription.filter), since=None, until=None)
    still_red = [event for event in open_breaks(session) if rule.matches(event)]
    return red_periods([e for e in events if e.kind in BUILD_KINDS], still_red, until)


def reminder_message(incident: Incident, url: str) -> Message:
    due = f"{incident.next_update_at:%H:%M} UTC" if incident.next_update_at else "now"
    return Message(
        kind="alert",
        title=f"Update overdue: {incident.title}",
        summary=f"{incident.repo}#{incident.number} · {incident.status} · an update was "
        f"promised by {due}",
        sections=[
            Section(
                heading="Incident",
                lines=[Line(text=incident.title, url=url, detail=incident.severity or "")],
            )
        ],
        url=url,
        severity=incident.severity,
        thread_key=incident.uid,
    )


def digest_options(subscription: Subscription) -> DigestOptions:
    options = subscription.options or {}
    return DigestOptions(
        max_items=int(options.get("max_items", 10)),
        message_lines=int(options.get("message_lines", 1)),
        diff_stats=bool(options.get("diff_stats", True)),
        diff_lines=int(options.get("diff_lines", 0)),
    )


def _window(subscription: Subscription, query: Select, since: datetime, until: datetime) -> Select:
    """A digest window's events: those that arrived in it (`ingested_at`), so a commit pushed
    a day after it was made is in the next digest, not lost; but none from more than
    DIGEST_LATE before the window, so a repository's backfill is not one huge digest."""
    rule = Filter.from_dict(subscription.filter)
    return rule.apply(query).where(
        Event.ingested_at >= since,
        Event.ingested_at < until,
        Event.occurred_at >= since - DIGEST_LATE,
    )


def _unlisted(
    session: Session, subscription: Subscription, since: datetime, until: datetime, last: Event
) -> Unlisted:
    """The window's events older than `last`, the oldest it lists: how many, where, since when."""
    older = tuple_(Event.occurred_at, Event.id) < (last.occurred_at, last.id)
    count, oldest = session.execute(
        _window(subscription, select(func.count(), func.min(Event.occurred_at)), since, until)
        .select_from(Event)
        .where(older)
    ).one()
    repos = session.scalars(
        _window(subscription, select(Event.repo).distinct(), since, until).where(older)
    )
    return Unlisted(count=count, repos=frozenset(repos), oldest=oldest)
