"""The worker's lanes, partitions, threads and wake-ups, on a real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from feed import jobs
from feed.db import Database
from feed.models import Job
from feed.worker import RetryAt, Worker, run_due

WAIT = 5.0  # the most any test here waits for something that should happen at once


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        worker.wakeup.notify(jobs.LANES)
        thread.join(timeout=WAIT)
        assert not thread.is_alive(), "the worker did not stop"


def add(db: Database, kind: str, key: str, lane: str, partition: str | None = None, **kw) -> None:
    with db.write() as session:
        jobs.enqueue(session, kind, key, {"key": key}, lane=lane, partition=partition, **kw)


def recorder(log: list[str], done: threading.Event | None = None, until: int = 0) -> Callable:
    def handle(payload: dict) -> None:
        log.append(payload["key"])
        if done is not None and len(log) >= until:
            done.set()

    return handle


def state(db: Database, key: str) -> Job:
    with db.read() as session:
        return session.scalars(select(Job).where(Job.key == key)).one()


def test_alerts_are_claimed_before_digests_before_github_work(db: Database) -> None:
    earlier = datetime.now(UTC) - timedelta(hours=1)
    add(db, "patches", "github-1", "github", due_at=earlier)
    add(db, "digest", "digest-1", "digests", due_at=earlier)
    add(db, "deliver", "alert-1", "alerts")
    with db.write() as session:
        assert [job.key for job in jobs.claim(session, limit=1)] == ["alert-1"]
        assert [job.key for job in jobs.claim(session, limit=5)] == ["digest-1", "github-1"]


def test_a_claim_takes_only_the_lanes_asked_for(db: Database) -> None:
    add(db, "patches", "github-1", "github")
    add(db, "deliver", "alert-1", "alerts")
    ran: list[str] = []
    handlers = {"patches": recorder(ran), "deliver": recorder(ran)}
    assert run_due(db, handlers, lanes=["alerts"]) == 1
    assert ran == ["alert-1"] and state(db, "github-1").state == "due"


def test_an_unknown_lane_is_refused(db: Database) -> None:
    with db.write() as session, pytest.raises(ValueError, match="unknown lane 'fast'"):
        jobs.enqueue(session, "deliver", "x", {}, lane="fast")


def test_one_partition_runs_one_job_at_a_time_in_order(db: Database) -> None:
    for n in range(3):
        add(db, "deliver", f"a-{n}", "alerts", partition="chat:1:alerts")
    add(db, "deliver", "b-0", "alerts", partition="chat:2:alerts")
    with db.write() as session:
        first = jobs.claim(session, limit=10)
    assert [job.key for job in first] == ["a-0", "b-0"]
    with db.write() as session:  # a-0 is held: nothing of its channel may go past it
        assert jobs.claim(session, limit=10) == []
        jobs.finish(session, first[0])
    with db.write() as session:
        assert [job.key for job in jobs.claim(session, limit=10)] == ["a-1"]


def test_a_partitions_first_job_waiting_to_retry_holds_the_rest(db: Database) -> None:
    for n in range(2):
        add(db, "deliver", f"a-{n}", "alerts", partition="chat:1:alerts")
    add(db, "deliver", "b-0", "alerts", partition="chat:2:alerts")
    with db.write() as session:
        head = jobs.claim(session, limit=1)[0]
        jobs.retry(session, head, "500", at=datetime.now(UTC) + timedelta(minutes=1))
    with db.write() as session:
        assert [job.key for job in jobs.claim(session, limit=10)] == ["b-0"]
    with db.write() as session:  # the first one dies: the next is first in line
        jobs.give_up(session, head, "410 gone")
    with db.write() as session:
        assert [job.key for job in jobs.claim(session, limit=10)] == ["a-1"]


def test_a_failure_retried_at_a_time_counts_as_an_attempt(db: Database) -> None:
    add(db, "deliver", "a", "alerts")
    at = datetime.now(UTC) + timedelta(seconds=30)

    def failing(payload: dict) -> None:
        raise RetryAt(at, "503 busy", failed=True)

    assert run_due(db, {"deliver": failing}, max_attempts=2) == 1
    job = state(db, "a")
    assert (job.state, job.attempts, job.due_at) == ("due", 1, at)
    with db.write() as session:
        session.execute(Job.__table__.update().values(due_at=datetime.now(UTC)))
    run_due(db, {"deliver": failing}, max_attempts=2)
    assert state(db, "a").state == "dead"


def test_a_finished_job_records_how_long_it_took_from_when_it_was_due(db: Database) -> None:
    add(db, "deliver", "a", "alerts", due_at=datetime.now(UTC) - timedelta(seconds=3))
    run_due(db, {"deliver": lambda payload: None})
    job = state(db, "a")
    assert job.state == "done" and 3 <= job.latency_seconds < 3 + WAIT


def test_a_github_backlog_never_delays_an_alert(db: Database) -> None:
    """Every GitHub thread is stuck on a slow job, with more queued behind: an alert made
    now still runs at once on its own lane's thread."""
    release = threading.Event()
    alert_ran = threading.Event()

    def slow(payload: dict) -> None:
        release.wait(WAIT)

    for n in range(20):
        add(db, "patches", f"github-{n}", "github")
    worker = Worker(
        db,
        {"patches": slow, "deliver": lambda payload: alert_ran.set()},
        threads={"alerts": 1, "github": 2},
        idle_seconds=30,
    )
    try:
        with running(worker):
            add(db, "deliver", "alert", "alerts")
            assert alert_ran.wait(WAIT), "the alert waited behind the GitHub backlog"
            release.set()
    finally:
        release.set()


def test_a_hanging_channel_does_not_hold_up_other_channels(db: Database) -> None:
    release = threading.Event()
    healthy: list[str] = []
    all_healthy = threading.Event()

    def deliver(payload: dict) -> None:
        if payload["key"].startswith("hanging"):
            release.wait(WAIT)
            return
        healthy.append(payload["key"])
        if len(healthy) == 10:
            all_healthy.set()

    for n in range(3):
        add(db, "deliver", f"hanging-{n}", "alerts", partition="chat:1:alerts")
    for n in range(10):
        add(db, "deliver", f"ok-{n:02d}", "alerts", partition="chat:2:alerts")
    worker = Worker(db, {"deliver": deliver}, threads={"alerts": 2}, idle_seconds=30)
    try:
        with running(worker):
            assert all_healthy.wait(WAIT)
            assert healthy == [f"ok-{n:02d}" for n in range(10)]  # in order
            assert state(db, "hanging-1").attempts == 0  # waits behind the one in flight
            release.set()
    finally:
        release.set()


def test_new_work_wakes_the_worker_at_once_not_at_the_next_poll(db: Database) -> None:
    ran = threading.Event()
    worker = Worker(db, {"deliver": lambda payload: ran.set()}, idle_seconds=60)
    with running(worker):
        time.sleep(0.2)  # the worker is idle, waiting for a minute
        started = time.monotonic()
        add(db, "deliver", "alert", "alerts")
        assert ran.wait(WAIT)
        assert time.monotonic() - started < 2


def test_another_process_wakes_the_worker_through_postgresql(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite one process holds the worker")
    worker_db, web_db = Database(database_url), Database(database_url)  # two processes' engines
    ran = threading.Event()
    worker = Worker(worker_db, {"deliver": lambda payload: ran.set()}, idle_seconds=60)
    try:
        with running(worker):
            time.sleep(0.5)  # the listener is up and the worker idle
            started = time.monotonic()
            add(web_db, "deliver", "alert", "alerts")
            assert ran.wait(WAIT)
            assert time.monotonic() - started < 2
    finally:
        worker_db.dispose()
        web_db.dispose()


def test_the_schedule_runs_again_when_it_asks_not_only_on_its_round(db: Database) -> None:
    """A promised incident update falls due between two rounds: its reminder is made then."""
    calls: list[float] = []
    second = threading.Event()

    def schedule(session) -> datetime:
        calls.append(time.monotonic())
        if len(calls) == 2:
            second.set()
        return datetime.now(UTC) + timedelta(seconds=0.3)

    worker = Worker(db, {}, schedule=schedule, schedule_every=60, idle_seconds=60)
    with running(worker):
        assert second.wait(WAIT)
    assert 0.25 <= calls[1] - calls[0] < 2


def test_a_job_that_fails_in_a_thread_is_retried_not_lost(db: Database) -> None:
    failed = threading.Event()

    def broken(payload: dict) -> None:
        failed.set()
        raise RuntimeError("upstream said no")

    add(db, "patches", "p", "github")
    with running(Worker(db, {"patches": broken}, idle_seconds=60)):
        assert failed.wait(WAIT)
    job = state(db, "p")
    assert job.state == "due" and job.attempts == 1 and "upstream said no" in job.last_error


def test_a_worker_for_some_lanes_leaves_the_others(db: Database) -> None:
    ran: list[str] = []
    alert = threading.Event()
    add(db, "patches", "github-1", "github")
    worker = Worker(
        db,
        {"patches": recorder(ran), "deliver": recorder(ran, alert, 1)},
        threads={"alerts": 1},
        idle_seconds=60,
    )
    with running(worker):
        add(db, "deliver", "alert-1", "alerts")
        assert alert.wait(WAIT)
    assert ran == ["alert-1"] and state(db, "github-1").state == "due"
