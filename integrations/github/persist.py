"""Store what a routed delivery (or an API object routed the same way) means, in one session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from feed import incidents, notify
from feed.jobs import enqueue, enqueue_many
from feed.models import INCIDENT_KINDS
from feed.store import delete_event, upsert_events
from integrations.github.events import Context, Routed


@dataclass(frozen=True)
class Stored:
    created: int = 0
    updated: int = 0
    removed: int = 0


def persist(session: Session, routed: Routed, context: Context, *, demo: bool = False) -> Stored:
    """Events, deletions, follow-up jobs and incident state, for one routed object."""
    outcomes = upsert_events(session, routed.records, replace=routed.replace)
    removed = sum(delete_event(session, uid) for uid in routed.deletions)
    repo = routed.repo["full_name"] if routed.repo else None
    created = [r for r, o in zip(routed.records, outcomes, strict=True) if o == "created"]
    if not demo:
        enqueue_patches(session, [(r.repo, r.sha) for r in created if r.diff_state == "pending"])
    for record in [] if demo else created:
        if record.kind == "incident_opened" and routed.snapshot and routed.snapshot.comments:
            # Labelled late: the comments made before the label become its first updates.
            enqueue(
                session,
                "incident_comments",
                f"incident_comments:{record.uid}",
                {"repo": record.repo, "number": record.data["number"]},
            )
    if routed.reconcile and repo and not demo:
        branch, head = routed.reconcile
        enqueue(
            session,
            "reconcile",
            f"reconcile:{repo}:{branch}:{head}",
            {"repo": repo, "branch": branch},
        )
    _update_incidents(session, routed, context)
    if not demo:
        notify.enqueue_alerts(session, created, datetime.now(UTC))
    return Stored(outcomes.count("created"), outcomes.count("updated"), removed)


def enqueue_patches(session: Session, commits: Sequence[tuple[str, str | None]]) -> None:
    """Ask the worker to fetch commits' files and patches (repo, sha) from the API, once."""
    jobs = [(f"patches:{repo}:{sha}", {"repo": repo, "sha": sha}) for repo, sha in commits if sha]
    enqueue_many(session, "patches", jobs)


def _update_incidents(session: Session, routed: Routed, context: Context) -> None:
    touched = {incidents.incident_uid(r.uid) for r in routed.records if r.kind in INCIDENT_KINDS}
    touched |= {incidents.incident_uid(uid) for uid in routed.deletions}
    snapshot = routed.snapshot
    if snapshot:
        touched.add(snapshot.uid)
    for uid in sorted(touched):
        incidents.refresh(session, uid, context.rules)
        if snapshot and snapshot.uid == uid:
            incidents.note_issue(
                session,
                uid,
                title=snapshot.title,
                url=snapshot.url,
                labels=snapshot.labels,
                seen_at=snapshot.seen_at,
                active=snapshot.active,
                reason=snapshot.reason,
            )
            incidents.refresh(session, uid, context.rules)
