"""The one Filter: read from query args or subscription JSON, applied to SQL, written back to URLs.

Globs: `*` matches any run of characters (slashes included); everything else is literal.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, time
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import quote, urlencode

from sqlalchemy import (
    Boolean,
    CompoundSelect,
    DateTime,
    Integer,
    Select,
    String,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.dialects.postgresql import TSTZMULTIRANGE
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.sql.visitors import InternalTraversal

from feed import search
from feed.models import (
    BUILD_KINDS,
    FILE_KINDS,
    INCIDENT_KINDS,
    KINDS,
    AuthorAlias,
    Event,
    EventFile,
)

GROUPS = {"incident": INCIDENT_KINDS, "build": BUILD_KINDS}  # a kind= that means several
KIND_CHOICES = (*KINDS, *GROUPS)
MAX_VALUES = 20
MAX_LENGTH = {
    "repo": 200,
    "kind": 32,
    "branch": 255,
    "author": 200,
    "path": 1024,
    "q": 200,
    "around": 32,
    "bots": 32,
}
REPO_PATTERN = re.compile(r"[A-Za-z0-9_.*-]+/[A-Za-z0-9_.*-]+")
COMMA_SEPARATED = {"repo", "kind", "branch", "author"}
FIELDS = {
    "repo": "repos",
    "kind": "kinds",
    "branch": "branches",
    "author": "authors",
    "path": "paths",
}
FILTER_NAMES = frozenset({*FIELDS, "q", "since", "until", "around", "bots"})
AROUND_CHOICES = ("incidents",)
Window = tuple[datetime, datetime | None]  # an incident's span; an open one has no end
Drive = Literal[
    "time", "repos", "kinds", "branches", "authors", "paths", "q", "around", "kind_branch"
]
# A drive that keeps two parts' columns indexed: their index of both finds the rows.
PAIRS: dict[Drive, tuple[Drive, ...]] = {"kind_branch": ("kinds", "branches")}
# The parts of a filter that can find events through an index of their own.
DRIVERS: tuple[Drive, ...] = ("repos", "kinds", "branches", "authors", "paths", "q")
# The parts that name values of one column of the events, each with an index of its own
# (value, occurred_at, id); and of those, the ones whose values (globs among them, and the
# authors' other names) `apply` ORs.
COLUMNS: dict[Drive, Any] = {
    "kinds": Event.kind,
    "repos": Event.repo,
    "authors": Event.actor,
    "branches": Event.branch,
}
ORED: tuple[Drive, ...] = ("repos", "branches", "authors")
BOTS_CHOICES = ("exclude",)
BOT_SUFFIX = "[bot]"
# The partial index of the events by bot accounts, newest first: no index finds
# `author=*[bot]` by its actor. SQLite's (migration 0025) serves a query that states its
# condition as `bots_condition` writes it (`Filter.apply`'s `bots_index`, asked for on SQLite
# alone: PostgreSQL's substr reads a negative start otherwise); PostgreSQL's (0026) is on the
# glob's own LIKE (`postgres_bots_condition`). The models leave both out.
BOTS_INDEX = "ix_events_bots"


def bots_condition(actor: str = "actor") -> str:
    """SQLite's condition of `BOTS_INDEX`, on the column named `actor`."""
    return f"substr({actor}, -{len(BOT_SUFFIX)}) = '{BOT_SUFFIX}'"


def postgres_bots_condition(actor: str = "actor") -> str:
    """PostgreSQL's condition of `BOTS_INDEX`: the LIKE that `author=*[bot]` is, which the
    planner then proves the index holds every match of."""
    return f"{actor} LIKE '%{BOT_SUFFIX}'"


# Left as they are in a canonical query: readable in a repo or a glob, and never a separator.
CANONICAL_SAFE = "/:*@"


class FilterError(ValueError):
    """A filter value that cannot be understood; its message says which and why."""


class MultiArgs(Protocol):
    def getlist(self, key: str) -> list[str]: ...
    def keys(self) -> Iterable[str]: ...


@dataclass(frozen=True)
class Filter:
    """What part of the timeline to show; empty means everything."""

    repos: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    q: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    around: str | None = None  # "incidents": incident events and what happened near them
    bots: str | None = None  # "exclude": leave out events by bot accounts

    @classmethod
    def from_args(cls, args: MultiArgs, *, allowed_extra: Iterable[str] = ()) -> Filter:
        """Parse query arguments; names other than the filter's and `allowed_extra` are errors."""
        unknown = sorted(set(args.keys()) - FILTER_NAMES - set(allowed_extra))
        if unknown:
            raise FilterError(
                f"unknown query argument {unknown[0]!r}; "
                f"use {', '.join(sorted({*FILTER_NAMES, *allowed_extra}))}"
            )
        return cls.from_dict({key: args.getlist(key) for key in args if key in FILTER_NAMES})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Filter:
        """Parse a mapping such as a subscription's `filter`; values are strings or lists."""
        unknown = sorted(set(data) - FILTER_NAMES)
        if unknown:
            raise FilterError(f"unknown filter field {unknown[0]!r}")
        values: dict[str, Any] = {}
        for name, attribute in FIELDS.items():
            values[attribute] = _parse_list(name, data.get(name))
        values["q"] = _parse_text(data.get("q"), "q")
        values["since"] = _parse_time("since", data.get("since"))
        values["until"] = _parse_time("until", data.get("until"))
        values["around"] = _parse_text(data.get("around"), "around")
        if values["around"] is not None and values["around"] not in AROUND_CHOICES:
            raise FilterError(f"around: use {', '.join(AROUND_CHOICES)}")
        values["bots"] = _parse_text(data.get("bots"), "bots")
        if values["bots"] is not None and values["bots"] not in BOTS_CHOICES:
            raise FilterError(f"bots: use {', '.join(BOTS_CHOICES)}")
        if values["since"] and values["until"] and values["since"] >= values["until"]:
            raise FilterError("since: must be earlier than until")
        return cls(**values)

    def to_args(self) -> list[tuple[str, str]]:
        """The query arguments that parse back into this filter."""
        args: list[tuple[str, str]] = []
        for name, attribute in FIELDS.items():
            args.extend((name, value) for value in getattr(self, attribute))
        if self.q:
            args.append(("q", self.q))
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None:
                args.append((name, moment.isoformat().replace("+00:00", "Z")))
        if self.around:
            args.append(("around", self.around))
        if self.bots:
            args.append(("bots", self.bots))
        return args

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping that `from_dict` reads back."""
        result: dict[str, Any] = {}
        for name, value in self.to_args():
            if name in FIELDS:
                result.setdefault(name, []).append(value)
            else:
                result[name] = value
        return result

    def canonical(self) -> Filter:
        """The same filter with each list's values sorted and de-duplicated: every order and
        repetition of the same values (`kind=commit,revert`, `kind=revert&kind=commit`)
        gives an equal Filter."""
        lists = {attr: tuple(sorted(set(getattr(self, attr)))) for attr in FIELDS.values()}
        return replace(self, **lists)

    def canonical_query(self) -> str:
        """The canonical filter as one query string, each value percent-encoded once (`/`,
        `:`, `*` and `@` left as they are): what names a feed (its id, its ETag, its place in
        the feed cache), whatever order the request gave."""
        return urlencode(self.canonical().to_args(), quote_via=quote, safe=CANONICAL_SAFE)

    @property
    def is_empty(self) -> bool:
        return all(not getattr(self, f.name) for f in fields(self))

    def describe(self) -> str:
        """A short human label such as `repo acme/* · kind revert`."""
        parts = [
            f"{name} {', '.join(getattr(self, attr))}"
            for name, attr in FIELDS.items()
            if getattr(self, attr)
        ]
        if self.q:
            parts.append(f'"{self.q}"')
        if self.since:
            parts.append(f"since {self.since:%Y-%m-%d %H:%M} UTC")
        if self.until:
            parts.append(f"until {self.until:%Y-%m-%d %H:%M} UTC")
        if self.around:
            parts.append("incidents and the changes around them")
        if self.bots:
            parts.append("no bots")
        return " · ".join(parts)

    def expanded_kinds(self) -> tuple[str, ...]:
        """The stored kinds this filter selects; `incident` stands for all three, `build` for
        both build kinds."""
        kinds: list[str] = []
        for kind in self.kinds:
            kinds.extend(GROUPS.get(kind, (kind,)))
        return tuple(dict.fromkeys(kinds))

    def without_implied(self, *, aliases: Collection[str] = ()) -> Filter:
        """This filter without `bots=exclude` where its authors already leave bots out: each
        named exactly (no `*`), and neither it nor any of its other names (`aliases`) a bot's.
        The same events; a planner that took the extra condition for selective misjudged
        (`author=dev042&bots=exclude&around=incidents` at a million events on PostgreSQL)."""
        names = [*self.authors, *aliases]
        if (
            self.bots == "exclude"
            and self.authors
            and not any("*" in glob for glob in self.authors)
            and not any(name.endswith(BOT_SUFFIX) for name in names)
        ):
            return replace(self, bots=None)
        return self

    def only_bots(self, *, aliases: Collection[str] = ()) -> bool:
        """Whether every author this filter names is a bot: each glob, and each of their
        other names (`aliases`), ends in `[bot]`."""
        return (
            bool(self.authors)
            and all(glob.endswith(BOT_SUFFIX) for glob in self.authors)
            and all(alias.endswith(BOT_SUFFIX) for alias in aliases)
        )

    def cannot_match(self, *, aliases: Collection[str] = ()) -> bool:
        """Whether no event can pass, whatever the store holds: a window that ends before it
        starts, files asked of kinds that carry none (`FILE_KINDS`), or only bots asked for
        while bots are left out (`aliases`: the other names of the filter's authors, read
        beforehand by `feed.store.author_aliases`, none of them a human's)."""
        if self.since and self.until and self.since >= self.until:
            return True
        if self.paths and self.kinds and not set(self.expanded_kinds()) & set(FILE_KINDS):
            return True
        return self.bots == "exclude" and self.only_bots(aliases=aliases)

    def apply(
        self,
        stmt: Select[Any],
        *,
        windows: Sequence[tuple[datetime, datetime | None]] | None = None,
        drive: Drive | None = None,
        aliases: Collection[str] | None = None,
        searched: bool = False,
        bots_index: bool = False,
    ) -> Select[Any]:
        """Narrow a select over Event to the events this filter matches.

        `around` needs the incidents' `windows` (see `feed.store.incident_windows`). `drive`
        steers SQLite, whose planner cannot tell how many rows a glob or an OR selects: only
        that part's index may find the rows ("time": the timeline index; "paths" and "q"
        look events up through the files' and the search index). Any way selects the same
        events. `aliases`, the other names of the filter's authors read beforehand
        (`feed.store.author_aliases`), replace a subquery the index of actors cannot serve.
        With `searched`, text also narrows another part's drive through the search index
        (SQLite): each id the driving index finds is looked for among those the index finds
        for the text, and only those found are read. With `bots_index`, authors who are all
        bots (`only_bots`) state `bots_condition`, so that SQLite may read their events
        through `BOTS_INDEX`.
        """

        def column(part: Drive, column: Any) -> Any:
            indexed = drive in (None, part) or part in PAIRS.get(drive or "time", ())
            return column if indexed else unindexed(column)

        conditions: list[ColumnElement[bool]] = []
        if self.repos:
            conditions.append(_any_glob(column("repos", Event.repo), self.repos))
        if self.kinds:
            conditions.append(column("kinds", Event.kind).in_(self.expanded_kinds()))
        if self.branches:
            conditions.append(_any_glob(column("branches", Event.branch), self.branches))
        if self.authors:
            actor = column("authors", Event.actor)
            by_alias = actor.in_(other_names(self.authors) if aliases is None else sorted(aliases))
            conditions.append(or_(_any_glob(actor, self.authors), by_alias))
            if bots_index and aliases is not None and self.only_bots(aliases=aliases):
                conditions.append(text(bots_condition(f"{Event.__tablename__}.actor")))
        if self.paths and drive == "paths":
            conditions.append(Event.id.in_(touching(self.paths)))
        elif self.paths:
            conditions.append(
                exists(
                    select(EventFile.id).where(
                        EventFile.event_id == Event.id, _any_glob(EventFile.path, self.paths)
                    )
                )
            )
        if self.q and len(self.q) >= search.MIN_INDEXED:
            # The index narrows, LIKE decides.
            if drive == "q":
                conditions.append(Event.id.in_(search.matching_ids(self.q)))
            elif searched:
                # Gathered once however many times the select is used (a walk's spans), and
                # looked in for each id the driving index finds.
                found = search.matching_ids(self.q).cte("searched")
                conditions.append(unindexed(Event.id).in_(select(found.c.rowid)))
        if self.q:
            needle = self.q.lower()
            pattern = f"%{_escape_like(needle)}%"
            lower = search.unicode_lower if search.has_case_beyond_ascii(needle) else func.lower
            title, body = column("q", Event.title), column("q", Event.body)
            indexed = not isinstance(title, Unindexed)
            conditions.append(
                or_(
                    search.holds(lower(title), needle, pattern, indexed=indexed),
                    search.holds(lower(body), needle, pattern, indexed=indexed),
                )
            )
        if self.since:
            conditions.append(Event.occurred_at >= self.since)
        if self.until:
            conditions.append(Event.occurred_at < self.until)
        if self.bots == "exclude":
            conditions.append(
                or_(Event.actor.is_(None), ~Event.actor.endswith(BOT_SUFFIX, autoescape=True))
            )
        if self.around == "incidents":
            if windows is None:
                raise ValueError("around: the incidents' windows are needed")
            near = Within(column("around", Event.occurred_at), windows)
            conditions.append(or_(column("around", Event.kind).in_(INCIDENT_KINDS), near))
        return stmt.where(and_(*conditions)) if conditions else stmt

    def alternatives(
        self, part: Drive, *, aliases: Collection[str] = ()
    ) -> list[ColumnElement[bool]]:
        """The conditions that `part` (the repos, branches or authors) ORs in `apply`, each
        one range of the part's own index: one a glob, one for the values named exactly,
        one for the authors' other names (`aliases`). An event of the part meets at least
        one of them."""
        column = COLUMNS[part]
        conditions = _each_glob(column, getattr(self, part))
        if part == "authors" and aliases:
            conditions.append(column.in_(sorted(aliases)))
        return conditions

    def matches(self, event: Any, *, aliases: Collection[str] = ()) -> bool:
        """Whether one event (stored or about to be) passes, as `apply` would select it.

        `aliases` are the other names of the filter's authors (`other_names`, as
        `feed.store.author_aliases` reads them). `around` needs the incidents table and is
        not checked here.
        """
        for globs, value in ((self.repos, event.repo), (self.branches, event.branch)):
            if globs and not matches_any(globs, value):
                return False
        if self.authors and not (
            matches_any(self.authors, event.actor) or (event.actor and event.actor in aliases)
        ):
            return False
        if self.kinds and event.kind not in self.expanded_kinds():
            return False
        if self.paths and not any(_glob_match(g, f.path) for f in event.files for g in self.paths):
            return False
        if self.q:
            needle = self.q.lower()
            if needle not in event.title.lower() and needle not in event.body.lower():
                return False
        if self.since and event.occurred_at < self.since:
            return False
        if self.until and event.occurred_at >= self.until:
            return False
        return not (self.bots == "exclude" and (event.actor or "").endswith(BOT_SUFFIX))


class Within(ColumnElement[bool]):
    """Whether a time falls in one of the incidents' `windows` (start and end included; an
    open window has no end), each test a search by halves among the windows: PostgreSQL's
    in one multirange, other databases' in nested CASEs (an OR of every window would be
    tested window by window, hundreds of comparisons a row)."""

    type = Boolean()
    inherit_cache = True
    # The windows are part of the cache key: a statement is compiled once for each set.
    _traverse_internals: ClassVar = [
        ("when", InternalTraversal.dp_clauseelement),
        ("windows", InternalTraversal.dp_plain_obj),
    ]

    def __init__(self, when: ColumnElement[Any], windows: Sequence[Window]) -> None:
        self.when = when
        self.windows = tuple(merged(windows))

    def multirange(self) -> ColumnElement[bool]:
        ranges = ",".join(_range(start, end) for start, end in self.windows)
        # Read once, as a subquery's value: text to a multirange depends on the time zone,
        # so PostgreSQL would not fold the cast, and would read the text again for each row.
        # Tested as "not in the gaps between them": the planner takes a multirange to hold
        # a time for rare (0.1%), and would sort every match of the other parts rather than
        # walk the timeline; for the complement's miss it takes that as common, as it is.
        windows = cast(literal("{" + ranges + "}", type_=Text), TSTZMULTIRANGE)
        everything = cast(literal("{(,)}", type_=Text), TSTZMULTIRANGE)
        gaps = select(everything.op("-", return_type=TSTZMULTIRANGE)(windows))
        return ~gaps.scalar_subquery().op("@>", return_type=Boolean)(self.when)


def merged(windows: Sequence[Window]) -> list[Window]:
    """`windows` oldest first, overlapping ones merged into one."""
    result: list[Window] = []
    for start, end in sorted(windows, key=lambda window: window[0]):
        if result and (result[-1][1] is None or start <= result[-1][1]):
            last_start, last_end = result[-1]
            result[-1] = (
                last_start,
                None if end is None or last_end is None else max(end, last_end),
            )
        else:
            result.append((start, end))
    return result


def _range(start: datetime, end: datetime | None) -> str:
    """One window as PostgreSQL's range literal: both ends included; no end, unbounded."""
    if end is None:
        return f'["{start.isoformat()}",)'
    return f'["{start.isoformat()}","{end.isoformat()}"]'


@compiles(Within)
def _within_halves(element: Within, compiler: Any, **kw: Any) -> str:
    when = compiler.process(element.when, **kw)
    key = (compiler.dialect.name, when, element.windows)
    with _HALVES_LOCK:
        written = _HALVES.get(key)
    if written is None:

        def moment(value: datetime) -> str:
            bound = literal(value, type_=element.when.type)
            return str(compiler.process(bound, literal_binds=True))

        bounds = [(moment(start), end and moment(end)) for start, end in element.windows]
        written = _halves(when, bounds)
        with _HALVES_LOCK:
            while len(_HALVES) >= HALVES_KEPT:
                del _HALVES[next(iter(_HALVES))]  # the oldest written first out
            _HALVES[key] = written
    return written


# Nested CASEs already written, by dialect, time column and windows: writing the times of
# a few hundred windows costs milliseconds, and a walk repeats the test in every span.
_HALVES: dict[tuple[str, str, tuple[Window, ...]], str] = {}
_HALVES_LOCK = threading.Lock()
HALVES_KEPT = 64


def _halves(when: str, bounds: Sequence[tuple[str, str | None]]) -> str:
    """SQL that is true when `when` falls in one of the sorted, disjoint `bounds` (start
    and end as SQL literals, no end for an open window), found by halves."""
    if not bounds:
        return "0"
    middle = len(bounds) // 2
    start, end = bounds[middle]
    inside = "1" if end is None else f"{when} <= {end}"
    earlier, later = _halves(when, bounds[:middle]), _halves(when, bounds[middle + 1 :])
    return f"(CASE WHEN {when} < {start} THEN {earlier} WHEN {inside} THEN 1 ELSE {later} END)"


@compiles(Within, "postgresql")
def _within_multirange(element: Within, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.multirange(), **kw)


def other_names(authors: Sequence[str]) -> CompoundSelect:
    """The actors that go by one of the `authors` globs under another name: the logins of
    the git names they match, and the git names of the logins they match."""
    return union(
        select(AuthorAlias.login).where(_any_glob(AuthorAlias.name, tuple(authors))),
        select(AuthorAlias.name).where(_any_glob(AuthorAlias.login, tuple(authors))),
    )


def touching(paths: Sequence[str]) -> Select[tuple[int]]:
    """The ids of the events that touched a file matching one of the `paths` globs (an
    event once for each such file)."""
    return select(EventFile.event_id).where(_any_glob(EventFile.path, tuple(paths)))


def unindexed(column: Any) -> Any:
    """`column` as an expression no index serves, with the same value: it keeps the column's
    indexes out of the plan (SQLite's no-op unary plus; on PostgreSQL, nothing added)."""
    return Unindexed(column)


class Unindexed(ColumnElement[Any]):
    """See `unindexed`."""

    inherit_cache = True
    _traverse_internals: ClassVar = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(Unindexed)
def _unary_plus(element: Unindexed, compiler: Any, **kw: Any) -> str:
    plus = UnaryExpression(element.column, operator=custom_op("+"), type_=element.type)
    return compiler.process(plus, **kw)


@compiles(Unindexed, "postgresql")
def _nothing_added(element: Unindexed, compiler: Any, **kw: Any) -> str:
    value = compiler.process(element.column, **kw)
    affinity = element.type._type_affinity
    if issubclass(affinity, String):
        return f"({value} || '')"
    if issubclass(affinity, DateTime):
        return f"({value} + interval '0 seconds')"
    if issubclass(affinity, Integer):
        return f"({value} + 0)"
    raise TypeError(f"unindexed: no PostgreSQL form for {element.type!r}")


def glob_to_like(glob: str) -> str:
    """A LIKE pattern (escape character `\\`) matching what `glob` matches."""
    return "%".join(_escape_like(part) for part in glob.split("*"))


def matches_any(globs: Sequence[str], value: str | None) -> bool:
    """Whether `value` matches one of the globs (`*` matches any text, `/` too)."""
    return value is not None and any(_glob_match(glob, value) for glob in globs)


def _glob_match(glob: str, value: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in glob.split("*"))
    return re.fullmatch(pattern, value, re.DOTALL) is not None


def _any_glob(column: Any, globs: tuple[str, ...]) -> ColumnElement[bool]:
    return or_(*_each_glob(column, globs))


def _each_glob(column: Any, globs: tuple[str, ...]) -> list[ColumnElement[bool]]:
    """What `_any_glob` ORs: the values named exactly, in one IN, then a LIKE a glob."""
    exact = [glob for glob in globs if "*" not in glob]
    clauses: list[ColumnElement[bool]] = []
    if exact:
        clauses.append(column.in_(exact))
    clauses.extend(column.like(glob_to_like(glob), escape="\\") for glob in globs if "*" in glob)
    return clauses


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parse_list(name: str, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise FilterError(f"{name}: expected text or a list of text")
    values: list[str] = []
    for item in items:
        parts = item.split(",") if name in COMMA_SEPARATED else [item]
        values.extend(part.strip() for part in parts if part.strip())
    if len(values) > MAX_VALUES:
        raise FilterError(f"{name}: at most {MAX_VALUES} values")
    for value in values:
        _check_text(name, value)
        if name == "repo" and not REPO_PATTERN.fullmatch(value):
            raise FilterError(
                f"repo: {value!r} is not owner/name (a `*` matches any run of characters)"
            )
        if name == "kind" and value not in KIND_CHOICES:
            raise FilterError(f"kind: {value!r} is not one of {', '.join(KIND_CHOICES)}")
    return tuple(dict.fromkeys(values))


def _parse_text(raw: Any, name: str) -> str | None:
    if isinstance(raw, list | tuple):
        if len(raw) > 1:
            raise FilterError(f"{name}: give it once")
        raw = raw[0] if raw else None
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise FilterError(f"{name}: expected text")
    text = " ".join(raw.split())
    if not text:
        return None
    _check_text(name, text)
    return text


def _parse_time(name: str, raw: Any) -> datetime | None:
    if isinstance(raw, list | tuple):
        if len(raw) > 1:
            raise FilterError(f"{name}: give it once")
        raw = raw[0] if raw else None
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str) or len(raw) > 40:
        raise FilterError(f"{name}: expected a date or an ISO 8601 time")
    text = raw.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time())
        else:
            moment = datetime.fromisoformat(text.replace(" ", "T"))
    except ValueError:
        raise FilterError(
            f"{name}: {raw!r} is not a date (2026-11-26) or an ISO 8601 time (2026-11-26T09:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_text(name: str, value: str) -> None:
    if len(value) > MAX_LENGTH[name]:
        raise FilterError(f"{name}: longer than {MAX_LENGTH[name]} characters")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise FilterError(f"{name}: control characters are not allowed")
