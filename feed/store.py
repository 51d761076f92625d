"""Writes and reads of the timeline: idempotent upserts and keyset-paginated queries."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, delete, func, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from feed import around, reverts, search, walk
from feed.filters import (
    DRIVERS,
    ORED,
    PAIRS,
    Drive,
    Filter,
    merged,
    other_names,
    touching,
    unindexed,
)
from feed.models import (
    FILE_KINDS,
    AuthorAlias,
    BuildResult,
    Delivery,
    Event,
    EventFile,
    Incident,
    Repo,
    SyncState,
)
from feed.records import COLUMN_LIMITS, EventRecord, FileRecord

MAX_ID = 2**63 - 1
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# How many of the newest events a SQLite listing tests its filter on: first, before the
# indexes; then as far as their pace says a page reaches, if no further than the second.
SCAN_DEPTHS = (5_000, 25_000, 100_000)
# Events one index may find for a walk through it, checking the rest, to beat a deeper scan
# (on PostgreSQL, to beat the planner's plan where it misjudges: see `_planned`).
FEW = 2_000  # a part this small is walked without counting the others further
# How much further back than the newest events' pace says a second scan reaches.
RESCAN_MARGIN = 1.5
LOOKUP_COST = 4  # an event found through an index and sorted, against one scanned
SEARCH_GAIN = 2  # SQLite: events the search index gathers for the cost of one read and tested
SAMPLE = 1_000  # the newest events whose share of each part of a filter steers the plan
MANY = 10_000  # PostgreSQL: a part this common with text may mislead the planner (_planned)
SEARCHED = 5_000  # PostgreSQL: text and a part found together when they match about this many

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The key of a record's `data` that names its author as git knows them, beside the login
# the record keeps as its actor: the two are remembered as one author's (AuthorAlias).
AUTHOR_NAME = "author_name"

UpsertResult = Literal["created", "updated", "unchanged"]


class InvalidCursor(ValueError):
    """A cursor that this store did not make."""


@dataclass(frozen=True)
class Page:
    """One page of the timeline, newest first, and the cursor of the next one."""

    events: list[Event]
    next_cursor: str | None


def upsert_event(session: Session, record: EventRecord, *, replace: bool = False) -> UpsertResult:
    """Store `record` once by its uid.

    A uid seen before changes nothing, unless `replace` is set and the record is newer
    (its `updated_at` is later than the stored one): then the stored event takes its text,
    data and files.
    """
    return upsert_events(session, [record], replace=replace)[0]


def upsert_events(
    session: Session, records: Sequence[EventRecord], *, replace: bool = False
) -> list[UpsertResult]:
    """`upsert_event` for each record, in order, with one INSERT for all of them."""
    if not records:
        return []
    events = Event.__table__
    now = datetime.now(UTC)
    # A Core statement with parameters: compiled once and cached, unlike ORM values().
    insert = insert_for(session)(events).on_conflict_do_nothing(index_elements=["uid"])
    rows = [
        {
            **_values(record),
            "ingested_at": now,
            "diff_state": record.diff_state,
            "reverts_ref": record.reverts_ref,
        }
        for record in records
    ]
    new = {
        uid: event_id
        for uid, event_id in session.execute(insert.returning(events.c.uid, events.c.id), rows)
    }
    outcomes: list[UpsertResult] = []
    created: list[tuple[int, EventRecord]] = []
    for record in records:
        event_id = new.pop(record.uid, None)  # a uid twice in one batch is created once
        if event_id is not None:
            created.append((event_id, record))
            outcomes.append("created")
        elif replace:
            outcomes.append(_replace(session, record))
        else:
            outcomes.append("unchanged")
    _add_files(session, [(event_id, record.files) for event_id, record in created])
    reverts.link(session, [(i, r) for i, r in created if r.kind in reverts.COMMIT_KINDS])
    _add_aliases(session, records)
    return outcomes


def author_aliases(session: Session, authors: Sequence[str]) -> frozenset[str]:
    """The actors that go by one of the `authors` globs under another name (a login for a
    git name, a git name for a login), for `Filter.matches`."""
    if not authors:
        return frozenset()
    return frozenset(session.scalars(other_names(authors)))


def _values(record: EventRecord) -> dict[str, Any]:
    return {
        "uid": record.uid,
        "kind": record.kind,
        "repo": record.repo,
        "branch": record.branch,
        "actor": record.actor,
        "sha": record.sha,
        "title": scrub(record.title),
        "body": scrub(record.body),
        "url": scrub(record.url),
        "occurred_at": record.occurred_at,
        "updated_at": record.updated_at or record.occurred_at,
        "data": scrub(record.data),
    }


def _replace(session: Session, record: EventRecord) -> UpsertResult:
    values = _values(record)
    existing = session.scalars(select(Event).where(Event.uid == record.uid).with_for_update()).one()
    if values["updated_at"] <= existing.updated_at:
        return "unchanged"
    for name, value in values.items():
        setattr(existing, name, value)
    existing.occurred_at = min(existing.occurred_at, record.occurred_at)
    if record.files:
        session.execute(delete(EventFile).where(EventFile.event_id == existing.id))
        _add_files(session, [(existing.id, record.files)])
    session.flush()
    return "updated"


def attach_files(
    session: Session, uid: str, files: Sequence[FileRecord], *, stats: dict[str, int]
) -> bool:
    """Give a stored commit its fetched files and patches; False if there is no such event."""
    event = session.scalars(select(Event).where(Event.uid == uid).with_for_update()).one_or_none()
    if event is None:
        return False
    if files and event.kind not in FILE_KINDS:
        raise ValueError(f"store: a {event.kind} carries no files")
    session.execute(delete(EventFile).where(EventFile.event_id == event.id))
    _add_files(session, [(event.id, files)])
    event.diff_state = "fetched"
    event.data = {**event.data, "stats": stats}
    return True


def diff_states(session: Session, uids: Sequence[str]) -> dict[str, str | None]:
    """For each stored uid among `uids`, its diff_state."""
    found: dict[str, str | None] = {}
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        rows = session.execute(select(Event.uid, Event.diff_state).where(Event.uid.in_(chunk)))
        found.update((uid, state) for uid, state in rows)
    return found


def delete_event(session: Session, uid: str) -> bool:
    """Remove the event named `uid`; True if there was one."""
    result = session.execute(delete(Event).where(Event.uid == uid))
    return bool(result.rowcount)


def upsert_repo(
    session: Session,
    full_name: str,
    *,
    html_url: str | None = None,
    default_branch: str | None = None,
    is_demo: bool = False,
) -> None:
    """Remember a repository; a known one keeps its row and gains what was missing."""
    repos = Repo.__table__
    stmt = insert_for(session)(repos)
    stmt = stmt.on_conflict_do_update(
        index_elements=["full_name"],
        set_={
            "html_url": func.coalesce(stmt.excluded.html_url, repos.c.html_url),
            "default_branch": func.coalesce(stmt.excluded.default_branch, repos.c.default_branch),
        },
    )
    row = {
        "full_name": full_name,
        "html_url": html_url,
        "default_branch": default_branch,
        "is_demo": is_demo,
        "first_seen_at": datetime.now(UTC),
    }
    session.execute(stmt, row)


def claim_delivery(
    session: Session, delivery_id: str, event: str, action: str | None, repo: str | None
) -> Delivery | None:
    """Record a webhook delivery; None if that delivery id was received before."""
    deliveries = Delivery.__table__
    stmt = insert_for(session)(deliveries).on_conflict_do_nothing(index_elements=["delivery_id"])
    row = {
        "delivery_id": delivery_id,
        "event": event,
        "action": action,
        "repo": repo,
        "outcome": "received",
        "detail": "",
        "events_created": 0,
        "received_at": datetime.now(UTC),
    }
    row_id = session.scalar(stmt.returning(deliveries.c.id), row)
    return None if row_id is None else session.get(Delivery, row_id)


def list_events(
    session: Session,
    filter: Filter,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
    scan_depths: Sequence[int] = SCAN_DEPTHS,
) -> Page:
    """The page of events matching `filter`, newest first, after `cursor`.

    A filter that cannot match (`Filter.cannot_match`) answers an empty page without
    reading the events.
    On SQLite the filter is first tested on the newest events, walking the timeline index
    and stopping when the page is full: quick for a filter that matches many. If the newest
    few thousand do not fill the page, a part (or a kind and a branch together) whose own
    index finds fewer than `FEW` is read through it (each count stops at the smallest so
    far: a part that matches nothing answers at once); else the plan that reads fewest rows
    by each part's share of the newest events (`_cheapest`): a deeper scan, a walk of one
    part's index value by value (`feed.walk`), a look-up through one part's index, or the
    incidents' windows (`feed.around`). PostgreSQL's planner weighs the whole filter
    itself, but for a kind and a branch, and for text with a part that finds few or with a
    common part its text indexes hold (`_planned`). Every way selects the same events.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    position = decode_cursor(cursor) if cursor else None
    if position is not None and filter.until is not None:
        # One upper bound, the tighter (the same events): given `until` and a position, a
        # walk of the timeline index started at the later of the two and read down to the
        # other (16 ms at a million events for a page that has none).
        if filter.until <= position[0]:
            position = None
        else:
            filter = replace(filter, until=None)
    aliases = author_aliases(session, filter.authors)
    if filter.cannot_match(aliases=aliases):
        return Page([], None)
    filter = filter.without_implied(aliases=aliases)
    windows = incident_windows(session) if filter.around else None
    if session.get_bind().dialect.name != "sqlite":
        events = _planned(session, filter, windows, aliases, position, limit, scan_depths)
    elif not _narrows_more_than_time(filter):
        stmt = filter.apply(select(Event), windows=windows, aliases=aliases)
        events = _page(session, stmt, position, limit)
    else:
        events = _scan_then_look_up(session, filter, windows, aliases, position, limit, scan_depths)
    next_cursor = encode_cursor(events[limit - 1]) if len(events) > limit else None
    return Page(events[:limit], next_cursor)


Position = around.Position
Window = around.Window


def _planned(
    session: Session,
    filter: Filter,
    windows: list[Window] | None,
    aliases: frozenset[str],
    position: Position | None,
    limit: int,
    depths: Sequence[int],
) -> list[Event]:
    """PostgreSQL's page: the planner's plan of the whole filter, unless a kind and a branch
    glob are given, or text or `around` with other parts. Then the part (or the kind and the
    branch together) whose own index finds fewer than `FEW` events is read through it, each
    event checked against the rest, and sorted; none found answers at once.

    Taking the parts for independent, the planner expects a page soon along one part's index
    and may read it to the end (all 40,000 deployments for `kind=deployment&branch=feature/*`);
    and it takes the trigram index for cheap where common text makes it read tens of
    thousands of entries (75 ms for "session timeout" at a million events; the page of one
    author's 1,860 events with that text took 104 ms that way, 54 ms through the author's
    index). Text itself is not counted: the trigram index cannot stop at a bound. With
    `around`, the planner took the incidents' windows for common and walked the timeline
    (one author's 1,860 events around incidents: 39 ms at a million events, 14 ms through
    the author's index; the counts add 1 to 2 ms to the median of the `around` shapes).
    Otherwise its own plan did as well as a look-up in the benchmark's shapes.

    Text within a time window of fewer than `FEW` events is tested on each of them, read
    through the timeline index: the planner intersected the window with the text indexes'
    look-up (34 ms for common text and one day's 914 events at a million; 2 ms this way).

    Text with a part the text indexes hold that matches `MANY` or more has the planner
    expect a page soon along that part's index (every deployment walked for
    `kind=deployment&q=session timeout`, 220 ms): `_newest_then_searched` looks first.
    """
    if _narrows_more_than_time(filter):
        pairs = _pairs(filter)
        parts = _parts(filter, pairs, text=False) if filter.q or filter.around else pairs
        few = _most_selective(session, filter, aliases, FEW, parts)
        if few:
            return _driven(session, filter, few, windows, aliases, position, limit)
        if filter.q and (filter.since or filter.until):
            window = _newest_first(filter, position)
            if _count(session, window, FEW) < FEW:  # the timeline's few events, each tested
                return _since(
                    session, filter, None, windows, aliases, position, limit, drive="time"
                )
        searched = _searched_with(filter)
        if searched is not None:
            alone = _only(filter, searched).apply(select(Event.id), drive=searched, aliases=aliases)
            if _count(session, alone, MANY) == MANY:
                depth = min(depths[0], SAMPLE) if depths else 0
                return _newest_then_searched(
                    session, filter, searched, windows, aliases, position, limit, depth
                )
    stmt = filter.apply(select(Event), windows=windows, aliases=aliases)
    return _page(session, stmt, position, limit)


def _searched_with(filter: Filter) -> Drive | None:
    """The part of `filter` that its text is found with in the text indexes on PostgreSQL,
    which hold the kind, repository, branch and actor beside the trigrams
    (`search.POSTGRES_INDEXES`): the kinds, or repositories, branches or authors named
    exactly (a glob is a LIKE, which those indexes cannot serve); None without text."""
    if not filter.q or len(filter.q) < search.MIN_INDEXED:
        return None
    for part in ("kinds", "repos", "branches", "authors"):
        values = getattr(filter, part)
        if values and not any("*" in value for value in values):
            return part
    return None


def _newest_then_searched(
    session: Session,
    filter: Filter,
    part: Drive,
    windows: list[Window] | None,
    aliases: frozenset[str],
    position: Position | None,
    limit: int,
    depth: int,
) -> list[Event]:
    """PostgreSQL's page of text with a common part its text indexes hold (`_searched_with`):
    first the part's events among the newest `depth`, read through its own index. If they
    do not fill the page but show the filter to match about `SEARCHED` events or fewer, the
    text indexes find them all (each intersects the text with the part inside the index)
    and they are sorted; if more, the planner's walk along an index finds a page soon."""
    low = session.scalar(_newest_first(filter, position).offset(depth).limit(1))
    events = _since(session, filter, low, windows, aliases, position, limit, drive=part)
    if len(events) > limit or low is None:
        return events
    total = _about_how_many(session)
    few = len(events) * total <= SEARCHED * max(depth, 1)
    stmt = filter.apply(select(Event), windows=windows, aliases=aliases)
    return _page(session, stmt, position, limit, by_timeline=not few)


def _page(
    session: Session,
    stmt: Select[tuple[Event]],
    position: Position | None,
    limit: int,
    *,
    by_timeline: bool = True,
) -> list[Event]:
    """`limit` + 1 events of `stmt` after `position`, newest first. Without `by_timeline`
    the order is not taken from the timeline index, so another index finds the rows."""
    newest_first = (Event.occurred_at.desc(), Event.id.desc())
    if by_timeline:
        if position is not None:
            stmt = stmt.where(tuple_(Event.occurred_at, Event.id) < position)
        return list(session.scalars(stmt.order_by(*newest_first).limit(limit + 1)))
    # Sort the ids the other index finds (narrow rows), then fetch only the page's events.
    when, ident = unindexed(Event.occurred_at), unindexed(Event.id)
    ids = stmt.with_only_columns(Event.id)
    if position is not None:
        ids = ids.where(tuple_(when, ident) < position)
    ids = ids.order_by(when.desc(), ident.desc()).limit(limit + 1)
    return list(session.scalars(select(Event).where(Event.id.in_(ids)).order_by(*newest_first)))


def _scan_then_look_up(
    session: Session,
    filter: Filter,
    windows: list[Window] | None,
    aliases: frozenset[str],
    position: Position | None,
    limit: int,
    depths: Sequence[int],
) -> list[Event]:
    newest_first = _newest_first(filter, position)

    def scan(
        low: datetime | None, before: datetime | None = None, wanted: int = limit
    ) -> list[Event]:
        """The page among the events since `low` (all, if None), testing each in turn; with
        `before`, only the events older than it, where an earlier scan stopped."""
        start = position if before is None else (before, 0)
        return _since(session, filter, low, windows, aliases, start, wanted, drive="time")

    top = session.scalar(newest_first.limit(1))
    bound = session.scalar(newest_first.offset(depths[0]).limit(1)) if depths else None
    events = scan(bound)
    if len(events) > limit or bound is None:
        return events
    spans = {
        part: found
        for part in walk.PARTS
        if (found := walk.values(session, filter, part, aliases)) is not None
    }
    if any(not found for found in spans.values()):
        return []  # a part none of whose values has an event
    few = _most_selective(session, filter, aliases, FEW, _parts(filter, [*_pairs(filter), *spans]))
    if few in spans:
        return walk.page(session, filter, few, spans[few], windows, aliases, position, limit)
    if few:
        return _driven(session, filter, few, windows, aliases, position, limit)
    low = session.scalar(newest_first.offset(min(SAMPLE, depths[0])).limit(1)) or bound
    pace = max(len(events), 0.5) / depths[0]  # none among them: fewer than one
    how, part, reach, searched = _cheapest(
        session, filter, spans, windows, aliases, position, low, pace
    )
    if how == "around":
        return around.page(session, filter, windows, aliases, position, limit)
    if how == "walk":
        return walk.page(
            session, filter, part, spans[part], windows, aliases, position, limit, searched=searched
        )
    if how == "drive":
        return _driven(session, filter, part, windows, aliases, position, limit, searched=searched)
    if how == "bots":
        return _since(
            session,
            filter,
            None,
            windows,
            aliases,
            position,
            limit,
            drive=part,
            searched=searched,
            bots_index=True,
        )
    deeper = session.scalar(newest_first.offset(round(reach * RESCAN_MARGIN)).limit(1))
    # Then further back: events arrive at a steady pace, so the time the first depth spans,
    # stretched; at last, all. Each scan reads on from where the last stopped.
    stretched = (top - (top - bound) * (depth / depths[0]) for depth in depths[1:])
    reached = bound
    for low in (deeper, *stretched, None):
        if low is not None and low >= reached:
            continue  # no further back than the scans so far
        events += scan(low, before=reached, wanted=limit - len(events))
        if len(events) > limit or low is None:
            break
        reached = low
    return events


def _newest_first(filter: Filter, position: Position | None) -> Select[tuple[datetime]]:
    """The times of the events within `filter`'s since and until after `position`, newest
    first: the timeline index alone, to find how far back a depth reaches."""
    stmt = Filter(since=filter.since, until=filter.until).apply(select(Event.occurred_at))
    if position is not None:
        stmt = stmt.where(tuple_(Event.occurred_at, Event.id) < position)
    return stmt.order_by(Event.occurred_at.desc(), Event.id.desc())


def _since(
    session: Session,
    filter: Filter,
    low: datetime | None,
    windows: list[Window] | None,
    aliases: frozenset[str],
    position: Position | None,
    limit: int,
    *,
    drive: Drive | None,
    searched: bool = False,
    bots_index: bool = False,
) -> list[Event]:
    """The page among the events since `low` (all, if None); `searched` and `bots_index` as
    `Filter.apply` takes them."""
    near = None if windows is None else _overlapping(windows, low, position)
    # One lower bound: with two, SQLite may walk down to the looser one.
    tighter = low is not None and (filter.since is None or filter.since < low)
    within = replace(filter, since=low) if tighter else filter
    stmt = within.apply(
        select(Event),
        windows=near,
        drive=drive,
        aliases=aliases,
        searched=searched,
        bots_index=bots_index,
    )
    return _page(session, stmt, position, limit)


Plan = Literal["scan", "walk", "drive", "around", "bots"]


def _cheapest(
    session: Session,
    filter: Filter,
    spans: dict[Drive, list[str]],
    windows: list[Window] | None,
    aliases: frozenset[str],
    position: Position | None,
    low: datetime,
    pace: float,
) -> tuple[Plan, Drive, float, bool]:
    """The plan that reads fewest rows, by how often each part of `filter` matches among
    the newest events (since `low`), and by `pace`, the share of the newest events that
    matched the whole filter; the rows a scan would read to fill a page; and whether the
    search index should narrow a walk or a look-up (`Filter.apply`'s `searched`).

    Read for a page: a scan, the newest events until enough match the whole filter; a walk
    (`feed.walk`), in each of a part's spans until enough match the rest, at most all of
    them; a look-up (`_driven`), every event one part's index finds, costlier a row as it
    sorts them; `around` (`feed.around`), the incidents' windows until enough match the
    rest; `bots`, where every author named is a bot, their own index (`BOTS_INDEX`) newest
    first until enough match the rest. The search index pays where it finds fewer than
    `SEARCH_GAIN` times the events the plan would read (it gathers every one it finds; the
    plan reads each row's text).
    """
    parts: list[Drive] = [part for part in DRIVERS if getattr(filter, part)]
    counts = _sample(session, filter, parts, windows, aliases, position, low)
    sampled = max(counts.pop("all"), 1)
    page = DEFAULT_LIMIT + 1
    total = _about_how_many(session)
    reach = page / pace
    plans: list[tuple[Plan, Drive, float]] = [("scan", "time", reach)]  # (how, part, rows)
    for part, matched in counts.items():
        share = max(matched, 0.5) / sampled
        if part in spans:
            plans.append(("walk", part, min(share * total, len(spans[part]) * page * share / pace)))
        elif part == "around":
            plans.append(("around", part, page * share / pace))
        elif _countable(filter, part):
            plans.append(("drive", part, share * total))
        if part == "authors" and filter.only_bots(aliases=aliases):
            plans.append(("bots", part, min(share * total, page * share / pace)))
    # A row a look-up finds costs LOOKUP_COST rows read in order: it is sorted with the rest.
    how, part, rows = min(
        plans, key=lambda plan: plan[2] * (LOOKUP_COST if plan[0] == "drive" else 1)
    )
    searched = "q" in counts and max(counts["q"], 0.5) / sampled * total < SEARCH_GAIN * rows
    return how, part, reach, searched


def _sample(
    session: Session,
    filter: Filter,
    parts: Sequence[Drive],
    windows: list[Window] | None,
    aliases: frozenset[str],
    position: Position | None,
    low: datetime,
) -> dict[str, int]:
    """How many of the events since `low` (after `position`, within `since`/`until`) each
    part of `filter` matches on its own, and how many there are ("all")."""
    alone = {part: _only(filter, part).apply(select(Event.id), aliases=aliases) for part in parts}
    if windows is not None:
        alone["around"] = Filter(around="incidents").apply(select(Event.id), windows=windows)
    stmt = Filter(since=max(filter.since or low, low), until=filter.until).apply(
        select(func.count(), *(func.count().filter(each.whereclause) for each in alone.values()))
    )
    if position is not None:
        stmt = stmt.where(tuple_(Event.occurred_at, Event.id) < position)
    row = session.execute(stmt).one()
    return {"all": row[0], **dict(zip(alone, row[1:], strict=True))}


def _countable(filter: Filter, part: Drive) -> bool:
    """Whether an index finds the events of `part`: not a glob that starts with `*`, nor
    text too short for the search index."""
    if part == "q":
        return bool(filter.q) and len(filter.q) >= search.MIN_INDEXED
    if part in PAIRS:
        return all(getattr(filter, each) and _countable(filter, each) for each in PAIRS[part])
    return not any(value.startswith("*") for value in getattr(filter, part))


def _driven(
    session: Session,
    filter: Filter,
    driver: Drive,
    windows: list[Window] | None,
    aliases: frozenset[str],
    position: Position | None,
    limit: int,
    *,
    searched: bool = False,
) -> list[Event]:
    """The page through `driver`'s own index: every event it finds, sorted. With `searched`,
    text narrows those through the search index before they are read (`Filter.apply`):
    worth it when the driver finds many (40,000 deployments with common text at a million
    events: 45 ms reading each one's text, 20 ms that way), not when it finds a few."""
    stmt = filter.apply(
        select(Event), windows=windows, drive=driver, aliases=aliases, searched=searched
    )
    return _page(session, stmt, position, limit, by_timeline=False)


def _overlapping(
    windows: list[Window], low: datetime | None, position: Position | None
) -> list[Window]:
    """The incident windows that reach into the span a scan covers."""
    return [
        (start, end)
        for start, end in windows
        if (low is None or end is None or end >= low) and (position is None or start <= position[0])
    ]


def _most_selective(
    session: Session,
    filter: Filter,
    aliases: frozenset[str],
    bound: int,
    parts: Sequence[Drive],
) -> Drive | None:
    """Of `parts` (see `_parts`), the one whose own index finds fewest events, if fewer than
    `bound` (the first of equals wins). Each count stops at the fewest found so far, so a
    part that matches nothing answers at once.
    """
    best: tuple[int, Drive] | None = None
    narrower: set[Drive] = set()  # the parts of a pair found fewer: never fewer alone
    for part in parts:
        if part in narrower:
            continue
        limit = bound if best is None else best[0]
        if part in ORED:  # each value apart
            found = _count_each(session, filter.alternatives(part, aliases=aliases), limit)
        else:
            found = _count(session, _alone(filter, part, aliases), limit)
        if found < limit:
            best = (found, part)
            narrower.update(PAIRS.get(part, ()))
            if found == 0:
                break
    return best[1] if best else None


def _alone(filter: Filter, part: Drive, aliases: frozenset[str]) -> Select[tuple[int]]:
    """The ids that `part` of `filter` selects on its own, through its own index."""
    if part == "q":  # the index alone: a few more than LIKE keeps, never fewer
        return search.matching_ids(filter.q)
    if part == "paths":  # files, not events: at least as many, and no list to build
        return touching(filter.paths)
    return _only(filter, part).apply(select(Event.id), drive=part, aliases=aliases)


def _about_how_many(session: Session) -> int:
    """About how many events there are: the newest id, read off the primary key."""
    return session.scalar(select(func.max(Event.id))) or 0


def _count(session: Session, ids: Select[tuple[int]], bound: int) -> int:
    """How many rows `ids` selects, counting no further than `bound`."""
    return session.scalar(select(func.count()).select_from(ids.limit(bound).subquery())) or 0


def _count_each(session: Session, conditions: Sequence[ColumnElement[bool]], bound: int) -> int:
    """How many events the `conditions` select, each counted apart (no further than
    `bound`) and summed: an event two of them select counts twice, so a part is never found
    fewer than it is. One range of an index each: given their OR and a bound, PostgreSQL's
    planner read an index from its start, past every event before the first that matched
    (45 ms to count 2,000 events of `author=dev1*` with its 100 git names at a million)."""
    counts = [
        select(func.count())
        .select_from(select(Event.id).where(condition).limit(bound).subquery())
        .scalar_subquery()
        for condition in conditions
    ]
    return min(sum(session.execute(select(*counts)).one()), bound)


def _parts(filter: Filter, first: Sequence[Drive] = (), *, text: bool = True) -> list[Drive]:
    """`first`, then the other parts of `filter` that an index finds (`_countable`), text last
    (the costliest to count; not at all without `text`)."""
    others = [
        part
        for part in DRIVERS
        if part not in first and getattr(filter, part) and _countable(filter, part)
    ]
    return [*first, *(part for part in others if text or part != "q")]


def _pairs(filter: Filter) -> list[Drive]:
    """The pairs of parts (`PAIRS`) that `filter` gives both of, each counted and found
    through the index of both."""
    return [pair for pair in PAIRS if _countable(filter, pair)]


def _only(filter: Filter, part: Drive) -> Filter:
    """`filter`'s `part` alone (both parts of a pair)."""
    return Filter(**{each: getattr(filter, each) for each in PAIRS.get(part, (part,))})


def _narrows_more_than_time(filter: Filter) -> bool:
    return Filter(since=filter.since, until=filter.until) != filter


def incident_windows(session: Session) -> list[Window]:
    """The spans "around" active incidents, overlapping ones merged, oldest first; an open
    incident's span has no end."""
    spans = session.execute(
        select(Incident.window_start, Incident.window_end).where(Incident.active)
    )
    return merged([(start, end) for start, end in spans])


def get_event(session: Session, event_id: int) -> Event | None:
    """One event with its files, or None."""
    if not 0 < event_id <= MAX_ID:
        return None
    return session.scalars(
        select(Event).where(Event.id == event_id).options(selectinload(Event.files))
    ).one_or_none()


def count_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


# What else a demo repository has, by the column that names it.
DEMO_ROWS = (
    (Incident, Incident.repo),
    (BuildResult, BuildResult.repo),
    (SyncState, SyncState.repo),
    (Delivery, Delivery.repo),
    (Repo, Repo.full_name),
)


def demo_repos(session: Session) -> list[str]:
    """Names of the repositories that hold demo data."""
    return list(session.scalars(select(Repo.full_name).where(Repo.is_demo).order_by(Repo.id)))


def remove_demo(session: Session) -> int:
    """Delete everything of the demo repositories: events (their files go with them),
    incidents, build results, sync state, the deliveries that brought them (so loading the
    demo again delivers it all again), the repositories, and the names only their events
    gave. The number of events removed. The demo queues no jobs: none to remove."""
    names = demo_repos(session)
    if not names:
        return 0
    demo_aliases = _aliases_of(session, Event.repo.in_(names))
    removed = session.execute(delete(Event).where(Event.repo.in_(names))).rowcount
    for model, column in DEMO_ROWS:
        session.execute(delete(model).where(column.in_(names)))
    for login, name in demo_aliases - _aliases_of(session, Event.actor.in_(_logins(demo_aliases))):
        session.execute(
            delete(AuthorAlias).where(AuthorAlias.login == login, AuthorAlias.name == name)
        )
    return removed or 0


def _aliases_of(session: Session, where: Any) -> set[tuple[str, str]]:
    """The (login, git name) pairs the events `where` selects give their authors."""
    rows = session.execute(select(Event.actor, Event.data).where(where, Event.actor.is_not(None)))
    return {
        (actor, data[AUTHOR_NAME])
        for actor, data in rows
        if isinstance(data.get(AUTHOR_NAME), str) and data[AUTHOR_NAME] != actor
    }


def _logins(pairs: set[tuple[str, str]]) -> list[str]:
    return sorted({login for login, _ in pairs})


def encode_cursor(event: Event) -> str:
    """An opaque cursor that resumes the timeline after `event`."""
    micros = (event.occurred_at - EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}.{event.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (occurred_at, id) a cursor resumes after; InvalidCursor if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros, event_id = raw.split(".")
        when = EPOCH + timedelta(microseconds=int(micros))
        ident = int(event_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError) as exc:
        raise InvalidCursor("cursor: not a cursor this server made") from exc
    if not 0 < ident <= MAX_ID or len(cursor) > 64:
        raise InvalidCursor("cursor: not a cursor this server made")
    return when, ident


def scrub(value: Any) -> Any:
    """`value` without NUL characters, which PostgreSQL refuses in text and JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _add_aliases(session: Session, records: Sequence[EventRecord]) -> None:
    """Remember each login and git name a record gives its author, once (every record, not
    only new ones: a push brings the login of a commit imported from git by name)."""
    pairs = {
        (record.actor, name)
        for record in records
        if record.actor
        and isinstance(name := record.data.get(AUTHOR_NAME), str)
        and name
        and name != record.actor
        and len(name) <= COLUMN_LIMITS["actor"]
    }
    if pairs:
        rows = [{"login": login, "name": scrub(name)} for login, name in sorted(pairs)]
        aliases = AuthorAlias.__table__
        session.execute(insert_for(session)(aliases).on_conflict_do_nothing(), rows)


def _add_files(session: Session, files_of: Sequence[tuple[int, Sequence[FileRecord]]]) -> None:
    """Insert the files of each (event id, files), in one statement."""
    rows = [
        {
            "event_id": event_id,
            "position": position,
            "path": scrub(file.path),
            "status": file.status,
            "previous_path": scrub(file.previous_path),
            "additions": file.additions,
            "deletions": file.deletions,
            "patch": scrub(file.patch),
            "patch_status": file.patch_status,
        }
        for event_id, files in files_of
        for position, file in enumerate(files)
    ]
    if rows:
        session.execute(insert(EventFile.__table__), rows)


def insert_for(session: Session):  # type: ignore[no-untyped-def]
    """The INSERT construct of the session's dialect, for ON CONFLICT upserts."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"store: unsupported database {name!r}")
