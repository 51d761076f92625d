"""POST /webhooks/github end to end: signatures, content types, dedupe, and what lands."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from feed.db import Database
from feed.models import Delivery, Event, EventFile, Job, Repo
from feed.state import shiplog_state
from tests.conftest import SECRET, deliver, sign

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40


def repository(name: str = "acme/api") -> dict[str, Any]:
    return {"full_name": name, "html_url": f"https://github.com/{name}", "default_branch": "main"}


def commit(sha: str, message: str, **overrides: Any) -> dict[str, Any]:
    value = {
        "id": sha,
        "distinct": True,
        "message": message,
        "timestamp": "2026-11-20T10:00:00+01:00",
        "url": f"https://github.com/acme/api/commit/{sha}",
        "author": {"name": "Mara Lind", "email": "mara@example.com", "username": "mara"},
        "added": ["new.py"],
        "removed": [],
        "modified": ["app.py"],
    }
    value.update(overrides)
    return value


def push(*commits: dict[str, Any], ref: str = "refs/heads/main", **overrides: Any):
    value = {
        "ref": ref,
        "before": SHA_C,
        "after": commits[-1]["id"] if commits else SHA_C,
        "created": False,
        "deleted": False,
        "forced": False,
        "compare": "https://github.com/acme/api/compare/c...a",
        "commits": list(commits),
        "head_commit": commits[-1] if commits else None,
        "pusher": {"name": "mara"},
        "repository": {**repository(), "pushed_at": 1795687200},
        "sender": {"login": "mara"},
    }
    value.update(overrides)
    return value


def issue(number: int = 7, labels: tuple[str, ...] = ("incident",), **overrides: Any):
    value = {
        "number": number,
        "title": "Checkout is down",
        "body": "Everything <b>500s</b>",
        "state": "open",
        "html_url": f"https://github.com/acme/api/issues/{number}",
        "user": {"login": "sam"},
        "labels": [{"name": name} for name in labels],
        "created_at": "2026-11-20T12:00:00Z",
        "updated_at": "2026-11-20T12:05:00Z",
        "closed_at": None,
    }
    value.update(overrides)
    return value


def comment_payload(action: str, body: str, updated: str = "2026-11-20T12:10:00Z", **issue_kw):
    return {
        "action": action,
        "issue": issue(**issue_kw),
        "comment": {
            "id": 900,
            "body": body,
            "user": {"login": "sam"},
            "html_url": "https://github.com/acme/api/issues/7#issuecomment-900",
            "created_at": "2026-11-20T12:10:00Z",
            "updated_at": updated,
        },
        "repository": repository(),
        "sender": {"login": "sam"},
    }


def events(db: Database) -> list[Event]:
    with db.read() as session:
        return list(session.scalars(select(Event).order_by(Event.occurred_at, Event.id)))


def rows(db: Database, model: type) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


# --- refusing what cannot be trusted or read -------------------------------------------------


@pytest.mark.parametrize(
    "signature",
    [
        *[None, "", "sha256=", "sha1=" + "0" * 40, "sha256=" + "0" * 64, sign(b"other body")],
        *["sha256=\u00e9", "sha256=" + "0" * 63 + "\u00e9"],  # not ASCII: once a 500
    ],
)
def test_a_missing_or_wrong_signature_is_401_and_writes_nothing(
    client: FlaskClient, db: Database, signature: str | None
) -> None:
    body = json.dumps(push(commit(SHA_A, "Fix"))).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d1",
        "Content-Type": "application/json",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    response = client.post("/webhooks/github", data=body, headers=headers)
    assert response.status_code == 401
    assert "X-Hub-Signature-256" in response.json["detail"]
    assert rows(db, Event) == rows(db, Delivery) == 0


def test_a_signature_made_with_another_secret_is_401(client: FlaskClient, db: Database) -> None:
    response = deliver(client, "push", push(commit(SHA_A, "Fix")), secret="not-the-secret")
    assert response.status_code == 401
    assert rows(db, Event) == 0


def test_without_a_secret_every_delivery_is_403_with_how_to_fix(
    database_url: str, isolated_env: None
) -> None:
    from app import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url})
    response = deliver(app.test_client(), "ping", {"zen": "hi"})
    assert response.status_code == 403
    assert "SHIPLOG_GITHUB_WEBHOOK_SECRET" in response.json["detail"]
    with shiplog_state(app).db.read() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    shiplog_state(app).db.dispose()


def test_an_unknown_content_type_is_415(client: FlaskClient, db: Database) -> None:
    response = deliver(client, "ping", {"zen": "hi"}, headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert "application/json" in response.json["detail"]
    assert rows(db, Delivery) == 0


@pytest.mark.parametrize(
    ("raw", "form", "message"),
    [
        (b"{not json", False, "not valid JSON"),
        (b"[1, 2]", False, "must be a JSON object"),
        (b"\xff\xfe\x00garbage", False, "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, False, "not valid JSON"),
        (b"payload=%7Bnot+json", None, "not valid JSON"),
        (b"other=1", None, "one `payload` field"),
        (b"payload=1&payload=2", None, "one `payload` field"),
    ],
)
def test_a_body_that_cannot_be_read_is_400(
    client: FlaskClient, db: Database, raw: bytes, form: bool | None, message: str
) -> None:
    content_type = "application/x-www-form-urlencoded" if form is None else "application/json"
    response = deliver(client, "push", raw, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert message in response.json["detail"]
    assert rows(db, Delivery) == 0


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-GitHub-Event": ""}, "X-GitHub-Event"),
        ({"X-GitHub-Event": "Push; DROP"}, "X-GitHub-Event"),
        ({"X-GitHub-Delivery": ""}, "X-GitHub-Delivery"),
        ({"X-GitHub-Delivery": "x" * 101}, "X-GitHub-Delivery"),
    ],
)
def test_missing_github_headers_are_400(client: FlaskClient, db: Database, headers, message):
    response = deliver(client, "ping", {"zen": "hi"}, headers=headers)
    assert response.status_code == 400
    assert message in response.json["detail"]
    assert rows(db, Delivery) == 0


@pytest.mark.parametrize(
    "event", ["projects_v2_item", "projects_v2", "security_and_analysis", "sub_issues"]
)
def test_event_names_with_digits_are_well_formed_and_ignored_with_202(
    client: FlaskClient, db: Database, event: str
) -> None:
    payload = {"action": "edited", "repository": repository(), "sender": {"login": "sam"}}
    response = deliver(client, event, payload)
    assert response.status_code == 202, response.json
    assert response.json["result"] == "ignored"
    assert event in response.json["detail"]
    assert rows(db, Delivery) == 1 and rows(db, Event) == 0


@pytest.mark.parametrize("event", ["2fa", "_push", "Push", "push-event", "p" * 65])
def test_event_names_github_never_sends_are_400(client: FlaskClient, db: Database, event: str):
    response = deliver(client, event, {"zen": "hi"})
    assert response.status_code == 400
    assert "X-GitHub-Event" in response.json["detail"]
    assert rows(db, Delivery) == 0


def test_a_body_over_25_mb_is_413(client: FlaskClient, db: Database) -> None:
    big = b'{"zen": "' + b"x" * (25 * 1024 * 1024) + b'"}'
    response = deliver(client, "ping", big)
    assert response.status_code == 413
    assert rows(db, Delivery) == 0


def test_a_body_just_under_the_limit_is_read(client: FlaskClient) -> None:
    payload = {"zen": "x" * (24 * 1024 * 1024)}
    assert deliver(client, "ping", payload).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        push(commit(SHA_A, "Fix"), repository="acme/api"),
        push({"id": 5, "message": "x"}),
        push(commit(SHA_A, "Fix", timestamp="not a time")),
        {**push(commit(SHA_A, "Fix")), "commits": "many"},
        {**push(commit(SHA_A, "Fix")), "ref": None},
    ],
)
def test_a_push_with_malformed_fields_is_400_and_writes_nothing(
    client: FlaskClient, db: Database, payload
) -> None:
    response = deliver(client, "push", payload)
    assert response.status_code == 400
    assert response.json["detail"].startswith("github webhooks: payload:")
    assert rows(db, Event) == rows(db, Delivery) == 0


@pytest.mark.parametrize(
    "name",
    [
        "evil/%3Cimg src=x onerror=alert(1)%3E",
        "evil/<img src=x>",
        "evil/..",
        "evil/.",
        "evil/a/b",
        "evil/a?b",
        "evil/" + "r" * 101,
        "-evil/api",
        "evil-/api",
        "ev--il/api",
        "e" * 40 + "/api",
        "ev_il/api",
        "/api",
        "evil/",
        "evil",
    ],
)
def test_a_repository_name_github_would_not_allow_is_400_and_writes_nothing(
    client: FlaskClient, db: Database, name: str
) -> None:
    payload = push(commit(SHA_A, "Fix"), repository={**repository(), "full_name": name})
    response = deliver(client, "push", payload)
    assert response.status_code == 400, response.json
    assert "repository.full_name" in response.json["detail"]
    assert rows(db, Event) == rows(db, Delivery) == rows(db, Repo) == rows(db, Job) == 0


@pytest.mark.parametrize("name", ["a/b", "Octo-Cat9/.github", "o" * 39 + "/" + "r._-" * 25])
def test_every_repository_name_github_allows_is_taken(
    client: FlaskClient, db: Database, name: str
) -> None:
    payload = push(commit(SHA_A, "Fix"), repository={**repository(), "full_name": name})
    assert deliver(client, "push", payload).status_code == 200
    assert [event.repo for event in events(db)] == [name]


# --- deliveries that land ----------------------------------------------------------------


def test_ping_is_200_and_remembers_the_repo(client: FlaskClient, db: Database) -> None:
    response = deliver(client, "ping", {"zen": "Keep it simple.", "repository": repository()})
    assert response.status_code == 200
    assert rows(db, Repo) == 1


@pytest.mark.parametrize("form", [False, True])
def test_a_push_makes_one_commit_event_per_distinct_commit(
    client: FlaskClient, db: Database, form: bool
) -> None:
    payload = push(
        commit(
            SHA_A,
            "Add login\n\nWith a *body*.",
            added=["a.py"],
            modified=["b.py"],
            removed=["c.py"],
        ),
        commit(SHA_B, "Merge from other branch", distinct=False),
    )
    response = deliver(client, "push", payload, form=form)
    assert response.status_code == 200
    assert response.json["events_created"] == 1
    [event] = events(db)
    assert (event.kind, event.repo, event.branch, event.sha) == (
        "commit",
        "acme/api",
        "main",
        SHA_A,
    )
    assert (event.title, event.body, event.actor) == ("Add login", "With a *body*.", "mara")
    assert event.occurred_at.isoformat() == "2026-11-20T09:00:00+00:00"
    assert event.uid == f"commit:acme/api:{SHA_A}"
    with db.read() as session:
        files = session.scalars(select(EventFile).order_by(EventFile.position)).all()
        assert [(f.path, f.status, f.patch) for f in files] == [
            ("a.py", "added", None),
            ("c.py", "removed", None),
            ("b.py", "modified", None),
        ]


def test_a_redelivery_is_200_and_writes_nothing_new(client: FlaskClient, db: Database) -> None:
    payload = push(commit(SHA_A, "Fix"))
    assert deliver(client, "push", payload, delivery="same-id").json["events_created"] == 1
    again = deliver(client, "push", payload, delivery="same-id")
    assert again.status_code == 200
    assert again.json["result"] == "duplicate"
    assert rows(db, Event) == 1
    assert rows(db, Delivery) == 1


def test_the_same_commit_in_two_deliveries_is_one_event(client: FlaskClient, db: Database):
    deliver(client, "push", push(commit(SHA_A, "Fix")))
    response = deliver(client, "push", push(commit(SHA_A, "Fix"), ref="refs/heads/other"))
    assert response.status_code == 200
    assert response.json["events_created"] == 0
    assert rows(db, Event) == 1
    assert rows(db, Delivery) == 2


def test_a_revert_is_recorded_as_a_revert(client: FlaskClient, db: Database) -> None:
    message = f'Revert "Add login"\n\nThis reverts commit {SHA_B}.'
    deliver(client, "push", push(commit(SHA_A, message)))
    [event] = events(db)
    assert event.kind == "revert"
    assert event.data["reverts"] == SHA_B


def test_a_forced_push_adds_a_force_push_event(client: FlaskClient, db: Database) -> None:
    deliver(client, "push", push(commit(SHA_A, "Squashed"), forced=True))
    kinds = sorted(event.kind for event in events(db))
    assert kinds == ["commit", "force_push"]
    force = next(event for event in events(db) if event.kind == "force_push")
    assert force.title == "Force-pushed main"
    assert force.data["before"] == SHA_C and force.data["after"] == SHA_A
    assert force.occurred_at.isoformat() == "2026-11-26T10:00:00+00:00"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (push(commit(SHA_A, "Tagged"), ref="refs/tags/v1.0"), "tag pushes"),
        (push(ref="refs/heads/old", deleted=True, after="0" * 40), "branch deletions"),
    ],
)
def test_tags_and_deletions_write_no_events(client, db, payload, reason) -> None:
    response = deliver(client, "push", payload)
    assert response.status_code == 202
    assert reason in response.json["detail"]
    assert rows(db, Event) == 0


def test_a_push_without_optional_fields_is_accepted(client: FlaskClient, db: Database) -> None:
    sparse = {
        "id": SHA_A,
        "message": "Sparse",
        "author": {"name": "No Username"},
        "added": [],
        "removed": [],
        "modified": [],
    }
    payload = push(sparse)
    payload["head_commit"] = None
    del payload["pusher"]
    response = deliver(client, "push", payload)
    assert response.status_code == 200
    [event] = events(db)
    assert event.actor == "No Username"
    assert event.occurred_at.isoformat() == "2026-11-26T10:00:00+00:00"


def test_a_push_with_no_commits_is_accepted_and_empty(client: FlaskClient, db: Database):
    response = deliver(client, "push", push(created=True))
    assert response.status_code == 200
    assert rows(db, Event) == 0


def test_an_incident_opens_updates_and_resolves(client: FlaskClient, db: Database) -> None:
    deliver(
        client,
        "issues",
        {
            "action": "opened",
            "issue": issue(),
            "repository": repository(),
            "sender": {"login": "sam"},
        },
    )
    deliver(client, "issue_comment", comment_payload("created", "Rolled back.\n\nWatching."))
    closed = issue(state="closed", closed_at="2026-11-20T13:00:00Z")
    deliver(
        client,
        "issues",
        {
            "action": "closed",
            "issue": closed,
            "repository": repository(),
            "sender": {"login": "sam"},
        },
    )
    opened, update, resolved = events(db)
    assert (opened.kind, opened.uid, opened.title) == (
        "incident_opened",
        "incident:acme/api#7",
        "Checkout is down",
    )
    assert opened.body == "Everything <b>500s</b>"
    assert (update.kind, update.uid) == ("incident_update", "incident:acme/api#7/comment/900")
    assert update.title == "Checkout is down — Rolled back."
    assert resolved.kind == "incident_resolved"
    assert resolved.occurred_at.isoformat() == "2026-11-20T13:00:00+00:00"


def test_labelling_an_issue_as_incident_opens_it_once(client: FlaskClient, db: Database) -> None:
    payload = {
        "action": "labeled",
        "issue": issue(),
        "label": {"name": "Incident"},
        "repository": repository(),
        "sender": {"login": "sam"},
    }
    assert deliver(client, "issues", payload).status_code == 200
    opened = {"action": "opened", "issue": issue(), "repository": repository()}
    assert deliver(client, "issues", opened).json["events_created"] == 0
    assert [e.kind for e in events(db)] == ["incident_opened"]


def test_other_labels_and_plain_issues_are_ignored(client: FlaskClient, db: Database) -> None:
    other_label = {
        "action": "labeled",
        "issue": issue(labels=("bug",)),
        "label": {"name": "bug"},
        "repository": repository(),
    }
    plain = {"action": "opened", "issue": issue(labels=("bug",)), "repository": repository()}
    assert deliver(client, "issues", other_label).status_code == 202
    assert deliver(client, "issues", plain).status_code == 202
    assert (
        deliver(client, "issue_comment", comment_payload("created", "hi", labels=())).status_code
        == 202
    )
    assert rows(db, Event) == 0


def test_pull_request_comments_are_never_incident_updates(client: FlaskClient, db: Database):
    payload = comment_payload("created", "LGTM")
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/acme/api/pulls/7"}
    assert deliver(client, "issue_comment", payload).status_code == 202
    assert rows(db, Event) == 0


def test_an_edited_comment_edits_its_update_and_a_deleted_one_removes_it(client, db) -> None:
    deliver(client, "issue_comment", comment_payload("created", "First take"))
    edited = comment_payload("edited", "Second take", updated="2026-11-20T12:30:00Z")
    response = deliver(client, "issue_comment", edited)
    assert response.json["events_updated"] == 1
    [update] = events(db)
    assert update.body == "Second take"
    assert update.updated_at.isoformat() == "2026-11-20T12:30:00+00:00"
    response = deliver(client, "issue_comment", comment_payload("deleted", "Second take"))
    assert response.json["events_removed"] == 1
    assert rows(db, Event) == 0


def test_a_published_release_is_a_release_event(client: FlaskClient, db: Database) -> None:
    payload = {
        "action": "published",
        "release": {
            "tag_name": "v2.0.0",
            "name": "Two",
            "body": "## Notes",
            "html_url": "https://github.com/acme/api/releases/tag/v2.0.0",
            "published_at": "2026-11-21T08:00:00Z",
            "author": {"login": "tomas"},
        },
        "repository": repository(),
    }
    assert deliver(client, "release", payload).status_code == 200
    [event] = events(db)
    assert (event.kind, event.title, event.actor, event.uid) == (
        "release",
        "Released Two",
        "tomas",
        "release:acme/api:v2.0.0",
    )
    assert deliver(client, "release", {**payload, "action": "edited"}).status_code == 202


def test_a_deployment_keeps_one_event_with_its_latest_state(client, db) -> None:
    def status(state: str, at: str, ident: int) -> dict[str, Any]:
        return {
            "action": "created",
            "deployment": {
                "id": 55,
                "sha": SHA_A,
                "ref": "main",
                "environment": "production",
                "created_at": "2026-11-22T10:00:00Z",
                "creator": {"login": "ci"},
            },
            "deployment_status": {
                "id": ident,
                "state": state,
                "environment": "production",
                "created_at": at,
                "updated_at": at,
                "target_url": "https://ci.example/runs/55",
            },
            "repository": repository(),
        }

    deliver(client, "deployment_status", status("in_progress", "2026-11-22T10:01:00Z", 1))
    deliver(client, "deployment_status", status("failure", "2026-11-22T10:05:00Z", 2))
    deliver(client, "deployment_status", status("in_progress", "2026-11-22T10:01:00Z", 1))
    [event] = events(db)
    assert event.kind == "deployment"
    assert event.data["state"] == "failure"
    assert event.data["environment"] == "production"
    assert event.title == "Deployment to production: failure"


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("star", {"action": "created", "repository": repository()}),
        ("pull_request", {"action": "opened", "repository": repository()}),
        ("issues", {"action": "pinned", "issue": issue(), "repository": repository()}),
        ("workflow_run", {}),
    ],
)
def test_everything_else_is_202_ignored(client: FlaskClient, db: Database, event, payload):
    response = deliver(client, event, payload)
    assert response.status_code == 202
    assert response.json["result"] == "ignored"
    assert rows(db, Event) == 0


def test_the_incident_label_is_configurable(app_config, isolated_env) -> None:
    from app import create_app

    app: Flask = create_app({**app_config, "INCIDENT_LABEL": "outage"})
    client = app.test_client()
    payload = {"action": "opened", "issue": issue(labels=("outage",)), "repository": repository()}
    assert deliver(client, "issues", payload).status_code == 200
    payload = {"action": "opened", "issue": issue(8), "repository": repository()}
    assert deliver(client, "issues", payload).status_code == 202
    shiplog_state(app).db.dispose()


def test_the_secret_is_never_echoed(client: FlaskClient) -> None:
    for response in (
        deliver(client, "push", b"{bad"),
        deliver(client, "push", {"x": 1}, secret="wrong"),
        deliver(client, "ping", {"zen": "hi"}),
    ):
        assert SECRET not in response.get_data(as_text=True)


HOSTILE_TEXT = "nul\x00byte <script>alert(1)</script> @everyone \u202egnp.exe " + "x" * 5000


@pytest.mark.parametrize(
    ("event", "payload", "status"),
    [
        ("push", push(commit(SHA_A, HOSTILE_TEXT, modified=[HOSTILE_TEXT])), 200),
        ("push", push(commit(SHA_A, "x", author={"name": "n" * 5000, "username": None})), 200),
        ("push", push(commit("not-a-sha", "x")), 400),
        ("push", push(commit(SHA_A, "x"), ref="refs/heads/" + "b" * 300), 400),
        ("push", push(commit(SHA_A, "x"), ref="refs/heads/a\x00b"), 400),
        ("push", push(commit(SHA_A, "x"), forced=True, before="x" * 5000), 400),
        ("issues", {"action": "x" * 500, "issue": issue(), "repository": repository()}, 202),
        ("issues", {"action": "opened\x00", "issue": issue(), "repository": repository()}, 202),
        ("issue_comment", comment_payload("created", HOSTILE_TEXT), 200),
        (
            "release",
            {"action": "published", "release": {"tag_name": "t" * 300}, "repository": repository()},
            400,
        ),
        (
            "release",
            {
                "action": "published",
                "release": {"tag_name": "v1", "body": HOSTILE_TEXT, "author": {"login": "\x00"}},
                "repository": repository(),
            },
            200,
        ),
        ("ping", {"repository": {**repository(), "default_branch": "d" * 300}}, 200),
        ("ping", {"repository": {"full_name": "a\x00/b"}}, 400),
    ],
)
def test_hostile_payloads_never_cause_a_server_error(client, db, event, payload, status) -> None:
    response = deliver(client, event, payload)
    assert response.status_code == status, response.json
    if status == 400:
        assert rows(db, Event) == rows(db, Delivery) == 0
    for path in ("/", "/feed.atom", "/feed.rss", "/feed.json", "/api/events"):
        assert client.get(path).status_code == 200
    for event_row in events(db):
        page = client.get(f"/events/{event_row.id}")
        assert page.status_code == 200
        assert "<script>" not in page.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/events/", "/api/events/"])
def test_an_id_beyond_any_row_is_404(client, path: str) -> None:
    assert client.get(f"{path}99999999999999999999").status_code == 404
