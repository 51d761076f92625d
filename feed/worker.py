"""The worker: claim due jobs lane by lane, run them on a few threads each, record outcomes.

Handlers come from the integrations (app.py hands them over) and return the time the job
should run again, or None when it is done. A handler raises RetryAt to be retried at a
given time (not counted as a failure unless it says so); any other exception is a failure,
retried with backoff until the job is dead.

New work wakes the worker at once: a commit in this process through `Database.on_commit`,
a commit in another through PostgreSQL's LISTEN/NOTIFY. Polling is only the fallback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from feed import jobs
from feed.db import Database

log = logging.getLogger(__name__)
# A database away for seconds: an outcome is recorded again after 0.5, 1, 2, 4 and 8 s.
RECORD_TRIES = 6
RECORD_WAIT = 0.5

Handler = Callable[[dict[str, Any]], datetime | None]
# Adds periodic work; returns when it wants to run again at the latest (or None).
Scheduler = Callable[[Session], datetime | None]


class RetryAt(Exception):
    """Run the job again at `at`; a failed attempt only with `failed=True`."""

    def __init__(self, at: datetime, reason: str, *, failed: bool = False) -> None:
        super().__init__(reason)
        self.at = at
        self.failed = failed


class GiveUp(Exception):
    """The job can never succeed; it is dead at once, with this reason."""


class Wakeup:
    """Lanes with new work, waited for by the worker's dispatcher."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._lanes: set[str] = set()

    def notify(self, lanes: Iterable[str]) -> None:
        with self._condition:
            self._lanes |= set(lanes)
            self._condition.notify_all()

    def wait(self, timeout: float) -> set[str]:
        """The lanes woken since the last call, waiting up to `timeout` for one."""
        with self._condition:
            if not self._lanes:
                self._condition.wait(max(timeout, 0.0))
            lanes, self._lanes = self._lanes, set()
            return lanes


def run_due(
    db: Database,
    handlers: Mapping[str, Handler],
    *,
    batch: int = 10,
    max_attempts: int = jobs.MAX_ATTEMPTS,
    lease: timedelta = jobs.LEASE,
    lanes: Iterable[str] = jobs.LANES,
) -> int:
    """Run every job of `lanes` that is due now, one at a time, most urgent lane first;
    the number of jobs run (`shiplog worker --once`, and tests)."""
    lanes = tuple(lanes)
    done = 0
    while True:
        with db.write() as session:
            claimed = jobs.claim(session, limit=batch, lease=lease, lanes=lanes)
        if not claimed:
            return done
        for job in claimed:
            run_one(db, handlers, job, max_attempts)
            done += 1


class Worker:
    """Runs jobs as they fall due: a pool of threads per lane, each lane claimed apart, so a
    backlog in one lane never holds up another; one partition's jobs one at a time."""

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        *,
        threads: Mapping[str, int] = jobs.DEFAULT_THREADS,
        schedule: Scheduler | None = None,
        schedule_every: float = 30.0,
        idle_seconds: float = 5.0,
        max_attempts: int = jobs.MAX_ATTEMPTS,
        lease: timedelta = jobs.LEASE,
    ) -> None:
        unknown = set(threads) - set(jobs.LANES)
        if unknown:
            raise ValueError(f"worker: unknown lane {sorted(unknown)[0]!r}")
        self.db = db
        self.handlers = handlers
        self.sizes = {lane: n for lane, n in threads.items() if n > 0}
        self.schedule = schedule
        self.schedule_every = schedule_every
        self.idle_seconds = idle_seconds
        self.max_attempts = max_attempts
        self.lease = lease
        self.wakeup = Wakeup()
        self._lock = threading.Lock()
        self._running = dict.fromkeys(self.sizes, 0)
        db.on_commit(self.wakeup.notify)

    def run(self, stop: threading.Event) -> None:
        """Run due jobs until `stop` is set; jobs already started are finished."""
        pools = {
            lane: ThreadPoolExecutor(size, thread_name_prefix=f"shiplog-{lane}")
            for lane, size in self.sizes.items()
        }
        listener = self._listen(stop)
        next_schedule = 0.0
        scheduled_for: float | None = None
        try:
            while not stop.is_set():
                wait = self.idle_seconds
                try:
                    now = time.monotonic()
                    if self.schedule is not None and now >= min(
                        next_schedule, scheduled_for or float("inf")
                    ):
                        with self.db.write() as session:
                            wanted = self.schedule(session)
                        next_schedule = now + self.schedule_every
                        scheduled_for = _monotonic_at(wanted)
                    self._dispatch(pools)
                    with self.db.read() as session:
                        soonest = jobs.next_due(session, self.sizes)
                    for moment in (_monotonic_at(soonest), next_schedule, scheduled_for):
                        if moment is not None:
                            wait = min(wait, moment - time.monotonic())
                except Exception:  # the database is away: keep the worker alive, try again
                    log.exception("worker: cannot reach the job table")
                if not stop.is_set():
                    self.wakeup.wait(max(wait, 0.01))
        finally:
            stop.set()
            if listener is not None:
                listener.join(timeout=2)
            for pool in pools.values():
                pool.shutdown(wait=True)

    def _dispatch(self, pools: Mapping[str, ThreadPoolExecutor]) -> None:
        """Claim as many due jobs as each lane has free threads, and start them."""
        with self._lock:
            free = {lane: self.sizes[lane] - self._running[lane] for lane in self.sizes}
        lanes = [lane for lane in jobs.LANES if free.get(lane, 0) > 0]
        if not lanes:
            return
        with self.db.write() as session:
            claimed = [
                job
                for lane in lanes
                for job in jobs.claim(session, limit=free[lane], lease=self.lease, lanes=[lane])
            ]
        for job in claimed:
            with self._lock:
                self._running[job.lane] += 1
            pools[job.lane].submit(self._run, job)

    def _run(self, job: jobs.Claimed) -> None:
        try:
            run_one(self.db, self.handlers, job, self.max_attempts, record_tries=RECORD_TRIES)
        except Exception:  # the database stayed away: the lease brings the job back
            log.exception("worker: %s: cannot record the outcome", job.key)
        finally:
            with self._lock:
                self._running[job.lane] -= 1
            self.wakeup.notify([job.lane])

    def _listen(self, stop: threading.Event) -> threading.Thread | None:
        """On PostgreSQL, a thread that turns NOTIFY from other processes into wake-ups."""
        if self.db.engine.dialect.name != "postgresql":
            return None
        thread = threading.Thread(
            target=listen, args=(self.db, self.wakeup, stop), name="shiplog-listen", daemon=True
        )
        thread.start()
        return thread


def listen(db: Database, wakeup: Wakeup, stop: threading.Event) -> None:
    """LISTEN for new work until `stop`; reconnects when the database comes back."""
    while not stop.is_set():
        try:
            raw = db.engine.raw_connection()
            try:
                connection = raw.driver_connection
                connection.autocommit = True
                connection.execute(f"LISTEN {jobs.NOTIFY_CHANNEL}")
                wakeup.notify(jobs.LANES)  # work may have come while no one listened
                while not stop.is_set():
                    lanes = {n.payload for n in connection.notifies(timeout=0.5)}
                    if lanes:
                        wakeup.notify(lanes)
            finally:
                raw.invalidate()  # a LISTENing connection goes back to no pool
        except Exception:
            log.warning("worker: lost the database's notifications; polling until they return")
            stop.wait(2.0)


def run_one(
    db: Database,
    handlers: Mapping[str, Handler],
    job: jobs.Claimed,
    max_attempts: int,
    *,
    record_tries: int = 1,
) -> None:
    """Run one claimed job's handler and record what came of it, trying `record_tries`
    times while the database is away (a message sent but not recorded would go twice)."""
    handler = handlers.get(job.kind)
    record: Callable[[Session], Any]
    try:
        if handler is None:
            raise LookupError(f"worker: no handler for jobs of kind {job.kind!r}")
        next_due = handler(job.payload)
    except GiveUp as exc:
        log.warning("worker: %s given up: %s", job.key, exc)
        record = partial(jobs.give_up, job=job, error=str(exc))
    except RetryAt as exc:
        log.info("worker: %s waits until %s: %s", job.key, exc.at.isoformat(), exc)
        record = partial(
            jobs.retry,
            job=job,
            error=str(exc),
            at=exc.at,
            failed=exc.failed,
            max_attempts=max_attempts,
        )
    except Exception as exc:
        log.warning("worker: %s failed (attempt %d): %s", job.key, job.attempts, exc)
        error = f"{type(exc).__name__}: {exc}"
        record = partial(jobs.retry, job=job, error=error, max_attempts=max_attempts)
    else:
        record = partial(jobs.finish, job=job, next_due=next_due)
    for attempt in range(record_tries):
        try:
            with db.write() as session:
                record(session)
            return
        except OperationalError:
            if attempt == record_tries - 1:
                raise
            time.sleep(RECORD_WAIT * 2**attempt)


def _monotonic_at(moment: datetime | None) -> float | None:
    """`moment` on the monotonic clock the loop waits by."""
    if moment is None:
        return None
    return time.monotonic() + (moment - datetime.now(UTC)).total_seconds()
