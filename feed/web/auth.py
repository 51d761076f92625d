"""Who is asking, and what they may see: sign-in with a token, the session cookie, feed
tokens, the admin guard, CSRF on every form, and private mode's gate.

A request that carries `Authorization: Bearer` is judged by that header alone, never by its
cookie; a cookie-authenticated request that changes anything must carry a CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial, wraps
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFProtect
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Unauthorized

from feed import people
from feed.config import Settings
from feed.models import Person
from feed.state import shiplog_state

blueprint = Blueprint("auth", __name__)
csrf = CSRFProtect()

ADMIN_OFF = "admin API is off: set SHIPLOG_ADMIN_TOKEN to turn it on"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_DAYS = 14
MAX_ROW_ID = 2**63 - 1  # BIGINT's largest; SQLite overflows past it, PostgreSQL refuses
# Open in private mode too: health for load balancers, sign-in (and the signed endpoints).
OPEN_ENDPOINTS = frozenset({"static", "ops.healthz", "ops.favicon", "auth.signin"})
FEED_ENDPOINTS = frozenset({"feeds.atom", "feeds.rss", "feeds.json_feed", "incidents.status_feed"})
SESSION_ENDPOINTS = frozenset({"auth.signin", "auth.signout"})  # no forged sign-in either
MACHINE_PREFIXES = ("/api/", "/feed.", "/status.atom", "/metrics")
REALM = {"realm": "shiplog"}
# `Bearer`, one space, one token of visible ASCII (RFC 6750 section 2.1, widened to every admin
# token a config may hold); the scheme is case-insensitive (RFC 9110 section 11.1). Nothing else:
# no second space, no tab, nothing after the token.
BEARER = re.compile(r"bearer ([\x21-\x7e]+)", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class Identity:
    """Someone known: a person (by id), or the admin (signed in with the admin token)."""

    name: str
    person_id: int | None = None
    admin: bool = False


ADMIN = Identity("admin", admin=True)


def register_auth(app: Flask, signed: frozenset[str] = frozenset()) -> None:
    """Session cookie settings, CSRF, and the gate every request passes. The `signed`
    endpoints (an integration's webhooks, which check their own signature) are open in
    private mode and take no CSRF token."""
    app.config.update(
        SESSION_COOKIE_NAME="shiplog_session",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",  # Strict would sign people out on links from chat
        PERMANENT_SESSION_LIFETIME=timedelta(days=SESSION_DAYS),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in `_gate`: cookie-authenticated writes only
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
    )
    csrf.init_app(app)
    app.register_blueprint(blueprint)
    app.before_request(partial(_gate, signed))
    app.after_request(_private_caching)
    app.context_processor(_template_context)


def identity() -> Identity | None:
    """Who is asking: by bearer token when the request has one, else by session cookie."""
    if "identity" not in g:
        g.identity = _by_header() if "Authorization" in request.headers else _by_session()
    return g.identity


def admin_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only the admin: `Authorization: Bearer <SHIPLOG_ADMIN_TOKEN>` (compared in constant
    time) or a session signed in with that token. Off, and saying so, without one."""

    @wraps(view)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not _settings().admin_token:
            abort(403, description=ADMIN_OFF)
        who = identity()
        if who is None:
            raise _unauthorized("admin API: a valid bearer token is required")
        if not who.admin:
            abort(403, description="admin only: sign in with the admin token")
        return view(*args, **kwargs)

    return guarded


@blueprint.route("/signin", methods=["GET", "POST"])
def signin() -> Response | tuple[str, int] | str:
    """Sign in with an access token (or the admin token); the session lasts SESSION_DAYS."""
    target = safe_next(request.values.get("next"))
    if request.method != "POST":  # HEAD too: a safe method, so no CSRF check, never signs in
        return render_template("signin.html", next=target, error=None)
    token = request.form.get("token", "").strip()
    who = _check_token(token)
    if who is None:
        error = "That token is not valid. Ask your shiplog admin for a new one."
        return render_template("signin.html", next=target, error=error), 401
    session.clear()
    session.permanent = True
    session["who"] = {"person": who.person_id, "check": _session_check(who)}
    return redirect(target, code=303)


@blueprint.post("/signout")
def signout() -> Response:
    session.clear()
    return redirect(url_for("auth.signin" if _settings().private else "pages.activity"), code=303)


@blueprint.get("/account")
def account() -> Response | str:
    who = identity()
    if who is None:
        return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
    return _account_page(who, issued=None)


@blueprint.post("/account/feed-tokens")
def add_feed_token() -> Response | str:
    who = _person_or_refuse()
    with _db().write() as db_session:
        issued = people.add_feed_token(db_session, who.person_id, request.form.get("label", ""))
    return _account_page(who, issued=issued)


@blueprint.post("/account/feed-tokens/<int:token_id>/revoke")
def revoke_feed_token(token_id: int) -> Response:
    who = _person_or_refuse()
    with _db().write() as db_session:
        if not people.revoke_feed_token(db_session, token_id, who.person_id):
            abort(404, description="no such feed token of yours")
    return redirect(url_for("auth.account"), code=303)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path on this site, never another site."""
    if (
        value
        and value.startswith("/")
        and not value.startswith(("//", "/\\"))
        and value.isprintable()
    ):
        return value
    return url_for("pages.activity")


def _account_page(who: Identity, issued: people.Issued | None) -> str:
    tokens = []
    if who.person_id is not None:
        with _db().read() as db_session:
            tokens = [row for row, _ in people.feed_tokens(db_session, who.person_id)]
    feeds = {}
    if issued is not None:
        base = _settings().base_url or request.host_url.rstrip("/")
        feeds = {
            name: f"{base}/{name}?token={issued.token}"
            for name in ("feed.atom", "feed.rss", "feed.json", "status.atom")
        }
    return render_template("account.html", who=who, tokens=tokens, issued=issued, feeds=feeds)


def _person_or_refuse() -> Identity:
    who = identity()
    if who is None:
        abort(401, description="sign in first")
    if who.person_id is None:
        abort(403, description="feed tokens belong to people; the admin has none")
    return who


def _gate(signed: frozenset[str]) -> Response | None:
    """CSRF for cookie-authenticated writes; in private mode, sign-in for everything else."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # a 404 or 405 follows, showing nothing
    if endpoint.startswith("auth.") and not _sign_in_offered():
        abort(404, description="sign-in is off: set SHIPLOG_PRIVATE or SHIPLOG_ADMIN_TOKEN")
    if (
        request.method not in SAFE_METHODS
        and endpoint not in signed
        and "Authorization" not in request.headers
        and (endpoint in SESSION_ENDPOINTS or identity() is not None)
    ):
        csrf.protect()  # a write on the strength of a cookie: prove it came from our form
    if not _settings().private or endpoint in OPEN_ENDPOINTS or endpoint in signed:
        return None
    if identity() is not None:
        return None
    if endpoint in FEED_ENDPOINTS and _feed_reader():
        return None
    if request.path.startswith(MACHINE_PREFIXES):
        raise _unauthorized("sign in, or send a bearer token; feed readers add ?token=")
    return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))


def _feed_reader() -> bool:
    """A valid feed token in `?token=` (feed endpoints only); records its use hourly."""
    token = request.args.get("token", "")
    if not token:
        return False
    now = datetime.now(UTC)
    with _db().read() as db_session:
        row = people.by_feed_token(db_session, token)
        stale = row is not None and (
            row.last_used_at is None or row.last_used_at < now - people.TOUCH_EVERY
        )
    if row is None:
        return False
    if stale:
        with _db().write() as db_session:
            people.touch_feed_token(db_session, row.id, now)
    g.identity = Identity(f"feed token {row.id}", person_id=row.person_id)
    return True


def _by_header() -> Identity | None:
    """The bearer token's identity; a malformed header (or two of them) is nobody."""
    values = request.headers.getlist("Authorization")
    match = BEARER.fullmatch(values[0]) if len(values) == 1 else None
    return None if match is None else _check_token(match.group(1))


def _check_token(token: str) -> Identity | None:
    """The admin token, compared in constant time, or a person's access token."""
    admin_token = _settings().admin_token
    if admin_token and hmac.compare_digest(token.encode(), admin_token.encode()):
        return ADMIN
    if not token.startswith(people.ACCESS_PREFIX):
        return None
    with _db().read() as db_session:
        person = people.by_access_token(db_session, token)
        return None if person is None else Identity(person.name, person_id=person.id)


def _by_session() -> Identity | None:
    """The session's identity, if the token it was made with is still the current one."""
    who = session.get("who")
    if not isinstance(who, dict):
        return None
    person_id, check = who.get("person"), who.get("check")
    if not isinstance(check, str) or not (person_id is None or _is_row_id(person_id)):
        return None  # malformed: signed out, whatever it holds
    if person_id is None:
        token = _settings().admin_token
        if token and hmac.compare_digest(check.encode(), _fingerprint(token).encode()):
            return ADMIN
        return None
    now = datetime.now(UTC)
    with _db().read() as db_session:
        person = db_session.get(Person, person_id)
        if person is None or not hmac.compare_digest(
            check.encode(), person.token_hash[:32].encode()
        ):
            return None
        seen = person.last_seen_at
    if seen is None or seen < now - people.TOUCH_EVERY:
        with _db().write() as db_session:
            people.touch_person(db_session, person_id, now)
    return Identity(person.name, person_id=person_id)


def _is_row_id(value: object) -> bool:
    """Whether `value` can be a row's id in every database (a positive BIGINT; not a bool)."""
    return type(value) is int and 0 < value <= MAX_ROW_ID


def _session_check(who: Identity) -> str:
    """What ties a session to the token it was signed in with: a new token ends it."""
    if who.person_id is None:
        return _fingerprint(_settings().admin_token or "")
    with _db().read() as db_session:
        return db_session.get(Person, who.person_id).token_hash[:32]


def _fingerprint(token: str) -> str:
    return hashlib.sha256(b"shiplog admin session\0" + token.encode()).hexdigest()[:32]


def _unauthorized(message: str) -> Unauthorized:
    """A 401 asking for a bearer token, answered by the error handlers like any other."""
    return Unauthorized(description=message, www_authenticate=WWWAuthenticate("Bearer", REALM))


def _private_caching(response: Response) -> Response:
    """An answer to a bearer token varies by it. In private mode no shared cache may keep any
    answer (pages, feeds, the API, metrics): it was for one reader. Static files are the same
    for everyone."""
    if "Authorization" in request.headers:
        response.vary.add("Authorization")
    if _settings().private and request.endpoint != "static":
        directives = response.cache_control
        if not directives.no_store:
            directives.public = False
            directives.private = True
    return response


def _template_context() -> dict[str, Any]:
    return {
        "viewer": identity(),
        "private_mode": _settings().private,
        "sign_in_offered": _sign_in_offered(),
    }


def _sign_in_offered() -> bool:
    settings = _settings()
    return settings.private or bool(settings.admin_token)


def _settings() -> Settings:
    return shiplog_state().settings


def _db():  # type: ignore[no-untyped-def]
    return shiplog_state().db
