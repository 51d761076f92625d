"""People and their tokens, for private mode: access tokens to sign in, feed tokens for feed
readers. Tokens are 256 random bits shown once; only their SHA-256 is stored (a slow hash
adds nothing for random tokens, and the lookup stays one indexed query)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from feed.models import FeedToken, Person

Holder = TypeVar("Holder", Person, FeedToken)

ACCESS_PREFIX = "shiplog_a_"
FEED_PREFIX = "shiplog_f_"
NAME = re.compile(r"[A-Za-z0-9_.@-]{1,100}")
LABEL_MAX = 100
TOKEN_MAX = 200  # longer input is never a token: refuse it before hashing
TOUCH_EVERY = timedelta(hours=1)  # how stale `last_used_at` may be, to spare writes


class PeopleError(ValueError):
    """A name or label that cannot be used; the message says why."""


@dataclass(frozen=True)
class Issued:
    """A token just made: the only time its text exists outside the reader's hands."""

    id: int
    name: str
    token: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def add_person(session: Session, name: str) -> Issued:
    """A new person and their access token."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise PeopleError("name must be 1 to 100 letters, digits, '.', '_', '@' or '-'")
    if session.scalar(select(Person.id).where(Person.name == name).limit(1)) is not None:
        raise PeopleError(f"there is already a person named {name!r}")
    token = _new(ACCESS_PREFIX)
    person = Person(name=name, token_hash=digest(token))
    session.add(person)
    session.flush()
    return Issued(person.id, name, token)


def new_access_token(session: Session, name: str) -> Issued | None:
    """Replace `name`'s access token; their sessions end. None if there is no such person."""
    person = session.scalars(select(Person).where(Person.name == name).limit(1)).first()
    if person is None:
        return None
    token = _new(ACCESS_PREFIX)
    person.token_hash = digest(token)
    return Issued(person.id, name, token)


def remove_person(session: Session, name: str) -> bool:
    """Remove `name`, their feed tokens and (as their token is gone) their sessions."""
    person_id = session.scalar(select(Person.id).where(Person.name == name).limit(1))
    if person_id is None:
        return False
    session.execute(delete(FeedToken).where(FeedToken.person_id == person_id))
    session.execute(delete(Person).where(Person.id == person_id))
    return True


def list_people(session: Session) -> list[tuple[Person, int]]:
    """Everyone, by name, with how many feed tokens each has."""
    counts = (
        select(FeedToken.person_id, func.count().label("n"))
        .group_by(FeedToken.person_id)
        .subquery()
    )
    rows = session.execute(
        select(Person, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.person_id == Person.id)
        .order_by(Person.name)
    )
    return [(person, count) for person, count in rows]


def by_access_token(session: Session, token: str) -> Person | None:
    """The person whose access token this is, or None."""
    return _holder(session, Person, ACCESS_PREFIX, token)


def add_feed_token(session: Session, person_id: int, label: str) -> Issued:
    printable = "".join(ch if ch.isprintable() else " " for ch in str(label or ""))
    label = " ".join(printable.split())[:LABEL_MAX] or "feed reader"
    token = _new(FEED_PREFIX)
    row = FeedToken(person_id=person_id, label=label, token_hash=digest(token), hint=token[-4:])
    session.add(row)
    session.flush()
    return Issued(row.id, label, token)


def feed_tokens(session: Session, person_id: int | None = None) -> list[tuple[FeedToken, str]]:
    """Feed tokens (one person's, or everyone's) with their owner's name, newest first."""
    query = select(FeedToken, Person.name).join(Person, Person.id == FeedToken.person_id)
    if person_id is not None:
        query = query.where(FeedToken.person_id == person_id)
    rows = session.execute(query.order_by(FeedToken.created_at.desc(), FeedToken.id.desc()))
    return [(token, name) for token, name in rows]


def revoke_feed_token(session: Session, token_id: int, person_id: int | None = None) -> bool:
    """Revoke one feed token; with `person_id`, only if it is theirs."""
    query = delete(FeedToken).where(FeedToken.id == token_id)
    if person_id is not None:
        query = query.where(FeedToken.person_id == person_id)
    return bool(session.execute(query).rowcount)


def by_feed_token(session: Session, token: str) -> FeedToken | None:
    """The feed token row this token is, or None."""
    return _holder(session, FeedToken, FEED_PREFIX, token)


def touch_feed_token(session: Session, token_id: int, now: datetime) -> None:
    """Record a use, at most once per TOUCH_EVERY (feed readers poll often)."""
    session.execute(
        update(FeedToken)
        .where(FeedToken.id == token_id)
        .where((FeedToken.last_used_at.is_(None)) | (FeedToken.last_used_at < now - TOUCH_EVERY))
        .values(last_used_at=now)
    )


def touch_person(session: Session, person_id: int, now: datetime) -> None:
    session.execute(
        update(Person)
        .where(Person.id == person_id)
        .where((Person.last_seen_at.is_(None)) | (Person.last_seen_at < now - TOUCH_EVERY))
        .values(last_seen_at=now)
    )


def _new(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def _holder(session: Session, model: type[Holder], prefix: str, token: str) -> Holder | None:
    """The row of `model` that holds `token` (matched by its digest), or None; a token
    without `prefix` or of the wrong shape is not looked up."""
    if not _plausible(token, prefix):
        return None
    return session.scalars(select(model).where(model.token_hash == digest(token)).limit(1)).first()


def _plausible(token: str, prefix: str) -> bool:
    return isinstance(token, str) and token.startswith(prefix) and len(token) <= TOKEN_MAX
