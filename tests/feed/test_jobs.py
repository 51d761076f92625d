"""Due jobs and the worker, on a real database: unique keys, leases, retries, backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feed import jobs
from feed.db import Database
from feed.models import Job
from feed.worker import RetryAt, run_due


def job(db: Database, key: str) -> Job:
    with db.read() as session:
        return session.scalars(select(Job).where(Job.key == key)).one()


def test_enqueuing_the_same_key_twice_is_one_job(db: Database) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    with db.write() as session:
        jobs.enqueue(session, "patches", "patches:a/b:1", {"sha": "1"}, due_at=later)
        jobs.enqueue(session, "patches", "patches:a/b:1", {"sha": "1"}, due_at=later)
    with db.read() as session:
        assert len(session.scalars(select(Job)).all()) == 1


def test_enqueuing_again_brings_a_due_job_forward_and_rearms_only_when_asked(db) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    with db.write() as session:
        jobs.enqueue(session, "sync", "sync:a/b", {}, due_at=later)
        jobs.enqueue(session, "sync", "sync:a/b", {})
    assert job(db, "sync:a/b").due_at < later
    with db.write() as session:
        jobs.finish(session, job(db, "sync:a/b").id)
        jobs.enqueue(session, "sync", "sync:a/b", {})
    assert job(db, "sync:a/b").state == "done"
    with db.write() as session:
        jobs.enqueue(session, "sync", "sync:a/b", {}, rearm=True)
    assert job(db, "sync:a/b").state == "due"


def test_a_claimed_job_is_not_claimed_again_until_its_lease_ends(db: Database) -> None:
    with db.write() as session:
        jobs.enqueue(session, "k", "one", {})
    with db.write() as session:
        assert [c.key for c in jobs.claim(session)] == ["one"]
    with db.write() as session:
        assert jobs.claim(session) == []
    after_lease = datetime.now(UTC) + jobs.LEASE + timedelta(seconds=1)
    with db.write() as session:  # the worker that held it died
        assert [c.attempts for c in jobs.claim(session, now=after_lease)] == [2]


def test_the_worker_runs_handlers_and_records_outcomes(db: Database) -> None:
    ran: list[str] = []
    soon = datetime.now(UTC) + timedelta(minutes=5)

    def ok(payload):
        ran.append(payload["name"])
        return None

    def periodic(payload):
        ran.append(payload["name"])
        return soon

    def broken(payload):
        raise RuntimeError("upstream said no")

    def limited(payload):
        raise RetryAt(soon, "rate limit")

    with db.write() as session:
        for kind in ("ok", "periodic", "broken", "limited", "unknown"):
            jobs.enqueue(session, kind, kind, {"name": kind})
    handlers = {"ok": ok, "periodic": periodic, "broken": broken, "limited": limited}
    assert run_due(db, handlers) == 5
    assert sorted(ran) == ["ok", "periodic"]
    assert job(db, "ok").state == "done"
    assert (job(db, "periodic").state, job(db, "periodic").due_at) == ("due", soon)
    broken_job = job(db, "broken")
    assert broken_job.state == "due" and "upstream said no" in broken_job.last_error
    assert broken_job.due_at > datetime.now(UTC) + timedelta(seconds=10)
    assert (job(db, "limited").due_at, job(db, "limited").attempts) == (soon, 0)
    assert "no handler" in job(db, "unknown").last_error
    assert run_due(db, handlers) == 0  # nothing else is due now


def test_a_job_that_keeps_failing_dies(db: Database) -> None:
    with db.write() as session:
        jobs.enqueue(session, "broken", "b", {})
    for _ in range(jobs.MAX_ATTEMPTS):
        with db.write() as session:
            session.execute(
                Job.__table__.update().values(due_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        run_due(db, {"broken": lambda payload: 1 / 0})
    assert job(db, "b").state == "dead"
    assert "ZeroDivisionError" in job(db, "b").last_error


@pytest.mark.parametrize("attempts", [1, 3, 8, 30])
def test_backoff_grows_and_is_capped(attempts: int) -> None:
    delay = jobs.backoff(attempts)
    assert timedelta(seconds=15) <= delay <= jobs.MAX_BACKOFF


def test_a_wait_that_is_already_over_still_waits_a_second(db: Database) -> None:
    """A 429 with `Retry-After: 0`, or a reset that looks past, is not retried in the same
    pass: that would only be refused again, as fast as the worker can ask."""
    with db.write() as session:
        jobs.enqueue(session, "limited", "limited:1", {})
    calls: list[datetime] = []

    def limited(payload: dict) -> None:
        calls.append(datetime.now(UTC))
        raise RetryAt(datetime.now(UTC) - timedelta(seconds=5), "429, Retry-After: 0")

    assert run_due(db, {"limited": limited}) == 1
    assert len(calls) == 1
    with db.read() as session:
        job = session.scalars(select(Job)).one()
    assert job.state == "due" and job.due_at >= calls[0] + timedelta(seconds=0.9)
