"""The intake, on a real database: events, follow-ups, incidents and alerts in one transaction,
and what must be prepared done once per process, after it has committed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from feed.db import Database
from feed.ingest import Batch, FollowUp, Intake, IssueSeen
from feed.models import Channel, Event, EventFile, Incident, Job, Subscription
from feed.store import FileRecord
from tests.conftest import make_record

NOW = datetime.now(UTC).replace(microsecond=0)


def keys(db: Database, kind: str | None = None) -> list[str]:
    with db.read() as session:
        query = select(Job.key).order_by(Job.key)
        return list(session.scalars(query if kind is None else query.where(Job.kind == kind)))


def realtime_everything(session: Session) -> None:
    """A channel with two realtime subscriptions (the default alerts, and every commit), as
    a prepare step writes them: idempotent."""
    if session.scalars(select(Channel).where(Channel.name == "eng")).one_or_none():
        return
    channel = Channel(name="eng", platform="slack", url="https://hooks.slack.com/x")
    session.add(channel)
    session.flush()
    session.add(Subscription(name="alerts", channel_id=channel.id, mode="realtime", filter={}))
    session.add(
        Subscription(
            name="commits", channel_id=channel.id, mode="realtime", filter={"kind": ["commit"]}
        )
    )
    session.flush()


def test_follow_ups_come_only_with_the_events_that_ask_for_them(db: Database) -> None:
    record = make_record(occurred_at=NOW - timedelta(days=3))
    batch = Batch(
        records=[record],
        follow_ups=[
            FollowUp("patches", f"patches:{record.uid}", {"sha": record.sha}, after=record.uid),
            FollowUp("reconcile", "reconcile:acme/api:main", {"branch": "main"}),
        ],
    )
    intake = Intake()
    with db.write() as session:
        assert intake.ingest(session, batch).created == 1
    assert keys(db) == [f"patches:{record.uid}", "reconcile:acme/api:main"]
    with db.write() as session:  # a redelivery: the commit is known, its patch job is not asked
        session.execute(Job.__table__.delete())
        assert intake.ingest(session, batch).created == 0
    assert keys(db) == ["reconcile:acme/api:main"]


def test_new_events_of_the_last_day_alert_and_a_batch_may_alert_nobody(db: Database) -> None:
    intake = Intake(prepare=realtime_everything)
    fresh = make_record(occurred_at=NOW - timedelta(hours=2))
    old = make_record(occurred_at=NOW - timedelta(days=2))
    quiet = make_record(occurred_at=NOW)
    with db.write() as session:
        intake.ingest(session, Batch(records=[fresh, old]))
        intake.ingest(session, Batch(records=[quiet], alerts=False))
        intake.ingest(session, Batch(records=[fresh]))  # known already: no second alert
    with db.read() as session:
        commits = session.scalars(select(Subscription.id).where(Subscription.name == "commits"))
        [subscription] = commits.all()
    assert keys(db, "deliver") == [f"deliver:{subscription}:event:{fresh.uid}"]


def test_prepare_runs_before_the_first_alerting_batch_and_once_it_commits(db: Database) -> None:
    calls: list[int] = []

    def prepare(session: Session) -> None:
        calls.append(1)
        realtime_everything(session)

    intake = Intake(prepare=prepare)
    with db.write() as session:  # the demo's kind of batch needs nothing prepared
        intake.ingest(session, Batch(records=[make_record()], alerts=False))
    assert calls == []
    with pytest.raises(RuntimeError), db.write() as session:
        intake.ingest(session, Batch(records=[make_record(occurred_at=NOW)]))
        raise RuntimeError("the transaction fails after the ingest")
    assert calls == [1]
    with db.read() as session:
        assert session.scalars(select(Subscription)).all() == []  # rolled back with it
    record = make_record(occurred_at=NOW)
    with db.write() as session:
        intake.ingest(session, Batch(records=[record]))
    with db.write() as session:
        intake.ingest(session, Batch(records=[make_record(occurred_at=NOW)]))
    intake.ready(db)
    assert calls == [1, 1]
    assert any(key.endswith(record.uid) for key in keys(db, "deliver"))


def test_ready_prepares_in_a_transaction_of_its_own_once(db: Database) -> None:
    calls: list[int] = []
    intake = Intake(prepare=lambda session: calls.append(1) or realtime_everything(session))
    intake.ready(db)
    intake.ready(db)
    with db.write() as session:
        intake.ingest(session, Batch(records=[make_record(occurred_at=NOW)]))
    assert calls == [1]
    with db.read() as session:
        assert len(session.scalars(select(Subscription)).all()) == 2


def test_a_synced_commit_completes_one_stored_while_its_files_were_pending(db: Database) -> None:
    pending = make_record(diff_state="pending")
    files = [
        FileRecord("a.py", "modified", additions=1, deletions=0, patch="+x", patch_status="ok")
    ]
    fetched = make_record(
        uid=pending.uid,
        sha=pending.sha,
        files=files,
        diff_state="fetched",
        data={"stats": {"files": 1, "additions": 1, "deletions": 0}},
    )
    intake = Intake()
    with db.write() as session:
        intake.ingest(session, Batch(records=[pending]))
    with db.write() as session:
        assert intake.ingest(session, Batch(records=[fetched])).created == 0
    with db.read() as session:
        event = session.scalars(select(Event)).one()
        [file] = session.scalars(select(EventFile)).all()
    assert event.diff_state == "fetched" and event.data["stats"]["additions"] == 1
    assert file.patch == "+x"


def test_incident_events_and_the_issue_as_seen_fold_into_the_incident(db: Database) -> None:
    uid = "incident:acme/api#4"
    opened = make_record(
        uid=uid,
        kind="incident_opened",
        title="Down",
        occurred_at=NOW - timedelta(hours=1),
        data={"number": 4, "issue_title": "Down", "labels": ["incident", "sev2"]},
    )
    seen = IssueSeen(uid, "Down hard", None, ("incident", "sev1"), NOW)
    with db.write() as session:
        Intake().ingest(session, Batch(records=[opened], issue=seen))
    with db.read() as session:
        incident = session.scalars(select(Incident)).one()
    assert (incident.title, incident.severity, incident.status) == (
        "Down hard",
        "sev1",
        "investigating",
    )
    with db.write() as session:
        Intake().ingest(session, Batch(issue=IssueSeen(uid, "Down", None, (), NOW, active=False)))
    with db.read() as session:
        assert session.scalars(select(Incident.active)).one() is False
