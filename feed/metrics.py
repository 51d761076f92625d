"""Prometheus metrics: read from the database at scrape time, so every process tells the same
story; plus this process's webhook answers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Metric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from feed.db import Database
from feed.jobs import LANES
from feed.models import Channel, Event, Job, Repo, Subscription

DELIVERY_STATES = ("due", "done", "dead")
# Seconds from an event's arrival to its alert's send.
LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class Lane:
    """A lane's queue: jobs due now (waiting or running) and how long the oldest has waited."""

    name: str
    due: int
    oldest_seconds: float


@dataclass(frozen=True)
class Latency:
    """Alerts sent to one platform's channels: how many within each bucket, in all, and
    their total seconds."""

    platform: str
    within: tuple[int, ...]  # a count per LATENCY_BUCKETS bound
    count: int
    total_seconds: float


def lanes(session: Session, now: datetime) -> list[Lane]:
    """Every lane's queue depth and the age of its oldest due job."""
    found = {
        lane: (count, oldest)
        for lane, count, oldest in session.execute(
            select(Job.lane, func.count(), func.min(Job.due_at))
            .where(Job.state == "due", Job.due_at <= now)
            .group_by(Job.lane)
        )
    }
    result = []
    for name in LANES:
        count, oldest = found.get(name, (0, None))
        age = max((now - _utc(oldest)).total_seconds(), 0.0) if oldest is not None else 0.0
        result.append(Lane(name, count, age))
    return result


def open_circuits(session: Session, now: datetime) -> list[Channel]:
    """Chat channels put aside after failing in a row, until their circuit closes."""
    return list(
        session.scalars(select(Channel).where(Channel.circuit_until > now).order_by(Channel.name))
    )


def alert_latencies(session: Session) -> list[Latency]:
    """Per platform, how long sent alerts (and reminders) took from arrival to send."""
    seconds = Job.latency_seconds
    subscription_id = Job.payload["subscription"].as_integer()
    rows = session.execute(
        select(
            Channel.platform,
            *[func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS],
            func.count(),
            func.sum(seconds),
        )
        .select_from(Job)
        .join(Subscription, Subscription.id == subscription_id)
        .join(Channel, Channel.id == Subscription.channel_id)
        .where(
            Job.kind == "deliver",
            Job.lane == "alerts",
            Job.state == "done",
            seconds.is_not(None),
        )
        .group_by(Channel.platform)
        .order_by(Channel.platform)
    )
    return [
        Latency(row[0], tuple(int(n or 0) for n in row[1:-2]), int(row[-2]), float(row[-1] or 0))
        for row in rows
    ]


class TimelineCollector(Collector):
    """Events by kind, jobs by kind and state with the age of the oldest due one, repository
    sync states with their API requests and rate limit, chat deliveries by platform and
    state, and failing chat channels."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
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
            github = _github_usage(session)
            deliveries = _chat_deliveries(session)
            worker = _worker(session, now)
        yield from (events, jobs, oldest, repos, failing, *github, deliveries, *worker)


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
        self.feed_responses = Counter(
            "shiplog_feed_responses",
            "Feed requests answered: from the cache untouched (hit), after checking its "
            "events (revalidated), or rendered",
            ["outcome"],
            registry=self.registry,
        )
        self.feed_outcomes = {
            outcome: self.feed_responses.labels(outcome)
            for outcome in ("hit", "revalidated", "rendered")
        }


def _github_usage(session: Session) -> tuple[Metric, ...]:
    """Each synced repository's API requests so far and the rate limit its last sync saw."""
    requests = CounterMetricFamily(
        "shiplog_github_requests", "Requests sent to the GitHub API, by repository", labels=["repo"]
    )
    remaining = GaugeMetricFamily(
        "shiplog_github_rate_limit_remaining",
        "API requests left in the rate-limit window, as of the repository's last sync or job",
        labels=["repo"],
    )
    reset = GaugeMetricFamily(
        "shiplog_github_rate_limit_reset_timestamp_seconds",
        "When that rate-limit window resets (Unix time)",
        labels=["repo"],
    )
    rows = session.execute(
        select(
            Repo.full_name, Repo.api_requests, Repo.rate_limit_remaining, Repo.rate_limit_reset_at
        ).where(Repo.api_requests > 0)
    )
    for name, count, left, reset_at in rows:
        requests.add_metric([name], count)
        if left is not None:
            remaining.add_metric([name], left)
        if reset_at is not None:
            reset.add_metric([name], reset_at.timestamp())
    return requests, remaining, reset


def _chat_deliveries(session: Session) -> GaugeMetricFamily:
    """`deliver` jobs by the platform of their subscription's channel and by state; every
    platform that has a channel shows all three states, zeros included."""
    deliveries = GaugeMetricFamily(
        "shiplog_chat_deliveries",
        "Chat messages by platform and state (due, done, dead)",
        labels=["platform", "state"],
    )
    counts = {
        (platform, state): 0
        for platform in session.scalars(select(Channel.platform).distinct())
        for state in DELIVERY_STATES
    }
    subscription_id = Job.payload["subscription"].as_integer()
    for platform, state, count in session.execute(
        select(Channel.platform, Job.state, func.count())
        .select_from(Job)
        .join(Subscription, Subscription.id == subscription_id)
        .join(Channel, Channel.id == Subscription.channel_id)
        .where(Job.kind == "deliver")
        .group_by(Channel.platform, Job.state)
    ):
        counts[platform, state] = count
    for (platform, state), count in sorted(counts.items()):
        deliveries.add_metric([platform, state], count)
    return deliveries


def _worker(session: Session, now: datetime) -> tuple[Metric, ...]:
    """Lanes' queues, open circuits, and the time from an event's arrival to its alert."""
    depth = GaugeMetricFamily("shiplog_lane_jobs_due", "Jobs due now, by lane", labels=["lane"])
    oldest = GaugeMetricFamily(
        "shiplog_lane_oldest_due_seconds",
        "How long the oldest job due in the lane has waited",
        labels=["lane"],
    )
    for lane in lanes(session, now):
        depth.add_metric([lane.name], lane.due)
        oldest.add_metric([lane.name], lane.oldest_seconds)
    circuits = GaugeMetricFamily(
        "shiplog_chat_circuit_open",
        "Chat channels put aside after failing in a row (1 while the circuit is open)",
        labels=["channel", "platform"],
    )
    for channel in open_circuits(session, now):
        circuits.add_metric([channel.name, channel.platform], 1)
    latency = HistogramMetricFamily(
        "shiplog_alert_latency_seconds",
        "Time from an event's arrival to its alert's send, by platform",
        labels=["platform"],
    )
    for row in alert_latencies(session):
        buckets = [(str(bound), n) for bound, n in zip(LATENCY_BUCKETS, row.within, strict=True)]
        latency.add_metric(
            [row.platform], [*buckets, ("+Inf", row.count)], sum_value=row.total_seconds
        )
    return depth, oldest, circuits, latency


def _utc(moment: datetime) -> datetime:
    """SQLite hands back aggregates as text or naive times."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
