"""The worker of this app: the integrations' job handlers and the periodic schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy.orm import Session

from feed import notify
from feed.config import Settings
from feed.state import Shiplog
from feed.worker import Handler, Scheduler, Worker
from integrations.chat.options import delivery_handlers
from integrations.github import jobs as github_jobs
from integrations.github import options as github_options
from integrations.github.client import RateBudget


def job_limits(settings: Settings) -> dict[str, Any]:
    """How often a job may fail, and how long a worker holds the jobs it took."""
    return {
        "max_attempts": settings.job_max_attempts,
        "lease": timedelta(seconds=settings.job_lease_seconds),
    }


def worker_parts(
    shiplog: Shiplog, http: requests.Session | None = None, *, served_at: str | None = None
) -> tuple[dict[str, Handler], Scheduler]:
    """The job handlers and the periodic schedule the worker runs; chat links go to
    `served_at` when SHIPLOG_BASE_URL is unset (see `chat_links`)."""
    settings = shiplog.settings
    budget = RateBudget()  # one rate limit for every thread's client of these credentials
    handlers = github_jobs.handlers(
        shiplog.db,
        lambda: github_options.github_client(settings, budget),
        github_options.sync_options(settings, intake=shiplog.intake),
        timedelta(seconds=settings.sync_interval),
    )
    handlers |= delivery_handlers(shiplog, http, served_at=served_at)

    def schedule(session: Session) -> datetime | None:
        now = datetime.now(UTC)
        github_jobs.schedule_syncs(session, settings.repos)
        notify.schedule_digests(session, now)
        notify.remind_overdue(session, now)
        return notify.next_promise(session, now)  # a reminder is due the moment it is missed

    return handlers, schedule


def make_worker(
    shiplog: Shiplog, lanes: tuple[str, ...] | None = None, *, served_at: str | None = None
) -> Worker:
    """The worker for `lanes` (all of them by default), with the configured threads."""
    handlers, schedule = worker_parts(shiplog, served_at=served_at)
    threads = shiplog.settings.worker_threads
    if lanes is not None:
        threads = {lane: threads[lane] for lane in lanes}
    return Worker(
        shiplog.db,
        handlers,
        threads=threads,
        schedule=schedule,
        **job_limits(shiplog.settings),
    )
