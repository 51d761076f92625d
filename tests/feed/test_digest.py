"""Digests and alerts as neutral messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feed.digest import DigestOptions, alert_message, digest_message
from feed.filters import Filter
from feed.models import Event, PullRequest
from feed.store import encode_cursor

T0 = datetime(2026, 11, 25, 9, tzinfo=UTC)


def listing(rule: Filter, after: Event | None) -> str:
    """The activity page for `rule`, after `after`; unencoded, to read in assertions."""
    args = [*rule.to_args(), *([("cursor", encode_cursor(after))] if after else [])]
    return "https://s.example/?" + "&".join(f"{name}={value}" for name, value in args)


def event(n: int, kind: str = "commit", repo: str = "acme/api", **extra) -> Event:
    values = {
        "id": n,
        "uid": f"commit:{repo}:{n:040x}",
        "kind": kind,
        "repo": repo,
        "branch": "main",
        "actor": "mara",
        "sha": f"{n:040x}",
        "title": f"Change {n}",
        "body": "line two\nline three",
        "url": None,
        "occurred_at": T0 + timedelta(minutes=n),
        "updated_at": T0,
        "data": {"stats": {"files": 2, "additions": 5, "deletions": 1}},
    }
    values.update(extra)
    return Event(**values)


def test_a_digest_groups_by_repository_and_counts_by_kind() -> None:
    events = [event(n) for n in range(14)] + [
        event(20, "revert"),
        event(21, "release"),
        event(22, repo="acme/web"),
    ]
    message = digest_message(
        events,
        since=T0,
        until=T0 + timedelta(days=1),
        options=DigestOptions(max_items=5),
        event_url=lambda e: f"https://s.example/events/{e.id}",
        listing=listing,
    )
    assert message.summary == "1 revert, 1 release, 15 commits"
    api, web = message.sections
    assert api.heading == "acme/api: 1 revert, 1 release, 14 commits"
    # Newest first, as the activity page lists them: what is left out is one link.
    assert [line.text for line in api.lines][:2] == ["Change 21", "Change 20"]
    assert api.more == 11
    assert api.lines[2].detail == "Commit · mara · 0000000 · +5 -1 in 2 files"
    assert web.heading == "acme/web: 1 commit"
    assert message.url.endswith("until=2026-11-26T09:00:00Z")


def test_options_choose_what_each_line_shows() -> None:
    options = DigestOptions(message_lines=2, diff_stats=False)
    message = digest_message(
        [event(1)],
        since=T0,
        until=T0 + timedelta(hours=1),
        options=options,
        event_url=lambda e: "u",
        listing=listing,
    )
    line = message.sections[0].lines[0]
    assert line.quote == "line two"
    assert "+5" not in line.detail


def test_a_line_names_the_pull_request_that_brought_it_with_its_title_cut() -> None:
    pull = PullRequest(repo="acme/api", number=7, title="Search <b>by</b> author " + "x" * 80)
    message = digest_message(
        [event(1), event(2)],
        since=T0,
        until=T0 + timedelta(hours=1),
        options=DigestOptions(diff_stats=False),
        event_url=lambda e: "u",
        listing=listing,
        via={1: pull},
    )
    first, second = reversed(message.sections[0].lines)
    assert first.detail.endswith(f" · via #7 {pull.title[:79]}…")
    assert "via" not in second.detail
    alert = alert_message(event(1), options=DigestOptions(), event_url="u", via={1: pull})
    assert "via #7 Search" in alert.sections[0].lines[0].detail


def test_an_empty_digest_says_so() -> None:
    message = digest_message(
        [], since=T0, until=T0, options=DigestOptions(), event_url=lambda e: "u", listing=listing
    )
    assert message.summary == "Nothing shipped." and message.sections == []


def test_incident_alerts_share_a_thread_and_failures_are_marked() -> None:
    update = event(
        1,
        "incident_update",
        uid="incident:acme/api#7/comment/9",
        sha=None,
        title="Checkout errors — rolled back",
    )
    alert = alert_message(update, options=DigestOptions(), event_url="https://s.example/e/1")
    assert alert.thread_key == "incident:acme/api#7"
    assert alert.title == "Incident update: Checkout errors — rolled back"
    failed = event(2, "deployment", data={"state": "failure"})
    assert alert_message(failed, options=DigestOptions(), event_url="u").severity == "failure"
