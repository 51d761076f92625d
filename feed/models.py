"""The schema: one timeline of events, their files, tracked repos and received deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

KINDS = (
    "commit",
    "revert",
    "force_push",
    "release",
    "deployment",
    "incident_opened",
    "incident_update",
    "incident_resolved",
    "build_broken",
    "build_fixed",
)
INCIDENT_KINDS = ("incident_opened", "incident_update", "incident_resolved")
BUILD_KINDS = ("build_broken", "build_fixed")
REVERTS_WAITING = "reverts_ref IS NOT NULL AND reverts_id IS NULL"
REVERTS_LINKED = "reverts_id IS NOT NULL"
BREAKS = "kind = 'build_broken'"
FIXES = "kind = 'build_fixed'"
# The kinds that carry files: the store refuses files on any other, so a `path` filter asking
# only other kinds matches nothing (`Filter.cannot_match`).
FILE_KINDS = ("commit", "revert")
KIND_LABELS = {
    "commit": "Commit",
    "revert": "Revert",
    "force_push": "Force push",
    "release": "Release",
    "deployment": "Deployment",
    "incident_opened": "Incident opened",
    "incident_update": "Incident update",
    "incident_resolved": "Incident resolved",
    "build_broken": "Build broken",
    "build_fixed": "Build fixed",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always UTC-aware in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where UTC is required")
        value = value.astimezone(UTC)
        # SQLite keeps text; store naive UTC so that text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONData = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Event(Base):
    """One entry of the timeline; `uid` names what it is about and is unique."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(1024), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    repo: Mapped[str] = mapped_column(String(200))
    branch: Mapped[str | None] = mapped_column(String(255))
    actor: Mapped[str | None] = mapped_column(String(200))
    sha: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(JSONData, default=dict)
    # Commits: "pending" until their files and patches are fetched, then "fetched".
    diff_state: Mapped[str | None] = mapped_column(String(16))
    # Reverts: the SHA (or prefix) the message names, and the event it resolves to.
    reverts_ref: Mapped[str | None] = mapped_column(String(64))
    reverts_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("events.id", ondelete="SET NULL")
    )

    files: Mapped[list[EventFile]] = relationship(
        back_populates="event",
        cascade="all, delete-orphan",
        order_by="EventFile.position",
        passive_deletes=True,
    )

    __table_args__ = (
        # Keyset pagination walks (occurred_at, id) newest first; each filter the page
        # offers has an index that leads with its column and ends in that order.
        Index("ix_events_timeline", "occurred_at", "id"),
        Index("ix_events_ingested", "ingested_at"),  # digest windows
        Index("ix_events_repo_timeline", "repo", "occurred_at", "id"),
        Index("ix_events_kind_timeline", "kind", "occurred_at", "id"),
        Index("ix_events_repo_kind_timeline", "repo", "kind", "occurred_at", "id"),
        Index("ix_events_branch_timeline", "branch", "occurred_at", "id"),
        # Kinds and branches that rarely meet (deployments have none, force pushes are not
        # on feature branches): a range of this index answers, not a walk of either part.
        Index(
            "ix_events_kind_branch",
            "kind",
            "branch",
            "occurred_at",
            "id",
            postgresql_ops={"branch": "varchar_pattern_ops"},
        ),
        Index("ix_events_actor_timeline", "actor", "occurred_at", "id"),
        Index("ix_events_sha", "sha"),
        # Partial: only reverts have it; a whole-table index taught SQLite's planner that
        # `reverts_id IS NULL` is rare (its statistics count a few rows a value).
        Index(
            "ix_events_reverts_id",
            "reverts_id",
            sqlite_where=text(REVERTS_LINKED),
            postgresql_where=text(REVERTS_LINKED),
        ),
        Index("ix_events_repo_reverts_ref", "repo", "reverts_ref"),
        # Reverts whose commit has not arrived yet: each stored push asks for them.
        Index(
            "ix_events_reverts_waiting",
            "repo",
            "reverts_ref",
            sqlite_where=text(REVERTS_WAITING),
            postgresql_where=text(REVERTS_WAITING),
        ),
        # The breaks and the fixes, so that the breaks with no fix are read from these alone
        # (`feed.health.open_breaks_query`).
        Index(
            "ix_events_breaks",
            "kind",
            "uid",
            sqlite_where=text(BREAKS),
            postgresql_where=text(BREAKS),
            postgresql_include=["id"],
        ),
        Index(
            "ix_events_fixes",
            "kind",
            "uid",
            sqlite_where=text(FIXES),
            postgresql_where=text(FIXES),
        ),
    )

    @property
    def short_sha(self) -> str | None:
        return self.sha[:7] if self.sha else None


class AuthorAlias(Base):
    """A login and a name one author goes by, as a source gave both (a commit's GitHub login
    and its git author name): `author=` finds an event by its actor's other name too."""

    __tablename__ = "author_aliases"

    login: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)

    __table_args__ = (Index("ix_author_aliases_name", "name", "login"),)


class EventFile(Base):
    """A file an event touched, with its patch once one is known."""

    __tablename__ = "event_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    previous_path: Mapped[str | None] = mapped_column(Text)
    additions: Mapped[int | None] = mapped_column(Integer)
    deletions: Mapped[int | None] = mapped_column(Integer)
    patch: Mapped[str | None] = mapped_column(Text)
    # pending (not fetched yet), ok, unavailable (binary or too large on GitHub's side),
    # truncated (cut by shiplog's per-commit cap).
    patch_status: Mapped[str] = mapped_column(String(16), default="pending")

    event: Mapped[Event] = relationship(back_populates="files")

    __table_args__ = (
        Index("ix_event_files_event", "event_id", "position"),
        # On PostgreSQL with the pattern operator class: a path glob such as `src/*` is an
        # index range under any collation (the default class serves LIKE under "C" only).
        Index(
            "ix_event_files_path",
            "path",
            "event_id",
            postgresql_ops={"path": "varchar_pattern_ops"},
        ),
    )


class Repo(Base):
    """A repository the timeline knows about."""

    __tablename__ = "repos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    full_name: Mapped[str] = mapped_column(String(200), unique=True)
    html_url: Mapped[str | None] = mapped_column(Text)
    default_branch: Mapped[str | None] = mapped_column(String(255))
    is_demo: Mapped[bool] = mapped_column(default=False)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The API sync's view of the repository: ok, paused, gone, forbidden or failing.
    sync_status: Mapped[str | None] = mapped_column(String(16))
    sync_reason: Mapped[str | None] = mapped_column(Text)
    last_synced_at: Mapped[datetime | None]
    # What the API said on the last sync: requests sent so far, and the rate limit left.
    api_requests: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    rate_limit_remaining: Mapped[int | None] = mapped_column(Integer)
    rate_limit_reset_at: Mapped[datetime | None]


class Incident(Base):
    """The current state of an incident, folded from its events and its issue's labels."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(300), unique=True)  # incident:owner/repo#12
    repo: Mapped[str] = mapped_column(String(200))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="investigating")
    severity: Mapped[str | None] = mapped_column(String(64))
    components: Mapped[list[str]] = mapped_column(JSONData, default=list)
    postmortem_url: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    next_update_at: Mapped[datetime | None]
    # The labels as last seen, and when: label changes after opening count.
    labels: Mapped[list[str]] = mapped_column(JSONData, default=list)
    labels_at: Mapped[datetime | None]
    # When each of those labels was first seen (ISO 8601): a label added after a command
    # wins over it, one that was there before does not.
    label_times: Mapped[dict[str, str] | None] = mapped_column(JSONData)
    # False once the issue lost the label, moved or was deleted; the history stays.
    active: Mapped[bool] = mapped_column(default=True)
    inactive_reason: Mapped[str | None] = mapped_column(Text)
    # The span the activity page calls "around" the incident.
    window_start: Mapped[datetime]
    window_end: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_incidents_opened", "opened_at"),
        Index("ix_incidents_window", "window_start", "window_end"),
        Index("ix_incidents_resolved", "resolved_at"),  # the status page's 90 days
    )


class Channel(Base):
    """A chat destination: a platform and its incoming-webhook URL (a secret)."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    platform: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text)  # signs generic webhook deliveries
    source: Mapped[str] = mapped_column(String(8), default="api")  # config or api
    failing_reason: Mapped[str | None] = mapped_column(Text)
    last_sent_at: Mapped[datetime | None]
    # The circuit breaker: sends that failed in a row, and until when the channel is put
    # aside (its messages wait; the first one then probes whether it is back).
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    circuit_until: Mapped[datetime | None]


class Subscription(Base):
    """A channel joined to a filter, in realtime or digest mode."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(16))  # realtime or digest
    schedule: Mapped[str | None] = mapped_column(String(100))  # cron, for digests
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    filter: Mapped[dict[str, Any]] = mapped_column(JSONData, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSONData, default=dict)
    send_empty: Mapped[bool] = mapped_column(default=False)
    # Name a break's suspects so that their platform notifies them (handles from [people]).
    mention_suspects: Mapped[bool] = mapped_column(default=False, server_default=false())
    source: Mapped[str] = mapped_column(String(8), default="api")
    window_end: Mapped[datetime | None]  # where the last digest stopped

    channel: Mapped[Channel] = relationship()


class SyncState(Base):
    """Where the API sync of one listing stands: its ETag and its cursor."""

    __tablename__ = "sync_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    repo: Mapped[str] = mapped_column(String(200))
    resource: Mapped[str] = mapped_column(String(300))
    etag: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[dict[str, Any]] = mapped_column(JSONData, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("repo", "resource"),)


class Job(Base):
    """A unit of slow work, due at a time; `key` makes enqueuing it twice a no-op."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(1200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Which line it waits in (alerts, digests, github), claimed in that order of priority.
    lane: Mapped[str] = mapped_column(String(16), default="github", server_default="github")
    # Jobs of one partition (a chat channel) run one at a time, in the order they were made.
    partition: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONData, default=dict)
    state: Mapped[str] = mapped_column(String(8), default="due")  # due, done, dead
    due_at: Mapped[datetime]
    # When it first became due (an alert: when its event arrived), and how long after that
    # it was done: the latency /metrics reports.
    ready_at: Mapped[datetime | None]
    latency_seconds: Mapped[float | None] = mapped_column(Float)
    locked_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_jobs_due", "state", "due_at"),
        # A claim walks its lane in (due_at, id) order and stops at its limit.
        Index("ix_jobs_lane_due", "state", "lane", "due_at", "id"),
        Index("ix_jobs_partition", "partition", "state", "id"),
    )


class BuildResult(Base):
    """One finished CI result of a commit, for one check on one branch, as GitHub sent it.

    `key` names the run (and its attempt) so a redelivery stores nothing twice; `passed`
    is the verdict, from a conclusion or state that has one.
    """

    __tablename__ = "build_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(600), unique=True)
    repo: Mapped[str] = mapped_column(String(200))
    branch: Mapped[str] = mapped_column(String(255))
    check: Mapped[str] = mapped_column(String(255))
    sha: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # workflow_run, check_suite, check_run, status
    conclusion: Mapped[str] = mapped_column(String(32))
    passed: Mapped[bool]
    url: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Its commit's position on the timeline (the commit event's id); None until it is there.
    position: Mapped[int | None] = mapped_column(BigId)

    __table_args__ = (
        Index("ix_build_results_check", "repo", "branch", "check", "sha"),
        Index("ix_build_results_sha", "repo", "sha"),
        Index("ix_build_results_placed", "repo", "branch", "check", "position"),
    )


class Delivery(Base):
    """A GitHub webhook delivery we accepted, keyed by `X-GitHub-Delivery`."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(100), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(64))
    repo: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    events_created: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class Person(Base):
    """Someone who may sign in when shiplog is private; only a hash of their token is kept."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]


class FeedToken(Base):
    """A person's token for feed readers, put in the feed URL; kept as a hash."""

    __tablename__ = "feed_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(16))  # the token's last characters, to tell apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_feed_tokens_person", "person_id"),)


class PullRequest(Base):
    """A merged pull request, kept as context for the commits it brought (never an event).

    A commit is linked to it when its SHA is the merge or squash commit (`merge_sha`) or the
    PR's last commit (`head_sha`), or when its title ends with GitHub's `(#number)`.
    """

    __tablename__ = "pull_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    repo: Mapped[str] = mapped_column(String(200))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    merge_sha: Mapped[str | None] = mapped_column(String(64))
    head_sha: Mapped[str | None] = mapped_column(String(64))
    merged_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("repo", "number", name="uq_pull_requests_number"),
        Index("ix_pull_requests_merge_sha", "repo", "merge_sha"),
        Index("ix_pull_requests_head_sha", "repo", "head_sha"),
    )
