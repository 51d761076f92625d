"""Reverts linked both ways: a revert names its target; the target learns who reverted it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from feed.models import Event

if TYPE_CHECKING:
    from feed.store import EventRecord

COMMIT_KINDS = ("commit", "revert")
MIN_PREFIX = 7  # the shortest abbreviation git writes


def link(session: Session, event_id: int, record: EventRecord) -> None:
    """Resolve the links that involve a newly stored commit or revert.

    A revert finds its target by SHA prefix, or (for `Revert "subject"` with no SHA) by the
    newest earlier commit of that subject in the repository. A commit that arrives after
    the revert naming it is found by the revert instead.
    """
    if record.kind not in COMMIT_KINDS:
        return
    events = Event.__table__
    target = _target(session, event_id, record)
    if target is not None:
        session.execute(update(events).where(events.c.id == event_id).values(reverts_id=target))
    if record.sha:
        # Every prefix of the SHA sorts between its shortest one and itself: one index range.
        sha = record.sha
        session.execute(
            update(events)
            .where(
                events.c.repo == record.repo,
                events.c.reverts_ref.between(sha[:MIN_PREFIX], sha),
                func.substr(sha, 1, func.length(events.c.reverts_ref)) == events.c.reverts_ref,
                events.c.reverts_id.is_(None),
                events.c.id != event_id,
            )
            .values(reverts_id=event_id)
        )


def reverted_by(session: Session, event_ids: Sequence[int]) -> dict[int, Event]:
    """For each of `event_ids` that was reverted, the newest revert of it."""
    if not event_ids:
        return {}
    reverts = session.scalars(
        select(Event).where(Event.reverts_id.in_(event_ids)).order_by(Event.occurred_at)
    )
    return {revert.reverts_id: revert for revert in reverts if revert.reverts_id}


def _target(session: Session, event_id: int, record: EventRecord) -> int | None:
    base = select(Event.id).where(
        Event.repo == record.repo, Event.kind.in_(COMMIT_KINDS), Event.id != event_id
    )
    if record.reverts_ref:
        return session.scalar(
            base.where(Event.sha.startswith(record.reverts_ref))
            .order_by(Event.occurred_at.desc())
            .limit(1)
        )
    subject = record.data.get("reverts_subject")
    if subject:
        return session.scalar(
            base.where(and_(Event.title == subject, Event.occurred_at <= record.occurred_at))
            .order_by(Event.occurred_at.desc())
            .limit(1)
        )
    return None
