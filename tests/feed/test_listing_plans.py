"""Every way `list_events` may find a page (scan the timeline, look up through one index, or
let the planner choose) selects exactly the events the filter describes, page after page.

The timeline is the benchmark's generator at a small size, so globs, bots, reverts, paths,
incidents and free text all occur; small scan depths force every fallback.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import event, func, select, text, tuple_
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from bench.dataset import build
from feed import store, walk
from feed.db import Database
from feed.filters import BOTS_INDEX, DRIVERS, Filter, Within
from feed.models import INCIDENT_KINDS, Base, Event
from feed.reverts import waiting_revert
from feed.store import author_aliases, encode_cursor, incident_windows, list_events

EVENTS = 3_000
QUERIES = [
    "",
    "repo=acme/api",
    "repo=stark/*",
    "repo=*/api&repo=hooli/docs",
    "kind=revert",
    "kind=incident",
    "kind=release&kind=force_push",
    "branch=main",
    "branch=release/*",
    "author=dev042",
    "author=Developer 042",  # dev042 by their git name
    "author=Developer 04*",
    "author=gh-dev007",  # a login whose commits are stored under its git name
    "author=*[bot]",
    "bots=exclude",
    "path=db/migrations/*",
    "path=docs/*&author=dev1*",
    "q=ca",
    "q=cache",
    "q=DEADLOCK",
    'q=Revert "',
    "q=no such text anywhere",
    "since=2024-06-01T00:00:00Z&until=2024-09-01T00:00:00Z",
    "q=timeout&since=2025-01-01T00:00:00Z&until=2026-06-01T00:00:00Z&bots=exclude",
    "around=incidents",
    "around=incidents&q=timeout",
    "around=incidents&repo=acme/*&kind=commit,incident",
    "around=incidents&kind=incident&author=dev0*",
    "around=incidents&path=src/*&bots=exclude",
    "around=incidents&author=dev042&bots=exclude",
    "around=incidents&until=2025-01-01T00:00:00Z",
    "repo=acme/*&kind=commit&branch=main",
    "repo=globex/*&author=dev1*&q=cache",
    "repo=acme/*&author=Developer 1*",
    "repo=aperture/edge&since=2025-01-01T00:00:00Z",
    # Each part common, together rare or none: the smallest part's index is walked.
    "kind=force_push&branch=feature/*",
    "kind=deployment&repo=acme/*&path=src/*",
    "q=session timeout&bots=exclude",
    # A few events of one part, with common text: read through that part's index.
    "author=dev150&q=timeout",
    "repo=aperture/edge&q=session timeout&bots=exclude",
    # Common text with a common kind or branch, together rare or none: PostgreSQL finds the
    # two together in its text indexes once the newest events do not fill the page.
    "kind=deployment&q=session timeout",
    "kind=commit,revert&q=timeout&bots=exclude",
    "branch=main&q=cache&around=incidents",
    # A kind and a branch, found together through the index of both.
    "kind=force_push&branch=main",
    "kind=revert,force_push&branch=release/*",
    "kind=commit&branch=release/*&author=dev0*",
    # Walked value by value through a part's index, newest first (`feed.walk`).
    "kind=deployment&author=*[bot]",
    "author=*[bot]&path=src/*&q=timeout",
    "author=*[bot]&q=fix&around=incidents",
    "repo=acme/*&author=*[bot]&bots=exclude",
    "repo=acme/a*,stark/*&kind=commit&q=cache",
    "author=dev0*&branch=release/*",
    # One part matches nothing: the answer is known at once.
    "q=zeppelin&repo=acme/*",
    "repo=nobody/*&kind=commit",
    "path=vendor/*&branch=main",
]
# No event can match, whatever the store holds: answered without reading the events.
CONTRADICTIONS = [
    "author=*[bot]&bots=exclude",
    "author=dependabot[bot],renovate[bot]&bots=exclude&repo=acme/*",
    "kind=deployment&path=src/*",
    "kind=incident,release&path=*&q=cache",
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def timeline(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("plans") / "shiplog.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
    build(url, EVENTS)
    db = Database(url)
    yield db
    if request.param == "postgresql":
        with db.engine.begin() as connection:
            tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.dispose()


@pytest.fixture(scope="module")
def stored(timeline: Database) -> list[Event]:
    """Every event with its files, read once for the module: what `Filter.matches` tests."""
    with timeline.read() as session:
        return list(session.scalars(select(Event).options(selectinload(Event.files))))


def parse(query: str) -> Filter:
    return Filter.from_args(MultiDict(parse_qsl(query)))


def every_page(db: Database, filter: Filter, **options) -> list[int]:
    ids: list[int] = []
    cursor = None
    with db.read() as session:
        while True:
            page = list_events(session, filter, cursor=cursor, limit=50, **options)
            ids.extend(event.id for event in page.events)
            if not page.next_cursor:
                return ids
            cursor = page.next_cursor


@pytest.mark.parametrize("query", QUERIES + CONTRADICTIONS)
def test_every_plan_pages_through_the_same_events(
    timeline: Database, stored: list[Event], query: str
) -> None:
    filter = parse(query)
    with timeline.read() as session:
        windows = incident_windows(session)
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        expected = list(
            session.scalars(filter.apply(select(Event.id), windows=windows).order_by(*newest_first))
        )
        drives = ("time", *DRIVERS)
        if timeline.engine.dialect.name == "postgresql":  # text is never driven there
            drives = tuple(drive for drive in drives if drive != "q")
        aliases = author_aliases(session, filter.authors)
        for drive in drives:
            driven = filter.apply(select(Event.id), windows=windows, drive=drive)
            assert list(session.scalars(driven.order_by(*newest_first))) == expected, drive
            if timeline.engine.dialect.name == "sqlite":  # the search index, the bots' index
                for way in ({"searched": True}, {"aliases": aliases, "bots_index": True}):
                    driven = filter.apply(select(Event.id), windows=windows, drive=drive, **way)
                    assert list(session.scalars(driven.order_by(*newest_first))) == expected
        matching = {
            e.id
            for e in stored
            if filter.matches(e, aliases=aliases) and (not filter.around or near(e, windows))
        }
        assert matching == set(expected)
    assert every_page(timeline, filter) == expected
    assert every_page(timeline, filter, scan_depths=(40, 300)) == expected
    assert every_page(timeline, filter, scan_depths=()) == expected


def near(event: Event, windows: list[tuple[datetime, datetime | None]]) -> bool:
    """`around=incidents` in Python: an incident event, or one inside a window (ends
    included; an open window has no end)."""
    when = event.occurred_at
    return event.kind in INCIDENT_KINDS or any(
        start <= when and (end is None or when <= end) for start, end in windows
    )


def reads_of_events(
    db: Database, query: str, cursor: str | None = None, **options: Any
) -> tuple[list[int], list[tuple[str, Any]]]:
    """A page's ids and the statements (with their parameters) that read events for it."""
    statements: list[tuple[str, Any]] = []

    def record(conn, _cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.read() as session:
            page = list_events(session, parse(query), cursor=cursor, **options)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert page.next_cursor is None or page.events
    return [e.id for e in page.events], [s for s in statements if "FROM events" in s[0]]


@pytest.mark.parametrize("query", CONTRADICTIONS)
def test_a_filter_that_cannot_match_answers_without_reading_the_events(
    timeline: Database, query: str
) -> None:
    assert reads_of_events(timeline, query) == ([], [])
    # The same filter, one part short of the contradiction, reads them.
    opened = query.replace("&bots=exclude", "").replace("kind=", "kind=commit,")
    ids, reads = reads_of_events(timeline, opened)
    assert ids and reads


def test_a_window_that_ends_before_it_starts_matches_nothing(timeline: Database) -> None:
    """The parser refuses it; a Filter made in code answers empty, as the slow path would."""
    moment = datetime(2024, 6, 1, tzinfo=UTC)
    for since in (moment, moment + timedelta(days=30)):
        filter = Filter(kinds=("commit",), since=since, until=moment)
        assert filter.cannot_match()
        with timeline.read() as session:
            slow = session.scalars(filter.apply(select(Event.id))).all()
            assert list_events(session, filter).events == slow == []
    assert not Filter(since=moment, until=moment + timedelta(seconds=1)).cannot_match()


def test_human_aliases_of_a_bot_keep_the_filter_open() -> None:
    """A bot's login whose git name is a human's may still pass `bots=exclude`."""
    bots = Filter(authors=("*[bot]",), bots="exclude")
    assert bots.cannot_match(aliases={"renovate[bot]"})
    assert not bots.cannot_match(aliases={"renovate[bot]", "Renovate Bot"})
    assert not Filter(authors=("*[bot]", "mara"), bots="exclude").cannot_match()
    assert not Filter(authors=("*[bot]*",), bots="exclude").cannot_match()
    assert not Filter(kinds=("incident", "commit"), paths=("*",)).cannot_match()
    assert Filter(kinds=("build",), paths=("*",)).cannot_match()


def test_the_generated_timeline_has_what_the_filters_need(timeline: Database) -> None:
    with timeline.read() as session:
        assert session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) == EVENTS
        kinds = set(session.scalars(select(Event.kind).distinct()))
        assert {"commit", "revert", "deployment", "release", "incident_opened"} <= kinds
        assert incident_windows(session)
    for query in (
        "repo=stark/*",
        "kind=revert",
        "author=*[bot]",
        "author=Developer 0*",
        "path=db/migrations/*",
        "around=incidents",
    ):
        assert len(every_page(timeline, parse(query))) > 50, query


def test_an_incident_window_holds_both_its_ends(timeline: Database) -> None:
    """`Within` (a multirange on PostgreSQL, an OR elsewhere) keeps an event at a window's
    start or end, and every event after an open window's start."""
    with timeline.read() as session:
        times = session.scalars(
            select(Event.occurred_at).order_by(Event.occurred_at).offset(100).limit(40)
        ).all()
        windows = ((times[5], times[10]), (times[20], times[20]), (times[30], None))
        found = set(session.scalars(select(Event.id).where(Within(Event.occurred_at, windows))))
        expected = {
            event.id
            for event in session.scalars(select(Event))
            if any(
                start <= event.occurred_at and (end is None or event.occurred_at <= end)
                for start, end in windows
            )
        }
        at_the_ends = session.scalars(
            select(Event.id).where(Event.occurred_at.in_([times[5], times[10], times[20]]))
        ).all()
    assert found == expected
    assert len(at_the_ends) >= 3 and set(at_the_ends) <= found
    # Other windows, the same shape of statement: compiled anew, not taken from the cache.
    with timeline.read() as session:
        first = ((times[5], times[10]),)
        assert set(session.scalars(select(Event.id).where(Within(Event.occurred_at, first))))
        later = ((times[11], times[19]),)
        again = set(session.scalars(select(Event.id).where(Within(Event.occurred_at, later))))
        between = session.scalars(
            select(Event.id).where(Event.occurred_at.between(times[11], times[19]))
        ).all()
    assert again == set(between) and not again & set(at_the_ends)


def test_merged_incident_windows_do_not_overlap(timeline: Database) -> None:
    with timeline.read() as session:
        windows = incident_windows(session)
    for (_, end), (start, _) in pairwise(windows):
        assert end is not None and end < start


@pytest.mark.parametrize(
    ("query", "indexes"),
    [
        ("q=zeppelin", {"ix_events_title_search", "ix_events_body_search"}),
        ("path=*/race_condition_*", {"ix_event_files_path_trgm"}),
        ("repo=nobody/*", {"ix_events_repo_pattern"}),
        ("branch=hotfix/*", {"ix_events_branch_pattern"}),
    ],
)
def test_postgresql_has_an_index_for_text_paths_and_globs(
    timeline: Database, query: str, indexes: set[str]
) -> None:
    """The text, trigram and pattern indexes serve the statements `list_events` runs (the planner
    picks them at a million events; on this small timeline only if other scans are ruled
    out)."""
    if timeline.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's own indexes")
    filter = parse(query)
    with timeline.read() as session:
        for scan in ("seqscan", "indexscan", "indexonlyscan"):  # bitmap scans are left
            session.execute(text(f"SET LOCAL enable_{scan} = off"))
        compiled = filter.apply(select(Event.id)).compile(session.get_bind())
        explained = session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        plan = "\n".join(row[0] for row in explained)
    assert all(index in plan for index in indexes), plan


@pytest.mark.parametrize("query", ["around=incidents", "around=incidents&bots=exclude"])
def test_around_walks_the_kind_and_timeline_indexes_never_the_table(
    timeline: Database, query: str
) -> None:
    """On SQLite, when the newest events do not fill the page and no part is rare, every
    statement of an `around` page, first and deep, finds its rows through the index of kinds
    (incident events) or the timeline (each window's span), and stops at a page."""
    if timeline.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner weighs the whole filter itself")
    shallow = {"scan_depths": (40, 300)}
    first, _ = reads_of_events(timeline, query, **shallow)
    with timeline.read() as session:
        cursor = encode_cursor(session.get(Event, first[-1] // 2))
    plans: list[str] = []
    for page_cursor in (None, cursor):
        _, statements = reads_of_events(timeline, query, page_cursor, **shallow)
        with timeline.engine.connect() as connection:
            for statement, parameters in statements:
                bounded = "LIMIT" in statement or "WHERE events.id IN" in statement
                bounded |= statement.startswith("SELECT max(events.id)")  # the newest id
                sample = statement.startswith("SELECT count(*)") and "occurred_at >= ?" in statement
                assert bounded or sample, statement
                rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                plans.append("\n".join(str(row[-1]) for row in rows))
    assert any("ix_events_kind_timeline" in plan for plan in plans), plans
    assert any("SEARCH events USING INDEX ix_events_timeline" in plan for plan in plans), plans
    assert not [p for p in plans if re.search(r"SCAN events\b(?! USING)", p)], plans


@pytest.mark.parametrize(
    "query", ["kind=deployment&branch=feature/*", "kind=force_push&branch=main"]
)
def test_a_kind_and_a_branch_are_found_through_the_index_of_both(
    timeline: Database, query: str
) -> None:
    """A kind and a branch glob that rarely meet (deployments carry no branch) are looked up
    in `ix_events_kind_branch`, on both databases; neither part's own index is walked."""
    if timeline.engine.dialect.name == "sqlite":
        options: dict[str, Any] = {"scan_depths": (40, 300)}
    else:
        options = {}
    ids, statements = reads_of_events(timeline, query, **options)
    assert bool(ids) == ("force_push" in query)
    plans = []
    with timeline.engine.connect() as connection:
        if timeline.engine.dialect.name == "postgresql":  # as at a million events
            connection.exec_driver_sql("SET enable_seqscan = off")
            explain = "EXPLAIN "
        else:
            explain = "EXPLAIN QUERY PLAN "
        for statement, parameters in statements:
            if statement.startswith("WITH RECURSIVE"):  # a glob's values, one seek each
                continue
            rows = connection.exec_driver_sql(explain + statement, parameters).all()
            plans.append(
                "\n".join(str(row[-1] if explain.endswith("PLAN ") else row[0]) for row in rows)
            )
    assert any("ix_events_kind_branch" in plan for plan in plans), plans
    walked = ("ix_events_kind_timeline", "ix_events_branch_timeline")
    assert not [plan for plan in plans if any(index in plan for index in walked)], plans


@pytest.mark.parametrize("query", ["author=dev150&q=timeout", "q=session timeout&repo=acme/api"])
def test_postgresql_reads_a_few_events_with_text_through_their_own_index(
    timeline: Database, query: str
) -> None:
    """The trigram index finds tens of thousands of events for common text at a million
    (75 ms for "session timeout"), and the planner takes it for cheap: with a part that finds
    fewer than `FEW`, that part's index finds the events and each one's text is read. The
    text is never looked up, not even with that part's indexes gone."""
    if timeline.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's trigram index")
    ids, statements = reads_of_events(timeline, query)
    with timeline.read() as session:
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        expected = session.scalars(parse(query).apply(select(Event.id)).order_by(*newest_first))
        assert ids == expected.all()[:50] and ids
    own = "ix_events_actor" if "author" in query else "ix_events_repo"

    def plans(connection: Any) -> list[str]:
        explained = [connection.exec_driver_sql("EXPLAIN " + s, p).all() for s, p in statements]
        return ["\n".join(row[0] for row in rows) for rows in explained]

    with timeline.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")  # as at a million events
        assert any(own in plan for plan in plans(connection)), plans(connection)
        names = connection.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND starts_with(indexname, :own)"
            ),
            {"own": own},
        ).scalars()
        for name in list(names):  # the planner's other way to the events, for a moment
            connection.exec_driver_sql(f"DROP INDEX {name}")
        connection.exec_driver_sql("SET enable_indexscan = off")  # nor a walk of the timeline
        without = plans(connection)
        connection.rollback()
    assert not [plan for plan in without if TEXT_LOOKED_UP.search(plan)], without


# An index condition on text: the trigrams looked up (`~~` is LIKE).
TEXT_LOOKED_UP = re.compile(r"Index Cond: .*lower\((title|body)\) ~~")


def costly_text_plans(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    """PostgreSQL's plan of each statement as at a million events, where the table is not
    read whole and reading an event's text costs."""
    with db.engine.connect() as connection:
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET cpu_operator_cost = 1")
        plans = [
            "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + s, p))
            for s, p in statements
        ]
        connection.rollback()
    return plans


def test_postgresql_tests_text_on_each_event_of_a_short_window(timeline: Database) -> None:
    """Text within a window of fewer than `FEW` events is tested on each of them, read
    through the timeline index: the planner intersected the window with the text indexes'
    look-up of every event holding the text (34 ms for one day of a million events, 2 ms
    so). Here the window is half the timeline, a text index the planner's choice."""
    if timeline.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's text indexes")
    query = "q=timeout&since=2025-01-01T00:00:00Z&until=2026-06-01T00:00:00Z&bots=exclude"
    filter = parse(query)
    with timeline.read() as session:
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        expected = session.scalars(filter.apply(select(Event.id)).order_by(*newest_first)).all()
        window = Filter(since=filter.since, until=filter.until).apply(select(func.count()))
        assert 0 < len(expected) < session.scalar(window) < store.FEW
    ids, statements = reads_of_events(timeline, query)
    assert ids == expected[:50]
    plans = costly_text_plans(timeline, statements)
    page = plans[-1]
    assert "ix_events_timeline" in page and not TEXT_LOOKED_UP.search(page), page


@pytest.mark.parametrize(
    "query",
    [
        "repo=*/api&repo=hooli/docs",
        "branch=main,release/*",
        "author=dev1*",
        "author=gh-dev007",  # a login whose commits are stored under its git name
        "author=Developer 04*,dev042,*[bot]",
    ],
)
def test_the_alternatives_of_a_part_select_its_events_together(
    timeline: Database, query: str
) -> None:
    """Each value of a part, and the authors' other names, selects events apart; together
    they select the part's events, and counting them apart never finds fewer."""
    filter = parse(query)
    (part,) = [each for each in ("repos", "branches", "authors") if getattr(filter, each)]
    with timeline.read() as session:
        aliases = author_aliases(session, filter.authors)
        conditions = filter.alternatives(part, aliases=aliases)
        apart = [set(session.scalars(select(Event.id).where(each))) for each in conditions]
        together = set(session.scalars(filter.apply(select(Event.id), aliases=aliases)))
        assert set().union(*apart) == together and together
        for bound in (1, len(together), 10 * len(together)):
            counted = store._count_each(session, conditions, bound)
            assert min(len(together), bound) <= counted <= bound


def test_a_part_of_several_values_is_counted_one_index_range_at_a_time(
    timeline: Database,
) -> None:
    """Each value of a part, and the authors' other names, is counted through its own
    range of the part's index: given their OR and a bound, PostgreSQL's planner read the
    actors' index from its start, past every event before the first that matched (45 ms to
    count 2,000 events of `author=dev1*` with its 100 git names at a million events)."""
    query = "repo=globex/*&author=dev1*&q=cache"
    ids, statements = reads_of_events(timeline, query, scan_depths=(40, 300))
    counts = [(s, p) for s, p in statements if "count(" in s and "actor" in s]
    assert ids and counts
    assert not [s for s, _ in counts if re.search(r"\bOR\b", s)], counts
    if timeline.engine.dialect.name == "postgresql":
        for plan in costly_text_plans(timeline, counts):
            scans = [line for line in plan.splitlines() if re.search(r"(?<!Heap) Scan", line)]
            conditions = plan.count("Index Cond")
            assert scans and conditions == len(scans), plan


def test_postgresql_reads_a_few_events_around_incidents_through_their_own_index(
    timeline: Database,
) -> None:
    """With `around`, a part that finds fewer than `FEW` events is counted and read through
    its own index: the planner took the incidents' windows for common and walked the
    timeline (one author's 1,860 events at a million: 39 ms, and 14 ms so)."""
    if timeline.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner")
    query = "author=dev0*&around=incidents"
    ids, statements = reads_of_events(timeline, query)
    with timeline.read() as session:
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        windows = incident_windows(session)
        aliases = author_aliases(session, ["dev0*"])
        stmt = parse(query).apply(select(Event.id), windows=windows, aliases=aliases)
        assert ids == session.scalars(stmt.order_by(*newest_first)).all()[:50] and ids
    assert [s for s, _ in statements if "count(" in s and "actor" in s]
    page = costly_text_plans(timeline, statements)[-1]
    assert "ix_events_actor" in page, page


@pytest.mark.parametrize("depths", [(40, 300), ()])
def test_postgresql_finds_text_and_a_kind_that_rarely_meet_together_in_its_text_indexes(
    timeline: Database, depths: tuple[int, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kind and text that each match many but rarely meet: once the kind's newest events
    (its index walked down to a bound in time) do not fill the page, each text index looks the
    kind and the text up together (the kind is a column of both) and the few found are
    sorted, where the planner would walk every deployment (200 ms at a million)."""
    if timeline.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's text indexes")
    query = "kind=deployment&q=session timeout"
    with timeline.read() as session:
        deployments = session.scalar(select(func.count()).where(Event.kind == "deployment"))
        assert session.scalar(select(func.count()).where(Event.title.ilike("%session timeout%")))
    monkeypatch.setattr(store, "FEW", deployments // 2)  # as common as at a million events
    monkeypatch.setattr(store, "MANY", deployments // 2)
    ids, statements = reads_of_events(timeline, query, scan_depths=depths)
    assert ids == []
    plans = costly_text_plans(timeline, statements)
    walked = [p for p in plans if re.search(r"Index Cond: .*kind.*occurred_at >=", p)]
    sorted_off_the_timeline = [p for p in plans if "occurred_at + '00:00:00'::interval" in p]
    together = [
        plan
        for plan in sorted_off_the_timeline
        if re.search(r"ix_events_title_search.*\n.*Index Cond: .*kind.*lower\(title\) ~~", plan)
        and re.search(r"ix_events_body_search.*\n.*Index Cond: .*kind.*lower\(body\) ~~", plan)
    ]
    assert walked and len(together) == 1, "\n\n".join(plans)


def test_a_scan_walks_the_timeline_down_to_one_lower_bound(timeline: Database) -> None:
    """A scan of the newest events bounded both by `since` and by its own depth names only
    the later of the two: given both, SQLite may walk the timeline index down to the earlier
    one, reading every event since `since`."""
    query = "kind=force_push&author=*[bot]&since=2024-01-01T00:00:00Z"
    _, statements = reads_of_events(timeline, query, scan_depths=(40, 300))
    scans = [s for s, _ in statements if s.startswith("SELECT events.id, events.uid")]
    assert scans
    assert all(scan.count("events.occurred_at >=") == 1 for scan in scans), scans


def test_each_scan_reads_on_from_where_the_last_stopped(
    timeline: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a scan of the newest events leaves the page short, the next one reads only the
    older events, not the newest again: at a million events, a page of bots' events with
    common text near incidents read 5,000, then 38,000, then 25,000 and 100,000 events from
    the top (95 ms), where 100,000 in all now do (56 ms)."""
    if timeline.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's scans")
    monkeypatch.setattr(store, "FEW", 1)  # no part is few: as at a million events
    monkeypatch.setattr(store, "_cheapest", lambda *_: ("scan", "time", 30.0, False))
    query = "kind=force_push&author=*[bot]"
    with timeline.read() as session:
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        expected = session.scalars(
            parse(query).apply(select(Event.id)).order_by(*newest_first).limit(50)
        ).all()
    ids, statements = reads_of_events(timeline, query, scan_depths=(40, 300, 1000))
    assert ids == expected and ids
    scans = [(s, p) for s, p in statements if s.startswith("SELECT events.id, events.uid")]
    with timeline.engine.connect() as connection:
        plans = [
            " ".join(row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + s, p))
            for s, p in scans
        ]
    # The newest 40, then those 30 * 1.5 back, then the 300 and 1,000 newest, then the rest.
    assert len(plans) == 5, plans
    assert "occurred_at>?" in plans[0] and "occurred_at<?" not in plans[0]
    assert all("occurred_at<?" in plan for plan in plans[1:]), plans


@pytest.mark.parametrize(
    ("query", "searched"), [("kind=revert&q=cache", True), ("kind=force_push&q=fix", False)]
)
def test_a_walk_looks_for_text_in_the_search_index_where_the_text_is_rarer(
    timeline: Database, monkeypatch: pytest.MonkeyPatch, query: str, searched: bool
) -> None:
    """A walk through a part's index gathers the events the search index finds for the text
    once, and reads only those of the part's events it found: where the text matches fewer
    than about twice the events the walk would read (40,000 deployments with common text
    at a million events: 45 ms reading each one's text, 20 ms so). Where the part is the
    rarer, it reads their text as before."""
    if timeline.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's search index")
    monkeypatch.setattr(store, "FEW", 1)  # no part is few: as at a million events
    with timeline.read() as session:
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        expected = session.scalars(
            parse(query).apply(select(Event.id)).order_by(*newest_first).limit(50)
        ).all()
    ids, statements = reads_of_events(timeline, query, scan_depths=(40, 300))
    assert ids == expected
    walk, _ = statements[-1]  # the page's: the walk of the kind's span
    assert ("WITH searched AS" in walk and "MATCH" in walk) == searched, walk


@pytest.mark.parametrize("deep", [False, True])
def test_bots_events_are_walked_through_their_own_index(
    timeline: Database, monkeypatch: pytest.MonkeyPatch, deep: bool
) -> None:
    """`author=*[bot]` is no range of the actors' index: with other common parts, each
    database reads the bots' own index (`BOTS_INDEX`, partial). SQLite walks it newest first
    and tests the rest on each, where it read every event the text finds (81 ms a deep page
    at a million events for bots' events touching `src/*` with "session timeout"; 29 ms
    so). PostgreSQL's planner, costed as at a million events, takes it, where it walked the
    whole timeline (114 ms a first page; its statement 13 ms so, walking the index)."""
    monkeypatch.setattr(store, "FEW", 1)  # no part is few: as at a million events
    query = "author=*[bot]&q=fix"
    with timeline.read() as session:
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        everything = session.scalars(parse(query).apply(select(Event)).order_by(*newest_first))
        matching = list(everything)
    assert len(matching) >= 3
    after = len(matching) // 3 if deep else -1
    cursor = encode_cursor(matching[after]) if deep else None
    expected = [event.id for event in matching[after + 1 :]][:50]
    ids, statements = reads_of_events(timeline, query, cursor, scan_depths=(40, 300))
    assert ids == expected
    page, parameters = statements[-1]
    if timeline.engine.dialect.name == "postgresql":  # the planner's, as at a million events
        plan = costly_text_plans(timeline, [statements[-1]])[0]
        assert re.search(rf"(using|Index Scan on) {BOTS_INDEX}\b", plan), plan
        return
    with timeline.engine.connect() as connection:
        plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + page, parameters).all()
    assert any(f"USING INDEX {BOTS_INDEX}" in row[-1] for row in plan), plan


@pytest.mark.parametrize("after_until", [True, False])
def test_a_deep_page_states_one_upper_bound(timeline: Database, after_until: bool) -> None:
    """A cursor and `until` both bound a page from above; only the tighter is stated (the
    same events). Given both, PostgreSQL walked the timeline index from the later down to
    the earlier: 16 ms at a million events for a page that has nothing."""
    until = datetime(2025, 1, 1, tzinfo=UTC)
    query = "kind=commit&author=*[bot]&until=2025-01-01T00:00:00Z"
    at = until + timedelta(days=30 if after_until else -30)
    with timeline.read() as session:
        last = session.scalars(
            select(Event).where(Event.occurred_at <= at).order_by(Event.occurred_at.desc())
        ).first()
        assert last is not None
        cursor = encode_cursor(last)
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        before = tuple_(Event.occurred_at, Event.id) < (last.occurred_at, last.id)
        expected = session.scalars(
            parse(query).apply(select(Event.id)).where(before).order_by(*newest_first).limit(50)
        ).all()
    ids, statements = reads_of_events(timeline, query, cursor, scan_depths=(40, 300))
    assert ids == expected and ids
    bounded = [s for s, _ in statements if "occurred_at <" in s or "events.id) <" in s]
    assert bounded
    for statement in bounded:
        by_until = re.search(r"occurred_at < (%\(|\?)", statement) is not None
        by_cursor = re.search(r"events\.id( \+ 0)?\) < ", statement) is not None
        assert by_until != by_cursor and by_cursor == (not after_until), statement


@pytest.mark.parametrize(
    ("query", "part"),
    [
        ("kind=deployment&author=*[bot]", "kinds"),
        ("repo=acme/*&author=*[bot]", "repos"),
        ("author=dev04*&kind=commit", "authors"),
        ("branch=release/*&bots=exclude", "branches"),
    ],
)
def test_a_walk_reads_each_span_newest_first_page_after_page(
    timeline: Database, query: str, part: str
) -> None:
    """Each value's span of the part's index, newest first and stopping at a page, merged:
    the same events as the whole filter, first page and every page after it; each span read
    through the part's own index and no other."""
    if timeline.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's walks")
    filter = parse(query)
    statements: list[tuple[str, Any]] = []

    def record(conn, _cursor, statement, parameters, context, executemany) -> None:
        statements.append((statement, parameters))

    with timeline.read() as session:
        aliases = author_aliases(session, filter.authors)
        newest_first = (Event.occurred_at.desc(), Event.id.desc())
        expected = list(session.scalars(filter.apply(select(Event.id)).order_by(*newest_first)))
        spans = walk.values(session, filter, part, aliases)
        assert spans, part
        position, found = None, []
        event.listen(timeline.engine, "before_cursor_execute", record)
        try:
            while True:
                events = walk.page(session, filter, part, spans, None, aliases, position, 5)
                found.extend(event.id for event in events[:5])
                if len(events) <= 5:
                    break
                position = (events[4].occurred_at, events[4].id)
        finally:
            event.remove(timeline.engine, "before_cursor_execute", record)
    assert found == expected and len(expected) > 5
    index = {
        "kinds": "ix_events_kind_timeline",
        "repos": "ix_events_repo_timeline",
        "authors": "ix_events_actor_timeline",
        "branches": "ix_events_branch_timeline",
    }[part]
    with timeline.engine.connect() as connection:
        for statement, parameters in statements:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            reads = [row[-1] for row in plan if " events " in f"{row[-1]} "]
            spans_read = [read for read in reads if "PRIMARY KEY" not in read]
            assert len(spans_read) == len(spans), reads
            assert all(f"USING INDEX {index} (" in read for read in spans_read), reads


def test_a_glob_expands_to_its_values_by_seeks_in_the_index(
    timeline: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`repo=acme/*` walks the spans of the repositories it names, found one seek each; a
    glob with more values than `walk.MAX_SPANS`, or one that starts with `*`, walks none."""
    if timeline.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's walks")
    with timeline.read() as session:
        repos = sorted(session.scalars(select(Event.repo).distinct()))
        acme = [repo for repo in repos if repo.startswith("acme/")]
        assert walk.values(session, parse("repo=acme/*"), "repos", frozenset()) == acme
        assert walk.values(session, parse("repo=acme/a*"), "repos", frozenset()) == [
            repo for repo in acme if repo.startswith("acme/a")
        ]
        assert walk.values(session, parse("repo=nobody/*"), "repos", frozenset()) == []
        assert walk.values(session, parse("repo=*/api"), "repos", frozenset()) is None
        monkeypatch.setattr(walk, "MAX_SPANS", len(acme) - 1)
        assert walk.values(session, parse("repo=acme/*"), "repos", frozenset()) is None


def test_a_push_probes_only_the_reverts_still_waiting(timeline: Database) -> None:
    """Each stored push asks whether its repository has a revert whose commit has not come:
    the partial index of those answers, not the thousands of linked reverts or of events
    without a revert (which SQLite's statistics of a whole-table index took for few)."""
    timeline.analyze()
    probe = waiting_revert("acme/api").compile(
        timeline.engine, compile_kwargs={"literal_binds": True}
    )
    sqlite = timeline.engine.dialect.name == "sqlite"
    with timeline.engine.connect() as connection:
        if not sqlite:
            connection.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        rows = connection.exec_driver_sql(f"{explain}{probe}").all()
        linked = connection.execute(select(func.count()).where(Event.reverts_id.is_not(None)))
        assert linked.scalar_one() > 10
    plan = "\n".join(str(row[-1] if sqlite else row[0]) for row in rows)
    assert "ix_events_reverts_waiting" in plan, plan


def test_postgresql_finds_a_path_prefix_as_a_range_of_the_paths_index(timeline: Database) -> None:
    """`path=db/migrations/race_condition_*` is a range of ix_event_files_path (pattern
    operator class), not a walk of the trigram index, which costs more the longer the
    prefix."""
    if timeline.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's operator class")
    filter = parse("path=db/migrations/race_condition_*&branch=feature/*")
    with timeline.read() as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        compiled = filter.apply(select(Event.id)).compile(session.get_bind())
        explained = session.connection().exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        plan = "\n".join(row[0] for row in explained)
    assert re.search(r"ix_event_files_path\b(?!_trgm)", plan), plan
    assert "~>=~ 'db/migrations/race_condition_'" in plan, plan
