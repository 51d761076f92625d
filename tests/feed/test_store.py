"""The timeline store against a real database: idempotent writes, keyset pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from feed.db import Database
from feed.filters import Filter
from feed.models import Delivery, Event, EventFile, Repo
from feed.store import (
    InvalidCursor,
    attach_files,
    claim_delivery,
    decode_cursor,
    delete_event,
    encode_cursor,
    get_event,
    list_events,
    remove_demo,
    upsert_event,
    upsert_repo,
)
from tests.conftest import make_event, make_record

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def count(db: Database, model: type) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_the_same_uid_twice_is_one_event(db: Database) -> None:
    record = make_record(files=["a.py", "b.py"])
    with db.write() as session:
        assert upsert_event(session, record) == "created"
    with db.write() as session:
        assert upsert_event(session, record) == "unchanged"
        assert upsert_event(session, record, replace=True) == "unchanged"
    assert count(db, Event) == 1
    assert count(db, EventFile) == 2


def test_replace_takes_a_newer_record_and_ignores_an_older_one(db: Database) -> None:
    first = make_record(
        uid="incident:acme/api#1/comment/5",
        kind="incident_update",
        body="first words",
        occurred_at=T0,
        updated_at=T0,
    )
    with db.write() as session:
        upsert_event(session, first)
    edited = make_record(
        uid=first.uid,
        kind="incident_update",
        body="edited words",
        occurred_at=T0,
        updated_at=T0 + timedelta(minutes=5),
    )
    stale = make_record(
        uid=first.uid,
        kind="incident_update",
        body="stale words",
        occurred_at=T0,
        updated_at=T0 + timedelta(minutes=1),
    )
    with db.write() as session:
        assert upsert_event(session, edited, replace=True) == "updated"
        assert upsert_event(session, stale, replace=True) == "unchanged"
    with db.read() as session:
        stored = session.scalars(select(Event)).one()
    assert stored.body == "edited words"
    assert stored.updated_at == T0 + timedelta(minutes=5)
    assert stored.occurred_at == T0


def test_times_come_back_in_utc_to_the_microsecond(db: Database) -> None:
    moment = datetime(2026, 11, 1, 23, 59, 59, 123456, tzinfo=UTC)
    record = make_record(occurred_at=moment)
    with db.write() as session:
        upsert_event(session, record)
    with db.read() as session:
        stored = session.scalars(select(Event)).one()
    assert stored.occurred_at == moment
    assert stored.occurred_at.tzinfo is not None


def test_a_record_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        make_record(occurred_at=datetime(2026, 11, 1))


def test_only_commits_and_reverts_carry_files(db: Database) -> None:
    with pytest.raises(ValueError, match="a deployment carries no files"):
        make_record(kind="deployment", files=["src/app.py"])
    deployment = make_record(kind="deployment", uid="deployment:acme/api:1")
    with db.write() as session:
        upsert_event(session, deployment)
    with db.write() as session, pytest.raises(ValueError, match="a deployment carries no files"):
        attach_files(session, deployment.uid, make_record(files=["a.py"]).files, stats={})
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(EventFile)) == 0


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        make_record(kind="tweet")


def test_delete_removes_the_event_and_its_files(db: Database) -> None:
    record = make_record(files=["x.py"])
    with db.write() as session:
        upsert_event(session, record)
    with db.write() as session:
        assert delete_event(session, record.uid) is True
        assert delete_event(session, record.uid) is False
    assert count(db, Event) == 0
    assert count(db, EventFile) == 0


def test_pages_walk_newest_first_without_gaps_or_repeats(db: Database) -> None:
    with db.write() as session:
        # Pairs share a timestamp, so the id breaks the tie.
        for index in range(25):
            make_event(session, occurred_at=T0 + timedelta(minutes=index // 2))
    seen: list[int] = []
    cursor = None
    with db.read() as session:
        while True:
            page = list_events(session, Filter(), cursor=cursor, limit=7)
            seen.extend(event.id for event in page.events)
            cursor = page.next_cursor
            if cursor is None:
                break
    assert len(seen) == 25
    assert len(set(seen)) == 25
    with db.read() as session:
        expected = list(
            session.scalars(select(Event.id).order_by(Event.occurred_at.desc(), Event.id.desc()))
        )
    assert seen == expected


def test_pages_stay_stable_when_new_events_arrive_between_them(db: Database) -> None:
    with db.write() as session:
        for index in range(10):
            make_event(session, occurred_at=T0 + timedelta(minutes=index))
    with db.read() as session:
        first = list_events(session, Filter(), limit=5)
    with db.write() as session:  # a push lands while the reader looks at page one
        for index in range(3):
            make_event(session, occurred_at=T0 + timedelta(hours=1, minutes=index))
    with db.read() as session:
        second = list_events(session, Filter(), cursor=first.next_cursor, limit=5)
    titles = [e.title for e in first.events] + [e.title for e in second.events]
    assert len(set(titles)) == 10
    assert second.next_cursor is None


def test_the_last_page_has_no_next_cursor(db: Database) -> None:
    with db.write() as session:
        for _ in range(3):
            make_event(session)
    with db.read() as session:
        page = list_events(session, Filter(), limit=3)
    assert len(page.events) == 3
    assert page.next_cursor is None


def test_a_cursor_round_trips(db: Database) -> None:
    moment = datetime(2026, 11, 1, 1, 2, 3, 999999, tzinfo=UTC)
    with db.write() as session:
        make_event(session, occurred_at=moment)
    with db.read() as session:
        event = session.scalars(select(Event)).one()
    assert decode_cursor(encode_cursor(event)) == (moment, event.id)


@pytest.mark.parametrize("cursor", ["zz", "!!!", "bm90LWEtY3Vyc29y", "MTIzLi0x", "A" * 100])
def test_a_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_a_delivery_is_claimed_once(db: Database) -> None:
    with db.write() as session:
        assert claim_delivery(session, "d-1", "push", None, "acme/api") is not None
    with db.write() as session:
        assert claim_delivery(session, "d-1", "push", None, "acme/api") is None
    assert count(db, Delivery) == 1


def test_a_repo_is_remembered_once_and_fills_in_what_was_missing(db: Database) -> None:
    with db.write() as session:
        upsert_repo(session, "acme/api")
        upsert_repo(
            session, "acme/api", html_url="https://github.com/acme/api", default_branch="main"
        )
        upsert_repo(session, "acme/api")
    with db.read() as session:
        repo = session.scalars(select(Repo)).one()
    assert (repo.html_url, repo.default_branch) == ("https://github.com/acme/api", "main")


def test_get_event_loads_files_in_order(db: Database) -> None:
    record = make_record(files=["z.py", "a.py", "m.py"])
    with db.write() as session:
        upsert_event(session, record)
    with db.read() as session:
        event_id = session.scalar(select(Event.id))
        event = get_event(session, event_id)
        assert get_event(session, event_id + 1000) is None
    assert [f.path for f in event.files] == ["z.py", "a.py", "m.py"]


def test_remove_demo_takes_only_the_demo_repos(db: Database) -> None:
    with db.write() as session:
        upsert_repo(session, "acme/api", is_demo=True)
        upsert_repo(session, "real/repo")
        make_event(session, repo="acme/api")
        make_event(session, repo="real/repo")
    with db.write() as session:
        assert remove_demo(session) == 1
    with db.read() as session:
        assert list(session.scalars(select(Event.repo))) == ["real/repo"]
        assert list(session.scalars(select(Repo.full_name))) == ["real/repo"]


def test_removing_the_demo_forgets_the_names_only_its_events_gave(db: Database) -> None:
    from feed.models import AuthorAlias

    with db.write() as session:
        upsert_repo(session, "acme/api", is_demo=True)
        upsert_repo(session, "real/repo")
        make_event(session, repo="acme/api", actor="mara", data={"author_name": "Mara"})
        make_event(session, repo="acme/api", actor="li", data={"author_name": "Li Wei"})
        make_event(session, repo="real/repo", actor="li", data={"author_name": "Li Wei"})
    with db.write() as session:
        assert remove_demo(session) == 2
    with db.read() as session:
        aliases = set(session.execute(select(AuthorAlias.login, AuthorAlias.name)))
    assert aliases == {("li", "Li Wei")}


def test_a_failed_write_leaves_nothing_behind(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as session:
        make_event(session)
        raise RuntimeError("boom")
    assert count(db, Event) == 0


def test_a_web_process_and_a_worker_can_write_to_one_sqlite_file(tmp_path) -> None:
    """Two engines on one file (as `shiplog run` and `shiplog worker`) never see 'locked'."""
    from concurrent.futures import ThreadPoolExecutor

    from feed.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    upgrade(Database(url).engine)
    databases = [Database(url) for _ in range(4)]

    def work(db: Database) -> None:
        for _ in range(25):
            with db.write() as session:
                make_event(session)
                upsert_event(session, make_record(uid="commit:acme/api:shared"))

    with ThreadPoolExecutor(len(databases)) as pool:
        for future in [pool.submit(work, db) for db in databases]:
            future.result()
    assert count(databases[0], Event) == 101
    for db in databases:
        db.dispose()
