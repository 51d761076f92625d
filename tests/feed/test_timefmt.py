"""Times as people read them: relative ages, spans and UTC stamps (feed/timefmt.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from feed.timefmt import ago, exact_utc, iso_utc, span

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("before", "shown"),
    [
        (timedelta(seconds=-1), "in the future"),
        (timedelta(0), "just now"),
        (timedelta(seconds=44), "just now"),
        (timedelta(seconds=45), "1 minute ago"),
        (timedelta(seconds=89), "1 minute ago"),
        (timedelta(seconds=91), "2 minutes ago"),
        (timedelta(minutes=59, seconds=59), "60 minutes ago"),
        (timedelta(hours=1), "1 hour ago"),
        (timedelta(hours=23, minutes=59), "23 hours ago"),
        (timedelta(days=1), "1 day ago"),
        (timedelta(days=13), "1 week ago"),
        (timedelta(days=30), "1 month ago"),
        (timedelta(days=400), "1 year ago"),
        (timedelta(days=365 * 3), "3 years ago"),
    ],
)
def test_ago_says_the_largest_unit_that_fits(before: timedelta, shown: str) -> None:
    assert ago(NOW - before, NOW) == shown


@pytest.mark.parametrize(
    ("length", "shown"),
    [
        (timedelta(seconds=-5), "0 s"),
        (timedelta(seconds=30), "30 s"),
        (timedelta(minutes=45, seconds=59), "45 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(days=3), "3 d"),
        (timedelta(days=3, hours=4, minutes=59), "3 d 4 h"),
    ],
)
def test_span_shows_two_units_at_most(length: timedelta, shown: str) -> None:
    assert span(length) == shown


def test_stamps_are_utc_whatever_the_zone_of_the_moment() -> None:
    moment = datetime(2026, 11, 26, 10, 30, tzinfo=timezone(timedelta(hours=1, minutes=30)))
    assert iso_utc(moment) == "2026-11-26T09:00:00Z"
    assert exact_utc(moment) == "2026-11-26 09:00:00 UTC"
