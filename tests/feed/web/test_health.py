"""/health and /api/health from real deliveries: a check that broke and stays red, one that
was red and is fixed (green, red, red, flaky, green), a failed deployment and an incident."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import event, select, text

from feed.health import open_breaks_query
from feed.models import Incident
from tests.conftest import deliver
from tests.feed.web.test_incident_pages import incident_id, open_incident
from tests.integrations.github.test_builds import pushed, run
from tests.integrations.github.test_webhooks import repository

A, B, C, D, E = (ch * 40 for ch in "abcde")
PAYLOADS = Path(__file__).resolve().parents[4] / "shared" / "github-payloads"
OPENED = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def check_run(sha: str, conclusion: str, name: str = "lint", attempt: int = 0) -> dict[str, Any]:
    """A check_run delivery from the shared example, edited to this story."""
    payload = json.loads((PAYLOADS / "check_run" / "completed.payload.json").read_text())
    value = payload["check_run"]
    value.update(id=int(sha[:6], 16) + attempt, name=name, head_sha=sha, conclusion=conclusion)
    value.update(status="completed", completed_at="2026-11-20T10:30:00Z")
    value["check_suite"].update(head_branch="main", head_sha=sha)
    value["app"].update(name="Octo CI", slug="octo-ci")
    value.pop("pull_requests", None)
    return {**payload, "action": "completed", "repository": repository()}


def deployment(
    ident: int, sha: str, state: str, at: str, environment: str = "production"
) -> dict[str, Any]:
    """A deployment_status delivery from the shared example, edited to this story."""
    payload = json.loads((PAYLOADS / "deployment_status" / "payload.json").read_text())
    payload = copy.deepcopy(payload)
    payload["deployment"].update(id=ident, sha=sha, ref="main", environment=environment)
    payload["deployment"].update(created_at=at, updated_at=at)
    payload["deployment_status"].update(id=ident, state=state, environment=environment)
    payload["deployment_status"].update(created_at=at, updated_at=at)
    return {**payload, "repository": repository()}


def tell(client: FlaskClient, lint: str = "lint") -> None:
    pushed(client, A, B, C, D, E)
    # tests: green, red, red, flaky, green: broken at B, fixed at E, so not on /health.
    for sha, conclusion in [(A, "success"), (B, "failure"), (C, "failure"), (D, "failure")]:
        assert deliver(client, "workflow_run", run(sha, conclusion)).status_code == 200
    deliver(client, "workflow_run", run(D, "success", attempt=2))
    deliver(client, "workflow_run", run(E, "success"))
    # lint: green, green, red, flaky, red: broken at C and still red.
    for sha, conclusion in [(A, "success"), (B, "success"), (C, "failure"), (D, "failure")]:
        assert deliver(client, "check_run", check_run(sha, conclusion, lint)).status_code == 200
    deliver(client, "check_run", check_run(D, "success", lint, attempt=1))
    deliver(client, "check_run", check_run(E, "failure", lint))


def test_nothing_broken_is_said_plainly(client: FlaskClient) -> None:
    page = client.get("/health").get_data(as_text=True)
    assert "Nothing is broken" in page
    assert 'href="/health"' in page  # in the site navigation
    body = client.get("/api/health").json
    assert body == {"ok": True, "failing": [], "branches": [], "environments": [], "incidents": []}


def test_a_failing_check_shows_since_when_its_suspects_strip_and_last_good(
    client: FlaskClient,
) -> None:
    tell(client)
    body = client.get("/api/health").json
    assert body["ok"] is False
    [lint] = body["failing"]  # tests was fixed at E: it is not broken now
    assert (lint["check"], lint["branch"], lint["first_failing"]) == ("Octo CI / lint", "main", C)
    assert lint["since"] == "2026-11-20T10:30:00Z"
    assert lint["last_good"]["sha"] == B
    assert lint["last_good"]["url"] == f"https://github.com/acme/api/commit/{B}"
    assert lint["revert"] == f"git revert --no-edit {B}..{C}"
    # The break's range (B..C]; the commits pushed while red are on the break's page.
    assert [s["sha"] for s in lint["suspects"]] == [C] and lint["more_suspects"] == 0
    assert [m["verdict"] for m in lint["recent"]] == [
        "passing",
        "passing",
        "failing",
        "flaky",
        "failing",
    ]
    # The branch's last good version: every check passed on A (tests failed on B).
    assert body["branches"] == [
        {"repo": "acme/api", "branch": "main", "last_good": body["branches"][0]["last_good"]}
    ]
    assert body["branches"][0]["last_good"]["sha"] == A

    page = client.get("/health").get_data(as_text=True)
    assert "Nothing is broken" not in page
    assert "Octo CI / lint" in page and ">tests<" not in page
    assert f'href="https://github.com/acme/api/commit/{B}"' in page
    assert f"<code>{C[:7]}</code>" in page
    # The strip: a shape per verdict, labelled, newest right.
    assert "oldest first: passing, passing, failing, flaky, failing" in page
    assert page.count('class="mark mark-flaky"') == 1
    assert page.count('class="mark mark-failing"') == 2
    broken_page = lint["broken_event"].removeprefix("http://localhost")
    assert client.get(broken_page).status_code == 200
    assert f'href="{broken_page}"' in page


def test_a_failed_deploy_shows_the_last_good_one_and_how_far_ahead(client: FlaskClient) -> None:
    tell(client)
    for ident, sha, state, at in [
        (1, A, "success", "2026-11-20T11:00:00Z"),
        (2, C, "failure", "2026-11-20T12:00:00Z"),
        (3, D, "error", "2026-11-20T13:00:00Z"),
    ]:
        response = deliver(client, "deployment_status", deployment(ident, sha, state, at))
        assert response.status_code == 200, response.json
    # A later success elsewhere is not production's last good deploy.
    elsewhere = deployment(7, B, "success", "2026-11-20T11:30:00Z", environment="staging")
    assert deliver(client, "deployment_status", elsewhere).status_code == 200
    [env] = client.get("/api/health").json["environments"]
    assert (env["environment"], env["state"], env["sha"]) == ("production", "error", D)
    assert env["last_good"]["sha"] == A
    assert (env["ahead_commits"], env["ahead_seconds"]) == (3, 7200)
    assert env["rollback"] == f"git revert --no-edit {A}..{D}"
    page = client.get("/health").get_data(as_text=True)
    assert "Failed deployments" in page and "the failed one is 3 commits and 2 h ahead" in page

    # A deploy still in progress is not finished, and another environment's success is its own.
    deliver(client, "deployment_status", deployment(5, E, "in_progress", "2026-11-20T13:10:00Z"))
    staging = deployment(6, E, "success", "2026-11-20T13:20:00Z", environment="staging")
    deliver(client, "deployment_status", staging)
    [env] = client.get("/api/health").json["environments"]
    assert (env["environment"], env["state"], env["sha"]) == ("production", "error", D)

    # A good deploy after it: production is no longer broken.
    deliver(client, "deployment_status", deployment(4, E, "success", "2026-11-20T13:30:00Z"))
    assert client.get("/api/health").json["environments"] == []


def test_an_open_incident_shows_the_last_good_deploy_before_it(client: FlaskClient) -> None:
    pushed(client, A, B)
    deliver(client, "deployment_status", deployment(1, A, "success", "2026-11-20T11:00:00Z"))
    deliver(client, "deployment_status", deployment(2, B, "failure", "2026-11-20T13:00:00Z"))
    open_incident(client, opened=OPENED, title="<script>alert(1)</script> checkout")
    [item] = client.get("/api/health").json["incidents"]
    deploy = item["last_good_deploy"]
    assert (deploy["environment"], deploy["sha"], deploy["before_opened_seconds"]) == (
        "production",
        A,
        3 * 3600,
    )
    page = client.get("/health").get_data(as_text=True)
    assert (
        f'Last good deploy to production: <a href="https://github.com/acme/api/commit/{A}"' in page
    )
    assert "3 h before it opened" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


def test_an_incident_shows_its_own_repositorys_last_good_deploy(client: FlaskClient, db) -> None:
    """An incident filed in a repository that deploys shows that repository's last good
    deploy, not a later one of another service; one filed where nothing deploys (an
    incidents repository) shows the newest of any, as before. On /health and its page."""
    web = "acme/web"
    deliver(client, "deployment_status", deployment(1, A, "success", "2026-11-20T11:00:00Z"))
    later = deployment(2, B, "success", "2026-11-20T12:00:00Z")
    later = {**later, "repository": repository(web)}
    assert deliver(client, "deployment_status", later).status_code == 200
    open_incident(client, 1, opened=OPENED, title="Checkout errors")  # filed in acme/api
    ops = {
        "number": 2,
        "title": "Logins fail",
        "body": "",
        "state": "open",
        "html_url": "https://github.com/acme/ops/issues/2",
        "user": {"login": "sam"},
        "labels": [{"name": "incident"}],
        "created_at": "2026-11-20T14:30:00Z",
        "updated_at": "2026-11-20T14:30:00Z",
    }
    opened = {"action": "opened", "issue": ops, "repository": repository("acme/ops")}
    assert deliver(client, "issues", opened).status_code == 200
    shown = {
        item["title"]: item["last_good_deploy"]["sha"]
        for item in client.get("/api/health").json["incidents"]
    }
    assert shown == {"Checkout errors": A, "Logins fail": B}
    with db.read() as session:
        ids = dict(session.execute(select(Incident.repo, Incident.id)).all())
    page = client.get(f"/incidents/{ids['acme/api']}").get_data(as_text=True)
    assert (
        f'Last good deploy to production: <a href="https://github.com/acme/api/commit/{A}"' in page
    )
    page = client.get(f"/incidents/{ids['acme/ops']}").get_data(as_text=True)
    assert f'Last good deploy to production: <a href="https://github.com/{web}/commit/{B}"' in page


def test_hostile_check_names_are_inert_on_health(client: FlaskClient) -> None:
    name = '<img src=x onerror="alert(1)"> \u202e@everyone'
    tell(client, lint=name)
    page = client.get("/health").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert client.get("/api/health").json["failing"][0]["check"] == f"Octo CI / {name}"


def test_the_incident_page_shows_the_last_good_deploy_and_ranks_breaks_first(
    client: FlaskClient, db
) -> None:
    tell(client)
    deliver(client, "deployment_status", deployment(1, A, "success", "2026-11-20T11:00:00Z"))
    open_incident(client, opened=OPENED, labels=("incident", "sev2"))
    page = client.get(f"/incidents/{incident_id(db)}").get_data(as_text=True)
    assert (
        f'Last good deploy to production: <a href="https://github.com/acme/api/commit/{A}"' in page
    )
    assert (
        "3 h before it opened; roll back with <code>redeploy aaaaaaa to production</code>" in page
    )
    changes = page[page.index("Changes before this incident") :]
    titles = re.findall(r'class="title" href="[^"]+">([^<]+)</a>', changes)
    # Both breaks (tests at B, lint at C) first, newest first; then the other changes.
    assert titles[:2] == ["Octo CI / lint broke on main", "tests broke on main"]
    assert "Change e" in titles[2:] and "Deployment to production: success" in titles[2:]
    assert changes.count("broke in this window") == 2


def test_the_demo_has_a_broken_check_and_a_failed_deploy(app, client: FlaskClient) -> None:
    assert app.test_cli_runner().invoke(args=["demo"]).exit_code == 0
    body = client.get("/api/health").json
    [ci] = body["failing"]
    assert (ci["repo"], ci["branch"], ci["check"]) == ("acme/web", "main", "ci")
    assert [m["verdict"] for m in ci["recent"]] == ["passing", "passing", "failing"]
    [staging] = body["environments"]
    assert (staging["environment"], staging["ahead_commits"]) == ("staging", 1)
    assert staging["last_good"]["sha"] == ci["last_good"]["sha"]


def test_a_long_range_shows_five_suspects_and_counts_the_rest(client: FlaskClient) -> None:
    middle = [f"{n:x}" * 40 for n in range(1, 8)]  # seven commits after A, the last one red
    pushed(client, A, *middle)
    deliver(client, "workflow_run", run(A, "success"))
    deliver(client, "workflow_run", run(middle[-1], "failure"))
    [tests] = client.get("/api/health").json["failing"]
    assert [s["sha"] for s in tests["suspects"]] == middle[:5]
    assert tests["more_suspects"] == 2
    assert "and 2 more." in client.get("/health").get_data(as_text=True)


def test_the_statements_do_not_grow_with_what_is_broken(client: FlaskClient, db) -> None:
    def statements() -> int:
        seen: list[str] = []
        listen = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listen)
        try:
            assert client.get("/api/health").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listen)
        return len(seen)

    def broken(number: int) -> None:  # a check and an environment, each with a last good
        name, at = f"check{number}", f"2026-11-20T1{number}:00:00Z"
        deliver(client, "check_run", check_run(A, "success", name, attempt=2 * number))
        deliver(client, "check_run", check_run(C, "failure", name, attempt=2 * number + 1))
        for ident, sha, state in [(2 * number, A, "success"), (2 * number + 1, D, "failure")]:
            deliver(client, "deployment_status", deployment(ident, sha, state, at, f"env{number}"))

    tell(client)
    broken(1)
    open_incident(client, 1, opened=OPENED)
    one = client.get("/api/health").json
    assert (len(one["failing"]), len(one["environments"]), len(one["incidents"])) == (2, 1, 1)
    few = statements()
    for number in range(2, 6):
        broken(number)
        open_incident(client, number, opened=OPENED + timedelta(hours=number))
    many = client.get("/api/health").json
    assert (len(many["failing"]), len(many["environments"]), len(many["incidents"])) == (6, 5, 5)
    assert all(i["last_good_deploy"]["sha"] == A for i in many["incidents"])
    assert {e["ahead_commits"] for e in many["environments"]} == {3}
    assert {f["last_good"]["sha"] for f in many["failing"]} == {A, B}
    assert statements() == few


def test_the_open_breaks_are_told_apart_by_the_indexes_of_breaks_and_fixes(db) -> None:
    """Which breaks have no fix is answered by the two small partial indexes (of the breaks
    and of the fixes), not by reading every break and fix of the history from the table."""
    with db.read() as session:
        sqlite = session.get_bind().dialect.name == "sqlite"
        if not sqlite:  # the tables are tiny here: only index-only and bitmap scans are left
            for scan in ("seqscan", "indexscan"):
                session.execute(text(f"SET LOCAL enable_{scan} = off"))
        literal = {"literal_binds": True}
        compiled = open_breaks_query().compile(session.get_bind(), compile_kwargs=literal)
        explain = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
        rows = session.connection().exec_driver_sql(explain + str(compiled))
        plan = "\n".join(str(row[-1]) for row in rows)
    assert "ix_events_breaks" in plan and "ix_events_fixes" in plan, plan
