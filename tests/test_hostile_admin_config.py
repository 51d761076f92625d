"""Property tests over the admin API and the config file: whatever an admin client or a
config file says, never a 5xx or a traceback, never a write without the token, always an
error that names what is wrong and never repeats a webhook URL, token or secret."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import pytest
from croniter import croniter
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from app import create_app
from feed.commands import load_chat_config
from feed.config import TOML_KEYS, ConfigError
from feed.filters import KIND_CHOICES
from feed.models import Channel, Job, Subscription
from feed.state import shiplog_state
from integrations.chat import PLATFORMS
from integrations.chat.setup import NAME, OPTION_KEYS, ChatConfigError
from tests.test_hostile_requests import CONTENT_TYPES, PROPERTY, TEXT

# Each example of the config properties builds an app; fewer of them keep the file fast.
CONFIG_PROPERTY = settings(PROPERTY, max_examples=40)

TOKEN = "admin-token-123"
ALLOWED_HOST = "chat.internal.example"
SECURITY = {"allow_webhook_hosts": [ALLOWED_HOST]}
# In every webhook URL, secret and token these tests hand over: no answer or error may hold it.
MARK = "S3CR3T"
HOOKS = {
    "slack": f"https://hooks.slack.com/services/T0/B0/XXXX{MARK}",
    "discord": f"https://discord.com/api/webhooks/1/abc{MARK}",
    "teams": f"https://acme.webhook.office.com/webhookb2/x{MARK}",
    "googlechat": f"https://chat.googleapis.com/v1/spaces/x/messages?token={MARK}",
    "mattermost": f"https://{ALLOWED_HOST}/hooks/{MARK}",
    "webhook": f"https://{ALLOWED_HOST}/shiplog/{MARK}",
}
# Neither surely right nor surely wrong while the webhook host allow-list is being built:
# each is a 2xx or a clear 4xx.
DEBATABLE_URLS = [
    f"http://hooks.slack.com/services/T0/B0/{MARK}",
    f"https://evil.example/services/{MARK}",
    f"https://hooks.slack.com.evil.example/{MARK}",
    f"https://127.0.0.1/{MARK}",
    f"http://{ALLOWED_HOST}/hooks/{MARK}",
    f"https://HOOKS.SLACK.COM./services/{MARK}",
]
# Surely not a webhook URL.
BAD_URLS = [
    "",
    f"hooks.slack.com/services/{MARK}",
    f"//hooks.slack.com/services/{MARK}",
    f"ftp://hooks.slack.com/services/{MARK}",
    f"javascript:alert('{MARK}')",
    f"mailto:{MARK}@hooks.slack.com",
    "https://",
    f"https:///services/{MARK}",
    f"https://[::1/{MARK}",
    f"https://hooks.slack.com:port/{MARK}",
]
CRONS = ["0 9 * * 1-5", "*/15 * * * *", "@daily", "30 17 * * 5"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]

LATIN1 = st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f")
SAFE = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)
NAMES = st.from_regex(r"[A-Za-z0-9_.-]{1,30}", fullmatch=True)
CHANNEL_FIELDS = ["name", "platform", "url", "secret"]
SUBSCRIPTION_FIELDS = [
    "name",
    "channel",
    "mode",
    "schedule",
    "timezone",
    "filter",
    "options",
    "send_empty",
    "mention_suspects",
]
FILTER_KEYS = ["repo", "kind", "branch", "author", "path", "q", "since", "until", "around", "bots"]
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | TEXT
    | st.sampled_from(["eng", "slack", "digest", "0 9 * * *", "UTC", "acme/*"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(FILTER_KEYS + SUBSCRIPTION_FIELDS) | TEXT, inner, max_size=5
        )
    ),
    max_leaves=20,
)


# --- the admin API -------------------------------------------------------------------------


@pytest.fixture
def admin(app_config: dict[str, Any], isolated_env: None) -> Iterator[Flask]:
    """The app with the admin API on, a channel `eng` and a subscription `morning` in it."""
    app = create_app({**app_config, "ADMIN_TOKEN": TOKEN, "SECURITY": SECURITY})
    client = app.test_client()
    channel = {"name": "eng", "platform": "slack", "url": HOOKS["slack"], "secret": MARK}
    assert client.post("/api/channels", json=channel, headers=auth()).status_code == 201
    subscription = {"name": "morning", "channel": "eng", "mode": "digest", "schedule": CRONS[0]}
    assert client.post("/api/subscriptions", json=subscription, headers=auth()).status_code == 201
    yield app
    shiplog_state(app).db.dispose()


@pytest.fixture(params=[None, "", "   "], ids=["unset", "empty", "blank"])
def admin_off(request: pytest.FixtureRequest, app_config: dict[str, Any], isolated_env: None):  # type: ignore[no-untyped-def]
    """The app without an admin token, a channel and a subscription written directly."""
    config = dict(app_config)
    if request.param is not None:
        config["ADMIN_TOKEN"] = request.param
    app = create_app(config)
    with shiplog_state(app).db.write() as session:
        channel = Channel(name="eng", platform="slack", url=HOOKS["slack"], source="config")
        session.add(channel)
        session.flush()
        session.add(Subscription(name="morning", channel_id=channel.id, mode="realtime"))
    yield app
    shiplog_state(app).db.dispose()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def snapshot(app: Flask) -> tuple[Any, ...]:
    """Every row of the tables the admin API could touch."""
    with shiplog_state(app).db.read() as session:
        return tuple(
            tuple(tuple(row) for row in session.execute(select(model.__table__)).all())
            for model in (Channel, Subscription, Job)
        )


def error_of(response: Any) -> str:
    """The JSON `error` of an API answer; the text of a page (the /admin/ ones are for people)."""
    if response.is_json and isinstance(response.json, dict):
        return str(response.json.get("error") or "")
    if response.mimetype == "text/html" and not response.request.path.startswith("/api/"):
        return response.get_data(as_text=True)
    return ""


def routed_to_admin(app: Flask, path: str, method: str) -> bool:
    """Whether `method path` reaches one of the admin API's views."""
    try:
        endpoint, _ = app.url_map.bind("localhost").match(unquote(path), method)
    except HTTPException:
        return False
    return str(endpoint).startswith("chat_admin.")


def secrets_given(entry: Any) -> list[str]:
    """The webhook URLs and secrets an entry holds: an answer must not repeat them."""
    if not isinstance(entry, dict):
        return []
    given = [entry.get("url"), entry.get("secret")]
    return [value for value in given if isinstance(value, str) and len(value) >= 12]


AUTHORIZATIONS = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "",
            TOKEN,
            f"Basic {TOKEN}",
            f"Token {TOKEN}",
            f"Bearer{TOKEN}",
            f"Bearer  {TOKEN}",
            "Bearer",
            "Bearer None",
            f"Bearer {TOKEN.upper()}",
            f"Bearer {TOKEN[::-1]}",
        ]
    ),
    st.text(LATIN1, max_size=40).map(lambda text: f"Bearer {text}"),
    st.text(LATIN1, min_size=1, max_size=10).map(lambda extra: f"Bearer {TOKEN}{extra}"),
    st.text(LATIN1, min_size=1, max_size=10).map(lambda extra: f"Bearer {extra}{TOKEN}"),
    st.integers(0, len(TOKEN) - 1).map(lambda n: f"Bearer {TOKEN[:n]}"),
    st.text(LATIN1, max_size=60),
).filter(lambda value: value is None or value.strip() != f"Bearer {TOKEN}")
PATH_NAMES = st.sampled_from(["eng", "morning", "nobody", "..", "a.b", "%"]) | st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30
)
PATHS = st.one_of(
    st.sampled_from(
        [
            "/api/channels",
            "/api/channels/",
            "/api/subscriptions",
            "/api/deliveries",
            "/admin/deliveries",
            "/admin/subscriptions/morning/preview",
            "/api/channels/eng",
            "/api/subscriptions/morning",
        ]
    ),
    PATH_NAMES.map(lambda name: f"/api/channels/{quote(name, safe='')}"),
    PATH_NAMES.map(lambda name: f"/api/subscriptions/{quote(name, safe='')}"),
    PATH_NAMES.map(lambda name: f"/admin/subscriptions/{quote(name, safe='')}/preview"),
)
METHODS = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"])
ENTRIES = st.dictionaries(st.sampled_from(CHANNEL_FIELDS + SUBSCRIPTION_FIELDS) | TEXT, JSON_VALUES)
BODIES = st.one_of(
    ENTRIES.map(lambda entry: json.dumps(entry).encode()),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    st.sampled_from([b"", b"{", b'{"name": "eng",}', b"\xff\xfe{}", b"null", b"[" * 50_000]),
    st.integers(1, 2).map(lambda n: b'{"name": "' + b"x" * (n * 700_000) + b'"}'),
)


def send(client: FlaskClient, method: str, path: str, body: bytes, content_type: str, **headers):  # type: ignore[no-untyped-def]
    if content_type:
        headers["Content-Type"] = content_type
    return client.open(path, method=method, data=body, headers=headers)


@PROPERTY
@given(
    method=METHODS,
    path=PATHS,
    authorization=AUTHORIZATIONS,
    content_type=CONTENT_TYPES,
    body=BODIES,
)
# Malformed headers around the right token, each once whatever hypothesis draws: all 401.
@example("GET", "/api/channels", f"Bearer  {TOKEN}", "", b"")  # two spaces, found by hypothesis
@example("POST", "/api/channels", f"Bearer\t{TOKEN}", "application/json", b"{}")
@example("GET", "/api/channels", f"Bearer \t{TOKEN}", "", b"")
@example("DELETE", "/api/channels/eng", f"Bearer {TOKEN} x", "", b"")
@example("GET", "/api/channels", f"Bearer {TOKEN}\tx", "", b"")
@example("GET", "/api/subscriptions", f"Bearer {TOKEN}, Bearer {TOKEN}", "", b"")
@example("GET", "/admin/deliveries", f"Bearer {TOKEN} {TOKEN}", "", b"")
@example("GET", "/api/channels", f"Bearer\xa0{TOKEN}", "", b"")
def test_without_the_token_the_admin_api_is_closed_and_changes_nothing(
    admin, method, path, authorization, content_type, body
) -> None:
    client = admin.test_client()
    headers = {} if authorization is None else {"Authorization": authorization}
    before = snapshot(admin)
    response = send(client, method, path, body, content_type, **headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert snapshot(admin) == before
    if method != "OPTIONS" and routed_to_admin(admin, path, method):
        assert response.status_code == 401, response.get_data(as_text=True)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        if method != "HEAD":
            assert error_of(response).strip()
    assert MARK not in response.get_data(as_text=True)


@PROPERTY
@given(
    method=METHODS,
    path=PATHS,
    authorization=AUTHORIZATIONS | st.sampled_from([f"Bearer {TOKEN}", "Bearer ", "Bearer   "]),
    content_type=CONTENT_TYPES,
    body=BODIES,
)
def test_without_an_admin_token_configured_the_admin_api_is_off(
    admin_off, method, path, authorization, content_type, body
) -> None:
    client = admin_off.test_client()
    headers = {} if authorization is None else {"Authorization": authorization}
    before = snapshot(admin_off)
    response = send(client, method, path, body, content_type, **headers)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert snapshot(admin_off) == before
    if method != "OPTIONS" and routed_to_admin(admin_off, path, method):
        assert response.status_code == 403, response.get_data(as_text=True)
        if method != "HEAD":
            assert "SHIPLOG_ADMIN_TOKEN" in error_of(response)


def valid_filters() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "repo": st.lists(
                st.sampled_from(["acme/*", "acme/api", "*/web", "a_b.c/d-e"]), max_size=3
            ),
            "kind": st.lists(st.sampled_from(KIND_CHOICES), max_size=4),
            "branch": st.sampled_from(["main", "release/*", ["main", "develop"]]),
            "author": st.sampled_from(["mara", "dependabot[bot]"]),
            "path": st.sampled_from([["services/api/**"], "docs/*.md"]),
            "q": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
            "bots": st.just("exclude"),
        },
    )


@st.composite
def valid_channels(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(sorted(PLATFORMS)))
    entry = {
        "name": draw(NAMES),
        "platform": kind,
        "url": HOOKS[kind] + draw(st.from_regex(r"[A-Za-z0-9_-]{0,20}", fullmatch=True)),
    }
    if draw(st.booleans()):
        entry["secret"] = draw(SAFE) + MARK
    return entry


@st.composite
def valid_subscriptions(draw: st.DrawFn, channel: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": draw(NAMES), "channel": channel}
    entry["mode"] = draw(st.sampled_from(["realtime", "digest"]))
    if entry["mode"] == "digest":
        entry["schedule"] = draw(st.sampled_from(CRONS))
        entry["timezone"] = draw(st.sampled_from(ZONES))
    entry["filter"] = draw(valid_filters())
    entry["options"] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "max_items": st.integers(1, 50),
                "message_lines": st.integers(0, 5),
                "diff_stats": st.booleans(),
                "diff_lines": st.integers(0, 20),
            },
        )
    )
    entry["send_empty"] = draw(st.booleans())
    entry["mention_suspects"] = draw(st.booleans())
    return entry


@PROPERTY
@given(data=st.data())
def test_a_valid_entry_is_created_and_listed_without_its_url(admin, data) -> None:
    client = admin.test_client()
    channel = data.draw(valid_channels(), label="channel")
    created = client.post("/api/channels", json=channel, headers=auth())
    assert created.status_code == 201, created.get_data(as_text=True)
    assert created.json["name"] == channel["name"]
    listed = client.get("/api/channels", headers=auth())
    shown = next(c for c in listed.json["channels"] if c["name"] == channel["name"])
    assert (shown["platform"], shown["signed"]) == (channel["platform"], "secret" in channel)
    for answer in (created, listed):
        assert MARK not in answer.get_data(as_text=True)

    subscription = data.draw(valid_subscriptions(channel["name"]), label="subscription")
    created = client.post("/api/subscriptions", json=subscription, headers=auth())
    assert created.status_code == 201, created.get_data(as_text=True)
    listed = client.get("/api/subscriptions", headers=auth()).json["subscriptions"]
    shown = next(s for s in listed if s["name"] == subscription["name"])
    assert (shown["channel"], shown["mode"]) == (channel["name"], subscription["mode"])
    assert shown["send_empty"] == subscription["send_empty"]
    assert shown["mention_suspects"] == subscription["mention_suspects"]
    preview = client.get(f"/admin/subscriptions/{subscription['name']}/preview", headers=auth())
    assert preview.status_code == 200
    assert MARK not in preview.get_data(as_text=True)


def not_a_name(value: Any) -> bool:
    return not isinstance(value, str) or not NAME.fullmatch(value)


def not_a_cron(value: Any) -> bool:
    return not isinstance(value, str) or not croniter.is_valid(value)


def not_a_zone(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 64:
        return True
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return True
    return False


NOT_TEXT = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
NOT_TEXT |= st.lists(st.sampled_from(["eng", "slack", "x"]), max_size=2)
NOT_TEXT |= st.dictionaries(st.sampled_from(["name", "url"]), st.just("x"), max_size=1)
# A URL of the wrong type still holds a secret.
HOOKS_NOT_TEXT = st.lists(st.sampled_from(sorted(HOOKS.values())), min_size=1, max_size=2)
HOOKS_NOT_TEXT |= st.dictionaries(st.just("url"), st.sampled_from(sorted(HOOKS.values())))


def not_text_nor_names(value: Any) -> bool:
    """A filter value of the wrong type: not text, and not a list of names either, which is
    how a filter lists several (hypothesis found `{"branch": ["eng"]}` taken for wrong)."""
    names = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return value not in (None, [], False) and not isinstance(value, str) and not names


BAD_FILTERS = st.one_of(
    st.dictionaries(TEXT.filter(lambda key: key not in FILTER_KEYS), JSON_VALUES, min_size=1),
    st.sampled_from(
        [
            {"repo": "not-a-repo"},
            {"repo": [f"acme/{n}" for n in range(21)]},
            {"kind": "nope"},
            {"kind": [1]},
            {"branch": "x" * 300},
            {"author": {"login": "mara"}},
            {"q": "a\x01b"},
            {"q": ["a", "b"]},
            {"since": "2026-01-01"},
            {"until": "2026-01-01T00:00:00Z"},
            {"since": "yesterday"},
            {"around": "incidents"},
            {"around": "everything"},
            {"bots": "include"},
        ]
    ),
    st.fixed_dictionaries({}, optional=dict.fromkeys(FILTER_KEYS, NOT_TEXT)).filter(
        lambda rule: any(not_text_nor_names(value) for value in rule.values())
    ),
)
BROKEN: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "/api/channels": {
        "name": (NOT_TEXT | TEXT).filter(not_a_name),
        "platform": NOT_TEXT | TEXT.filter(lambda text: text not in PLATFORMS),
        "url": NOT_TEXT | HOOKS_NOT_TEXT | st.sampled_from(BAD_URLS),
    },
    "/api/subscriptions": {
        "name": (NOT_TEXT | TEXT).filter(not_a_name),
        "channel": st.sampled_from(["nobody", "", None, 5, ["eng"], {"name": "eng"}]),
        "mode": (NOT_TEXT | TEXT).filter(lambda mode: mode not in ("realtime", "digest")),
        "schedule": (NOT_TEXT | TEXT).filter(not_a_cron),
        "timezone": (NOT_TEXT | TEXT).filter(not_a_zone),
        "filter": BAD_FILTERS,
        "options": st.one_of(
            st.sampled_from([[1], "max_items", 5, True]),
            st.dictionaries(TEXT.filter(lambda key: key not in OPTION_KEYS), SCALARS, min_size=1),
        ),
    },
}
WORDS = {"url": ("url", "host"), "timezone": ("zone",)}
BROKEN["/api/channels"]["secret"] = NOT_TEXT.filter(lambda value: value is not None)
BROKEN["/api/subscriptions"]["send_empty"] = (
    NOT_TEXT.filter(lambda value: not isinstance(value, bool)) | TEXT
)
WORDS["send_empty"] = ("send_empty",)
BROKEN["/api/subscriptions"]["mention_suspects"] = BROKEN["/api/subscriptions"]["send_empty"]
WORDS["mention_suspects"] = ("mention_suspects",)


@st.composite
def broken_entries(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """A valid channel or subscription with one field made wrong (or left out)."""
    path = draw(st.sampled_from(sorted(BROKEN)))
    field = draw(st.sampled_from(sorted(BROKEN[path])))
    if path == "/api/channels":
        entry = draw(valid_channels())
    else:
        entry = draw(valid_subscriptions("eng"))
        if field in ("schedule", "timezone"):
            entry |= {"mode": "digest", "schedule": CRONS[0], "timezone": "UTC"}
    missing_is_wrong = field in ("name", "platform", "url", "channel") or (field == "schedule")
    if missing_is_wrong and draw(st.booleans()):
        del entry[field]
    else:
        entry[field] = draw(BROKEN[path][field])
    return path, field, entry


def assert_refused(admin: Flask, response: Any, before: tuple[Any, ...], entry: Any) -> str:
    """A 4xx with a JSON error that says why, repeats no secret, and changed nothing."""
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    message = error_of(response)
    assert message.strip(), response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    assert MARK not in text
    for secret in secrets_given(entry):
        assert secret not in text
    assert snapshot(admin) == before
    return message


@PROPERTY
@given(case=broken_entries())
def test_an_entry_with_one_wrong_field_is_a_4xx_naming_it(admin, case) -> None:
    path, field, entry = case
    before = snapshot(admin)
    response = admin.test_client().post(path, json=entry, headers=auth())
    message = assert_refused(admin, response, before, entry).lower()
    assert any(word in message for word in WORDS.get(field, (field,))), (field, message)


PLAUSIBLE = {
    "name": st.sampled_from(["eng", "morning", "new-one"]),
    "platform": st.sampled_from(sorted(PLATFORMS)),
    "url": st.sampled_from([*HOOKS.values(), *DEBATABLE_URLS, *BAD_URLS]),
    "channel": st.just("eng"),
    "mode": st.sampled_from(["realtime", "digest"]),
    "schedule": st.sampled_from(CRONS),
    "timezone": st.sampled_from(ZONES),
    "filter": valid_filters() | BAD_FILTERS,
    "secret": st.just(f"shh-{MARK}"),
}
RANDOM_ENTRIES = st.fixed_dictionaries(
    {},
    optional={
        field: PLAUSIBLE[field] | JSON_VALUES if field in PLAUSIBLE else JSON_VALUES
        for field in CHANNEL_FIELDS + SUBSCRIPTION_FIELDS
    },
)


@PROPERTY
@given(
    path=st.sampled_from(["/api/channels", "/api/subscriptions"]),
    entry=RANDOM_ENTRIES | JSON_VALUES,
    raw=st.none() | st.binary(max_size=200) | st.sampled_from([b"{", b"[1,]", b"\xff"]),
    content_type=CONTENT_TYPES,
)
def test_any_entry_is_created_and_listed_or_refused_with_nothing_changed(
    admin, path, entry, raw, content_type
) -> None:
    client = admin.test_client()
    body = json.dumps(entry).encode() if raw is None else raw
    before = snapshot(admin)
    response = send(client, "POST", path, body, content_type, **auth())
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert_refused(admin, response, before, entry if raw is None else None)
        return
    assert response.status_code == 201
    assert raw is None and content_type.startswith("application/json")
    assert MARK not in response.get_data(as_text=True)
    listing = client.get(path, headers=auth())
    assert MARK not in listing.get_data(as_text=True)
    listed = listing.json["channels" if path.endswith("channels") else "subscriptions"]
    assert entry["name"] in [row["name"] for row in listed]
    if path.endswith("subscriptions"):
        preview = client.get(f"/admin/subscriptions/{entry['name']}/preview", headers=auth())
        assert preview.status_code == 200, preview.get_data(as_text=True)


@PROPERTY
@given(method=METHODS, path=PATHS)
@example(method="GET", path="/admin/subscriptions/%00/preview")  # PostgreSQL refuses NUL
@example(method="DELETE", path="/api/subscriptions/%00")
@example(method="DELETE", path="/api/channels/a%00b")
def test_with_the_token_no_path_is_a_5xx(admin, method, path) -> None:
    response = admin.test_client().open(path, method=method, headers=auth())
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400 and path.startswith("/api/") and method != "HEAD":
        assert error_of(response).strip()
    assert MARK not in response.get_data(as_text=True)


# --- the config file -----------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """`value` as a TOML value: JSON's string escapes are TOML's, except for DEL."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    pairs = (f"{toml_value(str(key))} = {toml_value(item)}" for key, item in value.items())
    return "{" + ", ".join(pairs) + "}"


def toml_document(document: dict[str, Any]) -> str:
    """Plain keys first, then tables, then arrays of tables, as TOML wants them."""
    lines = [
        f"{toml_value(name)} = {toml_value(value)}"
        for name, value in document.items()
        if not isinstance(value, dict) and not is_table_array(value)
    ]
    for name, value in document.items():
        if isinstance(value, dict):
            lines.append(f"[{toml_value(name)}]")
            lines += [f"{toml_value(str(k))} = {toml_value(v)}" for k, v in value.items()]
    for name, value in document.items():
        if is_table_array(value):
            for table in value:
                lines.append(f"[[{toml_value(name)}]]")
                lines += [f"{toml_value(str(k))} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def tomlable(value: Any) -> bool:
    """TOML has no null."""
    if isinstance(value, list):
        return all(tomlable(item) for item in value)
    if isinstance(value, dict):
        return all(tomlable(item) for item in value.values())
    return value is not None


def is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


SET_VARIABLE = "HOSTILE_TEST_HOOK_URL"
UNSET_VARIABLE = "HOSTILE_TEST_UNSET_VARIABLE"
SECRET_KEYS = {"admin_token", "secret_key", "token", "webhook_secret", "url", "secret"}
# `*_env` names: one set, one unset, and the mistake of writing the secret itself there.
ENV_NAMES = st.sampled_from(
    [SET_VARIABLE, UNSET_VARIABLE, HOOKS["slack"], f"ghp_{MARK}token", "", "lower_case"]
)
TOML_SCALARS = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
TOML_VALUES = st.recursive(
    TOML_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
SECRETS = TEXT.map(lambda text: f"{text}{MARK}") | st.sampled_from(list(HOOKS.values()))


def table_of(keys: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """A table with some of `keys` (secrets marked), their `_env` forms, and unknown keys."""
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for key in keys:
        optional[key] = (SECRETS if key in SECRET_KEYS else st.nothing()) | TOML_VALUES
        optional[f"{key}_env"] = ENV_NAMES | TOML_VALUES
    return st.fixed_dictionaries({}, optional=optional).flatmap(
        lambda table: st.dictionaries(TEXT, TOML_VALUES, max_size=1).map(
            lambda extra: {**extra, **table}
        )
    )


CHANNEL_TABLES = st.fixed_dictionaries(
    {"name": NAMES | TOML_VALUES},
    optional={
        "platform": st.sampled_from(sorted(PLATFORMS)) | TOML_VALUES,
        "url": st.sampled_from([*HOOKS.values(), *BAD_URLS, *DEBATABLE_URLS]) | TOML_VALUES,
        "url_env": ENV_NAMES | TOML_VALUES,
        "secret": SECRETS | TOML_VALUES,
        "colour": TOML_VALUES,
    },
)
SUBSCRIPTION_TABLES = st.fixed_dictionaries(
    {"name": NAMES | TOML_VALUES, "channel": st.just("eng") | TOML_VALUES},
    optional={
        "mode": st.sampled_from(["realtime", "digest"]) | TOML_VALUES,
        "schedule": st.sampled_from(CRONS) | TEXT,
        "timezone": st.sampled_from(ZONES) | TEXT,
        "filter": valid_filters() | BAD_FILTERS.filter(tomlable),
        "options": st.dictionaries(st.sampled_from(sorted(OPTION_KEYS)), st.integers(0, 9)),
        "send_empty": st.booleans(),
        "mention_suspects": st.booleans() | TOML_VALUES,
    },
)
# [people]: logins to handles, each a platform's own form or anything else.
HANDLES = {
    "slack": "U024BE7LH",
    "discord": "80351110224678912",
    "mattermost": "octo",
    "teams": "octo@acme.example",
    "googlechat": "users/123",
}
PEOPLE_TABLES = st.dictionaries(
    st.sampled_from(["octocat", "Mara-L", "-bad", "a b"]) | TEXT,
    st.dictionaries(
        st.sampled_from([*HANDLES, "webhook", "irc"]) | TEXT,
        st.sampled_from([*HANDLES.values(), "@here", "<!channel>", "users/all", "all"])
        | TOML_VALUES,
        max_size=3,
    )
    | TOML_VALUES,
    max_size=2,
)
SECTIONS = {
    "server": table_of(sorted(TOML_KEYS["server"])) | TOML_SCALARS,
    "github": table_of(sorted(TOML_KEYS["github"])) | TOML_SCALARS,
    "components": st.dictionaries(
        TEXT, st.lists(st.sampled_from(["services/api/**", "libs/*"]), max_size=2) | TOML_VALUES
    )
    | TOML_SCALARS,
    "channels": st.lists(CHANNEL_TABLES, max_size=3) | TOML_VALUES,
    "subscriptions": st.lists(SUBSCRIPTION_TABLES, max_size=3) | TOML_VALUES,
    "people": PEOPLE_TABLES | TOML_SCALARS,
    "security": st.fixed_dictionaries(
        {}, optional={"allow_webhook_hosts": st.just([ALLOWED_HOST]) | TOML_VALUES}
    )
    | TOML_VALUES,
}
DOCUMENTS = st.fixed_dictionaries({}, optional=SECTIONS).flatmap(
    lambda document: st.dictionaries(
        TEXT.filter(lambda s: s not in SECTIONS), TOML_VALUES, max_size=1
    ).map(lambda unknown: {**document, **unknown})
)


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: None) -> Path:
    """Where SHIPLOG_CONFIG points; one variable set for `url_env`, one surely unset."""
    path = tmp_path / "shiplog.toml"
    monkeypatch.setenv("SHIPLOG_CONFIG", str(path))
    monkeypatch.setenv(SET_VARIABLE, HOOKS["slack"])
    monkeypatch.delenv(UNSET_VARIABLE, raising=False)
    return path


def load(database_url: str) -> str | None:
    """Build the app from SHIPLOG_CONFIG and write its chat config: None, or the message of
    the project's own error. Any other exception fails the test."""
    try:
        app = create_app({"DATABASE_URL": database_url, "TESTING": True})
    except ConfigError as exc:
        return str(exc)
    try:
        with app.app_context():
            load_chat_config(shiplog_state(app))
    except (ChatConfigError, click.ClickException) as exc:
        return exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
    finally:
        shiplog_state(app).db.dispose()
    return None


def mangled(text: str) -> st.SearchStrategy[bytes]:
    """`text` cut short, with junk put in, or in another encoding."""
    data = text.encode()
    return st.one_of(
        st.just(data),
        st.integers(0, len(data)).map(lambda n: data[:n]),
        st.tuples(
            st.integers(0, len(data)), st.sampled_from([b"[", b"=", b'"', b"\n[[", b"]"])
        ).map(lambda cut: data[: cut[0]] + cut[1] + data[cut[0] :]),
        st.just(b"\xff\xfe" + data),
        st.just(text.encode("utf-16")),
        st.just(text.encode("latin-1", "replace") + b'\nx = "\xe9"\n'),
    )


@CONFIG_PROPERTY
@given(data=st.data(), document=DOCUMENTS)
def test_any_config_file_loads_or_says_what_is_wrong(
    config_file, database_url, data, document
) -> None:
    text = toml_document(document)
    config_file.write_bytes(data.draw(mangled(text), label="file"))
    message = load(database_url)
    event("loaded" if message is None else "refused")
    if message is not None:
        assert message.strip()
        assert "\n" not in message.strip()
        assert MARK.lower() not in message.lower(), message  # some values are read lowered
        assert "Traceback" not in message


def valid_document() -> dict[str, Any]:
    return {
        "server": {"admin_token": f"tok-{MARK}"},
        "github": {"repos": ["acme/api"], "token": f"ghp_{MARK}", "webhook_secret": MARK},
        "components": {"api": ["services/api/**"]},
        "channels": [
            {"name": "eng", "platform": "slack", "url_env": SET_VARIABLE},
            {"name": "ops", "platform": "discord", "url": HOOKS["discord"], "secret": MARK},
        ],
        "subscriptions": [
            {
                "name": "morning",
                "channel": "eng",
                "mode": "digest",
                "schedule": CRONS[0],
                "timezone": "Europe/Berlin",
                "filter": {"repo": ["acme/*"], "kind": ["commit", "revert"]},
            }
        ],
    }


def server_faults() -> list[tuple[str, str, st.SearchStrategy[Any]]]:
    """(section, key, values surely wrong for it) for [server] and [github]."""
    not_text = st.floats(allow_nan=False, allow_infinity=False) | st.lists(
        st.just(MARK), min_size=1, max_size=2
    )
    not_text |= st.dictionaries(st.just("value"), st.just(MARK), min_size=1)
    bad_number = st.sampled_from(["soon", "1.5", [1], {"n": 1}])
    faults: list[tuple[str, str, st.SearchStrategy[Any]]] = [
        ("server", "base_url", st.sampled_from(["ftp://x", "not a url", "http://[", "https://"])),
        ("server", "log_format", st.sampled_from(["xml", "", 1.5]).filter(lambda v: v != "")),
        ("github", "api_url", st.sampled_from(["ftp://x", "github.com", "http://[::1"])),
        ("github", "repos", st.sampled_from(["nonsense", 5, ["a/b/c"], [{"a": 1}], {"a": "b/c"}])),
        ("github", "severity_labels", st.sampled_from([5, {"a": 1}, 1.5])),
        ("github", "branches", st.sampled_from([5, {"a": 1}, 1.5])),
        ("github", "sync_interval", bad_number | st.integers(-5, 9)),
        ("github", "backfill_days", bad_number | st.integers(-5, 0)),
        ("github", "patch_cap", bad_number | st.integers(-5, -1)),
        ("github", "rate_limit_reserve", bad_number | st.integers(-5, -1)),
        ("github", "app_installation_id", bad_number | st.integers(-5, 0)),
    ]
    for section, key in [
        ("server", "admin_token"),
        ("github", "incident_label"),
        ("github", "component_label_prefix"),
        ("github", "token"),
        ("github", "webhook_secret"),
        ("github", "app_id"),
        ("github", "app_private_key_file"),
    ]:
        faults.append((section, key, not_text))
    return faults


@st.composite
def faulty_documents(draw: st.DrawFn) -> tuple[dict[str, Any], tuple[str, ...]]:
    """A valid config with one thing wrong, and the names an error about it may use."""
    document = valid_document()
    kind = draw(st.sampled_from(["key", "env", "unknown", "section", "table", "component", "chat"]))
    if kind == "key":
        section, key, values = draw(st.sampled_from(server_faults()))
        document[section][key] = draw(values)
        return document, (f"{section}.{key}", TOML_KEYS[section][key])
    if kind == "env":
        section, key = draw(st.sampled_from([("server", "admin_token"), ("github", "token")]))
        del document[section][key]
        document[section][f"{key}_env"] = draw(
            st.sampled_from([UNSET_VARIABLE, HOOKS["slack"], f"ghp_{MARK}", "", 5, [SET_VARIABLE]])
        )
        return document, (f"{section}.{key}_env",)
    if kind == "unknown":
        section = draw(st.sampled_from(["server", "github"]))
        key = draw(NAMES.filter(lambda k: k.removesuffix("_env") not in TOML_KEYS[section]))
        document[section][key] = draw(TOML_VALUES)
        return document, (f"{section}.{key}",)
    if kind == "section":
        name = draw(NAMES.filter(lambda s: s not in SECTIONS))
        document[name] = {"x": 1}
        return document, (f"[{name}]",)
    if kind == "table":
        section = draw(st.sampled_from(["server", "github", "components", "channels"]))
        document[section] = draw(st.sampled_from([5, "x", [1, 2], True]))
        return document, (section,)
    if kind == "component":
        document["components"]["api"] = draw(st.sampled_from([5, [1], [""], {"a": "b"}]))
        return document, ("components.api",)
    section = draw(st.sampled_from(["channels", "subscriptions"]))
    path = f"/api/{section}"
    field = draw(st.sampled_from(sorted(BROKEN[path])))
    entry = document[section][0]
    bad = draw(BROKEN[path][field].filter(tomlable))
    entry.pop(f"{field}_env", None)
    entry[field] = bad
    return document, WORDS.get(field, (field,))


@CONFIG_PROPERTY
@given(case=faulty_documents())
def test_a_config_with_one_thing_wrong_is_refused_naming_it(
    config_file, database_url, case
) -> None:
    document, names = case
    config_file.write_text(toml_document(document))
    message = load(database_url)
    assert message is not None, f"loaded despite one of {names}"
    assert any(name.lower() in message.lower() for name in names), (names, message)
    assert MARK.lower() not in message.lower(), message


def test_the_valid_config_loads(config_file, database_url) -> None:
    config_file.write_text(toml_document(valid_document()))
    assert load(database_url) is None


def run_shiplog(folder: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "shiplog.toml").write_text(config)
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHIPLOG_")}
    env |= {
        "SHIPLOG_CONFIG": str(folder / "shiplog.toml"),
        "SHIPLOG_DATABASE_URL": f"sqlite:///{folder / 'cli.db'}",
    }
    return subprocess.run(
        [str(Path(sys.executable).with_name("shiplog")), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("config", "command", "names"),
    [
        ('[server\nadmin_token = "tok"\n', ["db", "upgrade"], "not valid TOML"),
        (
            f'[[channels]]\nname = "eng"\nplatform = "slack"\n'
            f'url = "ftp://hooks.slack.com/services/{MARK}"\n',
            ["worker", "--once"],
            "channel eng",
        ),
        ('[server]\nbase_url = "http://["\n', ["db", "upgrade"], "BASE_URL"),
    ],
    ids=["broken-toml", "bad-channel-url", "unparsable-base-url"],
)
def test_shiplog_with_a_broken_config_exits_with_one_clear_line(
    tmp_path: Path, config: str, command: list[str], names: str
) -> None:
    result = run_shiplog(tmp_path, config, *command)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: config:") and names in lines[0], lines[0]
    assert MARK not in result.stderr + result.stdout


# --- inputs that once gave a 500 or were wrongly accepted --------------------------------------

ONCE_BROKEN = [
    ("/api/subscriptions", {"name": "s", "channel": "eng", "filter": 5}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "filter": True}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "filter": "q"}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "filter": ["repo"]}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "filter": [1, "a"]}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "filter": [[1]]}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "schedule": {"cron": "* * * * *"}}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "schedule": ["0 9 * * *"]}),
    (
        "/api/subscriptions",
        {"name": "s", "channel": "eng", "mode": "digest", "schedule": "@daily", "timezone": "Etc"},
    ),
    (
        "/api/subscriptions",
        {
            "name": "s",
            "channel": "eng",
            "mode": "digest",
            "schedule": "@daily",
            "timezone": "a" * 300,
        },
    ),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "options": {"max_items": "ten"}}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "options": {"diff_lines": None}}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "send_empty": "false"}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "mention_suspects": "yes"}),
    ("/api/subscriptions", {"name": "s", "channel": "eng", "filtr": {"repo": "acme/api"}}),
    ("/api/channels", {"name": "c", "platform": "slack", "url": HOOKS["slack"], "secret": 12345}),
    ("/api/channels", b"[" * 100_000),
]


@pytest.mark.parametrize(
    ("path", "entry"), ONCE_BROKEN, ids=[str(i) for i in range(len(ONCE_BROKEN))]
)
def test_inputs_that_once_broke_the_admin_api_are_refused(admin, path, entry) -> None:
    """Each is refused with a 400 and changes nothing (they were a 500, or stored wrongly)."""
    client = admin.test_client()
    body = entry if isinstance(entry, bytes) else json.dumps(entry).encode()
    before = snapshot(admin)
    response = send(client, "POST", path, body, "application/json", **auth())
    if response.status_code == 201 and path.endswith("subscriptions"):
        preview = client.get("/admin/subscriptions/s/preview", headers=auth())
        assert preview.status_code == 200
    assert_refused(admin, response, before, entry)


@pytest.mark.parametrize("url", ["nonsense", "postgresql+nope://x/y"])
def test_a_bad_database_url_is_a_config_error(config_file, url) -> None:
    config_file.write_text(f"[server]\ndatabase_url = {toml_value(url)}\n")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        create_app({"TESTING": True})
