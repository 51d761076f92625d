"""CI results from GitHub deliveries: workflow runs, check suites, check runs and statuses.

Each finished result becomes a ResultRecord for (repository, branch, check): the check is
the workflow's name, the app's name (a suite) or app and check name (a run), or the status
context. What has no verdict yet (queued, in progress, pending) or none at all (cancelled,
skipped, neutral, a conclusion GitHub may add later) is ignored on purpose, as are results
without a branch and results of forks' branches.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from feed.builds import ResultRecord
from integrations.github.payload import (
    MAX_BRANCH,
    SHA,
    PayloadError,
    optional,
    repo_name,
    required,
    stamp,
    timestamp,
)
from integrations.github.routing import Context, Routed, Router

MAX_CHECK = 255
MAX_STATUS_BRANCHES = 10  # GitHub lists at most this many branches holding a status's commit
PASSED = {"success"}
FAILED = {"failure", "timed_out", "startup_failure", "error"}
# GitHub's own app reports each workflow as a check suite too; its workflow_run says more.
ACTIONS_APP = "github-actions"

router = Router()


@router.register("workflow_run", "completed")
def workflow_run(payload: dict[str, Any], context: Context) -> Routed:
    repo = repo_name(payload)
    run = required(payload, "workflow_run", dict)
    if _from_fork(repo, optional(run, "head_repository.full_name", str)):
        return Routed(ignored="workflow runs of a fork's branch are not recorded")
    branch = _branch(optional(run, "head_branch", str), "workflow_run.head_branch")
    if branch is None:
        return Routed(ignored="a workflow run without a head branch is not recorded")
    name = (
        optional(run, "name", str)
        or optional(payload, "workflow.name", str)
        or optional(run, "path", str)
        or ""
    )
    attempt = optional(run, "run_attempt", int) or 1
    return _result(
        repo,
        branch,
        check=_check(name, "workflow_run.name"),
        sha=_sha(required(run, "head_sha", str), "workflow_run.head_sha"),
        source="workflow_run",
        run=f"{required(run, 'id', int)}/{attempt}",
        conclusion=optional(run, "conclusion", str),
        completed_at=timestamp(run, "updated_at"),
        url=optional(run, "html_url", str),
    )


@router.register("check_suite", "completed")
def check_suite(payload: dict[str, Any], context: Context) -> Routed:
    repo = repo_name(payload)
    suite = required(payload, "check_suite", dict)
    branch = _suite_branch(repo, suite, "check_suite", "")
    if isinstance(branch, Routed):
        return branch
    completed_at = timestamp(suite, "updated_at")
    return _result(
        repo,
        branch,
        check=_check(required(suite, "app.name", str), "check_suite.app.name"),
        sha=_sha(required(suite, "head_sha", str), "check_suite.head_sha"),
        source="check_suite",
        run=f"{required(suite, 'id', int)}/{_stamp(completed_at)}",
        conclusion=optional(suite, "conclusion", str),
        completed_at=completed_at,
        url=None,
    )


@router.register("check_run", "completed")
def check_run(payload: dict[str, Any], context: Context) -> Routed:
    repo = repo_name(payload)
    run = required(payload, "check_run", dict)
    branch = _suite_branch(repo, run, "check_run", "check_suite.")
    if isinstance(branch, Routed):
        return branch
    app = required(run, "app.name", str)
    completed_at = timestamp(run, "completed_at")
    return _result(
        repo,
        branch,
        check=_check(f"{app} / {required(run, 'name', str)}", "check_run.name"),
        sha=_sha(required(run, "head_sha", str), "check_run.head_sha"),
        source="check_run",
        run=f"{required(run, 'id', int)}/{_stamp(completed_at)}",
        conclusion=optional(run, "conclusion", str),
        completed_at=completed_at,
        url=optional(run, "html_url", str),
    )


@router.register("status")
def status(payload: dict[str, Any], context: Context) -> Routed:
    repo = repo_name(payload)
    state = required(payload, "state", str)
    sha = _sha(required(payload, "sha", str), "sha")
    check = _check(required(payload, "context", str), "context")
    branches = optional(payload, "branches", list) or []
    names = []
    for index, entry in enumerate(branches[:MAX_STATUS_BRANCHES]):
        name = _branch(optional(entry, "name", str), f"branches[{index}].name")
        if name:
            names.append(name)
    if not names:
        return Routed(ignored="a status on a commit no branch holds is not recorded")
    completed_at = timestamp(payload, "updated_at") or timestamp(payload, "created_at")
    status_id = required(payload, "id", int)
    results: list[ResultRecord] = []
    ignored = None
    for branch in dict.fromkeys(names):
        routed = _result(
            repo,
            branch,
            check=check,
            sha=sha,
            source="status",
            run=str(status_id),
            conclusion=state,
            completed_at=completed_at,
            url=optional(payload, "target_url", str),
        )
        results += routed.results
        ignored = routed.ignored
    return Routed(results=results, ignored=ignored if not results else None)


def _result(
    repo: str,
    branch: str,
    *,
    check: str,
    sha: str,
    source: str,
    run: str,
    conclusion: str | None,
    completed_at: datetime | None,
    url: str | None,
) -> Routed:
    if conclusion in PASSED or conclusion in FAILED:
        return Routed(
            results=[
                ResultRecord(
                    key=f"{source}:{repo}:{run}:{branch}",
                    repo=repo,
                    branch=branch,
                    check=check,
                    sha=sha,
                    source=source,
                    conclusion=conclusion,
                    passed=conclusion in PASSED,
                    completed_at=completed_at or datetime.now(UTC),
                    url=url if url and url.startswith("https://") else None,
                )
            ]
        )
    shown = (conclusion or "none")[:32].replace("\x00", "")
    return Routed(ignored=f"{source} with conclusion {shown!r} says neither passed nor failed")


def _check(name: str, field: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_CHECK or "\x00" in name:
        raise PayloadError(f"payload: {field} must be 1 to {MAX_CHECK} characters without NUL")
    return name


def _branch(name: str | None, field: str) -> str | None:
    if name is None or name == "":
        return None
    if len(name) > MAX_BRANCH or "\x00" in name:
        raise PayloadError(f"payload: {field} must be 1 to {MAX_BRANCH} characters without NUL")
    return name


def _sha(value: str, field: str) -> str:
    if not SHA.fullmatch(value):
        raise PayloadError(f"payload: {field} is not a hexadecimal SHA")
    return value


def _suite_branch(repo: str, check: dict[str, Any], field: str, suite: str) -> str | Routed:
    """The branch a check suite or run (`check`, the payload's `field`; its suite's fields
    under the prefix `suite`) ran on, or why it is ignored: GitHub Actions' own are recorded
    from workflow_run, a fork's branch is not ours, a result without a head branch has none."""
    what = field.replace("_", " ")
    if optional(check, "app.slug", str) == ACTIONS_APP:
        return Routed(ignored="GitHub Actions results are recorded from workflow_run")
    if _from_fork(repo, optional(check, f"{suite}head_repository.full_name", str)):
        return Routed(ignored=f"{what}s of a fork's branch are not recorded")
    head_branch = f"{suite}head_branch"
    branch = _branch(optional(check, head_branch, str), f"{field}.{head_branch}")
    if branch is None:
        return Routed(ignored=f"a {what} without a head branch is not recorded")
    return branch


def _from_fork(repo: str, head_repo: str | None) -> bool:
    return head_repo is not None and head_repo.casefold() != repo.casefold()


def _stamp(moment: datetime | None) -> str:
    """The uid stamp of a result's time (payload.stamp's form); `unknown` without one."""
    return stamp(moment) if moment else "unknown"
