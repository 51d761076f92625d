"""What is broken now: failing checks, failed deployments, open incidents, and the last good
version of each branch and environment, read with bounded, indexed queries.

A check is failing while its newest `build_broken` event has no `build_fixed` (the fix of a
break shares its uid after the kind), so the page reads the breaks, never the results table
whole. Environments are read from the newest deployments (`RECENT_DEPLOYS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    FromClause,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    case,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.orm import Session, aliased

from feed.builds import COMMIT_KINDS, PAGE, Suspect, verdict
from feed.lookup import Lookup, Values, read
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
# What a deployment is read with when only its state, environment and version are needed.
DEPLOY_COLUMNS = (Event.id, Event.repo, Event.branch, Event.sha, Event.occurred_at, Event.data)
# A deployment's environment and state, read by the database from its document.
DEPLOY_ENVIRONMENT = Event.data["environment"].as_string()
DEPLOY_STATE = Event.data["state"].as_string()


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
    strip: tuple[Mark, ...]  # the check's recent commits on the branch, oldest first

    @property
    def revert(self) -> str | None:
        good = self.last_good.sha if self.last_good else None
        return f"git revert --no-edit {good}..{self.broken.sha}" if good else None


@dataclass(frozen=True)
class Mark:
    """A commit in a check's strip: its verdict (`feed.builds.verdict`)."""

    sha: str
    verdict: str


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
    failing = _failings(session, breaks, links)
    grouped: dict[tuple[str, str], list[Failing]] = {}
    for item in failing:
        grouped.setdefault((item.broken.repo, item.broken.branch or ""), []).append(item)
    good = _branches_last_good(session, grouped, links)
    branches = tuple(
        BrokenBranch(repo, branch, good.get((repo, branch)), tuple(checks))
        for (repo, branch), checks in sorted(grouped.items())
    )
    incidents = list(
        session.scalars(
            select(Incident)
            .where(Incident.active, Incident.status != "resolved", Incident.opened_at <= now)
            .order_by(Incident.opened_at.desc())
            .limit(100)
        )
    )
    deploys = last_deploys_before(session, [(i.opened_at, i.repo) for i in incidents], links)
    return Report(
        branches=branches,
        environments=tuple(failed_environments(session, links)),
        incidents=tuple(OpenIncident(i, deploys[(i.opened_at, i.repo)]) for i in incidents),
    )


def open_breaks(session: Session) -> list[Event]:
    """Every `build_broken` event not yet followed by its `build_fixed`, oldest first."""
    return list(session.scalars(open_breaks_query()))


@lru_cache(maxsize=1)  # the same statement every time: made once
def open_breaks_query() -> Select[tuple[Event]]:
    """The breaks with no fix. Which ones is answered by the two partial indexes of the
    breaks' and the fixes' uids (a fix's uid is its break's after the kind), hashed:
    only the open breaks are read whole."""
    broken, fixed = aliased(Event), aliased(Event)
    fix_uid = literal("build_fixed:") + func.substr(broken.uid, len(BROKEN_PREFIX) + 1)
    # The kinds as literals: a partial index serves only a query that names its condition.
    fixes = select(fixed.uid).where(fixed.kind == literal_column("'build_fixed'"))
    still_open = select(broken.id).where(
        broken.kind == literal_column("'build_broken'"), fix_uid.not_in(fixes)
    )
    return select(Event).where(Event.id.in_(still_open)).order_by(Event.occurred_at, Event.id)


def strips(
    session: Session, checks: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], tuple[Mark, ...]]:
    """Each (repository, branch, check)'s newest STRIP commits with their results, oldest
    first; every check's results found by its own indexed search, all in one statement."""
    found: dict[tuple[str, str, str], dict[int, tuple[str, set[bool]]]] = {
        key: {} for key in checks
    }
    items = [
        {"repo": repo, "branch": branch, "check": check}
        for repo, branch, check in dict.fromkeys(checks)
    ]
    for rows in read(session, STRIPS, items):
        for repo, branch, check, position, sha, passed in rows:
            commits = found[(repo, branch or "", check)]
            commits.setdefault(position or 0, (sha, set()))[1].add(passed)
    return {
        key: tuple(Mark(sha, verdict(outcomes)) for sha, outcomes in commits.values())
        for key, commits in found.items()
    }


def _strip_part(values: Values) -> Select:
    """A check's results on its newest STRIP commits."""
    repo, branch, check = values["repo"], values["branch"], values["check"]
    newest = values.inner(strip_positions_query(repo, branch, check)).subquery()
    columns = (BuildResult.repo, BuildResult.branch, BuildResult.check, BuildResult.position)
    return select(*columns, BuildResult.sha, BuildResult.passed, BuildResult.id).where(
        BuildResult.repo == repo,
        BuildResult.branch == branch,
        BuildResult.check == check,
        BuildResult.position >= select(func.min(newest.c.position)).scalar_subquery(),
    )


def _strip_rows(found: FromClause) -> Select:
    """The strips' rows, oldest first: repository, branch, check, position, sha, passed."""
    columns = ("repo", "branch", "check", "position", "sha", "passed")
    return select(*(found.c[name] for name in columns)).order_by(found.c.position, found.c.id)


STRIPS = Lookup(
    (
        ("repo", BuildResult.repo.type),
        ("branch", BuildResult.branch.type),
        ("check", BuildResult.check.type),
    ),
    _strip_part,
    _strip_rows,
)


def strip_positions_query(repo: Any, branch: Any, check: Any) -> Select[tuple[int | None]]:
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
    events = _events_by_id(session, set(session.scalars(_failed_deploys_query())))
    failed = sorted(
        ((e.repo, _environment(e), e) for e in events.values()),
        key=lambda found: found[:2],
    )
    links.prefetch_repos({repo for repo, _, _ in failed})
    successes = _last_successes(session, [current for _, _, current in failed])
    ahead = _commits_between(
        session,
        links,
        [(current, successes.get(current.id)) for _, _, current in failed],
    )
    found = []
    for repo, name, current in failed:
        good = successes.get(current.id)
        count = ahead.get(current.id)
        found.append(
            Environment(
                repo=repo,
                name=name,
                current=current,
                last_good=_deploy_version(good, links) if good else None,
                ahead_commits=None if count is None else min(count, AHEAD_LIMIT),
                ahead_more=count is not None and count > AHEAD_LIMIT,
                ahead_time=current.occurred_at - good.occurred_at if good else None,
            )
        )
    return found


@lru_cache(maxsize=1)  # the same statement every time: made once
def _failed_deploys_query() -> Select[tuple[int]]:
    """The ids of the deployments that are their environment's last finished one among the
    newest RECENT_DEPLOYS, and failed: sorted out in the database, which reads the two
    fields of each document where Python would decode them all."""
    recent = (
        select(
            Event.id,
            Event.repo,
            Event.occurred_at,
            DEPLOY_ENVIRONMENT.label("env"),
            DEPLOY_STATE.label("state"),
        )
        .where(Event.kind == "deployment")
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(RECENT_DEPLOYS)
        .subquery()
    )
    newest = func.row_number().over(
        partition_by=(recent.c.repo, recent.c.env),
        order_by=(recent.c.occurred_at.desc(), recent.c.id.desc()),
    )
    finished = (
        select(recent.c.id, recent.c.state, newest.label("newest"))
        .where(recent.c.state.in_(FINAL_STATES))
        .subquery()
    )
    return select(finished.c.id).where(finished.c.newest == 1, finished.c.state.in_(FAILED_STATES))


def last_deploy_before(
    session: Session, moment: datetime, repo: str | None = None, links: _RepoLinks | None = None
) -> LastDeploy | None:
    """The last successful deployment before `moment` (to production when one is among the
    newest HISTORY_DEPLOYS, else to any environment): of `repo` when it deployed before then
    (an incident filed in the service's own repository), else of any repository."""
    return last_deploys_before(session, [(moment, repo)], links)[(moment, repo)]


def last_deploys_before(
    session: Session,
    wanted: Sequence[tuple[datetime, str | None]],
    links: _RepoLinks | None = None,
) -> dict[tuple[datetime, str | None], LastDeploy | None]:
    """`last_deploy_before` for each (moment, repository) of `wanted`, read in two
    statements: every repository's deployments before each moment, and each repository's."""
    links = links or _RepoLinks(session)
    wanted = sorted(set(wanted), key=lambda item: (item[0], item[1] or ""))
    anywhere = _deploys_in(session, DEPLOYS_BEFORE, [{"at": m} for m in {m for m, _ in wanted}])
    anywhere.sort(key=_timeline, reverse=True)
    own = _deploys_in(session, REPO_DEPLOYS_BEFORE, [{"at": m, "repo": r} for m, r in wanted if r])
    own.sort(key=_timeline, reverse=True)
    found: dict[tuple[datetime, str | None], LastDeploy | None] = {}
    for moment, repo in wanted:
        theirs = [e for e in own if e.repo == repo and e.occurred_at <= moment]
        chosen = _last_good(theirs or anywhere, moment)
        found[(moment, repo)] = chosen and LastDeploy(
            environment=str(chosen.data.get("environment")),
            version=_deploy_version(chosen, links),
            before=moment - chosen.occurred_at,
        )
    return found


def _last_good(deploys: Sequence[Row], moment: datetime) -> Row | None:
    """Of `deploys` (newest first), the last success before `moment` among the newest
    HISTORY_DEPLOYS before it: to production if there is one, else to any environment."""
    before = [e for e in deploys if e.occurred_at <= moment][:HISTORY_DEPLOYS]
    good = [e for e in before if (e.data or {}).get("state") == "success" and e.sha]
    production = [e for e in good if str(e.data.get("environment", "")).lower() in PRODUCTION]
    return (production or good or [None])[0]


def _deploys_before_part(values: Values) -> Select:
    return (
        select(Event.id)
        .where(Event.kind == "deployment", Event.occurred_at <= values["at"])
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(HISTORY_DEPLOYS)
    )


def _deploys_of(found: FromClause) -> Select:
    """DEPLOY_COLUMNS of the events whose ids the parts found (whole events would cost
    more to build than to read)."""
    return select(*DEPLOY_COLUMNS).where(Event.id.in_(select(found.c.id)))


DEPLOYS_BEFORE = Lookup((("at", Event.occurred_at.type),), _deploys_before_part, _deploys_of)


def _repo_deploys_before_part(values: Values) -> Select:
    return _deploys_before_part(values).where(Event.repo == values["repo"])


REPO_DEPLOYS_BEFORE = Lookup(
    (("at", Event.occurred_at.type), ("repo", Event.repo.type)),
    _repo_deploys_before_part,
    _deploys_of,
)


def _deploys_in(session: Session, lookup: Lookup, items: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The deployments `lookup` finds for `items`, each once."""
    found: dict[int, Row] = {}
    for rows in read(session, lookup, items):
        found |= {row.id: row for row in rows}
    return list(found.values())


def _failings(session: Session, breaks: Sequence[Event], links: _RepoLinks) -> list[Failing]:
    """Each break as a failing check: its last good commit, suspects and strip, each kind
    read for all the breaks at once."""
    ends = []
    for event in breaks:
        good = (event.data or {}).get("good")
        last_good = _commit_version(event.repo, good, links) if good else None
        bad = _commit_version(event.repo, event.sha, links) if event.sha else None
        ends.append((last_good, bad))
    ranges = _ranges(session, breaks, ends)
    checks = [(e.repo, e.branch or "", str((e.data or {}).get("check", ""))) for e in breaks]
    strip_of = strips(session, checks)
    failing = []
    for index, (event, (last_good, _), key) in enumerate(zip(breaks, ends, checks, strict=True)):
        suspects, total = ranges.get(index, ([], 0))
        failing.append(
            Failing(
                broken=event,
                check=key[2],
                last_good=last_good,
                suspects=tuple(Suspect(e, None) for e in suspects),
                more=total - len(suspects),
                strip=strip_of[key],
            )
        )
    return failing


def _ranges(
    session: Session, breaks: Sequence[Event], ends: Sequence[tuple[Version | None, Version | None]]
) -> dict[int, tuple[list[Event], int]]:
    """For each break (by its index) with both ends stored, the first SUSPECTS_SHOWN commits
    of its range (after the last good commit, up to the first failing one) and how many it
    holds. Walked by id, the primary key: `coalesce` keeps the planner off the repository
    and branch indexes, which would read all of a busy branch."""
    items = [
        {
            "item": index,
            "good": good.event_id,
            "bad": bad.event_id,
            "repo": event.repo,
            "branch": event.branch or "",
        }
        for index, (event, (good, bad)) in enumerate(zip(breaks, ends, strict=True))
        if good and bad and good.event_id and bad.event_id
    ]
    rows = [row for result in read(session, RANGES, items) for row in result]
    events = _events_by_id(session, {event_id for _, event_id, _ in rows})
    found: dict[int, tuple[list[Event], int]] = {}
    for index, event_id, total in sorted(rows, key=lambda row: (row[0], row[1])):
        found.setdefault(index, ([], total))[0].append(events[event_id])
    return found


def _range_part(values: Values) -> Select:
    bad = values["bad"]
    return (
        select(values["item"].label("item"), Event.id, func.count().over().label("total"))
        .where(
            Event.id > values["good"],
            Event.id <= bad,
            func.coalesce(Event.repo, "") == values["repo"],
            func.coalesce(Event.kind, "").in_(COMMIT_KINDS),
            (func.coalesce(Event.branch, "") == values["branch"]) | (Event.id == bad),
        )
        .order_by(Event.id)
        .limit(SUSPECTS_SHOWN)
    )


RANGES = Lookup(
    (
        ("item", Integer()),
        ("good", Event.id.type),
        ("bad", Event.id.type),
        ("repo", Event.repo.type),
        ("branch", Event.branch.type),
    ),
    _range_part,
)


def _events_by_id(session: Session, ids: set[int]) -> dict[int, Event]:
    if not ids:
        return {}
    return {e.id: e for e in session.scalars(_events_by_id_query(), {"ids": sorted(ids)})}


@lru_cache(maxsize=1)
def _events_by_id_query() -> Select[tuple[Event]]:
    return select(Event).where(Event.id.in_(bindparam("ids", expanding=True)))


def _branches_last_good(
    session: Session, grouped: Mapping[tuple[str, str], Sequence[Failing]], links: _RepoLinks
) -> dict[tuple[str, str], Version]:
    """For each branch, the newest commit no newer than any failing check's last passing
    one whose results all passed (a flaky commit does not count as good). The first PAGE
    of every branch is read in one statement; a branch red for longer pages on alone."""
    position: dict[tuple[str, str], int] = {}
    for key, checks in grouped.items():
        bounds = [c.last_good.event_id for c in checks if c.last_good and c.last_good.event_id]
        if len(bounds) == len(checks):  # else a check never passed before it broke
            position[key] = min(bounds) + 1
    passing: dict[tuple[str, str], str] = {}
    while position:
        keys = sorted(position)
        items = [
            {"item": index, "repo": repo, "branch": branch, "below": position[key]}
            for index, key in enumerate(keys)
            for repo, branch in [key]
        ]
        pages: dict[int, list[Row]] = {index: [] for index in range(len(keys))}
        for result in read(session, BRANCH_PAGES, items):
            for row in result:
                pages[row[0]].append(row)
        for index, key in enumerate(keys):
            page = sorted(pages[index], key=lambda row: -row[1])
            sha = next((row[2] for row in page if not row[3]), None)
            if sha is not None:
                passing[key] = sha
            if sha is not None or len(page) < PAGE:
                del position[key]
            else:
                position[key] = page[-1][1]
    links.prefetch_commits([(repo, sha) for (repo, _), sha in passing.items()])
    return {key: _commit_version(key[0], sha, links) for key, sha in passing.items()}


def _branch_page_part(values: Values) -> Select:
    """A page of the branch's commits below a position, each with its failed results."""
    failures = func.sum(case((BuildResult.passed, 0), else_=1))
    return (
        select(values["item"].label("item"), BuildResult.position, BuildResult.sha, failures)
        .where(
            BuildResult.repo == values["repo"],
            BuildResult.branch == values["branch"],
            BuildResult.position < values["below"],
        )
        .group_by(BuildResult.position, BuildResult.sha)
        .order_by(BuildResult.position.desc())
        .limit(PAGE)
    )


BRANCH_PAGES = Lookup(
    (
        ("item", Integer()),
        ("repo", BuildResult.repo.type),
        ("branch", BuildResult.branch.type),
        ("below", BuildResult.position.type),
    ),
    _branch_page_part,
)


def _last_successes(session: Session, failed: Sequence[Event]) -> dict[int, Row]:
    """Each failed deployment's environment's newest successful deployment before it (among
    its repository's HISTORY_DEPLOYS before it), by the failed one's id."""
    items = [
        {
            "item": current.id,
            "repo": current.repo,
            "at": current.occurred_at,
            "environment": _environment(current),
        }
        for current in failed
    ]
    return {row.item: row for result in read(session, SUCCESSES, items) for row in result}


def _success_part(values: Values) -> Select:
    """The item's success, picked in the database from the repository's deployments before
    it (their environment and state read there: decoding each document cost more)."""
    earlier = values.inner(
        select(
            Event.id,
            Event.occurred_at,
            Event.sha,
            DEPLOY_ENVIRONMENT.label("environment"),
            DEPLOY_STATE.label("state"),
        )
        .where(
            Event.repo == values["repo"],
            Event.kind == "deployment",
            Event.occurred_at <= values["at"],
            Event.id != values["item"],
        )
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(HISTORY_DEPLOYS)
    ).subquery()
    return (
        select(values["item"].label("item"), earlier.c.id)
        .where(
            earlier.c.environment == values["environment"],
            earlier.c.state == "success",
            earlier.c.sha.is_not(None),
            earlier.c.sha != "",
        )
        .order_by(earlier.c.occurred_at.desc(), earlier.c.id.desc())
        .limit(1)
    )


def _success_rows(found: FromClause) -> Select:
    return (
        select(found.c.item, *DEPLOY_COLUMNS).select_from(Event).join(found, found.c.id == Event.id)
    )


SUCCESSES = Lookup(
    (
        ("item", Event.id.type),  # the failed deployment's id
        ("repo", Event.repo.type),
        ("at", Event.occurred_at.type),
        ("environment", String()),
    ),
    _success_part,
    _success_rows,
)


def _environment(deployment: Event) -> str:
    """The deployment's environment as the page names it ("None" when it has none)."""
    return str((deployment.data or {}).get("environment"))


def _timeline(event: Row) -> tuple[datetime, int]:
    return event.occurred_at, event.id


def _commits_between(
    session: Session, links: _RepoLinks, pairs: Sequence[tuple[Event, Row | None]]
) -> dict[int, int]:
    """For each (failed, last good) deployment pair, how many commits the timeline holds
    after the good one's commit up to the failed one's, on its branch when known; counted
    up to AHEAD_LIMIT + 1, by the failed one's id (left out: either end unknown)."""
    known = [(bad, good) for bad, good in pairs if good and good.sha and bad.sha]
    links.prefetch_commits([(e.repo, e.sha) for pair in known for e in pair])
    found: dict[int, int] = {}
    items: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for bad, good in known:
        ends = links.commits.get((bad.repo, good.sha)), links.commits.get((bad.repo, bad.sha))
        if not (ends[0] and ends[1]):
            continue
        if good.sha == bad.sha:
            found[bad.id] = 0
            continue
        values = {"item": bad.id, "repo": bad.repo, "low": ends[0][0], "high": ends[1][0]}
        items[bool(bad.branch)].append(values | ({"branch": bad.branch} if bad.branch else {}))
    for on_branch, lookup in ((False, AHEAD), (True, AHEAD_ON_BRANCH)):
        for result in read(session, lookup, items[on_branch]):
            found |= {item: count for item, count in result}
    for bad, good in known:
        ends = links.commits.get((bad.repo, good.sha)), links.commits.get((bad.repo, bad.sha))
        if ends[0] and ends[1]:
            found.setdefault(bad.id, 0)
    return found


def _ahead_part(values: Values) -> Select:
    """The commits after `low` up to `high` (on the item's branch when it names one), to
    AHEAD_LIMIT + 1."""
    on_branch = [Event.branch == values["branch"]] if "branch" in values.columns else []
    return (
        select(values["item"].label("item"), Event.id)
        .where(
            Event.repo == values["repo"],
            Event.kind.in_(COMMIT_KINDS),
            Event.id > values["low"],
            Event.id <= values["high"],
            *on_branch,
        )
        .limit(AHEAD_LIMIT + 1)
    )


def _counted(found: FromClause) -> Select:
    return select(found.c.item, func.count()).group_by(found.c.item)


_AHEAD_VALUES = (
    ("item", Event.id.type),  # the failed deployment's id
    ("repo", Event.repo.type),
    ("low", Event.id.type),
    ("high", Event.id.type),
)
AHEAD = Lookup(_AHEAD_VALUES, _ahead_part, _counted)
AHEAD_ON_BRANCH = Lookup((*_AHEAD_VALUES, ("branch", Event.branch.type)), _ahead_part, _counted)


def _commit_version(repo: str, sha: str, links: _RepoLinks) -> Version:
    """The commit as a version (read with the others `links` was told of, when it was)."""
    links.prefetch_commits([(repo, sha)])
    found = links.commits.get((repo, sha))
    return Version(sha, found[1] if found else None, links.commit(repo, sha), found and found[0])


def _deploy_version(event: Event | Row, links: _RepoLinks) -> Version:
    sha = event.sha or ""
    return Version(sha, event.occurred_at, links.commit(event.repo, sha), event.id)


@lru_cache(maxsize=1)
def _repo_urls_query() -> Select[tuple[str, str | None]]:
    return select(Repo.full_name, Repo.html_url).where(
        Repo.full_name.in_(bindparam("names", expanding=True))
    )


@lru_cache(maxsize=1)
def _commits_query() -> Select[tuple[int, datetime, str, str | None, str]]:
    return select(Event.id, Event.occurred_at, Event.repo, Event.sha, Event.kind).where(
        Event.sha.in_(bindparam("shas", expanding=True))
    )


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
        rows = self._session.execute(_repo_urls_query(), {"names": new})
        self._urls |= {name: url for name, url in rows}

    def prefetch_commits(self, pairs: Sequence[tuple[str, str]]) -> None:
        """Find these (repository, sha) commits by the SHA index alone (the repository's
        index would read all its events); the repository and kind sorted out here."""
        new = {pair for pair in pairs if pair not in self._asked}
        if not new:
            return
        self._asked |= new
        rows = self._session.execute(_commits_query(), {"shas": sorted({sha for _, sha in new})})
        for event_id, at, repo, sha, kind in rows:
            known = self.commits.get((repo, sha))
            if (repo, sha) in new and kind in COMMIT_KINDS and (not known or event_id < known[0]):
                self.commits[(repo, sha)] = (event_id, at)

    def commit(self, repo: str, sha: str) -> str | None:
        self.prefetch_repos({repo})
        base = self._urls[repo]
        return f"{base}/commit/{sha}" if base and sha else None
