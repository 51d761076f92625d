"""Due jobs: rows with a unique key, claimed by workers, retried with backoff, never doubled.

Jobs wait in lanes, claimed in order of priority: a backlog in a later lane never holds up
an earlier one. Jobs of one partition (a chat channel) run one at a time, oldest first.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from feed.db import WAKE
from feed.models import Job
from feed.store import insert_for

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 8
LEAST_WAIT = timedelta(seconds=1)  # the soonest a job that asked to wait runs again
MAX_BACKOFF = timedelta(hours=1)
# Lanes, most urgent first: alerts and reminders, then digests, then GitHub work.
LANES = ("alerts", "digests", "github")
DEFAULT_LANE = "github"
# Worker threads per lane. A job spends its time waiting on the network (chat platforms, the
# GitHub API), not on the processor, so two cores carry many. A chat channel has at most one
# message in flight and a channel that hangs holds one thread until its read timeout: the
# chat lanes have threads enough for many channels hanging at once before a healthy one waits.
DEFAULT_THREADS = {"alerts": 16, "digests": 4, "github": 4}
NOTIFY_CHANNEL = "shiplog_jobs"  # PostgreSQL's LISTEN/NOTIFY channel for new work

# (key, payload) or (key, payload, partition)
NewJob = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], str | None]


@dataclass(frozen=True)
class Claimed:
    """A job a worker holds until its lease runs out."""

    id: int
    key: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    lane: str = DEFAULT_LANE
    partition: str | None = None
    ready_at: datetime | None = None


def enqueue(
    session: Session,
    kind: str,
    key: str,
    payload: dict[str, Any],
    *,
    due_at: datetime | None = None,
    rearm: bool = False,
    if_absent: bool = False,
    lane: str = DEFAULT_LANE,
    partition: str | None = None,
) -> None:
    """Make `key` due. A job that exists keeps its row: it is only brought forward (not at
    all with `if_absent`), and a finished one runs again only with `rearm`."""
    enqueue_many(
        session,
        kind,
        [(key, payload, partition)],
        due_at=due_at,
        rearm=rearm,
        if_absent=if_absent,
        lane=lane,
    )


def enqueue_many(
    session: Session,
    kind: str,
    jobs: Sequence[NewJob],
    *,
    due_at: datetime | None = None,
    rearm: bool = False,
    if_absent: bool = False,
    lane: str = DEFAULT_LANE,
) -> None:
    """`enqueue` for each (key, payload[, partition]), with one INSERT for all of them; the
    lane's workers are woken once the transaction commits."""
    if not jobs:
        return
    if lane not in LANES:
        raise ValueError(f"jobs: unknown lane {lane!r}")
    now = datetime.now(UTC)
    due_at = due_at or now
    table = Job.__table__
    insert = insert_for(session)(table).on_conflict_do_nothing(index_elements=["key"])
    rows = [
        {
            "key": job[0],
            "kind": kind,
            "lane": lane,
            "partition": job[2] if len(job) > 2 else None,
            "payload": job[1],
            "state": "due",
            "due_at": due_at,
            "ready_at": due_at,
            "attempts": 0,
            "updated_at": now,
        }
        for job in jobs
    ]
    new = set(session.scalars(insert.returning(table.c.key), rows))
    if due_at <= now + LEAST_WAIT:
        wake(session, lane)
    if if_absent:
        return
    for key in dict.fromkeys(job[0] for job in jobs if job[0] not in new):
        job = session.scalars(select(Job).where(Job.key == key).with_for_update()).one()
        if job.state == "due":
            job.due_at = min(job.due_at, due_at)
        elif rearm:
            job.state, job.due_at, job.attempts, job.last_error = "due", due_at, 0, None
            job.ready_at, job.latency_seconds = due_at, None
        job.updated_at = now


def wake(session: Session, lane: str) -> None:
    """Tell workers that `lane` has new work, once this transaction commits: in this process
    through the session (see `Database.write`), in others through PostgreSQL's NOTIFY (which
    is sent at commit, and not at all on rollback)."""
    lanes = session.info.setdefault(WAKE, set())
    if lane in lanes:
        return
    lanes.add(lane)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :lane)"), {"channel": NOTIFY_CHANNEL, "lane": lane}
        )


def claim(
    session: Session,
    *,
    limit: int = 10,
    now: datetime | None = None,
    lease: timedelta = LEASE,
    lanes: Iterable[str] = LANES,
) -> list[Claimed]:
    """Take up to `limit` due jobs for this worker, from the most urgent of `lanes` first;
    others skip them until the lease ends (a worker that dies holding them leaves them to
    whoever comes after that).

    Of a partition, only its oldest unfinished job is taken, and none while that one is held:
    one channel's messages go out one at a time, in order.
    """
    now = now or datetime.now(UTC)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:  # claims take turns, so two workers never take two jobs of one partition
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": "claim"})
    earlier = aliased(Job)
    head_of_partition = or_(
        Job.partition.is_(None),
        ~exists().where(
            and_(earlier.partition == Job.partition, earlier.state == "due", earlier.id < Job.id)
        ),
    )
    taken: list[Job] = []
    for lane in [lane for lane in LANES if lane in set(lanes)]:
        if len(taken) >= limit:
            break
        conditions = [
            Job.state == "due",
            Job.lane == lane,
            Job.due_at <= now,
            or_(Job.locked_until.is_(None), Job.locked_until < now),
            head_of_partition,
        ]
        stmt = select(Job).where(*conditions).order_by(Job.due_at, Job.id).limit(limit - len(taken))
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True, of=Job)
        taken += session.scalars(stmt)
    for job in taken:
        job.locked_until = now + lease
        job.attempts += 1
        job.updated_at = now
    return [
        Claimed(
            job.id,
            job.key,
            job.kind,
            dict(job.payload),
            job.attempts,
            job.lane,
            job.partition,
            job.ready_at,
        )
        for job in taken
    ]


def finish(session: Session, job: Claimed | int, *, next_due: datetime | None = None) -> None:
    """The job succeeded: done, or (for periodic work) due again at `next_due`."""
    now = _now()
    values: dict[str, Any] = {"locked_until": None, "last_error": None, "updated_at": now}
    if next_due is None:
        values["state"] = "done"
        if isinstance(job, Claimed) and job.ready_at is not None:
            values["latency_seconds"] = max((now - job.ready_at).total_seconds(), 0.0)
    else:
        values.update(state="due", due_at=next_due, attempts=0)
    job_id = job.id if isinstance(job, Claimed) else job
    session.execute(update(Job).where(Job.id == job_id).values(**values))
    if isinstance(job, Claimed) and job.partition is not None:
        wake(session, job.lane)  # the partition's next job may run now


def next_due(
    session: Session, lanes: Iterable[str] = LANES, *, now: datetime | None = None
) -> datetime | None:
    """When the soonest job of `lanes` that is not due yet falls due."""
    return session.scalar(
        select(Job.due_at)
        .where(Job.state == "due", Job.lane.in_(list(lanes)), Job.due_at > (now or _now()))
        .order_by(Job.due_at)
        .limit(1)
    )


def retry(
    session: Session,
    job: Claimed,
    error: str,
    *,
    at: datetime | None = None,
    failed: bool = True,
    max_attempts: int = MAX_ATTEMPTS,
) -> str:
    """The job failed: due again at `at`, or after a backoff; dead after too many attempts.

    A retry at a given time that is not a failure (`failed=False`: a rate limit's reset, a
    channel's pacing) does not count as an attempt.
    """
    now = _now()
    values: dict[str, Any]
    if at is not None and not failed:  # never at once: it would only be refused again
        values = {"state": "due", "due_at": max(at, now + LEAST_WAIT), "attempts": job.attempts - 1}
    elif job.attempts >= max_attempts:
        values = {"state": "dead"}
    else:
        due_at = max(at, now + LEAST_WAIT) if at is not None else now + backoff(job.attempts)
        values = {"state": "due", "due_at": due_at}
    values.update(locked_until=None, last_error=error[:2000], updated_at=now)
    session.execute(update(Job).where(Job.id == job.id).values(**values))
    if values["state"] == "dead" and job.partition is not None:
        wake(session, job.lane)  # the partition's next job is first in line now
    return values["state"]


def give_up(session: Session, job: Claimed, error: str) -> None:
    """The job cannot succeed (the destination refused it for good): dead now."""
    session.execute(
        update(Job)
        .where(Job.id == job.id)
        .values(state="dead", locked_until=None, last_error=error[:2000], updated_at=_now())
    )
    if job.partition is not None:
        wake(session, job.lane)


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter: up to 30 s, 60 s, 120 s ... capped at an hour."""
    ceiling = min(timedelta(seconds=30) * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return ceiling * random.uniform(0.5, 1.0)


def _now() -> datetime:
    return datetime.now(UTC)
