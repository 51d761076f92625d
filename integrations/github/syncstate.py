"""Where each API listing stands (ETag and cursor), written with the data it covers; and how
each repository's last sync went, with the API requests it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feed.models import Repo, SyncState
from feed.store import insert_for


@dataclass(frozen=True)
class ApiUsage:
    """Requests a sync or a job sent for one repository, and the rate limit the API reported
    on its last answer (None when it never answered)."""

    requests: int
    remaining: int | None = None
    reset_at: datetime | None = None


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


def mark_repo(
    session: Session,
    repo: str,
    status: str,
    reason: str | None = None,
    usage: ApiUsage | None = None,
) -> None:
    """Record how the last sync of `repo` went, and what it cost, for people to see."""
    row = _repo_row(session, repo)
    row.sync_status = status
    row.sync_reason = reason
    if status == "ok":
        row.last_synced_at = datetime.now(UTC)
    if usage is not None:
        _add_usage(row, usage)


def record_usage(session: Session, repo: str, usage: ApiUsage) -> None:
    """Add a job's API requests to `repo`'s count and keep the rate limit it last saw."""
    _add_usage(_repo_row(session, repo), usage)


def _repo_row(session: Session, repo: str) -> Repo:
    row = session.scalars(select(Repo).where(Repo.full_name == repo)).one_or_none()
    if row is None:
        row = Repo(full_name=repo)
        session.add(row)
        session.flush()  # a stored row, so that the count below is an UPDATE
    return row


def _add_usage(row: Repo, usage: ApiUsage) -> None:
    # Added in SQL, so that jobs of one repository finishing at once lose no request.
    row.api_requests = Repo.api_requests + usage.requests  # type: ignore[assignment]
    if usage.remaining is not None:
        row.rate_limit_remaining = usage.remaining
        row.rate_limit_reset_at = usage.reset_at
