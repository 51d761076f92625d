"""Digests and alerts as platform-neutral messages: pure logic, no HTTP.

A Message is what every chat platform renders in its own format and within its own limits:
a title, a summary, sections of lines, and links to the activity page for what did not fit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from feed.filters import Filter
from feed.models import INCIDENT_KINDS, KIND_LABELS, Event, PullRequest

VIA_TITLE = 80  # characters of a pull request's title in a message line

KIND_ORDER = (
    "incident_opened",
    "incident_update",
    "incident_resolved",
    "build_broken",
    "build_fixed",
    "revert",
    "force_push",
    "deployment",
    "release",
    "commit",
)
PLURALS = {
    "commit": "commits",
    "revert": "reverts",
    "force_push": "force pushes",
    "release": "releases",
    "deployment": "deployments",
    "incident_opened": "incidents opened",
    "incident_update": "incident updates",
    "incident_resolved": "incidents resolved",
    "build_broken": "builds broken",
    "build_fixed": "builds fixed",
}


@dataclass(frozen=True)
class DigestOptions:
    """How much of each event a message shows."""

    max_items: int = 10  # per section, before "...and N more"
    message_lines: int = 1  # lines of each commit message
    diff_stats: bool = True
    diff_lines: int = 0  # top lines of each diff; 0 for none


@dataclass(frozen=True)
class Line:
    text: str
    url: str | None = None
    detail: str = ""  # who, which commit, how big
    quote: str = ""  # more of the message, or the top of the diff


@dataclass(frozen=True)
class Section:
    heading: str
    lines: list[Line]
    more: int = 0  # items of the section beyond `lines`


class Timeline(Protocol):
    """The events of a message in the order it may show them, where it may stop, and links
    to what it leaves out. A renderer covers the events up to a stop: each section shows
    its first lines that fit and counts the rest of its events before the stop in a
    "...and N more"; one last "...and N more" counts everything from the stop on."""

    owners: Sequence[int]  # the section of each event, in order

    stops: Sequence[int]  # where a message may stop, ascending from 0

    def rest(self, section: int, shown: int, taken: int, stop: int) -> tuple[int, str | None]:
        """How many of `section`'s first `taken` events (those before `stop`) are not among
        its first `shown` lines, and the link listing exactly them (as long a link whatever
        the stop, so it can be measured before the stop is known)."""
        ...

    def older(self, stop: int) -> tuple[int, int, str | None]:
        """How many events come from `stop` on, in how many sections, and the link listing
        exactly them."""
        ...


@dataclass(frozen=True)
class Mention:
    """Someone a message names so that their platform notifies them: their GitHub login and
    their handle on each platform, from the config's `[people]` (never from event text)."""

    login: str
    handles: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """A digest or an alert, before any platform has formatted it."""

    kind: str  # "digest" or "alert"
    title: str
    summary: str
    sections: list[Section] = field(default_factory=list)
    url: str | None = None  # the activity page for everything this message covers
    severity: str | None = None  # for colours; "sev1" ... or "failure"
    thread_key: str | None = None  # messages about one incident share a thread
    timeline: Timeline | None = None  # digests have one; else `InOrder(message)`
    mentions: tuple[Mention, ...] = ()  # people to notify (a break's suspects)


Listing = Callable[[Filter, Event | None], str]
"""The activity page's URL for what a filter matches: from the newest, or after an event
(the page's keyset cursor)."""


@dataclass(frozen=True)
class Unlisted:
    """Events of a digest's window older than those it lists (there were too many)."""

    count: int = 0
    repos: frozenset[str] = frozenset()
    oldest: datetime | None = None


NONE_UNLISTED = Unlisted()


def digest_message(
    events: Sequence[Event],
    *,
    since: datetime,
    until: datetime,
    options: DigestOptions,
    event_url: Callable[[Event], str],
    listing: Listing,
    rule: Filter | None = None,
    unlisted: Unlisted = NONE_UNLISTED,
    notes: Sequence[str] = (),
    via: Mapping[int, PullRequest] | None = None,
) -> Message:
    """One message for the events of [since, until) that `rule` selects, one section per
    repository (the busiest first), each listing its events newest first as the activity
    page does, so that what a platform leaves out is a link to exactly those events;
    `notes` follow the summary (how long each branch was red), and `via` names the merged PR
    that brought an event, by event id (feed/pulls.py)."""
    ordered = sorted(events, key=lambda e: (e.occurred_at, e.id), reverse=True)
    by_repo: dict[str, list[Event]] = defaultdict(list)
    for event in ordered:
        by_repo[event.repo].append(event)
    repos = sorted(by_repo, key=lambda name: (-len(by_repo[name]), name))
    shown = max(options.max_items, 0)
    sections = [
        Section(
            heading=f"{repo}: {_count_phrase(Counter(e.kind for e in by_repo[repo]))}",
            lines=[event_line(e, options, event_url(e), via) for e in by_repo[repo][:shown]],
            more=max(len(by_repo[repo]) - shown, 0),
        )
        for repo in repos
    ]
    # The activity page shows events by when they happened: from the oldest in the digest.
    times = [e.occurred_at for e in ordered] + [unlisted.oldest] * (unlisted.oldest is not None)
    window = replace(
        rule or Filter(),
        since=min([since, *times]),
        until=max([until, *(moment + timedelta(seconds=1) for moment in times)]),
    )
    span = f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
    summary = _count_phrase(Counter(e.kind for e in ordered)) if ordered else "Nothing shipped."
    if unlisted.count:
        summary += f", and {unlisted.count} older"
    summary = "\n".join([summary, *notes])
    index = {repo: i for i, repo in enumerate(repos)}
    return Message(
        kind="digest",
        title=f"shiplog digest, {span}",
        summary=summary,
        sections=sections,
        url=listing(window, None),
        timeline=EventTimeline(
            ordered, [index[e.repo] for e in ordered], repos, window, listing, unlisted
        ),
    )


class EventTimeline:
    """A digest's events newest first, by `(occurred_at, id)` as the activity page lists
    them. A message stops only between two seconds: then every event it covers happened at
    or after a whole second T, and every one it leaves out before T, so `since=T` and
    `until=T` split the window exactly (and every such link is as long as another)."""

    def __init__(
        self,
        events: Sequence[Event],
        owners: Sequence[int],
        repos: Sequence[str],
        window: Filter,
        listing: Listing,
        unlisted: Unlisted,
    ) -> None:
        self.events, self.owners, self.repos = events, owners, repos
        self.window, self.listing, self.unlisted = window, listing, unlisted
        seconds = [event.occurred_at.replace(microsecond=0) for event in events]
        changes = [i for i in range(1, len(events)) if seconds[i] != seconds[i - 1]]
        # Unlisted events may share the last listed second: the message stops before it.
        end = [len(events)] if events and not unlisted.count else []
        self.stops = [0, *changes, *end]
        self.by_section: list[list[Event]] = [[] for _ in repos]
        for event, owner in zip(events, owners, strict=True):
            self.by_section[owner].append(event)

    def rest(self, section: int, shown: int, taken: int, stop: int) -> tuple[int, str | None]:
        """The repository's events from `stop`'s second on, after its `shown`-th."""
        rule = replace(self.window, repos=(self.repos[section],), since=self._second(stop))
        after = self.by_section[section][shown - 1] if shown else None
        return taken - shown, self.listing(rule, after)

    def older(self, stop: int) -> tuple[int, int, str | None]:
        """The window's events before `stop`'s second."""
        left = self.events[stop:]
        repos = {event.repo for event in left} | self.unlisted.repos
        rule = replace(self.window, until=self._second(stop)) if stop else self.window
        return len(left) + self.unlisted.count, len(repos), self.listing(rule, None)

    def _second(self, stop: int) -> datetime:
        return self.events[stop - 1].occurred_at.replace(microsecond=0)


class InOrder:
    """A message built section by section (an alert, a reminder): each line is an event of
    its own, in the order of the sections; what it leaves out links to the message's page."""

    def __init__(self, message: Message) -> None:
        self.sections, self.url = message.sections, message.url
        self.owners = [i for i, section in enumerate(self.sections) for _ in section.lines]
        self.stops = range(len(self.owners) + 1)

    def rest(self, section: int, shown: int, taken: int, stop: int) -> tuple[int, str | None]:
        """The section's lines not shown, and the items beyond them."""
        return taken - shown + self.sections[section].more, self.url

    def older(self, stop: int) -> tuple[int, int, str | None]:
        """The lines from `stop` on, and the items of the sections not begun."""
        begun = set(self.owners[:stop])
        waiting = [i for i, s in enumerate(self.sections) if i not in begun and s.more]
        count = len(self.owners) - stop + sum(self.sections[i].more for i in waiting)
        return count, len(set(self.owners[stop:]) | set(waiting)), self.url


def alert_message(
    event: Event,
    *,
    options: DigestOptions,
    event_url: str,
    severity: str | None = None,
    via: Mapping[int, PullRequest] | None = None,
) -> Message:
    """One message about one event that someone should hear about now."""
    label = KIND_LABELS[event.kind]
    thread = (
        event.uid.split("/")[0] + "/" + event.uid.split("/")[1]
        if event.kind in INCIDENT_KINDS and "/" in event.uid
        else None
    )
    return Message(
        kind="alert",
        title=f"{label}: {event.title}",
        summary=f"{event.repo}" + (f" · {event.branch}" if event.branch else ""),
        sections=[Section(heading=label, lines=[event_line(event, options, event_url, via)])],
        url=event_url,
        severity=severity
        or ("failure" if event.data.get("state") in ("failure", "error") else None),
        thread_key=thread,
    )


def event_line(
    event: Event,
    options: DigestOptions,
    url: str,
    via: Mapping[int, PullRequest] | None = None,
) -> Line:
    """One event as a line: its title, then kind, author, short sha, diff stat and the
    merged PR that brought it (`via`, by event id)."""
    detail = [KIND_LABELS[event.kind]]
    if event.actor:
        detail.append(event.actor)
    if event.sha:
        detail.append(event.sha[:7])
    stats = event.data.get("stats") if options.diff_stats else None
    if stats:
        files = f"{stats['files']} file{'s' if stats['files'] != 1 else ''}"
        detail.append(f"+{stats['additions']} -{stats['deletions']} in {files}")
    pull = (via or {}).get(event.id)
    if pull is not None:
        title = pull.title if len(pull.title) <= VIA_TITLE else pull.title[: VIA_TITLE - 1] + "…"
        detail.append(f"via #{pull.number} {title}")
    quote_lines = event.body.splitlines()[: max(options.message_lines - 1, 0)]
    if options.diff_lines:
        patch_lines = [
            line for file in event.files if file.patch for line in file.patch.splitlines()
        ]
        quote_lines += patch_lines[: options.diff_lines]
    return Line(text=event.title, url=url, detail=" · ".join(detail), quote="\n".join(quote_lines))


def _count_phrase(counts: Counter[str]) -> str:
    parts = [
        f"{counts[kind]} {PLURALS[kind] if counts[kind] != 1 else KIND_LABELS[kind].lower()}"
        for kind in KIND_ORDER
        if counts[kind]
    ]
    return ", ".join(parts)
