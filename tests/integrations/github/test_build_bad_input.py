"""Bad CI input, from GitHub's real deliveries edited per case: each answers 2xx, is stored or
ignored on purpose, and never makes a false `build_broken` or `build_fixed`.

Covered elsewhere (test_builds.py): results for commits never seen (they wait), a workflow
run of a fork or without a branch, the same result twice, results out of order.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from feed.db import Database
from tests.conftest import SHARED_PAYLOADS, deliver
from tests.integrations.github.test_builds import build_events, pushed, results, run
from tests.integrations.github.test_webhooks import push, repository

pytestmark = pytest.mark.skipif(
    not SHARED_PAYLOADS.is_dir(), reason="../shared/github-payloads is not here"
)
A, B, C = (ch * 40 for ch in "abc")


def shared(name: str) -> dict[str, Any]:
    return json.loads((SHARED_PAYLOADS / name).read_text())


def suite(sha: str, conclusion: str, **changes: Any) -> dict[str, Any]:
    """GitHub's example check_suite delivery (a third-party app), moved onto acme/api main."""
    payload = shared("check_suite/completed.payload.json")
    payload["repository"] = repository()
    payload["check_suite"].update(
        {"head_branch": "main", "head_sha": sha, "conclusion": conclusion, **changes}
    )
    payload["check_suite"]["id"] = int(sha[:6], 16)
    return payload


def check_run(sha: str, conclusion: str, **suite_changes: Any) -> dict[str, Any]:
    payload = shared("check_run/completed.payload.json")
    payload["repository"] = repository()
    payload["check_run"].update({"head_sha": sha, "conclusion": conclusion})
    payload["check_run"]["check_suite"].update({"head_branch": "main", **suite_changes})
    return payload


def status(sha: str, state: str) -> dict[str, Any]:
    """GitHub's example status delivery on acme/api main, its author and committer null."""
    payload = shared("status/payload.json")
    payload.update(sha=sha, state=state, repository=repository(), branches=[{"name": "main"}])
    payload["id"] = int(sha[:6], 16)
    payload["commit"].update(sha=sha, author=None, committer=None)
    return payload


def test_a_fork_s_check_suite_and_check_run_are_ignored(client: FlaskClient, db: Database):
    pushed(client, A, B)
    assert deliver(client, "check_suite", suite(A, "success")).status_code == 200
    fork = {"head_repository": {"full_name": "mallory/api"}}
    answer = deliver(client, "check_suite", suite(B, "failure", **fork))
    assert answer.status_code == 202 and "fork" in answer.json["detail"]
    answer = deliver(client, "check_run", check_run(B, "failure", **fork))
    assert answer.status_code == 202 and "fork" in answer.json["detail"]
    assert results(db) == 1 and build_events(db) == []


def test_a_check_suite_with_a_verdict_but_no_head_branch_is_ignored(
    client: FlaskClient, db: Database
) -> None:
    pushed(client, A, B)
    deliver(client, "check_suite", suite(A, "success"))
    answer = deliver(client, "check_suite", suite(B, "failure", head_branch=None))
    assert answer.status_code == 202 and "without a head branch" in answer.json["detail"]
    assert results(db) == 1 and build_events(db) == []


def test_a_status_with_a_null_author_and_committer_is_a_result(
    client: FlaskClient, db: Database
) -> None:
    pushed(client, A, B)
    for sha, state in ((A, "success"), (B, "failure")):
        assert deliver(client, "status", status(sha, state)).status_code == 200
    assert [(kind, sha) for kind, sha, _ in build_events(db)] == [("build_broken", B)]


def test_a_result_for_a_deleted_branch_is_kept_and_breaks_nothing(
    client: FlaskClient, db: Database
) -> None:
    """The branch was deleted before its push reached shiplog: its commits are never seen,
    so its results wait (for good) and make no event."""
    gone = push(ref="refs/heads/release/gone", deleted=True, after="0" * 40)
    assert deliver(client, "push", gone).status_code == 202
    for sha, conclusion in ((A, "success"), (B, "failure")):
        payload = run(sha, conclusion, branch="release/gone")
        assert deliver(client, "workflow_run", payload).status_code == 200
    assert results(db) == 2 and build_events(db) == []


def test_a_renamed_workflow_neither_fixes_nor_breaks_the_old_check(
    client: FlaskClient, db: Database
) -> None:
    """`tests` passes at A; the workflow is renamed `CI` and fails at B, then passes at C.
    `CI` never passed before B, so nothing broke; its pass at C fixes nothing; `tests`
    keeps its last verdict."""
    pushed(client, A, B, C)
    assert deliver(client, "workflow_run", run(A, "success", name="tests")).status_code == 200
    assert deliver(client, "workflow_run", run(B, "failure", name="CI")).status_code == 200
    assert build_events(db) == []
    assert deliver(client, "workflow_run", run(C, "success", name="CI")).status_code == 200
    assert build_events(db) == []
    assert results(db) == 3
