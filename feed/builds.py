"""Build health: CI results per (repository, branch, check), folded into breaks and fixes.

Results finish out of order, so each is placed by its commit's position on the timeline (the
order its commit was stored in: push order), never by when it arrived. A commit's verdict is
passing, failing, or flaky (it failed and passed on a re-run). Walking the placed commits in
order, the first failing commit after a passing one is a `build_broken` event and the first
passing one after that a `build_fixed` event; flaky commits change nothing. The events are
folded again whenever a result or a commit arrives, so a late result moves them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.orm import Session

from feed import pulls
from feed.filters import matches_any
from feed.models import BUILD_KINDS, BuildResult, Event, PullRequest, Repo
from feed.store import EventRecord, insert_for

DEFAULT_BRANCH = ":default"  # in the counted branches: each repository's default branch
DEFAULT_COUNTED = (DEFAULT_BRANCH, "release/*")
COMMIT_KINDS = ("commit", "revert")
TITLE_LIMIT = 300
MAX_SUSPECTS = 100  # listed on a break's page; the rest are counted
PAGE = 200  # commits a search for the last passing one reads at a time

Key = tuple[str, str, str]  # (repository, branch, check)


@dataclass(frozen=True)
class ResultRecord:
    """One finished CI result as a source reports it; `key` names the run and its attempt."""

    key: str
    repo: str
    branch: str
    check: str
    sha: str
    source: str
    conclusion: str
    passed: bool
    completed_at: datetime
    url: str | None = None


@dataclass
class Placed:
    """A commit of the branch with the check's results on it, in timeline order."""

    sha: str
    position: int
    actor: str | None
    results: list[BuildResult] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return verdict({result.passed for result in self.results})

    def first(self, passed: bool) -> BuildResult:
        return min((r for r in self.results if r.passed is passed), key=_arrival)


@dataclass(frozen=True)
class Health:
    """Where one check stands on one branch: its state and the commits behind it."""

    repo: str
    branch: str
    check: str
    state: str  # passing, failing or unknown
    commits: tuple[Placed, ...]


Touched = dict[Key, set[str]]  # the checks a batch changed, with the commits it changed


def store_results(session: Session, results: Sequence[ResultRecord]) -> Touched:
    """Store each result once by its key, placed on its commit when the timeline has it;
    the checks and commits that got a new result."""
    if not results:
        return {}
    positions = _positions(session, {(r.repo, r.sha) for r in results})
    table = BuildResult.__table__
    rows = [
        {
            "key": r.key,
            "repo": r.repo,
            "branch": r.branch,
            "check": r.check,
            "sha": r.sha,
            "source": r.source,
            "conclusion": r.conclusion,
            "passed": r.passed,
            "url": r.url,
            "completed_at": r.completed_at,
            "position": positions.get((r.repo, r.sha)),
        }
        for r in results
    ]
    insert = insert_for(session)(table).on_conflict_do_nothing(index_elements=["key"])
    columns = (table.c.repo, table.c.branch, table.c.check, table.c.sha)
    touched: Touched = {}
    for repo, branch, check, sha in session.execute(insert.returning(*columns), rows):
        touched.setdefault((repo, branch, check), set()).add(sha)
    return touched


def place_commits(session: Session, commits: Iterable[tuple[str, str]]) -> Touched:
    """Place the results that waited for these (repository, sha) commits, now stored; the
    checks and commits they belong to. One query per repository finds the waiting results
    (usually none: an import of history or a push rarely has any), so the cost does not grow
    by a statement per commit."""
    table = BuildResult.__table__
    columns = (table.c.id, table.c.repo, table.c.sha, table.c.branch, table.c.check)
    waiting = [
        row
        for repo, shas in _by_repo(commits).items()
        for row in session.execute(
            select(*columns).where(
                table.c.repo == repo, table.c.sha.in_(sorted(shas)), table.c.position.is_(None)
            )
        )
    ]
    if not waiting:
        return {}
    positions = _positions(session, {(row.repo, row.sha) for row in waiting})
    placed = [row for row in waiting if (row.repo, row.sha) in positions]
    if placed:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("result_id"), table.c.position.is_(None))
            .values(position=bindparam("result_position")),
            [
                {"result_id": row.id, "result_position": positions[(row.repo, row.sha)]}
                for row in placed
            ],
        )
    touched: Touched = {}
    for row in placed:
        touched.setdefault((row.repo, row.branch, row.check), set()).add(row.sha)
    return touched


def health(session: Session, key: Key, *, after: int | None = None) -> Health:
    """The check's results on the branch, placed on its commits in timeline order (from the
    commit at position `after` on, when given); results on commits the timeline does not
    hold wait for them."""
    repo, branch, check = key
    query = select(BuildResult).where(
        BuildResult.repo == repo,
        BuildResult.branch == branch,
        BuildResult.check == check,
        BuildResult.position >= (after if after is not None else 0),
    )
    commits: dict[int, Placed] = {}
    for result in session.scalars(query.order_by(BuildResult.position)):
        position = result.position or 0  # never None: the query asks for placed results
        commits.setdefault(position, Placed(result.sha, position, None)).results.append(result)
    actors = {
        event_id: actor
        for event_id, actor in session.execute(
            select(Event.id, Event.actor).where(Event.id.in_(list(commits)))
        )
    }
    placed = tuple(replace(c, actor=actors.get(c.position)) for c in commits.values())
    state = "unknown"
    for commit in placed:
        if commit.verdict != "flaky":
            state = commit.verdict
    return Health(repo, branch, check, state, placed)


def transitions(health: Health) -> list[EventRecord]:
    """The breaks and fixes of the check on the branch, as timeline events."""
    records: list[EventRecord] = []
    state, good, bad = "unknown", None, None
    for commit in health.commits:
        seen = commit.verdict
        if seen == "flaky":
            continue
        if seen == "failing" and state == "passing":
            bad = commit
            records.append(_broken(health, good, commit))
        elif seen == "passing" and state == "failing" and good is not None and bad:
            records.append(_fixed(health, good, bad, commit))
        if seen == "passing":
            good = commit
        state = seen
    return records


def refresh(
    session: Session, touched: Touched, counted: Sequence[str], now: datetime
) -> tuple[list[EventRecord], list[str]]:
    """The build events of each check on a counted branch that its results now add or
    change (stamped `now`, so they replace what is stored), and the uids of stored ones
    they no longer hold (a late result moved or undid a break).

    Only what follows the last passing commit before the first changed one is folded again:
    nothing before it can change.
    """
    records: list[EventRecord] = []
    stale: list[str] = []
    defaults: dict[str, str | None] = {}
    for key in sorted(touched):
        repo, branch, _ = key
        if repo not in defaults:
            defaults[repo] = session.scalar(
                select(Repo.default_branch).where(Repo.full_name == repo)
            )
        if not is_counted(branch, defaults[repo], counted):
            continue
        first = session.scalar(
            select(func.min(BuildResult.position)).where(
                BuildResult.repo == repo,
                BuildResult.branch == branch,
                BuildResult.check == key[2],
                BuildResult.sha.in_(sorted(touched[key])),
            )
        )
        if first is None:
            continue  # results on commits not in the timeline yet: nothing moves
        anchor = _last_passing_before(session, key, first)
        window = health(session, key, after=anchor)
        stored = _stored(session, key, [c.sha for c in window.commits if c.position != anchor])
        wanted = transitions(window)
        for record in wanted:
            known = stored.get(record.uid)
            if known is None or (known.sha, known.data) != (record.sha, record.data):
                records.append(replace(record, updated_at=now))
        uids = {record.uid for record in wanted}
        stale += [uid for uid in stored if uid not in uids]
    return records, stale


def _last_passing_before(session: Session, key: Key, position: int) -> int | None:
    """The position of the newest commit before `position` whose results on the check all
    passed (a flaky one is passed over), or None when there is none."""
    repo, branch, check = key
    failures = func.sum(case((BuildResult.passed, 0), else_=1))
    while True:
        page = session.execute(
            select(BuildResult.position, failures)
            .where(
                BuildResult.repo == repo,
                BuildResult.branch == branch,
                BuildResult.check == check,
                BuildResult.position < position,
            )
            .group_by(BuildResult.position)
            .order_by(BuildResult.position.desc())
            .limit(PAGE)
        ).all()
        passing = next((found for found, failed in page if not failed), None)
        if passing is not None or len(page) < PAGE:
            return passing
        position = page[-1][0]


def is_counted(branch: str, default_branch: str | None, counted: Sequence[str]) -> bool:
    """Whether a break on `branch` is news: it matches one of the counted branch globs, or
    `:default` names it as the repository's default branch."""
    globs = [glob for glob in counted if glob != DEFAULT_BRANCH]
    return matches_any(globs, branch) or (DEFAULT_BRANCH in counted and branch == default_branch)


def _stored(session: Session, key: Key, shas: Sequence[str]) -> dict[str, Event]:
    """The check's stored build events on the branch about these commits (a break names its
    first failing commit, a fix its fixing one)."""
    repo, branch, _ = key
    check_id = _check_id(key)
    # By SHA alone, which the index finds at once; the rest is sorted out here.
    events = session.scalars(select(Event).where(Event.sha.in_(shas)))
    return {
        event.uid: event
        for event in events
        if event.kind in BUILD_KINDS
        and (event.repo, event.branch) == (repo, branch)
        and event.uid.split(":")[-2] == check_id
    }


def _positions(session: Session, commits: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Each (repository, sha) commit's position on the timeline: its event's id."""
    found: dict[tuple[str, str], int] = {}
    for repo, shas in _by_repo(commits).items():
        rows = session.execute(
            select(Event.sha, Event.id).where(
                Event.repo == repo, Event.kind.in_(COMMIT_KINDS), Event.sha.in_(sorted(shas))
            )
        )
        for sha, event_id in rows:
            found[(repo, sha)] = min(event_id, found.get((repo, sha), event_id))
    return found


def _by_repo(commits: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """(repository, sha) commits grouped by repository."""
    by_repo: dict[str, set[str]] = {}
    for repo, sha in commits:
        by_repo.setdefault(repo, set()).add(sha)
    return by_repo


def _broken(health: Health, good: Placed | None, bad: Placed) -> EventRecord:
    failure = bad.first(passed=False)
    data = {"conclusion": failure.conclusion, "good": good.sha if good else None, "bad": bad.sha}
    return _change(health, "build_broken", good.sha if good else "start", bad, failure, data)


def _fixed(health: Health, good: Placed, bad: Placed, fix: Placed) -> EventRecord:
    success = fix.first(passed=True)
    broken_at = bad.first(passed=False).completed_at
    data = {
        "good": good.sha,
        "bad": bad.sha,
        "fix": fix.sha,
        "broken_at": broken_at.isoformat(),
        "red_seconds": max(0, int((success.completed_at - broken_at).total_seconds())),
    }
    return _change(health, "build_fixed", good.sha, fix, success, data)


def _change(
    health: Health,
    kind: str,
    good: str,
    commit: Placed,
    result: BuildResult,
    data: dict[str, Any],
) -> EventRecord:
    """The build_broken or build_fixed record of `commit`, whose `result` changed the check's
    state on the branch; `good` names the break (see `_uid`)."""
    verb = "broke" if kind == "build_broken" else "fixed"
    return EventRecord(
        uid=_uid(kind, (health.repo, health.branch, health.check), good),
        kind=kind,
        repo=health.repo,
        branch=health.branch,
        sha=commit.sha,
        actor=commit.actor,
        title=f"{health.check} {verb} on {health.branch}"[:TITLE_LIMIT],
        url=result.url,
        occurred_at=result.completed_at,
        updated_at=result.completed_at,
        data={"check": health.check, "source": result.source, **data},
    )


def _uid(kind: str, key: Key, good: str) -> str:
    """One break (or its fix) of a check on a branch, named by the last passing commit before
    it: a late result that moves the first failing commit keeps the same event."""
    return f"{kind}:{key[0]}:{_check_id(key)}:{good}"


def _check_id(key: Key) -> str:
    """A short fixed name for (branch, check), which may hold any character (`:` too)."""
    _, branch, check = key
    return hashlib.sha256(f"{branch}\x00{check}".encode()).hexdigest()[:20]


def verdict(outcomes: set[bool]) -> str:
    """A commit's verdict from whether its results passed: flaky when some did and some
    did not (a failure passed on a re-run)."""
    if outcomes == {True, False}:
        return "flaky"
    return "passing" if True in outcomes else "failing"


def _arrival(result: BuildResult) -> tuple[datetime, int]:
    return (result.completed_at, result.id or 0)


@dataclass(frozen=True)
class Suspect:
    """A commit in a break's range, with the check's verdict on it (None: no result)."""

    event: Event
    verdict: str | None


@dataclass(frozen=True)
class Story:
    """What a build event's page tells: the check, the range from the last passing commit to
    the first failing one, its commits (the suspects), and how to bisect or revert it."""

    check: str
    good: str
    bad: str
    suspects: tuple[Suspect, ...]
    more: int  # suspects past MAX_SUSPECTS, not listed
    compare_url: str | None
    # A break's later commits on the branch while the check stayed red (up to its fix).
    while_red: tuple[Suspect, ...] = ()
    # The merged pull request that brought each suspect, by event id (feed/pulls.py).
    via: Mapping[int, PullRequest] = field(default_factory=dict)

    @property
    def bisect(self) -> str:
        return f"git bisect start {self.bad} {self.good}"

    @property
    def revert(self) -> str:
        return f"git revert --no-edit {self.good}..{self.bad}"


def story(session: Session, event: Event) -> Story | None:
    """The range behind a build event, from the timeline: the commits of its branch after
    the last passing commit up to the first failing one, oldest first."""
    data = event.data or {}
    good, bad, check = data.get("good"), data.get("bad"), data.get("check")
    if event.kind not in BUILD_KINDS or not (good and bad and check and event.branch):
        return None
    ends = dict(
        session.execute(
            select(Event.sha, Event.id).where(
                Event.repo == event.repo, Event.kind.in_(COMMIT_KINDS), Event.sha.in_([good, bad])
            )
        ).all()
    )
    suspects: list[Event] = []
    more = 0
    if good in ends and bad in ends:
        in_range = (
            Event.repo == event.repo,
            Event.kind.in_(COMMIT_KINDS),
            Event.id > ends[good],
            Event.id <= ends[bad],
            (Event.branch == event.branch) | (Event.id == ends[bad]),
        )
        suspects = list(
            session.scalars(select(Event).where(*in_range).order_by(Event.id).limit(MAX_SUSPECTS))
        )
        total = session.scalar(select(func.count()).select_from(Event).where(*in_range)) or 0
        more = max(0, total - len(suspects))
    placed = health(session, (event.repo, event.branch, check), after=ends.get(good))
    verdicts = {commit.sha: commit.verdict for commit in placed.commits}
    later: list[Event] = []
    if event.kind == "build_broken" and bad in ends:
        fixed = event.uid.replace("build_broken:", "build_fixed:", 1)
        fix = session.scalar(select(Event.sha).where(Event.uid == fixed))
        fix_at = _positions(session, {(event.repo, fix)}).get((event.repo, fix)) if fix else None
        later = list(
            session.scalars(
                select(Event)
                .where(
                    Event.repo == event.repo,
                    Event.kind.in_(COMMIT_KINDS),
                    Event.branch == event.branch,
                    Event.id > ends[bad],
                    *([Event.id < fix_at] if fix_at is not None else []),
                )
                .order_by(Event.id)
                .limit(MAX_SUSPECTS)
            )
        )
    repo_url = session.scalar(select(Repo.html_url).where(Repo.full_name == event.repo))
    return Story(
        check=check,
        good=good,
        bad=bad,
        suspects=tuple(Suspect(e, verdicts.get(e.sha or "")) for e in suspects),
        more=more,
        compare_url=f"{repo_url}/compare/{good}...{bad}" if repo_url else None,
        while_red=tuple(Suspect(e, verdicts.get(e.sha or "")) for e in later),
        via=pulls.via(session, suspects + later),
    )
