"""Property tests over what anyone on the network can send: webhook deliveries (bodies,
headers, content types, signatures) and the query arguments of every listing. Never a 5xx,
never a write without a valid signature, always a message saying what was wrong."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from feed.db import Database
from feed.models import Delivery, Event, Job
from tests.conftest import sign

PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ASCII = st.characters(min_codepoint=32, max_codepoint=126)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
EVENT_NAMES = st.sampled_from(
    ["push", "ping", "issues", "issue_comment", "release", "deployment_status", "create"]
) | st.text(ASCII, max_size=30)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "text/plain",
        "",
    ]
)
KEYS = st.sampled_from(
    [
        "ref",
        "before",
        "after",
        "commits",
        "head_commit",
        "repository",
        "sender",
        "forced",
        "created",
        "deleted",
        "action",
        "issue",
        "comment",
        "label",
        "release",
        "deployment",
        "deployment_status",
        "id",
        "message",
        "timestamp",
        "full_name",
        "labels",
        "name",
        "number",
        "state",
        "body",
        "html_url",
        "login",
        "distinct",
        "added",
        "modified",
    ]
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | TEXT, inner, max_size=6),
    max_leaves=25,
)
PAYLOADS = st.dictionaries(KEYS, JSON_VALUES, max_size=8).map(lambda d: json.dumps(d).encode())
BODIES = PAYLOADS | st.binary(max_size=400)
LISTINGS = ["/", "/feed.atom", "/feed.rss", "/feed.json", "/api/events", "/status"]
ARGUMENTS = st.sampled_from(
    [
        "repo",
        "kind",
        "branch",
        "author",
        "path",
        "q",
        "since",
        "until",
        "around",
        "bots",
        "cursor",
        "limit",
        "page",
        "",
    ]
)


def counts(db: Database) -> tuple[int, ...]:
    with db.read() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Delivery, Event, Job)
        )


def error_of(response: Any) -> str:
    if response.is_json:
        return str(response.json.get("error") or response.json.get("result") or "")
    return response.get_data(as_text=True)


@PROPERTY
@given(
    event=EVENT_NAMES,
    content_type=CONTENT_TYPES,
    body=BODIES,
    signature=st.sampled_from(["valid", "missing", "wrong", "garbage"]),
    delivery=st.text(ASCII, max_size=80),
)
def test_no_delivery_breaks_the_receiver_or_writes_unsigned(
    client, db, event, content_type, body, signature, delivery
) -> None:
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    if content_type:
        headers["Content-Type"] = content_type
    if signature == "valid":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signature == "wrong":
        headers["X-Hub-Signature-256"] = sign(body, "another-secret")
    elif signature == "garbage":
        headers["X-Hub-Signature-256"] = "sha256=zz" + delivery
    before = counts(db)
    response = client.post("/webhooks/github", data=body, headers=headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert error_of(response), "every answer says what happened"
    if signature != "valid":
        assert response.status_code == 401
        assert counts(db) == before
    elif response.status_code >= 400:
        assert counts(db) == before


@PROPERTY
@given(
    path=st.sampled_from(LISTINGS),
    arguments=st.lists(st.tuples(ARGUMENTS, TEXT), max_size=5),
)
def test_no_query_breaks_a_listing(client, path, arguments) -> None:
    response = client.get(path, query_string=arguments)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    if response.status_code == 400:
        assert error_of(response).strip()
