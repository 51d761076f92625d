"""Where each API listing stands (ETag and cursor), written with the data it covers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feed.models import Repo, SyncState
from feed.store import insert_for


@dataclass
class ListingState:
    """The ETag of a listing's first page and how far the sync has read it."""

    etag: str | None = None
    cursor: dict[str, Any] = field(default_factory=dict)


def load(session: Session, repo: str, resource: str) -> ListingState:
    row = session.scalars(
        select(SyncState).where(SyncState.repo == repo, SyncState.resource == resource)
    ).one_or_none()
    return ListingState() if row is None else ListingState(row.etag, dict(row.cursor))


def save(session: Session, repo: str, resource: str, state: ListingState) -> None:
    """Store `state`; call it in the transaction that stores what it covers."""
    insert = insert_for(session)
    stmt = insert(SyncState).values(
        repo=repo,
        resource=resource,
        etag=state.etag,
        cursor=state.cursor,
        updated_at=datetime.now(UTC),
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["repo", "resource"],
            set_={
                "etag": stmt.excluded.etag,
                "cursor": stmt.excluded.cursor,
                "updated_at": stmt.excluded.updated_at,
            },
        )
    )


def mark_repo(session: Session, repo: str, status: str, reason: str | None = None) -> None:
    """Record how the last sync of `repo` went, for people to see."""
    row = session.scalars(select(Repo).where(Repo.full_name == repo)).one_or_none()
    if row is None:
        row = Repo(full_name=repo)
        session.add(row)
    row.sync_status = status
    row.sync_reason = reason
    if status == "ok":
        row.last_synced_at = datetime.now(UTC)
