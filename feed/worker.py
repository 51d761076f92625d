"""The worker: claim due jobs, run their handlers, record each outcome.

Handlers come from the integrations (app.py hands them over) and return the time the job
should run again, or None when it is done. A handler raises RetryAt to be retried at a
given time without counting a failure (a rate limit's reset); any other exception is a
failure, retried with backoff until the job is dead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from feed import jobs
from feed.db import Database

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], datetime | None]
Scheduler = Callable[[Session], None]


class RetryAt(Exception):
    """Run the job again at `at`; not a failure."""

    def __init__(self, at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.at = at


class GiveUp(Exception):
    """The job can never succeed; it is dead at once, with this reason."""


def run_due(
    db: Database,
    handlers: Mapping[str, Handler],
    *,
    batch: int = 10,
    max_attempts: int = jobs.MAX_ATTEMPTS,
    lease: timedelta = jobs.LEASE,
) -> int:
    """Run every job that is due now, batch by batch; the number of jobs run."""
    done = 0
    while True:
        with db.write() as session:
            claimed = jobs.claim(session, limit=batch, lease=lease)
        if not claimed:
            return done
        for job in claimed:
            _run(db, handlers, job, max_attempts)
            done += 1


def run_forever(
    db: Database,
    handlers: Mapping[str, Handler],
    stop: threading.Event,
    *,
    schedule: Scheduler | None = None,
    idle_seconds: float = 1.0,
    schedule_every: float = 30.0,
    max_attempts: int = jobs.MAX_ATTEMPTS,
    lease: timedelta = jobs.LEASE,
) -> None:
    """Run due jobs until `stop` is set, calling `schedule` now and then to add periodic work."""
    last_schedule = float("-inf")
    while not stop.is_set():
        now = time.monotonic()
        try:
            if schedule is not None and now - last_schedule >= schedule_every:
                with db.write() as session:
                    schedule(session)
                last_schedule = now
            ran = run_due(db, handlers, max_attempts=max_attempts, lease=lease)
        except Exception:  # the database is away: keep the worker alive and try again
            log.exception("worker: cannot reach the job table")
            ran = 0
        if not ran:
            stop.wait(idle_seconds)


def _run(
    db: Database, handlers: Mapping[str, Handler], job: jobs.Claimed, max_attempts: int
) -> None:
    handler = handlers.get(job.kind)
    try:
        if handler is None:
            raise LookupError(f"worker: no handler for jobs of kind {job.kind!r}")
        next_due = handler(job.payload)
    except GiveUp as exc:
        with db.write() as session:
            jobs.give_up(session, job, str(exc))
        log.warning("worker: %s given up: %s", job.key, exc)
        return
    except RetryAt as exc:
        with db.write() as session:
            jobs.retry(session, job, str(exc), at=exc.at)
        log.info("worker: %s waits until %s: %s", job.key, exc.at.isoformat(), exc)
        return
    except Exception as exc:
        with db.write() as session:
            state = jobs.retry(
                session, job, f"{type(exc).__name__}: {exc}", max_attempts=max_attempts
            )
        log.warning("worker: %s failed (attempt %d, now %s): %s", job.key, job.attempts, state, exc)
        return
    with db.write() as session:
        jobs.finish(session, job.id, next_due=next_due)
