"""Times as the timeline shows them: ISO 8601 in UTC, and "3 hours ago"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def iso_utc(moment: datetime) -> str:
    """`2026-11-26T09:00:00Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def exact_utc(moment: datetime) -> str:
    """`2026-11-26 09:00:00 UTC`, for hover text."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def ago(moment: datetime, now: datetime) -> str:
    """How long before `now` the moment was, in the largest unit that fits."""
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    if seconds < 45:
        return "just now"
    for size, unit in (
        (86400 * 365, "year"),
        (86400 * 30, "month"),
        (86400 * 7, "week"),
        (86400, "day"),
        (3600, "hour"),
        (60, "minute"),
    ):
        count = round(seconds / size) if size == 60 else seconds // size
        if count >= 1:
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def span(length: timedelta) -> str:
    """`2 h 5 min`, `3 d 4 h`, `45 min`, `30 s`; a negative length (clocks apart) is `0 s`."""
    seconds = max(int(length.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min" if minutes else f"{seconds} s"
