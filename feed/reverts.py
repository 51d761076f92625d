"""Reverts linked both ways: a revert names its target; the target learns who reverted it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, String, Update, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from feed.models import Event
from feed.records import EventRecord

COMMIT_KINDS = ("commit", "revert")
MIN_PREFIX = 7  # the shortest abbreviation git writes


def link(session: Session, stored: Sequence[tuple[int, EventRecord]]) -> None:
    """Resolve the links that involve newly stored commits and reverts (id, record).

    A revert finds its target by SHA prefix, or (for `Revert "subject"` with no SHA) by the
    newest earlier commit of that subject in the repository. A commit that arrives after
    the revert naming it is found by the revert instead: only looked for in repositories
    that hold a revert whose target is not known yet.
    """
    for event_id, record in stored:
        target = _target(session, event_id, record)
        if target is not None:
            session.execute(_LINK, {"this_id": event_id, "target": target})
    repos = {record.repo for _, record in stored if record.sha}
    waiting = {repo for repo in repos if session.scalar(waiting_revert(repo))}
    for event_id, record in stored:
        if record.sha and record.repo in waiting:
            sha = record.sha
            session.execute(
                _LINK_BACK,
                {
                    "in_repo": record.repo,
                    "shortest": sha[:MIN_PREFIX],
                    "full_sha": sha,
                    "this_id": event_id,
                },
            )


def waiting_revert(repo: str) -> Select[tuple[int]]:
    """The id of a revert in `repo` whose target is not known yet, if any: a probe of the
    partial index `ix_events_reverts_waiting`, which holds those reverts only."""
    events = Event.__table__
    return (
        select(events.c.id)
        .where(
            events.c.repo == repo,
            events.c.reverts_ref.is_not(None),
            events.c.reverts_id.is_(None),
        )
        .limit(1)
    )


def _statements() -> tuple[Update, Update]:
    events = Event.__table__
    link = (
        update(events)
        .where(events.c.id == bindparam("this_id"))
        .values(reverts_id=bindparam("target"))
    )
    # Revert events naming this commit by any prefix. Every prefix of a SHA sorts between
    # its shortest one and itself: one index range, then an exact check.
    sha = bindparam("full_sha", type_=String)
    back = (
        update(events)
        .where(
            events.c.repo == bindparam("in_repo"),
            events.c.reverts_ref.between(bindparam("shortest"), sha),
            func.substr(sha, 1, func.length(events.c.reverts_ref)) == events.c.reverts_ref,
            events.c.reverts_id.is_(None),
            events.c.id != bindparam("this_id"),
        )
        .values(reverts_id=bindparam("this_id"))
    )
    return link, back


# Built once: these run for every stored commit.
_LINK, _LINK_BACK = _statements()


def reverted_by(session: Session, event_ids: Sequence[int]) -> dict[int, Event]:
    """For each of `event_ids` that was reverted, the newest revert of it."""
    if not event_ids:
        return {}
    reverts = session.scalars(
        select(Event).where(Event.reverts_id.in_(event_ids)).order_by(Event.occurred_at)
    )
    return {revert.reverts_id: revert for revert in reverts if revert.reverts_id}


def _target(session: Session, event_id: int, record: EventRecord) -> int | None:
    subject = record.data.get("reverts_subject")
    if not record.reverts_ref and not subject:
        return None
    base = select(Event.id).where(
        Event.repo == record.repo, Event.kind.in_(COMMIT_KINDS), Event.id != event_id
    )
    if record.reverts_ref:
        return session.scalar(
            base.where(Event.sha.startswith(record.reverts_ref))
            .order_by(Event.occurred_at.desc())
            .limit(1)
        )
    # The subject of a squashed PR's commit, or the PR's title its squash commit adds
    # `(#123)` to (GitHub's revert button names the PR by its title).
    titled = or_(Event.title == subject, Event.title.startswith(f"{subject} (#", autoescape=True))
    return session.scalar(
        base.where(and_(titled, Event.occurred_at <= record.occurred_at))
        .order_by(Event.occurred_at.desc())
        .limit(1)
    )
