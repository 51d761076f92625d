"""Typed reads from a GitHub payload that fail with a clear PayloadError, never a KeyError."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
MAX_BRANCH = 255
MAX_NAME = 200
# Names as GitHub allows them: an owner (user or organization) is 1 to 39 letters, digits
# and single hyphens, neither first nor last; a repository 1 to 100 letters, digits, `.`,
# `_` and `-`, but not `.` or `..`. The name goes into API paths, so nothing else passes.
OWNER = re.compile(r"(?=[A-Za-z0-9-]{1,39}$)[A-Za-z0-9](?:-?[A-Za-z0-9])*")
REPOSITORY = re.compile(r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}")


class PayloadError(ValueError):
    """The delivery's JSON lacks a field the event needs, or has it in the wrong shape."""


def required(obj: Any, path: str, kind: type[T]) -> T:
    """The value at dotted `path`, which must be present and of type `kind`."""
    value = optional(obj, path, kind)
    if value is None:
        raise PayloadError(f"payload: missing {path}")
    return value


def optional(obj: Any, path: str, kind: type[T]) -> T | None:
    """The value at dotted `path`, or None when it (or a parent) is absent or null."""
    current = obj
    for part in path.split("."):
        if current is None:
            return None
        if not isinstance(current, dict):
            raise PayloadError(f"payload: {path} is not inside an object")
        current = current.get(part)
    if current is None:
        return None
    if kind is int and isinstance(current, bool):
        raise PayloadError(f"payload: {path} must be a number")
    if not isinstance(current, kind):
        raise PayloadError(f"payload: {path} must be {_kind_name(kind)}")
    return current


def timestamp(obj: Any, path: str) -> datetime | None:
    """A GitHub time (ISO 8601 text, or Unix seconds in push payloads) as UTC, or None."""
    value = optional(obj, path, object)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise PayloadError(f"payload: {path} is not a time") from None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise PayloadError(f"payload: {path} is not an ISO 8601 time") from None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    raise PayloadError(f"payload: {path} is not a time")


def repo_name(payload: dict[str, Any]) -> str:
    """The delivery's `repository.full_name`, which must be owner/name as GitHub allows."""
    name = required(payload, "repository.full_name", str)
    owner, _, repo = name.partition("/")
    if not (OWNER.fullmatch(owner) and REPOSITORY.fullmatch(repo)):
        raise PayloadError(
            "payload: repository.full_name is not owner/name as GitHub allows them "
            "(owner: letters, digits and single hyphens, up to 39; name: letters, digits, "
            "`.`, `_` and `-`, up to 100)"
        )
    return name


def person(value: str | None) -> str | None:
    """A login or display name, cut to what the timeline keeps, without NUL."""
    return (value.replace("\x00", "")[:MAX_NAME] or None) if value else None


def branch_or_none(name: str | None) -> str | None:
    """`name` when it can be a branch name, else None."""
    return name if name and len(name) <= MAX_BRANCH and "\x00" not in name else None


def stamp(moment: datetime | None) -> str:
    """`moment` (now when None) as a compact UTC stamp for uids."""
    return (moment or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def _kind_name(kind: type) -> str:
    names = {str: "text", int: "a number", bool: "true or false", list: "a list", dict: "an object"}
    return names.get(kind, kind.__name__)
