"""The admin API for people and feed tokens: who may sign in when shiplog is private.

A token is in the answer that makes it and nowhere else, ever again.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, jsonify

from feed import people
from feed.models import FeedToken
from feed.state import shiplog_state
from feed.timefmt import iso_utc
from feed.web.auth import admin_only
from feed.web.helpers import json_object

blueprint = Blueprint("people", __name__, url_prefix="/api")


@blueprint.get("/people")
@admin_only
def list_people() -> Response:
    with _db().read() as session:
        rows = people.list_people(session)
        shown = [
            {
                "name": person.name,
                "created_at": iso_utc(person.created_at),
                "last_seen_at": _time(person.last_seen_at),
                "feed_tokens": count,
            }
            for person, count in rows
        ]
    return jsonify(people=shown)


@blueprint.post("/people")
@admin_only
def add_person() -> tuple[Response, int]:
    data = json_object("people API")
    try:
        with _db().write() as session:
            issued = people.add_person(session, data.get("name"))
    except people.PeopleError as exc:
        abort(400, description=f"people API: {exc}")
    return jsonify(name=issued.name, access_token=issued.token), 201


@blueprint.post("/people/<name>/token")
@admin_only
def new_access_token(name: str) -> Response:
    """A new access token for `name`; the old one, and every session made with it, ends."""
    with _db().write() as session:
        issued = people.new_access_token(session, name)
    if issued is None:
        abort(404, description=f"no person named {name!r}")
    return jsonify(name=issued.name, access_token=issued.token)


@blueprint.delete("/people/<name>")
@admin_only
def remove_person(name: str) -> tuple[str, int]:
    with _db().write() as session:
        if not people.remove_person(session, name):
            abort(404, description=f"no person named {name!r}")
    return "", 204


@blueprint.get("/feed-tokens")
@admin_only
def list_feed_tokens() -> Response:
    with _db().read() as session:
        shown = [feed_token_json(row, owner) for row, owner in people.feed_tokens(session)]
    return jsonify(feed_tokens=shown)


@blueprint.delete("/feed-tokens/<int:token_id>")
@admin_only
def revoke_feed_token(token_id: int) -> tuple[str, int]:
    with _db().write() as session:
        if not people.revoke_feed_token(session, token_id):
            abort(404, description=f"no feed token {token_id}")
    return "", 204


def feed_token_json(row: FeedToken, owner: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "person": owner,
        "label": row.label,
        "ends_with": row.hint,
        "created_at": iso_utc(row.created_at),
        "last_used_at": _time(row.last_used_at),
    }


def _time(moment: Any) -> str | None:
    return iso_utc(moment) if moment else None


def _db():  # type: ignore[no-untyped-def]
    return shiplog_state().db
