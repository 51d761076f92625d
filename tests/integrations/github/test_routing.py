"""The webhook router: one handler per (event, action), and real deliveries reach theirs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integrations.github import builds, change_events, incident_events, pulls
from integrations.github.events import ROUTER, pings, route
from integrations.github.routing import Context, Routed, Router
from tests.conftest import SHARED_PAYLOADS

# Every (event, action) the router knows, with the one handler meant for it.
INTENDED = {
    ("ping", None): "ping",
    ("push", None): "push",
    ("release", "published"): "release",
    ("deployment_status", None): "deployment_status",
    ("issues", "opened"): "issue_opened",
    ("issues", "labeled"): "issue_labeled",
    ("issues", "unlabeled"): "issue_unlabeled",
    ("issues", "edited"): "issue_edited",
    ("issues", "closed"): "issue_closed",
    ("issues", "reopened"): "issue_reopened",
    ("issues", "transferred"): "issue_transferred",
    ("issues", "deleted"): "issue_deleted",
    ("issue_comment", "created"): "comment_written",
    ("issue_comment", "edited"): "comment_written",
    ("issue_comment", "deleted"): "comment_deleted",
    ("workflow_run", "completed"): "workflow_run",
    ("check_suite", "completed"): "check_suite",
    ("check_run", "completed"): "check_run",
    ("status", None): "status",
    ("pull_request", "closed"): "pull_request_closed",
}

# Each real delivery in ../shared/github-payloads, and the handler it must reach (None: none).
DELIVERIES = {
    "ping/payload.json": "ping",
    "push/payload.json": "push",
    "push/with-new-branch.payload.json": "push",
    "release/published.payload.json": "release",
    "deployment_status/payload.json": "deployment_status",
    "pull_request/closed.payload.json": "pull_request_closed",
    "issues/opened.payload.json": "issue_opened",
    "issues/labeled.payload.json": "issue_labeled",
    "issues/reopened.payload.json": "issue_reopened",
    "issue_comment/created.payload.json": "comment_written",
    "issue_comment/edited.payload.json": "comment_written",
    "check_run/completed.payload.json": "check_run",
    "check_suite/completed.payload.json": "check_suite",
    "status/payload.json": "status",
    "workflow_run/completed.payload.json": "workflow_run",
    "workflow_run/requested.payload.json": None,
}


def nothing(payload: dict[str, Any], context: Context) -> Routed:
    return Routed()


def test_every_route_has_its_intended_handler() -> None:
    routes = {key: handler.__name__ for key, handler in ROUTER.routes.items()}
    assert routes == INTENDED


def test_subject_routers_share_no_route_and_the_composition_keeps_them_all() -> None:
    subjects = [pings, change_events.router, incident_events.router, builds.router, pulls.router]
    keys = [key for router in subjects for key in router.routes]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(ROUTER.routes)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("push", None), ("push", None)),
        (("issues", "opened"), ("issues", "opened")),
        (("issues", "opened"), ("issues", None)),
        (("issues", None), ("issues", "closed")),
    ],
    ids=["any-twice", "action-twice", "action-then-any", "any-then-action"],
)
def test_a_second_handler_for_a_route_is_refused(first, second) -> None:
    router = Router()
    router.register(*first)(nothing)
    with pytest.raises(ValueError, match="has a handler already"):
        router.register(*second)(nothing)
    other = Router()
    other.register(*second)(nothing)
    with pytest.raises(ValueError, match="has a handler already"):
        Router(router, other)


def test_an_action_nobody_handles_is_ignored_with_its_name() -> None:
    routed = route("issues", {"action": "pinned"}, Context(incident_label="incident"))
    assert routed.ignored == "issues.pinned is not something shiplog records"
    assert ROUTER.handler("issues", "pinned") is None


def test_every_real_delivery_is_listed() -> None:
    if not SHARED_PAYLOADS.is_dir():
        pytest.skip("../shared/github-payloads is not here")
    found = {str(p.relative_to(SHARED_PAYLOADS)) for p in SHARED_PAYLOADS.glob("*/*.json")}
    assert found == set(DELIVERIES), "a new example needs its intended handler"


@pytest.mark.parametrize("name", sorted(DELIVERIES))
def test_a_real_delivery_reaches_its_intended_handler(name: str) -> None:
    path = SHARED_PAYLOADS / name
    if not path.is_file():
        pytest.skip("../shared/github-payloads is not here")
    payload = json.loads(path.read_text())
    event = Path(name).parent.name
    action = payload.get("action")
    handler = ROUTER.handler(event, action)
    assert (handler.__name__ if handler else None) == DELIVERIES[name]
    # The examples' issues carry the label "bug": with it as the incident label they count.
    routed = route(event, payload, Context(incident_label="bug"))
    if handler is None:
        assert routed.ignored == f"{event}.{action} is not something shiplog records"
    else:
        assert routed.ignored != f"{event}.{action} is not something shiplog records"
