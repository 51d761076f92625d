"""Due jobs: rows with a unique key, claimed by workers, retried with backoff, never doubled."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from feed.models import Job
from feed.store import insert_for

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 8
LEAST_WAIT = timedelta(seconds=1)  # the soonest a job that asked to wait runs again
MAX_BACKOFF = timedelta(hours=1)


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds until its lease runs out."""

    id: int
    key: str
    kind: str
    payload: dict[str, Any]
    attempts: int


def enqueue(
    session: Session,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    due_at: datetime | None = None,
    rearm: bool = False,
    if_absent: bool = False,
) -> None:
    """Make `key` due. A job that exists keeps its row: it is only brought forward (not at
    all with `if_absent`), and a finished one runs again only with `rearm`."""
    enqueue_many(session, kind, [(key, payload)], due_at=due_at, rearm=rearm, if_absent=if_absent)


def enqueue_many(
    session: Session,
    kind: str,
    jobs: Sequence[tuple[str, dict[str, Any]]],
    *,
    due_at: datetime | None = None,
    rearm: bool = False,
    if_absent: bool = False,
) -> None:
    """`enqueue` for each (key, payload), with one INSERT for all of them."""
    if not jobs:
        return
    now = datetime.now(UTC)
    due_at = due_at or now
    table = Job.__table__
    insert = insert_for(session)(table).on_conflict_do_nothing(index_elements=["key"])
    rows = [
        {
            "key": key,
            "kind": kind,
            "payload": payload,
            "state": "due",
            "due_at": due_at,
            "attempts": 0,
            "updated_at": now,
        }
        for key, payload in jobs
    ]
    new = set(session.scalars(insert.returning(table.c.key), rows))
    if if_absent:
        return
    for key in dict.fromkeys(key for key, _ in jobs if key not in new):
        job = session.scalars(select(Job).where(Job.key == key).with_for_update()).one()
        if job.state == "due":
            job.due_at = min(job.due_at, due_at)
        elif rearm:
            job.state, job.due_at, job.attempts, job.last_error = "due", due_at, 0, None
        job.updated_at = now


def claim(
    session: Session,
    *,
    limit: int = 10,
    now: datetime | None = None,
    lease: timedelta = LEASE,
) -> list[Claimed]:
    """Take up to `limit` due jobs for this worker; others skip them until the lease ends
    (a worker that dies holding them leaves them to whoever comes after that)."""
    now = now or datetime.now(UTC)
    stmt = (
        select(Job)
        .where(
            Job.state == "due",
            Job.due_at <= now,
            or_(Job.locked_until.is_(None), Job.locked_until < now),
        )
        .order_by(Job.due_at, Job.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    jobs = list(session.scalars(stmt))
    for job in jobs:
        job.locked_until = now + lease
        job.attempts += 1
        job.updated_at = now
    return [Claimed(job.id, job.key, job.kind, dict(job.payload), job.attempts) for job in jobs]


def finish(session: Session, job_id: int, *, next_due: datetime | None = None) -> None:
    """The job succeeded: done, or (for periodic work) due again at `next_due`."""
    values: dict[str, Any] = {"locked_until": None, "last_error": None, "updated_at": _now()}
    if next_due is None:
        values["state"] = "done"
    else:
        values.update(state="due", due_at=next_due, attempts=0)
    session.execute(update(Job).where(Job.id == job_id).values(**values))


def retry(
    session: Session,
    job: Claimed,
    error: str,
    *,
    at: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> str:
    """The job failed: due again at `at`, or after a backoff; dead after too many attempts.

    A retry at a given time (a rate limit's reset) does not count as a failed attempt.
    """
    now = _now()
    if at is not None:  # never at once: that would only be refused again, in the same pass
        due_at = max(at, now + LEAST_WAIT)
        values: dict[str, Any] = {"state": "due", "due_at": due_at, "attempts": job.attempts - 1}
    elif job.attempts >= max_attempts:
        values = {"state": "dead"}
    else:
        values = {"state": "due", "due_at": now + backoff(job.attempts)}
    values.update(locked_until=None, last_error=error[:2000], updated_at=now)
    session.execute(update(Job).where(Job.id == job.id).values(**values))
    return values["state"]


def give_up(session: Session, job: Claimed, error: str) -> None:
    """The job cannot succeed (the destination refused it for good): dead now."""
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(state="dead", locked_until=None, last_error=error[:2000], updated_at=_now())
    )


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: up to 30 s, 60 s, 120 s ... capped at an hour."""
    ceiling = min(timedelta(seconds=30) * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return ceiling * random.uniform(0.5, 1.0)


def _now() -> datetime:
    return datetime.now(UTC)
