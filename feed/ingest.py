"""The one way events enter the store, with what must follow them, in the same transaction.

Every source (webhook deliveries, the API sync, `import-git`, the demo) hands its events
over as a Batch. The intake stores them once by uid, and in the same transaction records
what follows: the source's own jobs (given as data, so the core never names them), the
incidents the events belong to, and the alerts of realtime subscriptions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from feed import builds, incidents, notify, pulls
from feed.builds import DEFAULT_COUNTED, ResultRecord
from feed.db import Database
from feed.incidents import IncidentRules
from feed.jobs import enqueue_many
from feed.models import INCIDENT_KINDS
from feed.pulls import PullRecord
from feed.store import EventRecord, attach_files, delete_event, diff_states, upsert_events


@dataclass(frozen=True)
class FollowUp:
    """A job the source wants done once the batch is stored: its kind, key and payload.

    With `after`, only if the event of that uid is new in this batch (a redelivery asks for
    nothing again); without, whatever the batch brings.
    """

    kind: str
    key: str
    payload: dict[str, Any]
    after: str | None = None


@dataclass(frozen=True)
class IssueSeen:
    """An incident's issue as the source saw it: title, labels, and whether it still is one."""

    uid: str
    title: str
    url: str | None
    labels: tuple[str, ...]
    seen_at: datetime
    active: bool = True
    reason: str | None = None


@dataclass(frozen=True)
class Batch:
    """What one source hands over at once."""

    records: Sequence[EventRecord] = ()
    replace: bool = False  # a newer version of a stored event replaces it
    deletions: Sequence[str] = ()  # uids of events that are gone
    issue: IssueSeen | None = None
    results: Sequence[ResultRecord] = ()  # CI results, folded into build events
    follow_ups: Sequence[FollowUp] = ()
    pulls: Sequence[PullRecord] = ()  # merged PRs, context for their commits
    alerts: bool = True  # tell realtime subscriptions (the demo tells nobody)


@dataclass(frozen=True)
class Stored:
    """What a batch changed in the timeline."""

    created: int = 0
    updated: int = 0
    removed: int = 0


@dataclass
class Intake:
    """Where this process's events enter the store (app.py makes one per app).

    `prepare` puts in the database what must be there before the first alert is fanned out
    (the config file's chat channels and subscriptions): it runs in the transaction of the
    first batch that can alert, or earlier in one of its own (`ready`), and once that has
    committed, never again in this process. It must be idempotent: threads and processes
    starting together may each run it.
    """

    rules: IncidentRules = field(default_factory=IncidentRules)
    # The branches whose breaks and fixes become events (globs; `:default` is the default).
    build_branches: tuple[str, ...] = DEFAULT_COUNTED
    prepare: Callable[[Session], None] | None = None
    _prepared: bool = field(default=False, init=False, repr=False)

    def ready(self, db: Database) -> None:
        """Run `prepare` now in a transaction of its own, unless that is done already."""
        if self._prepared or self.prepare is None:
            return
        with db.write() as session:
            self.prepare(session)
        self._prepared = True

    def ingest(self, session: Session, batch: Batch, *, now: datetime | None = None) -> Stored:
        """Store `batch` in `session`'s transaction: its events once by uid, its deletions,
        the files a commit stored without them now has, then its follow-up jobs, the
        incidents it touches, the build events its results (or the commits they wait for)
        change, and the alerts of its new events (those of the last day)."""
        if batch.alerts and (batch.records or batch.results):
            self._prepare_in(session)
        outcomes = upsert_events(session, batch.records, replace=batch.replace)
        removed = sum(delete_event(session, uid) for uid in batch.deletions)
        created = [r for r, o in zip(batch.records, outcomes, strict=True) if o == "created"]
        unchanged = [r for r, o in zip(batch.records, outcomes, strict=True) if o == "unchanged"]
        _complete_files(session, unchanged)
        pulls.store(session, batch.pulls)
        _enqueue(session, batch.follow_ups, {record.uid for record in created})
        _refresh_incidents(session, batch, self.rules)
        now = now or datetime.now(UTC)
        folded = _fold_builds(session, batch, created, self.build_branches, now)
        if batch.alerts:
            notify.enqueue_alerts(session, created + folded.created, now)
        return Stored(
            len(created) + len(folded.created),
            outcomes.count("updated") + folded.updated,
            removed + folded.removed,
        )

    def _prepare_in(self, session: Session) -> None:
        if self._prepared or self.prepare is None:
            return
        self.prepare(session)
        event.listen(session, "after_commit", self._committed, once=True)

    def _committed(self, session: Session) -> None:
        self._prepared = True


@dataclass(frozen=True)
class _Folded:
    created: list[EventRecord]
    updated: int
    removed: int


def _fold_builds(
    session: Session,
    batch: Batch,
    created: Sequence[EventRecord],
    counted: Sequence[str],
    now: datetime,
) -> _Folded:
    """Store the batch's CI results, then fold again the build events of each check that got
    one, or whose results wait for a commit the batch brought."""
    touched = builds.store_results(session, batch.results)
    commits = [(r.repo, r.sha) for r in created if r.kind in builds.COMMIT_KINDS and r.sha]
    if commits:
        for key, shas in builds.place_commits(session, commits).items():
            touched.setdefault(key, set()).update(shas)
    if not touched:
        return _Folded([], 0, 0)
    records, stale = builds.refresh(session, touched, counted, now)
    outcomes = upsert_events(session, records, replace=True)
    removed = sum(delete_event(session, uid) for uid in stale)
    new = [r for r, o in zip(records, outcomes, strict=True) if o == "created"]
    return _Folded(new, outcomes.count("updated"), removed)


def _complete_files(session: Session, records: Sequence[EventRecord]) -> None:
    """A record that brings the files of a commit stored while they were pending (pushed,
    then synced or imported before its patch job ran) gives them to it."""
    fetched = [record for record in records if record.diff_state == "fetched"]
    if not fetched:
        return
    states = diff_states(session, [record.uid for record in fetched])
    for record in fetched:
        if states.get(record.uid) == "pending":
            attach_files(session, record.uid, record.files, stats=record.data.get("stats") or {})


def _enqueue(session: Session, follow_ups: Sequence[FollowUp], created: set[str]) -> None:
    """The follow-up jobs that apply, one INSERT per kind."""
    wanted = [job for job in follow_ups if job.after is None or job.after in created]
    for kind, jobs in itertools.groupby(sorted(wanted, key=lambda job: job.kind), lambda j: j.kind):
        enqueue_many(session, kind, [(job.key, job.payload) for job in jobs])


def _refresh_incidents(session: Session, batch: Batch, rules: IncidentRules) -> None:
    """Fold again each incident the batch touched; note its issue as the source saw it."""
    touched = {incidents.incident_uid(r.uid) for r in batch.records if r.kind in INCIDENT_KINDS}
    touched |= {incidents.incident_uid(uid) for uid in batch.deletions}
    issue = batch.issue
    if issue:
        touched.add(issue.uid)
    for uid in sorted(touched):
        incidents.refresh(session, uid, rules)
        if issue and issue.uid == uid:
            incidents.note_issue(
                session,
                uid,
                title=issue.title,
                url=issue.url,
                labels=issue.labels,
                seen_at=issue.seen_at,
                active=issue.active,
                reason=issue.reason,
            )
            incidents.refresh(session, uid, rules)
