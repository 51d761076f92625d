"""Bounded reads of many items: the same rows as one query per item, on both databases, in
statements that do not grow with the items on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Integer, Select, event, func, insert, select

from feed.db import Database
from feed.lookup import UNION_CHUNK, Lookup, Values, read
from feed.models import BuildResult

CHECKS = UNION_CHUNK * 2 + 50  # more items than one UNION takes
NEWEST = 3


def _newest_part(values: Values) -> Select:
    """A check's NEWEST positions at or below its median one: a bounded select with a
    subquery of its own that reads the item's values."""
    mine = (BuildResult.repo == values["repo"], BuildResult.check == values["check"])
    median = values.inner(select(BuildResult.position).where(*mine)).subquery()
    middle = select(func.avg(median.c.position)).scalar_subquery()
    return (
        select(values["item"].label("item"), BuildResult.position)
        .where(*mine, BuildResult.position <= middle)
        .order_by(BuildResult.position.desc())
        .limit(NEWEST)
    )


NEWEST_RESULTS = Lookup(
    (("item", Integer()), ("repo", BuildResult.repo.type), ("check", BuildResult.check.type)),
    _newest_part,
)


@pytest.fixture
def results(database_url: str) -> Iterator[Database]:
    """Check i of repository i % 7 has results at positions i * 100 + 0..(i % 9)."""
    db = Database(database_url)
    at = datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        {
            "key": f"run-{i}-{n}",
            "repo": f"acme/r{i % 7}",
            "branch": "main",
            "check": f"check-{i}",
            "sha": f"{i:020x}{n:020x}",
            "source": "check_run",
            "conclusion": "success",
            "passed": True,
            "completed_at": at,
            "position": i * 100 + n,
        }
        for i in range(CHECKS)
        for n in range(i % 9 + 1)
    ]
    with db.write() as session:
        session.execute(insert(BuildResult), rows)
    yield db
    db.dispose()


def _items(count: int) -> list[dict[str, object]]:
    return [{"item": i, "repo": f"acme/r{i % 7}", "check": f"check-{i}"} for i in range(count)]


def _expected(i: int) -> list[int]:
    positions = [i * 100 + n for n in range(i % 9 + 1)]
    middle = sum(positions) / len(positions)
    return sorted((p for p in positions if p <= middle), reverse=True)[:NEWEST]


def test_every_item_gets_the_rows_its_own_query_would(results: Database) -> None:
    found: dict[int, list[int]] = {}
    with results.read() as session:
        for rows in read(session, NEWEST_RESULTS, _items(CHECKS)):
            for item, position in rows:
                found.setdefault(item, []).append(position)
    assert {item: sorted(p, reverse=True) for item, p in found.items()} == {
        i: _expected(i) for i in range(CHECKS)
    }


def test_postgresql_sends_one_statement_of_the_same_text_for_any_number_of_items(
    results: Database,
) -> None:
    def statements(count: int) -> list[str]:
        seen: list[str] = []
        listen = lambda *args: args[2].startswith("SELECT") and seen.append(args[2])  # noqa: E731
        event.listen(results.engine, "before_cursor_execute", listen)
        try:
            with results.read() as session:
                for rows in read(session, NEWEST_RESULTS, _items(count)):
                    rows.all()
        finally:
            event.remove(results.engine, "before_cursor_execute", listen)
        return seen

    few, many = statements(3), statements(CHECKS)
    if results.engine.dialect.name == "postgresql":
        assert len(many) == 1 and many == few
    else:  # SQLite: a UNION ALL of UNION_CHUNK parts at most
        assert len(many) == -(-CHECKS // UNION_CHUNK) and len(few) == 1
    assert statements(0) == []
