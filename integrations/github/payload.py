"""Typed reads from a GitHub payload that fail with a clear PayloadError, never a KeyError."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


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


def _kind_name(kind: type) -> str:
    names = {str: "text", int: "a number", bool: "true or false", list: "a list", dict: "an object"}
    return names.get(kind, kind.__name__)
