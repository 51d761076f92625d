"""Reverts linked both ways: a revert names its target; the target learns who reverted it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, literal, select, update
from sqlalchemy.orm import Session

from feed.models import Event

COMMIT_KINDS = ("commit", "revert")


def link(session: Session, event_id: int) -> None:
    """Resolve the links that involve a newly stored commit or revert.

    A revert finds its target by SHA prefix, or (for `Revert "subject"` with no SHA) by the
    newest earlier commit of that subject in the repository. A commit that arrives after
    the revert naming it is found by the revert instead.
    """
    event = session.get(Event, event_id)
    if event is None or event.kind not in COMMIT_KINDS:
        return
    if event.reverts_id is None:
        target = _target(session, event)
        if target is not None:
            event.reverts_id = target
    if event.sha:
        session.execute(
            update(Event)
            .where(
                Event.repo == event.repo,
                Event.reverts_id.is_(None),
                Event.reverts_ref.is_not(None),
                Event.id != event.id,
                literal(event.sha).startswith(Event.reverts_ref),
            )
            .values(reverts_id=event.id)
            .execution_options(synchronize_session=False)
        )


def reverted_by(session: Session, event_ids: Sequence[int]) -> dict[int, Event]:
    """For each of `event_ids` that was reverted, the newest revert of it."""
    if not event_ids:
        return {}
    reverts = session.scalars(
        select(Event).where(Event.reverts_id.in_(event_ids)).order_by(Event.occurred_at)
    )
    return {revert.reverts_id: revert for revert in reverts if revert.reverts_id}


def _target(session: Session, event: Event) -> int | None:
    base = select(Event.id).where(
        Event.repo == event.repo, Event.kind.in_(COMMIT_KINDS), Event.id != event.id
    )
    if event.reverts_ref:
        return session.scalar(
            base.where(Event.sha.startswith(event.reverts_ref))
            .order_by(Event.occurred_at.desc())
            .limit(1)
        )
    subject = (event.data or {}).get("reverts_subject")
    if subject:
        return session.scalar(
            base.where(and_(Event.title == subject, Event.occurred_at <= event.occurred_at))
            .order_by(Event.occurred_at.desc())
            .limit(1)
        )
    return None
