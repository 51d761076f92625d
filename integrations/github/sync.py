"""The API sync: commits with patches, incident issues and comments, releases, at floor cost.

Every listing is read with its stored ETag first, so an idle poll is all 304s, which GitHub
does not count. New commits are stored oldest first, each in one transaction with the
cursor that covers it, so a crash or a restart resumes where it stopped.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from github.Commit import Commit
from sqlalchemy import select

from feed.config import DEFAULT_INCIDENT_LABEL, SETTINGS
from feed.db import Database
from feed.ingest import Batch, Intake
from feed.models import Event
from feed.store import EventRecord, attach_files, diff_states, upsert_repo
from feed.timefmt import iso_utc
from integrations.github import syncstate
from integrations.github.build_sync import sync_builds
from integrations.github.client import (
    GitHubClient,
    GitHubError,
    ListingPage,
    RateLimited,
    Unavailable,
)
from integrations.github.commits import (
    DEFAULT_PATCH_CAP,
    capped_files,
    commit_record,
    diff_stats,
    login_from_email,
)
from integrations.github.events import route
from integrations.github.followups import batch
from integrations.github.routing import Context, Routed

log = logging.getLogger(__name__)
WINDOW_OVERLAP = timedelta(days=1)
# A branch listing keeps its `since` for at least this long (or the backfill, if longer),
# so that an idle poll asks the same URL again and its ETag can answer 304. Walking stops
# at the cursor, so an older `since` costs nothing until a force push hides the cursor.
WINDOW_STEP = timedelta(days=30)
WRITE_BATCH = 25  # commits stored per transaction, with the cursor that covers them
ISSUE_NUMBER = re.compile(r"/issues/(\d+)$")


@dataclass(frozen=True)
class SyncOptions:
    """How far back and how much to bring in, and the intake it goes through."""

    incident_label: str = DEFAULT_INCIDENT_LABEL
    branches: tuple[str, ...] = ()
    since: datetime | None = None
    backfill: timedelta = timedelta(days=SETTINGS["sync_backfill_days"].default)
    patch_cap: int = DEFAULT_PATCH_CAP
    intake: Intake = field(default_factory=Intake)


@dataclass
class SyncReport:
    """What one sync of one repository did."""

    repo: str
    commits: int = 0
    incident_events: int = 0
    releases: int = 0
    build_events: int = 0


def sync_repo(db: Database, client: GitHubClient, repo: str, options: SyncOptions) -> SyncReport:
    """Bring `repo` up to date; marks the repository with the outcome and the requests it cost
    either way."""
    report = SyncReport(repo)
    sent = client.requests
    try:
        default_branch = _sync_repository(db, client, repo)
        branches = tuple(dict.fromkeys((default_branch, *options.branches)))
        for branch in branches:
            report.commits += sync_branch(db, client, repo, branch, options)
        report.incident_events += _sync_incidents(db, client, repo, options)
        report.releases += _sync_releases(db, client, repo, options)
        report.build_events += sync_builds(
            db, client, repo, branches, options.intake, options.backfill
        )
    except Unavailable as exc:
        _mark(db, repo, exc.status, str(exc), usage=api_usage(client, sent))
        raise
    except RateLimited as exc:
        reason = f"{exc}; resumes at {iso_utc(exc.resume_at)}"
        _mark(db, repo, "paused", reason, usage=api_usage(client, sent))
        raise
    except GitHubError:  # 5xx or timeouts past the retries: no verdict, but the cost counts
        with db.write() as session:
            syncstate.record_usage(session, repo, api_usage(client, sent))
        raise
    _mark(db, repo, "ok", usage=api_usage(client, sent))
    log.info(
        "github sync: %s: %d commits, %d incident events, %d releases, %d build events",
        repo,
        report.commits,
        report.incident_events,
        report.releases,
        report.build_events,
    )
    return report


def api_usage(client: GitHubClient, since: int = 0) -> syncstate.ApiUsage:
    """The requests `client` sent once its count had passed `since`, and the rate limit the
    API reported on its last answer."""
    remaining, reset = client.rate()
    if remaining < 0:  # no answer yet
        return syncstate.ApiUsage(client.requests - since)
    return syncstate.ApiUsage(client.requests - since, remaining, reset)


def fetch_patches(db: Database, client: GitHubClient, repo: str, sha: str, cap: int) -> bool:
    """Give a stored commit its files and patches; False if there was nothing to do."""
    uid = f"commit:{repo}:{sha}"
    with db.read() as session:
        if diff_states(session, [uid]).get(uid) != "pending":
            return False
    commit = _commit_unless_gone(client, repo, sha, "is gone; its diff stays unavailable")
    if commit is None:
        return False
    files = capped_files(commit.raw_data.get("files") or [], cap)
    with db.write() as session:
        return attach_files(session, uid, files, stats=diff_stats(files))


def backfill_incident_comments(
    db: Database, client: GitHubClient, repo: str, number: int, options: SyncOptions
) -> int:
    """Bring in every comment of incident `number`: for an issue labelled after people had
    already commented, those comments become its first updates."""
    context = Context(incident_label=options.incident_label)
    issue = _incident_issues(db, repo, options.incident_label).get(number)
    if issue is None:
        return 0
    first = client.fetch(f"/repos/{repo}/issues/{number}/comments", {"per_page": 100}, None)
    routed = [
        _route(
            context,
            "issue_comment",
            repo,
            {"action": "created", "issue": issue, "comment": comment},
        )
        for page in client.pages(first)
        for comment in page
    ]
    with db.write() as session:
        return sum(options.intake.ingest(session, batch(item)).created for item in routed)


def _sync_repository(db: Database, client: GitHubClient, repo: str) -> str:
    with db.read() as session:
        state = syncstate.load(session, repo, "repo")
    page = client.fetch(f"/repos/{repo}", None, state.etag)
    if not page.modified:
        return state.cursor["default_branch"]
    data = page.data if isinstance(page.data, dict) else {}
    default_branch = str(data.get("default_branch") or "main")
    with db.write() as session:
        upsert_repo(session, repo, html_url=data.get("html_url"), default_branch=default_branch)
        syncstate.save(
            session,
            repo,
            "repo",
            syncstate.ListingState(page.etag, {"default_branch": default_branch}),
        )
    return default_branch


def sync_branch(
    db: Database, client: GitHubClient, repo: str, branch: str, options: SyncOptions
) -> int:
    """Store the commits of `branch` that are new since its cursor; how many were stored.

    When the next poll would ask the listing from another `since` (after `--since`, or once
    the newest commit has moved a step past it), the listing is asked from there now, in a
    sync that is paying anyway: the next poll then has its ETag, and costs nothing if idle.
    """
    stored, asked = _sync_listing(db, client, repo, branch, options)
    polling = replace(options, since=None)
    with db.read() as session:
        cursor = syncstate.load(session, repo, f"commits:{branch}").cursor
    if _window(cursor, polling) != asked:
        stored += _sync_listing(db, client, repo, branch, polling)[0]
    return stored


def _sync_listing(
    db: Database, client: GitHubClient, repo: str, branch: str, options: SyncOptions
) -> tuple[int, str]:
    """Read the branch's listing from its window; the commits stored, and the window."""
    resource = f"commits:{branch}"
    with db.read() as session:
        state = syncstate.load(session, repo, resource)
    window = _window(state.cursor, options)
    etag = state.etag if state.cursor.get("since") == window else None
    params = {"sha": branch, "since": window, "per_page": 100}
    first = client.fetch(f"/repos/{repo}/commits", params, etag)
    if not first.modified:
        return 0, window

    stop_at = state.cursor.get("sha")
    listed: list[dict[str, Any]] = []
    for page in client.pages(first):
        shas = [item.get("sha") for item in page]
        if stop_at in shas:
            listed.extend(page[: shas.index(stop_at)])
            break
        listed.extend(page)

    uids = [f"commit:{repo}:{item['sha']}" for item in listed if isinstance(item.get("sha"), str)]
    with db.read() as session:
        known = diff_states(session, uids)
    cursor = dict(state.cursor)
    fetched: list[EventRecord] = []

    def flush() -> None:
        # The records and the cursor that covers them, in one transaction. A repository
        # polled and not hooked alerts too (on what is recent; see notify).
        with db.write() as session:
            options.intake.ingest(session, Batch(records=list(fetched)))
            syncstate.save(session, repo, resource, syncstate.ListingState(None, cursor))
        fetched.clear()

    stored = 0
    try:
        for item in reversed(listed):  # oldest first: the cursor never runs ahead of the data
            sha = item.get("sha")
            if not isinstance(sha, str):
                continue
            if known.get(f"commit:{repo}:{sha}") != "fetched":
                # Listed a moment ago, gone now (a force push and a gc): nothing to keep.
                commit = _commit_unless_gone(client, repo, sha, "vanished while syncing")
                if commit is None:
                    continue
                fetched.append(_commit_from_api(commit, repo, branch, options.patch_cap))
                stored += 1
            cursor = {"sha": sha, "date": _commit_date(item), "since": window}
            if len(fetched) >= WRITE_BATCH:
                flush()
    finally:
        flush()  # keep what was fetched, even when a request failed
    # The ETag is that of the listing asked with `window`: keep them together (a listing
    # with nothing in it too), or the next poll asks without it and pays for an answer
    # that has not changed.
    cursor["since"] = window
    with db.write() as session:
        syncstate.save(session, repo, resource, syncstate.ListingState(first.etag, cursor))
    return stored, window


def _sync_incidents(db: Database, client: GitHubClient, repo: str, options: SyncOptions) -> int:
    context = Context(incident_label=options.incident_label)
    with db.read() as session:
        issues_state = syncstate.load(session, repo, "issues")
        comments_state = syncstate.load(session, repo, "comments")
    stored = 0

    since = issues_state.cursor.get("since")
    params = {
        "labels": options.incident_label,
        "state": "all",
        "sort": "updated",
        "direction": "asc",
        "per_page": 100,
        **({"since": since} if since else {}),
    }
    first = client.fetch(f"/repos/{repo}/issues", params, issues_state.etag)
    incidents: dict[int, dict[str, Any]] = {}
    if first.modified:
        newest = since
        for page in client.pages(first):
            for issue in page:
                if "pull_request" in issue or not isinstance(issue.get("number"), int):
                    continue
                incidents[issue["number"]] = issue
                newest = max(newest or "", str(issue.get("updated_at") or ""))
        routed: list[Routed] = []
        for issue in incidents.values():
            routed.append(_route(context, "issues", repo, {"action": "opened", "issue": issue}))
            if issue.get("state") == "closed" and issue.get("closed_at"):
                payload = {"action": "closed", "issue": issue}
                routed.append(_route(context, "issues", repo, payload))
        with db.write() as session:
            stored += sum(options.intake.ingest(session, batch(r)).created for r in routed)
            syncstate.save(
                session,
                repo,
                "issues",
                syncstate.ListingState(first.etag, _next_since(first, since, newest)),
            )

    since = comments_state.cursor.get("since")
    params = {
        "sort": "updated",
        "direction": "asc",
        "per_page": 100,
        **({"since": since} if since else {}),
    }
    first = client.fetch(f"/repos/{repo}/issues/comments", params, comments_state.etag)
    if not first.modified:
        return stored
    known = _incident_issues(db, repo, options.incident_label) | incidents
    newest = since
    routed: list[Routed] = []
    for page in client.pages(first):
        for comment in page:
            number = ISSUE_NUMBER.search(str(comment.get("issue_url", "")))
            newest = max(newest or "", str(comment.get("updated_at") or ""))
            if number and int(number.group(1)) in known:
                issue = known[int(number.group(1))]
                payload = {"action": "created", "issue": issue, "comment": comment}
                routed.append(_route(context, "issue_comment", repo, payload))
    with db.write() as session:
        for item in routed:
            result = options.intake.ingest(session, batch(item))
            stored += result.created + result.updated
        syncstate.save(
            session,
            repo,
            "comments",
            syncstate.ListingState(first.etag, _next_since(first, since, newest)),
        )
    return stored


def _sync_releases(db: Database, client: GitHubClient, repo: str, options: SyncOptions) -> int:
    context = Context(incident_label=options.incident_label)
    with db.read() as session:
        state = syncstate.load(session, repo, "releases")
    first = client.fetch(f"/repos/{repo}/releases", {"per_page": 100}, state.etag)
    if not first.modified:
        return 0
    routed: list[Routed] = []
    for release in next(client.pages(first)):  # newest first; older pages are older news
        if release.get("draft") or not release.get("published_at"):
            continue
        payload = {"action": "published", "release": release}
        routed.append(_route(context, "release", repo, payload))
    with db.write() as session:
        stored = sum(options.intake.ingest(session, batch(r)).created for r in routed)
        syncstate.save(session, repo, "releases", syncstate.ListingState(first.etag, {}))
    return stored


def _commit_unless_gone(client: GitHubClient, repo: str, sha: str, gone: str) -> Commit | None:
    """The commit with its files, or None (logged with `gone`) when GitHub no longer has it;
    any other failure raises."""
    try:
        return client.commit(repo, sha)
    except Unavailable as exc:
        if exc.status != "gone":
            raise
        log.warning("github sync: %s@%s %s", repo, sha[:7], gone)
        return None


def _commit_from_api(commit: Commit, repo: str, branch: str, cap: int) -> EventRecord:
    git = commit.commit
    login = commit.author.login if commit.author is not None else None
    author = login or login_from_email(git.author.email) or git.author.name
    files = capped_files(commit.raw_data.get("files") or [], cap)
    return commit_record(
        repo=repo,
        branch=branch,
        sha=commit.sha,
        message=git.message or "",
        actor=(author or "")[:200] or None,
        when=git.committer.date.astimezone(UTC),
        url=commit.html_url,
        files=files,
        data={"author_name": git.author.name},
        fetched=True,
    )


def _route(context: Context, event: str, repo: str, payload: dict[str, Any]) -> Routed:
    """What the webhook path would make of the same object: same uids, same text."""
    return route(event, {**payload, "repository": {"full_name": repo}}, context)


def _incident_issues(db: Database, repo: str, label: str) -> dict[int, dict[str, Any]]:
    """Incidents of `repo` already in the timeline, as minimal issue objects."""
    with db.read() as session:
        rows = session.execute(
            select(Event.data, Event.url).where(Event.repo == repo, Event.kind == "incident_opened")
        ).all()
    return {
        data["number"]: {
            "number": data["number"],
            "title": data.get("issue_title", ""),
            "labels": [{"name": label}],
            "html_url": url,
        }
        for data, url in rows
        if isinstance(data.get("number"), int)
    }


def _next_since(first: ListingPage, since: str | None, newest: str | None) -> dict[str, Any]:
    """Keep asking the same URL (so its ETag can answer 304) until it spans pages."""
    return {"since": newest if first.next_url else since}


def _window(cursor: dict[str, Any], options: SyncOptions) -> str:
    """The `since` of a branch listing: wide enough to overlap the cursor, and stable."""
    if options.since:
        return iso_utc(options.since)
    newest = _cursor_time(cursor, "date")
    current = _cursor_time(cursor, "since")
    if newest is None:
        # No commit seen yet: the listing was empty from `current` on, so whatever it lists
        # now is new. Keep asking from there; a `since` made from the clock each time
        # would be a new URL, without an ETag, paid on every poll.
        if current is not None:
            return iso_utc(current)
        return iso_utc(datetime.now(UTC).replace(microsecond=0) - options.backfill)
    step = max(WINDOW_STEP, options.backfill)
    if current is not None and newest - step <= current <= newest - WINDOW_OVERLAP:
        return iso_utc(current)
    return iso_utc(newest - WINDOW_OVERLAP)


def _commit_date(item: dict[str, Any]) -> str | None:
    commit = item.get("commit") or {}
    return (commit.get("committer") or {}).get("date") or (commit.get("author") or {}).get("date")


def _cursor_time(cursor: dict[str, Any], key: str) -> datetime | None:
    value = cursor.get(key)
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _mark(
    db: Database,
    repo: str,
    status: str,
    reason: str | None = None,
    *,
    usage: syncstate.ApiUsage,
) -> None:
    with db.write() as session:
        syncstate.mark_repo(session, repo, status, reason, usage)
