"""What is broken now: failing checks, failed deployments, open incidents, and the last good
version of each branch and environment, read with bounded, indexed queries.

A check is failing while its newest `build_broken` event has no `build_fixed` (the fix of a
break shares its uid after the kind), so the page reads the breaks, never the results table
whole. Environments are read from the newest deployments (`RECENT_DEPLOYS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, case, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from feed.builds import COMMIT_KINDS, PAGE, Placed, Suspect
from feed.models import BuildResult, Event, Incident, Repo

STRIP = 20  # commits shown in a check's strip of recent results
SUSPECTS_SHOWN = 5
RECENT_DEPLOYS = 500  # the newest deployments an environment's state is read from
HISTORY_DEPLOYS = 50  # a failed environment's deployments searched for its last success
AHEAD_LIMIT = 1000  # commits counted between a last good version and the current one
FAILED_STATES = ("failure", "error")
FINAL_STATES = ("success", *FAILED_STATES)
PRODUCTION = ("production", "prod")
BROKEN_PREFIX = "build_broken:"


@dataclass(frozen=True)
class Version:
    """A last good version: its commit, when it was made or deployed, and its link."""

    sha: str
    at: datetime | None  # None: the commit is not in the timeline
    url: str | None
    event_id: int | None = None  # the deployment's or commit's event, when stored

    @property
    def short_sha(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class Failing:
    """A check failing on a counted branch since its break, with its suspects and strip."""

    broken: Event  # the build_broken event: the first failing commit and when
    check: str
    last_good: Version | None  # the check's last passing commit before the break
    suspects: tuple[Suspect, ...]
    more: int  # suspects not shown
    strip: tuple[Placed, ...]  # the check's recent commits on the branch, oldest first

    @property
    def revert(self) -> str | None:
        good = self.last_good.sha if self.last_good else None
        return f"git revert --no-edit {good}..{self.broken.sha}" if good else None


@dataclass(frozen=True)
class BrokenBranch:
    """A branch with failing checks, and its newest commit whose checks all passed."""

    repo: str
    branch: str
    last_good: Version | None
    checks: tuple[Failing, ...]


@dataclass(frozen=True)
class Environment:
    """A deployment environment whose last deployment failed, and its last success."""

    repo: str
    name: str
    current: Event  # the failed deployment
    last_good: Version | None
    ahead_commits: int | None  # commits from the last good version to the failed one
    ahead_more: bool  # more than AHEAD_LIMIT
    ahead_time: timedelta | None

    @property
    def state(self) -> str:
        return str((self.current.data or {}).get("state", ""))

    @property
    def rollback(self) -> str | None:
        if not (self.last_good and self.current.sha):
            return None
        return f"git revert --no-edit {self.last_good.sha}..{self.current.sha}"


@dataclass(frozen=True)
class LastDeploy:
    """The last successful deployment before a moment, and how long before it."""

    environment: str
    version: Version
    before: timedelta

    @property
    def rollback(self) -> str:
        return f"redeploy {self.version.short_sha} to {self.environment}"


@dataclass(frozen=True)
class OpenIncident:
    incident: Incident
    last_deploy: LastDeploy | None


@dataclass(frozen=True)
class Report:
    """Everything /health shows; `ok` when nothing is broken."""

    branches: tuple[BrokenBranch, ...]
    environments: tuple[Environment, ...]
    incidents: tuple[OpenIncident, ...]

    @property
    def ok(self) -> bool:
        return not (self.branches or self.environments or self.incidents)


def report(session: Session, now: datetime) -> Report:
    """What is broken now, each with its last good version."""
    links = _RepoLinks(session)
    breaks = open_breaks(session)
    links.prefetch_repos({event.repo for event in breaks})
    links.prefetch_commits(
        [(e.repo, sha) for e in breaks for sha in ((e.data or {}).get("good"), e.sha) if sha]
    )
    failing = [_failing(session, event, links) for event in breaks]
    grouped: dict[tuple[str, str], list[Failing]] = {}
    for item in failing:
        grouped.setdefault((item.broken.repo, item.broken.branch or ""), []).append(item)
    branches = tuple(
        BrokenBranch(
            repo, branch, _branch_last_good(session, repo, branch, checks, links), tuple(checks)
        )
        for (repo, branch), checks in sorted(grouped.items())
    )
    incidents = session.scalars(
        select(Incident)
        .where(Incident.active, Incident.status != "resolved", Incident.opened_at <= now)
        .order_by(Incident.opened_at.desc())
        .limit(100)
    )
    return Report(
        branches=branches,
        environments=tuple(failed_environments(session, links)),
        incidents=tuple(
            OpenIncident(i, last_deploy_before(session, i.opened_at, links)) for i in incidents
        ),
    )


def open_breaks(session: Session) -> list[Event]:
    """Every `build_broken` event not yet followed by its `build_fixed`, oldest first."""
    return list(session.scalars(open_breaks_query()))


def open_breaks_query() -> Select[tuple[Event]]:
    """The breaks with no fix: by the kind index, and the uid index for each fix."""
    fixed = aliased(Event)
    fix_uid = literal("build_fixed:") + func.substr(Event.uid, len(BROKEN_PREFIX) + 1)
    return (
        select(Event)
        .where(Event.kind == "build_broken", ~exists().where(fixed.uid == fix_uid))
        .order_by(Event.occurred_at, Event.id)
    )


def strip(session: Session, repo: str, branch: str, check: str) -> tuple[Placed, ...]:
    """The check's newest STRIP commits on the branch with their results, oldest first."""
    newest = strip_positions_query(repo, branch, check).subquery()
    commits: dict[int, Placed] = {}
    rows = session.scalars(
        select(BuildResult)
        .where(
            BuildResult.repo == repo,
            BuildResult.branch == branch,
            BuildResult.check == check,
            BuildResult.position >= select(func.min(newest.c.position)).scalar_subquery(),
        )
        .order_by(BuildResult.position, BuildResult.id)
    )
    for result in rows:
        position = result.position or 0
        commits.setdefault(position, Placed(result.sha, position, None)).results.append(result)
    return tuple(commits.values())


def strip_positions_query(repo: str, branch: str, check: str) -> Select[tuple[int | None]]:
    """The positions of the check's newest STRIP commits on the branch, by its index."""
    return (
        select(BuildResult.position)
        .where(
            BuildResult.repo == repo,
            BuildResult.branch == branch,
            BuildResult.check == check,
            BuildResult.position.is_not(None),
        )
        .group_by(BuildResult.position)
        .order_by(BuildResult.position.desc())
        .limit(STRIP)
    )


def failed_environments(session: Session, links: _RepoLinks | None = None) -> list[Environment]:
    """Each environment whose last finished deployment (among the newest RECENT_DEPLOYS)
    failed, with its last successful one."""
    links = links or _RepoLinks(session)
    recent = session.scalars(
        select(Event)
        .where(Event.kind == "deployment")
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(RECENT_DEPLOYS)
    )
    last: dict[tuple[str, str], Event] = {}
    for event in recent:
        data = event.data or {}
        if data.get("state") in FINAL_STATES:
            last.setdefault((event.repo, str(data.get("environment"))), event)
    found = []
    links.prefetch_repos({repo for (repo, _), event in last.items()})
    for (repo, name), current in sorted(last.items()):
        if current.data.get("state") not in FAILED_STATES:
            continue
        good = _last_success(session, repo, name, current)
        version = _deploy_version(good, links) if good else None
        ahead = (
            _commits_between(session, repo, current.branch, good.sha, current.sha) if good else None
        )
        found.append(
            Environment(
                repo=repo,
                name=name,
                current=current,
                last_good=version,
                ahead_commits=None if ahead is None else min(ahead, AHEAD_LIMIT),
                ahead_more=ahead is not None and ahead > AHEAD_LIMIT,
                ahead_time=current.occurred_at - good.occurred_at if good else None,
            )
        )
    return found


def last_deploy_before(
    session: Session, moment: datetime, links: _RepoLinks | None = None
) -> LastDeploy | None:
    """The last successful deployment before `moment` (to production when one is among the
    newest HISTORY_DEPLOYS, else to any environment)."""
    links = links or _RepoLinks(session)
    deploys = list(
        session.scalars(
            select(Event)
            .where(Event.kind == "deployment", Event.occurred_at <= moment)
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(HISTORY_DEPLOYS)
        )
    )
    good = [e for e in deploys if (e.data or {}).get("state") == "success" and e.sha]
    production = [e for e in good if str(e.data.get("environment", "")).lower() in PRODUCTION]
    chosen = (production or good or [None])[0]
    if chosen is None:
        return None
    return LastDeploy(
        environment=str(chosen.data.get("environment")),
        version=_deploy_version(chosen, links),
        before=moment - chosen.occurred_at,
    )


def _failing(session: Session, event: Event, links: _RepoLinks) -> Failing:
    data = event.data or {}
    check = str(data.get("check", ""))
    good = data.get("good")
    last_good = _commit_version(session, event.repo, good, links) if good else None
    bad = _commit_version(session, event.repo, event.sha, links) if event.sha else None
    suspects: list[Event] = []
    total = 0
    if last_good and bad and last_good.event_id and bad.event_id:
        suspects, total = _range(session, event, last_good.event_id, bad.event_id)
    return Failing(
        broken=event,
        check=check,
        last_good=last_good,
        suspects=tuple(Suspect(e, None) for e in suspects),
        more=total - len(suspects),
        strip=strip(session, event.repo, event.branch or "", check),
    )


def _range(session: Session, event: Event, good: int, bad: int) -> tuple[list[Event], int]:
    """The first SUSPECTS_SHOWN commits of the break's range (after `good`, up to `bad`) and
    how many it holds. Walked by id, the primary key: `coalesce` keeps the planner off the
    repository and branch indexes, which would read all of a busy branch."""
    in_range = (
        Event.id > good,
        Event.id <= bad,
        func.coalesce(Event.repo, "") == event.repo,
        func.coalesce(Event.kind, "").in_(COMMIT_KINDS),
        (func.coalesce(Event.branch, "") == (event.branch or "")) | (Event.id == bad),
    )
    rows = session.execute(
        select(Event, func.count().over())  # the count is the whole range's, before LIMIT
        .where(*in_range)
        .order_by(Event.id)
        .limit(SUSPECTS_SHOWN)
    ).all()
    return [event for event, _ in rows], (rows[0][1] if rows else 0)


def _branch_last_good(
    session: Session, repo: str, branch: str, checks: Sequence[Failing], links: _RepoLinks
) -> Version | None:
    """The newest commit of the branch, no newer than any failing check's last passing one,
    whose results all passed (a flaky commit does not count as good)."""
    bounds = [c.last_good.event_id for c in checks if c.last_good and c.last_good.event_id]
    if len(bounds) < len(checks):
        return None  # a check with no passing commit before it broke: nothing was all green
    position = min(bounds) + 1
    failures = func.sum(case((BuildResult.passed, 0), else_=1))
    while True:
        page = session.execute(
            select(BuildResult.position, BuildResult.sha, failures)
            .where(
                BuildResult.repo == repo,
                BuildResult.branch == branch,
                BuildResult.position < position,
            )
            .group_by(BuildResult.position, BuildResult.sha)
            .order_by(BuildResult.position.desc())
            .limit(PAGE)
        ).all()
        passing = next((sha for _, sha, failed in page if not failed), None)
        if passing is not None:
            return _commit_version(session, repo, passing, links)
        if len(page) < PAGE:
            return None
        position = page[-1][0]


def _last_success(session: Session, repo: str, name: str, current: Event) -> Event | None:
    """The environment's newest successful deployment before `current`."""
    earlier = session.scalars(
        select(Event)
        .where(
            Event.repo == repo,
            Event.kind == "deployment",
            Event.occurred_at <= current.occurred_at,
            Event.id != current.id,
        )
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(HISTORY_DEPLOYS)
    )
    for event in earlier:
        data = event.data or {}
        if str(data.get("environment")) == name and data.get("state") == "success" and event.sha:
            return event
    return None


def _commits_between(
    session: Session, repo: str, branch: str | None, good: str | None, bad: str | None
) -> int | None:
    """How many commits the timeline holds after `good` up to `bad`, on `branch` when known
    (None: either end unknown); counted up to AHEAD_LIMIT + 1."""
    if not (good and bad):
        return None
    ends = dict(
        session.execute(
            select(Event.sha, func.min(Event.id))
            .where(Event.repo == repo, Event.kind.in_(COMMIT_KINDS), Event.sha.in_([good, bad]))
            .group_by(Event.sha)
        ).all()
    )
    if good not in ends or bad not in ends:
        return None
    if good == bad:
        return 0
    inside = (
        select(Event.id)
        .where(
            Event.repo == repo,
            Event.kind.in_(COMMIT_KINDS),
            Event.id > ends[good],
            Event.id <= ends[bad],
            *([Event.branch == branch] if branch else []),
        )
        .limit(AHEAD_LIMIT + 1)
        .subquery()
    )
    return session.scalar(select(func.count()).select_from(inside)) or 0


def _commit_version(session: Session, repo: str, sha: str, links: _RepoLinks) -> Version:
    """The commit as a version (read with the others `links` was told of, when it was)."""
    links.prefetch_commits([(repo, sha)])
    found = links.commits.get((repo, sha))
    return Version(sha, found[1] if found else None, links.commit(repo, sha), found and found[0])


def _deploy_version(event: Event, links: _RepoLinks) -> Version:
    sha = event.sha or ""
    return Version(sha, event.occurred_at, links.commit(event.repo, sha), event.id)


class _RepoLinks:
    """Links to commits on GitHub and the commits' ids and times, each read in one query
    for all the repositories and commits asked at once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._urls: dict[str, str | None] = {}
        self.commits: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._asked: set[tuple[str, str]] = set()

    def prefetch_repos(self, repos: set[str]) -> None:
        new = sorted(repos - self._urls.keys())
        if not new:
            return
        self._urls |= dict.fromkeys(new)
        rows = self._session.execute(
            select(Repo.full_name, Repo.html_url).where(Repo.full_name.in_(new))
        )
        self._urls |= {name: url for name, url in rows}

    def prefetch_commits(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Find these (repository, sha) commits by the SHA index alone (the repository's
        index would read all its events); the repository and kind sorted out here."""
        new = {pair for pair in pairs if pair not in self._asked}
        if not new:
            return
        self._asked |= new
        rows = self._session.execute(
            select(Event.id, Event.occurred_at, Event.repo, Event.sha, Event.kind).where(
                Event.sha.in_(sorted({sha for _, sha in new}))
            )
        )
        for event_id, at, repo, sha, kind in rows:
            known = self.commits.get((repo, sha))
            if (repo, sha) in new and kind in COMMIT_KINDS and (not known or event_id < known[0]):
                self.commits[(repo, sha)] = (event_id, at)

    def commit(self, repo: str, sha: str) -> str | None:
        self.prefetch_repos({repo})
        base = self._urls[repo]
        return f"{base}/commit/{sha}" if base and sha else None
