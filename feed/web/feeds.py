"""Atom, RSS and JSON feeds of any filter, with ETag and Last-Modified, rendered again only
when their events change (see `feed.web.feedcache`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.http import is_resource_modified, parse_etags

from feed import syndication
from feed.filters import Filter
from feed.models import Event
from feed.store import list_events
from feed.web.feedcache import Entry, fingerprint
from feed.web.listing import Listing, absolute, listing_url, parse_listing

blueprint = Blueprint("feeds", __name__)

Renderer = Callable[[Sequence[Event], syndication.FeedMeta], bytes]


@blueprint.get("/feed.atom")
def atom() -> Response:
    return _feed("feeds.atom", syndication.atom, syndication.ATOM_TYPE)


@blueprint.get("/feed.rss")
def rss() -> Response:
    return _feed("feeds.rss", syndication.rss, syndication.RSS_TYPE)


@blueprint.get("/feed.json")
def json_feed() -> Response:
    return _feed("feeds.json_feed", syndication.json_feed, syndication.JSON_FEED_TYPE)


def _feed(endpoint: str, render: Renderer, content_type: str) -> Response:
    shiplog = current_app.extensions["shiplog"]
    # The same query to the same host is the same feed; a bad query is never cached.
    environ = request.environ
    host = shiplog.settings.base_url or (environ["wsgi.url_scheme"], environ.get("HTTP_HOST"))
    key = (endpoint, _query_without_token(), host)
    token = shiplog.db.change_token()  # before the read it vouches for
    entry = shiplog.feed_cache.get(key)
    outcome = "hit"
    if entry is None or token is None or entry.checked_at != token:
        listing = parse_listing(allow_limit=True, allow_token=True)
        with shiplog.db.read() as session:
            page = list_events(session, listing.filter, cursor=listing.cursor, limit=listing.limit)
        mark = fingerprint(page.events, page.next_cursor)
        if entry is not None and entry.fingerprint == mark:
            entry.checked_at = token
            outcome = "revalidated"
        else:
            limit = str(listing.limit) if "limit" in request.args else ""
            body = render(page.events, _meta(endpoint, listing, limit, page.next_cursor))
            entry = Entry.of(mark, body, content_type, syndication.updated_of(page.events), token)
            shiplog.feed_cache.put(key, entry)
            outcome = "rendered"
    shiplog.metrics.feed_outcomes[outcome].inc()
    return _answer(entry)


def _query_without_token() -> bytes:
    """The query that names the feed: a reader's feed token does not change what it shows."""
    if "token" not in request.args:
        return request.query_string
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return urlencode(kept).encode()


def _answer(entry: Entry) -> Response:
    """The feed, or 304 when the reader has it already."""
    if _has_it(request.environ, entry):
        return Response(status=304, headers=entry.headers)
    return Response(entry.body, headers=entry.headers)


def _has_it(environ: dict[str, object], entry: Entry) -> bool:
    """Whether the reader's conditional headers name this very feed (If-None-Match first,
    as RFC 9110 says; then If-Modified-Since)."""
    if "HTTP_IF_NONE_MATCH" in environ:
        asked = str(environ["HTTP_IF_NONE_MATCH"])
        return asked == entry.headers["ETag"] or parse_etags(asked).contains_weak(entry.etag)
    if "HTTP_IF_MODIFIED_SINCE" in environ:
        return not is_resource_modified(environ, last_modified=entry.updated)
    return False


def _meta(
    endpoint: str, listing: Listing, limit: str, next_cursor: str | None
) -> syndication.FeedMeta:
    described = listing.filter.describe()
    return syndication.FeedMeta(
        title=f"shiplog: {described}" if described else "shiplog: all activity",
        description="Commits, reverts, releases, deployments and incidents, newest first.",
        self_url=listing_url(
            endpoint, listing.filter, external=True, cursor=listing.cursor or "", limit=limit
        ),
        home_url=listing_url("pages.activity", listing.filter, external=True),
        feed_key=_feed_key(listing.filter),
        tag_authority=tag_authority(),
        event_url=lambda event: absolute(url_for("pages.event", event_id=event.id)),
        next_url=listing_url(
            endpoint, listing.filter, external=True, cursor=next_cursor, limit=limit
        )
        if next_cursor
        else None,
    )


def conditional(body: bytes, content_type: str, updated: datetime) -> Response:
    """A feed that is not cached, answered as cached ones are: ETag of its bytes,
    Last-Modified of its data, 304 when the reader has it already."""
    return _answer(Entry.of("", body, content_type, updated, None))


def _feed_key(filter: Filter) -> str:
    """Names the feed by its filter, the same for Atom, RSS and JSON."""
    query = urlencode(filter.to_args())
    return f"feed?{query}" if query else "feed"


def tag_authority() -> str:
    """The host that mints this installation's tag: ids."""
    base = current_app.extensions["shiplog"].settings.base_url or request.host_url
    return urlsplit(base).hostname or "localhost"
