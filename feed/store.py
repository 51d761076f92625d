"""Writes and reads of the timeline: idempotent upserts and keyset-paginated queries."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from feed import reverts
from feed.filters import Filter
from feed.models import KINDS, Delivery, Event, EventFile, Repo

MAX_ID = 2**63 - 1
MAX_LIMIT = 200
DEFAULT_LIMIT = 50

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Columns with a bounded length: a record that does not fit is refused, never cut.
COLUMN_LIMITS = {
    "uid": 1024,
    "repo": 200,
    "branch": 255,
    "actor": 200,
    "sha": 64,
    "reverts_ref": 64,
}

Outcome = Literal["created", "updated", "unchanged"]


class InvalidCursor(ValueError):
    """A cursor that this store did not make."""


@dataclass(frozen=True)
class FileRecord:
    """A file touched by an event, as a source reports it."""

    path: str
    status: str
    previous_path: str | None = None
    additions: int | None = None
    deletions: int | None = None
    patch: str | None = None
    patch_status: str = "pending"


@dataclass(frozen=True)
class EventRecord:
    """An event as a source reports it, before it is stored."""

    uid: str
    kind: str
    repo: str
    title: str
    occurred_at: datetime
    updated_at: datetime | None = None
    branch: str | None = None
    actor: str | None = None
    sha: str | None = None
    body: str = ""
    url: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    files: Sequence[FileRecord] = ()
    diff_state: str | None = None
    reverts_ref: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"store: unknown event kind {self.kind!r}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("store: occurred_at must carry a time zone")
        for name, limit in COLUMN_LIMITS.items():
            value = getattr(self, name)
            if value is not None and (len(value) > limit or "\x00" in value):
                raise ValueError(f"store: {name} is longer than {limit} or holds NUL")


@dataclass(frozen=True)
class Page:
    """One page of the timeline, newest first, and the cursor of the next one."""

    events: list[Event]
    next_cursor: str | None


def upsert_event(session: Session, record: EventRecord, *, replace: bool = False) -> Outcome:
    """Store `record` once by its uid.

    A uid seen before changes nothing, unless `replace` is set and the record is newer
    (its `updated_at` is later than the stored one): then the stored event takes its text,
    data and files.
    """
    updated_at = record.updated_at or record.occurred_at
    values = {
        "uid": record.uid,
        "kind": record.kind,
        "repo": record.repo,
        "branch": record.branch,
        "actor": record.actor,
        "sha": record.sha,
        "title": scrub(record.title),
        "body": scrub(record.body),
        "url": scrub(record.url),
        "occurred_at": record.occurred_at,
        "updated_at": updated_at,
        "data": scrub(record.data),
    }
    insert = insert_for(session)
    event_id = session.scalar(
        insert(Event)
        .values(
            **values,
            ingested_at=datetime.now(UTC),
            diff_state=record.diff_state,
            reverts_ref=record.reverts_ref,
        )
        .on_conflict_do_nothing(index_elements=["uid"])
        .returning(Event.id)
    )
    if event_id is not None:
        _add_files(session, event_id, record.files)
        if record.kind in reverts.COMMIT_KINDS:
            reverts.link(session, event_id, record)
        return "created"
    if not replace:
        return "unchanged"

    existing = session.scalars(select(Event).where(Event.uid == record.uid).with_for_update()).one()
    if updated_at <= existing.updated_at:
        return "unchanged"
    for name, value in values.items():
        setattr(existing, name, value)
    existing.occurred_at = min(existing.occurred_at, record.occurred_at)
    if record.files:
        session.execute(delete(EventFile).where(EventFile.event_id == existing.id))
        _add_files(session, existing.id, record.files)
    session.flush()
    return "updated"


def attach_files(
    session: Session, uid: str, files: Sequence[FileRecord], *, stats: dict[str, int]
) -> bool:
    """Give a stored commit its fetched files and patches; False if there is no such event."""
    event = session.scalars(select(Event).where(Event.uid == uid).with_for_update()).one_or_none()
    if event is None:
        return False
    session.execute(delete(EventFile).where(EventFile.event_id == event.id))
    _add_files(session, event.id, files)
    event.diff_state = "fetched"
    event.data = {**event.data, "stats": stats}
    return True


def diff_states(session: Session, uids: Sequence[str]) -> dict[str, str | None]:
    """For each stored uid among `uids`, its diff_state."""
    found: dict[str, str | None] = {}
    for start in range(0, len(uids), 500):
        chunk = uids[start : start + 500]
        rows = session.execute(select(Event.uid, Event.diff_state).where(Event.uid.in_(chunk)))
        found.update((uid, state) for uid, state in rows)
    return found


def delete_event(session: Session, uid: str) -> bool:
    """Remove the event named `uid`; True if there was one."""
    result = session.execute(delete(Event).where(Event.uid == uid))
    return bool(result.rowcount)


def upsert_repo(
    session: Session,
    full_name: str,
    *,
    html_url: str | None = None,
    default_branch: str | None = None,
    is_demo: bool = False,
) -> None:
    """Remember a repository; a known one keeps its row and gains what was missing."""
    insert = insert_for(session)
    stmt = insert(Repo).values(
        full_name=full_name,
        html_url=html_url,
        default_branch=default_branch,
        is_demo=is_demo,
        first_seen_at=datetime.now(UTC),
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["full_name"],
        set_={
            "html_url": func.coalesce(stmt.excluded.html_url, Repo.html_url),
            "default_branch": func.coalesce(stmt.excluded.default_branch, Repo.default_branch),
        },
    )
    session.execute(stmt)


def claim_delivery(
    session: Session, delivery_id: str, event: str, action: str | None, repo: str | None
) -> Delivery | None:
    """Record a webhook delivery; None if that delivery id was received before."""
    insert = insert_for(session)
    row_id = session.scalar(
        insert(Delivery)
        .values(
            delivery_id=delivery_id,
            event=event,
            action=action,
            repo=repo,
            outcome="received",
            detail="",
            events_created=0,
            received_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["delivery_id"])
        .returning(Delivery.id)
    )
    return None if row_id is None else session.get(Delivery, row_id)


def list_events(
    session: Session,
    filter: Filter,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page:
    """The page of events matching `filter`, newest first, after `cursor`."""
    limit = max(1, min(limit, MAX_LIMIT))
    stmt: Select[tuple[Event]] = filter.apply(select(Event))
    if cursor:
        occurred_at, event_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Event.occurred_at, Event.id) < (occurred_at, event_id))
    stmt = stmt.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit + 1)
    events = list(session.scalars(stmt))
    next_cursor = encode_cursor(events[limit - 1]) if len(events) > limit else None
    return Page(events[:limit], next_cursor)


def get_event(session: Session, event_id: int) -> Event | None:
    """One event with its files, or None."""
    if not 0 < event_id <= MAX_ID:
        return None
    return session.scalars(
        select(Event).where(Event.id == event_id).options(selectinload(Event.files))
    ).one_or_none()


def count_events(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Event)) or 0


def demo_repos(session: Session) -> list[str]:
    """Names of the repositories that hold demo data."""
    return list(session.scalars(select(Repo.full_name).where(Repo.is_demo).order_by(Repo.id)))


def remove_demo(session: Session) -> int:
    """Delete the demo repositories and their events; the number of events removed."""
    names = demo_repos(session)
    if not names:
        return 0
    removed = session.execute(delete(Event).where(Event.repo.in_(names))).rowcount
    session.execute(delete(Repo).where(Repo.full_name.in_(names)))
    return removed or 0


def encode_cursor(event: Event) -> str:
    """An opaque cursor that resumes the timeline after `event`."""
    micros = (event.occurred_at - EPOCH) // timedelta(microseconds=1)
    raw = f"{micros}.{event.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The (occurred_at, id) a cursor resumes after; InvalidCursor if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        micros, event_id = raw.split(".")
        when = EPOCH + timedelta(microseconds=int(micros))
        ident = int(event_id)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError, OSError) as exc:
        raise InvalidCursor("cursor: not a cursor this server made") from exc
    if not 0 < ident <= MAX_ID or len(cursor) > 64:
        raise InvalidCursor("cursor: not a cursor this server made")
    return when, ident


def scrub(value: Any) -> Any:
    """`value` without NUL characters, which PostgreSQL refuses in text and JSON."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {scrub(key): scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def _add_files(session: Session, event_id: int, files: Sequence[FileRecord]) -> None:
    session.add_all(
        EventFile(
            event_id=event_id,
            position=position,
            path=scrub(file.path),
            status=file.status,
            previous_path=scrub(file.previous_path),
            additions=file.additions,
            deletions=file.deletions,
            patch=scrub(file.patch),
            patch_status=file.patch_status,
        )
        for position, file in enumerate(files)
    )


def insert_for(session: Session):  # type: ignore[no-untyped-def]
    """The INSERT construct of the session's dialect, for ON CONFLICT upserts."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"store: unsupported database {name!r}")
