"""SQLite's page of a filter through the (value, occurred_at, id) index of one of its parts.

Where a part names a few exact values (its kinds; or repositories, branches or authors, a
glob among them standing for the values it expands to), each value's span of that part's
index lists the value's events newest first. Walking each span while checking the rest of
the filter, and stopping at a page, reads only as far back as the page reaches: the timeline
walk would read every other event on the way, and a look-up through the part's index would
sort every event the part matches.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import select, text, tuple_, union_all
from sqlalchemy.orm import Session

from feed.around import Position
from feed.filters import COLUMNS, Drive, Filter, Window, matches_any
from feed.models import Event

# The parts a walk can go through: each value's span of the part's own index (`COLUMNS`)
# lists its events newest first. The walk names no index: it applies the filter with
# `drive=part`, which writes the other parts' columns so that no index serves them, and that
# leaves SQLite this one.
PARTS: tuple[Drive, ...] = tuple(COLUMNS)
MAX_SPANS = 50  # more values than this: each walk's page would cost more than it saves


def values(
    session: Session, filter: Filter, part: Drive, aliases: Collection[str]
) -> list[str] | None:
    """The exact values whose spans a walk through `part` goes through, or None if it
    cannot: not a part with such an index, a glob that starts with `*` (no index range
    finds it), or more than `MAX_SPANS` values."""
    if part not in PARTS or not getattr(filter, part):
        return None
    if part == "kinds":
        return list(filter.expanded_kinds())
    column = COLUMNS[part]
    found: set[str] = set(aliases) if part == "authors" else set()
    for glob in getattr(filter, part):
        if "*" not in glob:
            found.add(glob)
            continue
        prefix = glob.split("*", 1)[0]
        if not prefix or ord(prefix[-1]) == 0x10FFFF:
            return None
        distinct = _distinct(session, column, prefix, MAX_SPANS + 1)
        if len(distinct) > MAX_SPANS:
            return None
        found.update(value for value in distinct if matches_any((glob,), value))
    return sorted(found) if len(found) <= MAX_SPANS else None


def page(
    session: Session,
    filter: Filter,
    part: Drive,
    spans: Sequence[str],
    windows: Sequence[Window] | None,
    aliases: Collection[str],
    position: Position | None,
    limit: int,
    *,
    searched: bool = False,
) -> list[Event]:
    """`limit` + 1 events of `filter` after `position`, newest first: the newest `limit` + 1
    of each value's span of `part`'s index (`spans`, as `values` gives them), merged. With
    `searched`, the search index narrows each span before its events are read."""
    column = COLUMNS[part]
    rest = replace(filter, **{part: ()}).apply(
        select(Event.id, Event.occurred_at),
        windows=windows,
        drive=part,
        aliases=aliases,
        searched=searched,
    )
    newest_first = (Event.occurred_at.desc(), Event.id.desc())
    walks = []
    for value in spans:
        walk = rest.where(column == value)
        if position is not None:
            walk = walk.where(tuple_(Event.occurred_at, Event.id) < position)
        walk = walk.order_by(*newest_first).limit(limit + 1).subquery()
        walks.append(select(walk.c.id, walk.c.occurred_at))
    if not walks:
        return []
    merged = union_all(*walks).subquery()
    ids = (
        select(merged.c.id)
        .order_by(merged.c.occurred_at.desc(), merged.c.id.desc())
        .limit(limit + 1)
    )
    return list(session.scalars(select(Event).where(Event.id.in_(ids)).order_by(*newest_first)))


def _distinct(session: Session, column: Any, prefix: str, most: int) -> list[str]:
    """Up to `most` distinct values of `column` that start with `prefix`, each found by one
    seek in the column's index (a skip scan), not by reading every event between them."""
    name = column.name
    high = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # UTF-8 sorts as the code points do
    first = f"SELECT min({name}) FROM events WHERE {name} >= :low AND {name} < :high"
    then = f"SELECT min({name}) FROM events WHERE {name} > seen.value AND {name} < :high"
    skip = text(
        f"WITH RECURSIVE seen(value) AS (SELECT ({first}) UNION ALL "
        f"SELECT ({then}) FROM seen WHERE seen.value IS NOT NULL) "
        "SELECT value FROM seen WHERE value IS NOT NULL LIMIT :most"
    )
    return list(session.scalars(skip, {"low": prefix, "high": high, "most": most}))
