"""CI results from the API, so that a result whose delivery never came is caught up.

Every read is conditional (its stored ETag first), so an idle re-poll is all 304s, which
GitHub does not count:

- the repository's workflow runs created since a stable window, newest first, read down to
  where the last read had seen every run finished; a run re-run since has its earlier
  attempts fetched once, so a failure that passed on a re-run is flaky, as by webhook;
- for the newest `BUILD_COMMITS` commits of each counted branch the timeline holds, the
  commit's check suites, its check runs (only when a suite of an app other than GitHub
  Actions has finished) and its statuses (every one: a context that failed and passed again
  is flaky, as by webhook).

Each object is routed through the webhook's own handlers (`builds.py`), so a result has the
same key, and the same (repository, branch, check), whichever way it came, and is stored
once; the intake places it by its commit's position on the branch.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from feed.builds import COMMIT_KINDS, is_counted
from feed.db import Database
from feed.ingest import Batch, Intake
from feed.models import BuildResult, Event, Repo
from integrations.github import syncstate
from integrations.github.builds import ACTIONS_APP
from integrations.github.client import GitHubClient, Unavailable
from integrations.github.events import route
from integrations.github.payload import PayloadError
from integrations.github.routing import Context

log = logging.getLogger(__name__)

# Commits per counted branch whose suites and status are read on every poll. CI reports
# within minutes of a push, and a poll every few minutes rarely sees more than a few pushes
# in between: ten covers a burst of pushes and the results still running on them, at three
# conditional requests each (0 counted when nothing changed). Older commits' results come
# by webhook, and GitHub Actions' from the runs listing, which is not limited to them.
BUILD_COMMITS = 10
RUNS = "workflow_runs"
PER_PAGE = 100


def sync_builds(
    db: Database,
    client: GitHubClient,
    repo: str,
    branches: tuple[str, ...],
    intake: Intake,
    backfill: timedelta,
) -> int:
    """Read the build results of `repo` that are new since the last poll; the build events
    they created or changed. A repository whose token may not read Actions or checks (403)
    keeps its other syncs: the results are then left to webhooks."""
    changed = 0
    try:
        changed += _sync_runs(db, client, repo, intake, backfill)
        with db.read() as session:
            default = session.scalar(select(Repo.default_branch).where(Repo.full_name == repo))
        for branch in branches:
            if is_counted(branch, default, intake.build_branches):
                changed += _sync_branch(db, client, repo, branch, intake)
    except Unavailable as exc:
        if exc.status != "forbidden":
            raise
        log.warning("github sync: %s: build results not readable (%s); webhooks only", repo, exc)
    return changed


def _sync_runs(
    db: Database, client: GitHubClient, repo: str, intake: Intake, backfill: timedelta
) -> int:
    """The workflow runs created in the window, down to the runs the last read had settled."""
    with db.read() as session:
        state = syncstate.load(session, repo, RUNS)
    window = _runs_window(state.cursor.get("created"), backfill)
    etag = state.etag if state.cursor.get("created") == window else None
    settled = state.cursor.get("settled") if etag else None
    params = {"created": f">={window}", "per_page": PER_PAGE}
    first = client.fetch(f"/repos/{repo}/actions/runs", params, etag)
    if not first.modified:
        return 0
    runs: list[dict[str, Any]] = []
    for page in client.pages(first, "workflow_runs"):
        runs += page
        if not page or (settled and str(page[-1].get("created_at") or "") < settled):
            break  # older runs were all finished and read before
    pending = [str(r.get("created_at") or "") for r in runs if r.get("status") != "completed"]
    newest = max((str(r.get("created_at") or "") for r in runs), default=settled)
    payloads = [_run_payload(run) for run in runs if run.get("status") == "completed"]
    payloads += _earlier_attempts(db, client, repo, runs)
    cursor = {"created": window, "settled": min(pending) if pending else newest}
    with db.write() as session:
        changed = _ingest(session, intake, repo, "workflow_run", payloads)
        syncstate.save(session, repo, RUNS, syncstate.ListingState(first.etag, cursor))
    return changed


def _earlier_attempts(
    db: Database, client: GitHubClient, repo: str, runs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The finished earlier attempts of re-run runs that are not stored yet (the listing
    shows a run's latest attempt only); each is fetched once, as it never changes. Runs the
    webhook handler would not record (no branch, a fork's branch) are not asked about."""
    wanted = {
        f"workflow_run:{repo}:{run['id']}/{attempt}:{run['head_branch']}": (run, attempt)
        for run in runs
        if isinstance(run.get("id"), int)
        and isinstance(run.get("run_attempt"), int)
        and isinstance(run.get("head_branch"), str)
        and run["head_branch"]
        and _head_repo(run) in (None, repo.casefold())
        for attempt in range(1, run["run_attempt"])
    }
    if not wanted:
        return []
    with db.read() as session:
        known = set(session.scalars(select(BuildResult.key).where(BuildResult.key.in_(wanted))))
    payloads = []
    for key, (run, attempt) in wanted.items():
        if key in known:
            continue
        try:
            page = client.fetch(
                f"/repos/{repo}/actions/runs/{run['id']}/attempts/{attempt}", {}, None
            )
        except Unavailable as exc:
            if exc.status != "gone":
                raise
            continue  # the run was deleted since it was listed
        if isinstance(page.data, dict) and page.data.get("status") == "completed":
            payloads.append(_run_payload(page.data))
    return payloads


def _sync_branch(db: Database, client: GitHubClient, repo: str, branch: str, intake: Intake) -> int:
    """Suites, check runs and status of the branch's newest commits in the timeline; the
    ETags of the commits no longer among them are dropped with them."""
    resource = f"builds:{branch}"
    with db.read() as session:
        state = syncstate.load(session, repo, resource)
        shas = list(
            session.scalars(
                select(Event.sha)
                .where(Event.repo == repo, Event.branch == branch, Event.kind.in_(COMMIT_KINDS))
                .order_by(Event.id.desc())
                .limit(BUILD_COMMITS)
            )
        )
    etags: dict[str, dict[str, str]] = state.cursor.get("etags") or {}
    stored = {s: etags[s] for s in shas if s in etags}  # what is kept of the cursor
    changed = 0
    for sha in dict.fromkeys(sha for sha in shas if sha):
        known = dict(etags.get(sha) or {})
        if known.get("gone"):
            continue
        payloads: dict[str, list[dict[str, Any]]] = {}
        try:
            payloads = _commit_results(client, repo, branch, sha, known)
        except Unavailable as exc:
            if exc.status != "gone":
                raise
            # Force-pushed away and collected: its 404 is paid once, not on every poll.
            log.warning("github sync: %s@%s is gone; its results are not read", repo, sha[:7])
            known = {"gone": "404"}
        if not any(payloads.values()) and known == etags.get(sha) and stored == etags:
            continue  # all 304: nothing to write
        etags = {**etags, sha: known}
        stored = {s: etags[s] for s in shas if s in etags}
        with db.write() as session:
            for event, items in payloads.items():
                changed += _ingest(session, intake, repo, event, items)
            cursor = syncstate.ListingState(None, {"etags": stored})
            syncstate.save(session, repo, resource, cursor)
        etags = stored
    return changed


def _commit_results(
    client: GitHubClient, repo: str, branch: str, sha: str, etags: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """The commit's finished suites, check runs and statuses as webhook payloads, read with
    `etags` (updated in place with the new ones)."""
    base = f"/repos/{repo}/commits/{sha}"
    found: dict[str, list[dict[str, Any]]] = {"check_suite": [], "check_run": [], "status": []}
    suites = client.fetch(f"{base}/check-suites", {"per_page": PER_PAGE}, etags.get("suites"))
    if suites.modified:
        etags["suites"] = suites.etag or ""
        listed = [suite for page in client.pages(suites, "check_suites") for suite in page]
        branches = {s.get("id"): s.get("head_branch") or branch for s in listed}
        found["check_suite"] = [
            {
                "action": "completed",
                "check_suite": {**suite, "head_branch": branches[suite.get("id")]},
            }
            for suite in listed
            if suite.get("status") == "completed"
        ]
        others = [s for s in found["check_suite"] if _app(s["check_suite"]) != ACTIONS_APP]
        if others:
            found["check_run"] = _check_runs(client, base, branches, branch, etags)
    # Every status, not the combined status's latest of each context: a context that failed
    # and passed again is flaky, as by webhook, though both deliveries were missed.
    statuses = client.fetch(f"{base}/statuses", {"per_page": PER_PAGE}, etags.get("status"))
    if statuses.modified and isinstance(statuses.data, list):
        etags["status"] = statuses.etag or ""
        found["status"] = [
            {**item, "sha": sha, "branches": [{"name": branch}]}
            for page in client.pages(statuses)
            for item in page
            if isinstance(item, dict)
        ]
    return found


def _check_runs(
    client: GitHubClient,
    base: str,
    branches: dict[Any, Any],
    branch: str,
    etags: dict[str, str],
) -> list[dict[str, Any]]:
    """The commit's finished check runs, each with its suite's head branch (the API's check
    run names its suite by id only)."""
    runs = client.fetch(f"{base}/check-runs", {"per_page": PER_PAGE}, etags.get("runs"))
    if not runs.modified:
        return []
    etags["runs"] = runs.etag or ""
    found = []
    for page in client.pages(runs, "check_runs"):
        for run in page:
            if run.get("status") != "completed" or _app(run) == ACTIONS_APP:
                continue
            suite = run.get("check_suite") if isinstance(run.get("check_suite"), dict) else {}
            head = branches.get(suite.get("id")) or branch
            found.append(
                {
                    "action": "completed",
                    "check_run": {**run, "check_suite": {**suite, "head_branch": head}},
                }
            )
    return found


def _ingest(
    session: Session, intake: Intake, repo: str, event: str, payloads: list[dict[str, Any]]
) -> int:
    """Route each payload as its webhook would be, and hand the results to the intake; an
    object the webhook would refuse is skipped, as its delivery would have been."""
    results = []
    context = Context(incident_label="")
    for payload in payloads:
        try:
            routed = route(event, {**payload, "repository": {"full_name": repo}}, context)
        except PayloadError as exc:
            log.warning("github sync: %s: a %s from the API skipped: %s", repo, event, exc)
            continue
        results += routed.results
    if not results:
        return 0
    stored = intake.ingest(session, Batch(results=results))
    return stored.created + stored.updated


def _run_payload(run: dict[str, Any]) -> dict[str, Any]:
    return {"action": "completed", "workflow_run": run}


def _head_repo(run: dict[str, Any]) -> str | None:
    head = run.get("head_repository")
    name = head.get("full_name") if isinstance(head, dict) else None
    return name.casefold() if isinstance(name, str) else None


def _app(item: dict[str, Any]) -> str | None:
    app = item.get("app")
    return app.get("slug") if isinstance(app, dict) else None


def _runs_window(current: Any, backfill: timedelta) -> str:
    """The `created` date of the runs listing: kept while it is at most a backfill and a
    step old, so that an idle poll asks the same URL and its ETag answers 304."""
    today = datetime.now(UTC).date()
    if isinstance(current, str):
        try:
            kept = datetime.fromisoformat(current).date()
        except ValueError:
            kept = None
        if kept is not None and today - kept <= backfill + timedelta(days=30):
            return kept.isoformat()
    return (today - timedelta(days=backfill.days)).isoformat()
