"""Reads of one bounded, indexed select per item, made for many items in a few statements.

A `Lookup` says what one item's select is, given the item's values as SQL expressions. On
SQLite the items' selects are sent as UNION ALLs of UNION_CHUNK parts, each binding its own
values. On PostgreSQL the values go as one array per name and the select is joined
LATERAL to their `unnest`: one statement of constant text however many items there are,
which psycopg parses once and PostgreSQL plans once per connection (prepared), where a
UNION of hundreds of parts was parsed and planned on every request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import FromClause, Result, Select, bindparam, func, select, true, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

UNION_CHUNK = 200  # parts sent as one UNION ALL on SQLite (which allows 500 terms)


@dataclass(frozen=True)
class Values:
    """One item's values as its select reads them: bound parameters, or the columns of
    the unnested arrays (`source`)."""

    columns: Mapping[str, ColumnElement[Any]]
    source: FromClause | None = None

    def __getitem__(self, name: str) -> ColumnElement[Any]:
        return self.columns[name]

    def inner(self, query: Select) -> Select:
        """`query`, a subquery within the item's select, reading the item's values from
        the statement around it rather than listing their arrays among its own tables."""
        return query if self.source is None else query.correlate(self.source)


def _all_rows(found: FromClause) -> Select:
    return select(*found.c)


@dataclass(frozen=True)
class Lookup:
    """What one item's bounded select is (`part`), the names and types of the values each
    item binds (`values`), and the statement made around all the items' rows (`whole`)."""

    values: tuple[tuple[str, TypeEngine[Any]], ...]
    part: Callable[[Values], Select]
    whole: Callable[[FromClause], Select] = _all_rows


def read(session: Session, lookup: Lookup, items: Sequence[Mapping[str, Any]]) -> Iterator[Result]:
    """The results of `lookup` over `items` (each a mapping of its values by name)."""
    if not items:
        return
    if session.get_bind().dialect.name == "postgresql":
        arrays = {name: [item[name] for item in items] for name, _ in lookup.values}
        yield session.execute(_lateral(lookup), arrays)
        return
    for start in range(0, len(items), UNION_CHUNK):
        chunk = items[start : start + UNION_CHUNK]
        bound = {
            f"{name}_{index}": item[name]
            for index, item in enumerate(chunk)
            for name, _ in lookup.values
        }
        yield session.execute(_union(lookup, len(chunk)), bound)


@lru_cache(maxsize=256)
def _union(lookup: Lookup, count: int) -> Select:
    """`count` parts as one UNION ALL, part i binding its values as `name_i` (the statement
    is made once per count: building a few hundred selects cost more than reading them).
    Each part is kept whole in a subquery, as SQLite takes no LIMIT on a compound's member."""
    parts = [
        lookup.part(
            Values({name: bindparam(f"{name}_{i}", type_=kind) for name, kind in lookup.values})
        )
        for i in range(count)
    ]
    members = [select(*part.subquery().c) for part in parts]
    found = union_all(*members) if len(members) > 1 else members[0]
    return lookup.whole(found.subquery())


@lru_cache(maxsize=64)
def _lateral(lookup: Lookup) -> Select:
    """The part joined LATERAL to the `unnest` of one array per value."""
    arrays = [bindparam(name, type_=ARRAY(kind)) for name, kind in lookup.values]
    items = func.unnest(*arrays).table_valued(*(name for name, _ in lookup.values)).render_derived()
    part = lookup.part(Values(dict(items.c.items()), items)).lateral()
    return lookup.whole(select(*part.c).select_from(items).join(part, true()).subquery())
