"""Every real GitHub delivery in ../shared/github-payloads gets its documented answer."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app import create_app
from feed.models import Event
from feed.state import shiplog_state
from tests.conftest import SHARED_PAYLOADS, deliver

pytestmark = pytest.mark.skipif(
    not SHARED_PAYLOADS.is_dir(), reason="../shared/github-payloads is not here"
)

# file -> (status, kinds created) with the default incident label, and with label "bug"
# (the examples' issues carry "bug", so that setting turns them into incidents).
EXPECTED = {
    "ping/payload.json": ((200, []), (200, [])),
    "push/payload.json": ((202, []), (202, [])),  # a tag deletion
    "push/with-new-branch.payload.json": ((200, ["commit"]), (200, ["commit"])),
    "release/published.payload.json": ((200, ["release"]), (200, ["release"])),
    "deployment_status/payload.json": ((200, ["deployment"]), (200, ["deployment"])),
    "pull_request/closed.payload.json": ((202, []), (202, [])),
    "issues/opened.payload.json": ((202, []), (200, ["incident_opened"])),
    "issues/labeled.payload.json": ((202, []), (200, ["incident_opened"])),
    "issues/reopened.payload.json": ((202, []), (200, ["incident_update"])),
    "issue_comment/created.payload.json": ((202, []), (200, ["incident_update"])),
    "issue_comment/edited.payload.json": ((202, []), (200, ["incident_update"])),
    # CI results: stored; one result alone is no change of state, so no event.
    "check_run/completed.payload.json": ((200, []), (200, [])),
    "check_suite/completed.payload.json": ((200, []), (200, [])),
    "status/payload.json": ((200, []), (200, [])),
    "workflow_run/completed.payload.json": ((200, []), (200, [])),
    "workflow_run/requested.payload.json": ((202, []), (202, [])),  # not finished
}


def examples() -> list[str]:
    if not SHARED_PAYLOADS.is_dir():
        return sorted(EXPECTED)
    return sorted(str(p.relative_to(SHARED_PAYLOADS)) for p in SHARED_PAYLOADS.glob("*/*.json"))


def load(name: str) -> dict:
    return json.loads((SHARED_PAYLOADS / name).read_text())


def kinds(app: Flask) -> list[str]:
    with shiplog_state(app).db.read() as session:
        return sorted(session.scalars(select(Event.kind)))


@pytest.fixture(params=["incident", "bug"])
def label_app(request, app_config, isolated_env):
    app = create_app({**app_config, "INCIDENT_LABEL": request.param})
    yield app, request.param
    shiplog_state(app).db.dispose()


def test_every_example_is_listed() -> None:
    assert set(examples()) == set(EXPECTED), "a new example needs its expected answer"


@pytest.mark.parametrize("name", examples())
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_each_example_gets_its_status_and_events(label_app, name: str, form: bool) -> None:
    app, label = label_app
    status, created = EXPECTED[name][label == "bug"]
    event = Path(name).parent.name
    response = deliver(app.test_client(), event, load(name), form=form)
    assert response.status_code == status, response.json
    assert kinds(app) == created


def test_all_examples_in_a_row_and_again(label_app) -> None:
    app, label = label_app
    client = app.test_client()
    for round_ in range(2):
        for name in examples():
            response = deliver(
                client,
                Path(name).parent.name,
                load(name),
                delivery=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            )
            assert response.status_code == (200 if round_ else EXPECTED[name][label == "bug"][0])
    counts = Counter(kinds(app))
    if label == "bug":
        # opened and labeled are the same incident; reopened and the comment are updates.
        assert counts == {
            "commit": 1,
            "release": 1,
            "deployment": 1,
            "incident_opened": 1,
            "incident_update": 2,
        }
    else:
        assert counts == {"commit": 1, "release": 1, "deployment": 1}
