"""Private mode: nothing of the timeline without sign-in; sessions, feed tokens, CSRF."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app, instance_secret
from feed.models import FeedToken, Person
from feed.state import shiplog_state
from tests.conftest import deliver, make_event

ADMIN_TOKEN = "admin-token-123"
SECRET_TITLE = "Rotate the payments signing key"
PAGES = ["/", "/events/1", "/health", "/status", "/incidents/1", "/account", "/admin/deliveries"]
PAGES += ["/admin/sync", "/admin/subscriptions/x/preview"]
MACHINE = ["/feed.atom", "/feed.rss", "/feed.json", "/status.atom", "/api/events"]
MACHINE += ["/api/events/1", "/api/incidents", "/api/status", "/metrics", "/api/channels"]
MACHINE += ["/api/health", "/api/sync", "/api/people", "/api/feed-tokens", "/api/deliveries"]


@pytest.fixture
def private(app_config, isolated_env) -> Iterator[Flask]:
    app = create_app({**app_config, "PRIVATE": "true", "ADMIN_TOKEN": ADMIN_TOKEN})
    with shiplog_state(app).db.write() as session:
        make_event(session, title=SECRET_TITLE)
    yield app
    shiplog_state(app).db.dispose()


def add_person(app: Flask, name: str = "mara") -> str:
    answer = app.test_client().post(
        "/api/people", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert answer.status_code == 201, answer.json
    return answer.json["access_token"]


def csrf_of(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def sign_in(client: FlaskClient, token: str, next: str = "/") -> object:
    csrf = csrf_of(client, "/signin")
    return client.post("/signin", data={"token": token, "next": next, "csrf_token": csrf})


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_strangers_to_sign_in(private, path) -> None:
    answer = private.test_client().get(path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/signin?next=")


@pytest.mark.parametrize("path", MACHINE)
def test_feeds_and_the_api_answer_strangers_401(private, path) -> None:
    answer = private.test_client().get(path)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert SECRET_TITLE not in answer.get_data(as_text=True)


def test_health_static_sign_in_and_github_stay_open(private) -> None:
    client = private.test_client()
    for path in ["/healthz", "/static/style.css", "/favicon.ico", "/signin"]:
        with client.get(path) as answer:
            assert answer.status_code == 200, path
    assert "This shiplog is private" in client.get("/signin").get_data(as_text=True)
    push = {"ref": "refs/heads/main", "commits": [], "repository": {"full_name": "acme/api"}}
    assert deliver(client, "push", push).status_code == 200


def test_a_person_signs_in_and_sees_the_timeline(private) -> None:
    client = private.test_client()
    answer = sign_in(client, add_person(private), next="/status")
    assert answer.status_code == 303 and answer.headers["Location"] == "/status"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("shiplog_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    page = client.get("/").get_data(as_text=True)
    assert SECRET_TITLE in page and "Sign out" in page and ">mara</a>" in page
    assert client.get("/api/events").json["events"][0]["title"] == SECRET_TITLE


@pytest.mark.parametrize(
    ("token", "next"),
    [
        ("shiplog_a_not-a-real-token", "/"),
        ("", "/"),
        ("x" * 5000, "/"),
        (ADMIN_TOKEN + "x", "/"),
        (ADMIN_TOKEN[:-1], "/"),
    ],
)
def test_a_wrong_token_is_refused_and_not_echoed(private, token, next) -> None:
    client = private.test_client()
    answer = sign_in(client, token)
    page = answer.get_data(as_text=True)
    assert answer.status_code in (400, 401)
    if token:
        assert "That token is not valid" in page and token.strip() not in page
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_only_post_signs_in(private, method) -> None:
    client = private.test_client()
    token = add_person(private)
    answer = client.open("/signin", method=method, data={"token": token, "next": "/"})
    assert answer.status_code == 200  # the form, not the 303 of a sign-in
    assert client.get("/").status_code == 302  # still a stranger
    assert client.get("/api/events").status_code == 401


@pytest.mark.parametrize(
    "who",
    [
        {"person": 2**63, "check": "x" * 32},  # past BIGINT: SQLite raised OverflowError
        {"person": 2**70, "check": "x" * 32},
        {"person": 10**40, "check": "x" * 32},
        {"person": -(2**70), "check": "x" * 32},
        {"person": 0, "check": "x" * 32},
        {"person": True, "check": "x" * 32},
        {"person": 1.0, "check": "x" * 32},
        {"person": "1", "check": "x" * 32},
        {"person": [1], "check": "x" * 32},
        {"person": {"id": 1}, "check": "x" * 32},
        {"person": 1, "check": None},
        {"person": 1, "check": ["x"]},
        {"person": 1, "check": "é" * 32},  # not ASCII: hmac.compare_digest refuses str
        {"person": None, "check": "é" * 32},
        {"person": None, "check": 12},
        {"person": None},
        {},
        "who",
        ["who"],
        None,
    ],
)
def test_a_malformed_session_is_simply_signed_out(private, who) -> None:
    add_person(private)  # person 1 exists
    client = private.test_client()
    cookie = private.session_interface.get_signing_serializer(private).dumps({"who": who})
    client.set_cookie("shiplog_session", cookie, domain="localhost")
    assert client.get("/").status_code == 302  # sent to sign in, not a 500
    assert client.get("/api/events").status_code == 401
    assert client.get("/signin").status_code == 200


READS = ["/", "/status", "/feed.atom", "/feed.json", "/status.atom", "/api/events"]
READS += ["/api/events/1", "/api/incidents", "/api/status", "/metrics"]


@pytest.mark.parametrize("path", READS)
def test_no_private_answer_may_be_kept_by_a_shared_cache(private, path) -> None:
    bearer = {"Authorization": f"Bearer {add_person(private)}"}
    client = private.test_client()
    for answer in (client.get(path, headers=bearer), client.get(path)):
        directives = answer.headers.get("Cache-Control", "")
        assert "private" in directives and "public" not in directives, (path, answer.status)
    answer = client.get(path, headers=bearer)
    assert answer.status_code == 200 or path == "/", path  # the page asks for a session
    assert "Authorization" in answer.headers.get("Vary", ""), path
    assert "Authorization" not in client.get("/healthz").headers.get("Vary", "")


MALFORMED_BEARERS = ["Bearer  {}", "Bearer\t{}", "Bearer {} ", "Bearer {} x", "Bearer {}\t"]
MALFORMED_BEARERS += ["Bearer {},{}", "Bearer: {}", " Bearer {}", "{}", "Token {}"]


@pytest.mark.parametrize("shape", MALFORMED_BEARERS)
def test_a_malformed_bearer_header_is_nobody_whatever_its_token(private, shape) -> None:
    person = add_person(private)
    client = private.test_client()
    for path in ["/api/events", "/api/status", "/metrics", "/api/channels"]:
        token = ADMIN_TOKEN if path == "/api/channels" else person
        answer = client.get(path, headers={"Authorization": shape.format(token, token)})
        assert answer.status_code == 401, (shape, path)
        assert SECRET_TITLE not in answer.get_data(as_text=True)
        for scheme in ("Bearer", "bearer", "BEARER"):  # case-insensitive (RFC 9110 11.1)
            answer = client.get(path, headers={"Authorization": f"{scheme} {token}"})
            assert answer.status_code == 200, (scheme, path)


def test_two_authorization_headers_are_nobody(private) -> None:
    headers = [("Authorization", f"Bearer {ADMIN_TOKEN}")] * 2
    assert private.test_client().get("/api/channels", headers=headers).status_code == 401


def test_an_answer_to_a_bearer_token_varies_by_it_in_public_mode_too(app_config, isolated_env):
    app = create_app({**app_config, "ADMIN_TOKEN": ADMIN_TOKEN})
    client = app.test_client()
    admin = client.get("/api/channels", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert admin.status_code == 200 and "Authorization" in admin.headers["Vary"]
    assert "private" not in client.get("/api/events").headers.get("Cache-Control", "")
    shiplog_state(app).db.dispose()


def test_sign_in_without_the_forms_csrf_token_is_refused(private) -> None:
    client = private.test_client()
    token = add_person(private)
    answer = client.post("/signin", data={"token": token, "next": "/"})
    assert answer.status_code == 400 and "CSRF token is missing" in answer.get_data(as_text=True)
    forged = client.post("/signin", data={"token": token, "csrf_token": "forged"})
    assert forged.status_code == 400
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_after_sign_in_only_this_site(private, target) -> None:
    answer = sign_in(private.test_client(), add_person(private), next=target)
    assert answer.headers["Location"] == "/"


def test_sign_out_ends_the_session(private) -> None:
    client = private.test_client()
    sign_in(client, add_person(private))
    assert client.post("/signout").status_code == 400  # no CSRF token: a forged sign-out
    assert client.get("/").status_code == 200
    answer = client.post("/signout", data={"csrf_token": csrf_of(client, "/")})
    assert answer.status_code == 303
    assert client.get("/").status_code == 302


def test_a_new_access_token_or_removal_ends_sessions_at_once(private) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    client, other = private.test_client(), private.test_client()
    sign_in(client, add_person(private, "mara"))
    sign_in(other, add_person(private, "ola"))
    rotated = private.test_client().post("/api/people/mara/token", headers=admin)
    assert rotated.status_code == 200 and rotated.json["access_token"].startswith("shiplog_a_")
    assert client.get("/").status_code == 302
    assert sign_in(client, rotated.json["access_token"]).status_code == 303
    assert private.test_client().delete("/api/people/ola", headers=admin).status_code == 204
    assert other.get("/").status_code == 302
    assert private.test_client().delete("/api/people/ola", headers=admin).status_code == 404


def make_feed_token(client: FlaskClient, label: str = "reader") -> tuple[str, str]:
    """Make a feed token on the account page; (the token, the page that showed it)."""
    csrf = csrf_of(client, "/account")
    page = client.post("/account/feed-tokens", data={"label": label, "csrf_token": csrf})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    return re.search(r"feed\.atom\?token=(shiplog_f_[\w-]+)", text).group(1), text


def test_feed_tokens_open_feeds_only_and_are_stored_as_hashes(private) -> None:
    client = private.test_client()
    sign_in(client, add_person(private))
    token, shown = make_feed_token(client, "laptop")
    assert "not shown again" in shown
    assert token not in client.get("/account").get_data(as_text=True)
    reader = private.test_client()
    for path in ["/feed.atom", "/feed.rss", "/feed.json", "/status.atom"]:
        answer = reader.get(f"{path}?token={token}")
        assert answer.status_code == 200, path
        assert "private" in answer.headers["Cache-Control"], path
    assert SECRET_TITLE in reader.get(f"/feed.atom?token={token}&repo=acme/*").text
    assert token not in reader.get(f"/feed.atom?token={token}").text
    assert reader.get(f"/?token={token}").status_code == 302
    assert reader.get(f"/api/events?token={token}").status_code == 401
    assert reader.get(f"/feed.atom?token={token}x").status_code == 401
    with shiplog_state(private).db.read() as session:
        row = session.scalars(select(FeedToken)).one()
        stored = [str(value) for value in row.__dict__.values()]
        people = session.scalars(select(Person.token_hash)).all()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert not any(token in value for value in stored + people)
    assert row.label == "laptop" and row.last_used_at is not None


def test_a_feed_token_label_keeps_only_printable_text(private) -> None:
    client = private.test_client()
    sign_in(client, add_person(private))
    make_feed_token(client, "laptop\x00 <script>\u202e" + "x" * 300)
    with shiplog_state(private).db.read() as session:
        label = session.scalars(select(FeedToken.label)).one()
    assert label.startswith("laptop <script>") and len(label) == 100 and "\x00" not in label
    assert "&lt;script&gt;" in client.get("/account").text


def test_feed_tokens_are_listed_and_revoked_by_their_owner(private) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    mara, ola = private.test_client(), private.test_client()
    sign_in(mara, add_person(private, "mara"))
    sign_in(ola, add_person(private, "ola"))
    token, _ = make_feed_token(mara)
    listed = private.test_client().get("/api/feed-tokens", headers=admin).json["feed_tokens"]
    assert [(t["person"], t["ends_with"]) for t in listed] == [("mara", token[-4:])]
    assert token not in str(listed)
    path = f"/account/feed-tokens/{listed[0]['id']}/revoke"
    assert ola.post(path, data={"csrf_token": csrf_of(ola, "/account")}).status_code == 404
    assert private.test_client().get(f"/feed.atom?token={token}").status_code == 200
    assert mara.post(path).status_code == 400  # no CSRF token
    answer = mara.post(path, data={"csrf_token": csrf_of(mara, "/account")})
    assert answer.status_code == 303
    assert private.test_client().get(f"/feed.atom?token={token}").status_code == 401
    assert "No feed tokens yet" in mara.get("/account").text


def test_the_admin_signs_in_with_the_admin_token(private) -> None:
    client = private.test_client()
    assert sign_in(client, ADMIN_TOKEN).status_code == 303
    assert client.get("/admin/deliveries").status_code == 200
    assert "Deliveries</a>" in client.get("/").text
    channel = {"name": "eng", "platform": "slack", "url": "https://hooks.slack.com/services/x"}
    assert client.post("/api/channels", json=channel).status_code == 400  # no CSRF header
    csrf = {"X-CSRFToken": csrf_of(client, "/")}
    assert client.post("/api/channels", json=channel, headers=csrf).status_code == 201


def test_a_person_is_not_an_admin(private) -> None:
    client = private.test_client()
    token = add_person(private)
    sign_in(client, token)
    assert client.get("/api/channels").status_code == 403
    assert client.get("/admin/deliveries").status_code == 403
    bearer = private.test_client().get("/api/people", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 403
    api = private.test_client().get("/api/events", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200  # a person's token reads the API, as scripts need


def test_a_bearer_header_is_judged_alone_never_with_the_cookie(private) -> None:
    client = private.test_client()
    sign_in(client, ADMIN_TOKEN)
    wrong = client.get("/api/channels", headers={"Authorization": "Bearer wrong"})
    assert wrong.status_code == 401


def test_public_mode_shows_everything_and_offers_sign_in_only_with_an_admin_token(
    app_config, isolated_env
) -> None:
    plain = create_app(app_config)
    with shiplog_state(plain).db.write() as session:
        make_event(session, title=SECRET_TITLE)
    page = plain.test_client().get("/").text
    assert SECRET_TITLE in page and "Sign in" not in page
    assert "public" in plain.test_client().get("/feed.atom").headers["Cache-Control"]
    off = plain.test_client().get("/signin")
    assert off.status_code == 404 and "sign-in is off" in off.text
    keyless = create_app({**app_config, "SECRET_KEY": None})
    for method in ("GET", "POST"):
        for path in ("/signin", "/signout", "/account", "/account/feed-tokens"):
            answer = keyless.test_client().open(path, method=method)
            assert answer.status_code in (404, 405), (method, path, answer.status_code)
    shiplog_state(keyless).db.dispose()
    with_admin = create_app({**app_config, "ADMIN_TOKEN": ADMIN_TOKEN})
    assert "Sign in</a>" in with_admin.test_client().get("/").text
    shiplog_state(plain).db.dispose()
    shiplog_state(with_admin).db.dispose()


def test_every_form_that_posts_carries_a_csrf_token(private) -> None:
    client = private.test_client()
    sign_in(client, add_person(private))
    make_feed_token(client)
    for path in ["/signin", "/", "/account", "/status", "/events/1"]:
        page = client.get(path).text
        forms = re.findall(r"<form[^>]*>.*?</form>", page, flags=re.S)
        posting = [form for form in forms if 'method="post"' in form]
        assert all('name="csrf_token"' in form for form in posting), path
    assert 'method="post"' in client.get("/account").text


def test_the_people_api_refuses_bad_names_and_strangers(private) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    client = private.test_client()
    for body in [{"name": "no spaces"}, {"name": ""}, {"name": 5}, [], {"name": "x" * 101}]:
        answer = client.post("/api/people", json=body, headers=admin)
        assert answer.status_code == 400 and answer.json["error"].startswith("people API:")
    add_person(private, "mara")
    again = client.post("/api/people", json={"name": "mara"}, headers=admin)
    assert again.status_code == 400 and "already" in again.json["error"]
    assert client.post("/api/people", json={"name": "eve"}).status_code == 401
    listed = client.get("/api/people", headers=admin).json["people"]
    assert [p["name"] for p in listed] == ["mara"] and "access_token" not in listed[0]


def test_the_cli_adds_lists_and_removes_people(private) -> None:
    runner = private.test_cli_runner()
    added = runner.invoke(args=["people", "add", "mara"])
    assert added.exit_code == 0, added.output
    token = re.search(r"access token (shiplog_a_\S+)", added.output).group(1)
    assert sign_in(private.test_client(), token).status_code == 303
    assert "mara\tlast seen" in runner.invoke(args=["people", "list"]).output
    assert runner.invoke(args=["people", "add", "mara"]).exit_code == 1
    assert runner.invoke(args=["people", "remove", "mara"]).exit_code == 0
    assert sign_in(private.test_client(), token).status_code == 401


def test_a_secret_key_that_is_not_text_is_refused(app_config, isolated_env) -> None:
    from feed.config import ConfigError

    with pytest.raises(ConfigError, match="SECRET_KEY must be text"):
        create_app({**app_config, "SECRET_KEY": 12345})


def test_a_secret_key_is_made_once_and_kept_private(tmp_path) -> None:
    first = instance_secret(tmp_path / "instance")
    assert len(first) == 64 and instance_secret(tmp_path / "instance") == first
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0
