"""Prometheus metrics: read from the database at scrape time, so every process tells the same
story; plus this process's webhook answers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from feed.db import Database
from feed.models import Channel, Event, Job, Repo


class TimelineCollector(Collector):
    """Events by kind, jobs by kind and state with the age of the oldest due one, repository
    sync states and failing chat channels."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        events = GaugeMetricFamily("shiplog_events", "Events in the timeline", labels=["kind"])
        jobs = GaugeMetricFamily("shiplog_jobs", "Jobs by kind and state", labels=["kind", "state"])
        oldest = GaugeMetricFamily(
            "shiplog_job_oldest_due_seconds",
            "Age of the oldest job that is due and not done",
            labels=["kind"],
        )
        repos = GaugeMetricFamily(
            "shiplog_repo_sync", "Repositories by sync status", labels=["repo", "status"]
        )
        failing = GaugeMetricFamily(
            "shiplog_chat_channels_failing", "Chat channels whose platform refused the last message"
        )
        with self.db.read() as session:
            for kind, count in session.execute(
                select(Event.kind, func.count()).group_by(Event.kind)
            ):
                events.add_metric([kind], count)
            for kind, state, count in session.execute(
                select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state)
            ):
                jobs.add_metric([kind, state], count)
            for kind, due_at in session.execute(
                select(Job.kind, func.min(Job.due_at))
                .where(Job.state == "due", Job.due_at <= now)
                .group_by(Job.kind)
            ):
                oldest.add_metric([kind], max((now - _utc(due_at)).total_seconds(), 0.0))
            for name, status in session.execute(
                select(Repo.full_name, Repo.sync_status).where(Repo.sync_status.is_not(None))
            ):
                repos.add_metric([name, status], 1)
            failing.add_metric(
                [],
                session.scalar(
                    select(func.count())
                    .select_from(Channel)
                    .where(Channel.failing_reason.is_not(None))
                )
                or 0,
            )
        yield from (events, jobs, oldest, repos, failing)


class Metrics:
    """One registry per app: the timeline's gauges and this process's counters."""

    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(TimelineCollector(db))
        self.webhook_responses = Counter(
            "shiplog_webhook_responses",
            "Webhook deliveries answered, by HTTP status",
            ["status"],
            registry=self.registry,
        )


def _utc(moment: datetime) -> datetime:
    """SQLite hands back aggregates as text or naive times."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
