"""Atom, RSS and JSON feeds of any filter, with ETag and Last-Modified, rendered again only
when their events change (see `feed.syndication_cache`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, request, url_for
from werkzeug.http import is_resource_modified, parse_etags

from feed import syndication
from feed.models import Event
from feed.state import shiplog_state
from feed.store import list_events
from feed.syndication_cache import Entry, fingerprint
from feed.web.listing import Listing, absolute, parse_listing

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
    shiplog = shiplog_state()
    listing = parse_listing(allow_limit=True, allow_token=True)
    limit = str(listing.limit) if "limit" in request.args else ""
    # One filter, in any order of its arguments, to one host is one feed (a reader's feed
    # token does not change what it shows); a bad query is never cached.
    environ = request.environ
    host = shiplog.settings.base_url or (environ["wsgi.url_scheme"], environ.get("HTTP_HOST"))
    key = (endpoint, listing.filter.canonical_query(), listing.cursor, limit, host)
    token = shiplog.db.change_token()  # before the read it vouches for
    entry = shiplog.feed_cache.get(key)
    outcome = "hit"
    if entry is None or token is None or entry.checked_at != token:
        with shiplog.db.read() as session:
            page = list_events(session, listing.filter, cursor=listing.cursor, limit=listing.limit)
        mark = fingerprint(page.events, page.next_cursor)
        if entry is not None and entry.fingerprint == mark:
            entry.checked_at = token
            outcome = "revalidated"
        else:
            body = render(page.events, _meta(endpoint, listing, limit, page.next_cursor))
            changed = syndication.last_modified_of([event.updated_at for event in page.events])
            entry = Entry.of(mark, body, content_type, changed, token)
            shiplog.feed_cache.put(key, entry)
            outcome = "rendered"
    shiplog.metrics.feed_outcomes[outcome].inc()
    return _answer(entry)


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
    if "HTTP_IF_MODIFIED_SINCE" in environ and entry.updated is not None:
        return not is_resource_modified(environ, last_modified=entry.updated)
    return False


def _meta(
    endpoint: str, listing: Listing, limit: str, next_cursor: str | None
) -> syndication.FeedMeta:
    """What the feed says about itself, all of it from the canonical filter: the same feed
    asked with its arguments in another order is the same bytes, with the same ETag."""
    query = listing.filter.canonical_query()
    described = listing.filter.canonical().describe()
    return syndication.FeedMeta(
        title=f"shiplog: {described}" if described else "shiplog: all activity",
        description="Commits, reverts, releases, deployments and incidents, newest first.",
        self_url=_url(endpoint, query, cursor=listing.cursor or "", limit=limit),
        home_url=_url("pages.activity", query),
        feed_key="feed",
        filter_query=query,
        tag_authority=tag_authority(),
        event_url=lambda event: absolute(url_for("pages.event", event_id=event.id)),
        next_url=_url(endpoint, query, cursor=next_cursor, limit=limit) if next_cursor else None,
    )


def _url(endpoint: str, query: str, **extra: str) -> str:
    """The absolute URL of `endpoint` with the filter's canonical `query` and `extra`."""
    query = "&".join(filter(None, [query, urlencode([(k, v) for k, v in extra.items() if v])]))
    return absolute(url_for(endpoint)) + (f"?{query}" if query else "")


def conditional(body: bytes, content_type: str, updated: datetime | None) -> Response:
    """A feed that is not cached, answered as cached ones are: ETag of its bytes,
    Last-Modified of its data, 304 when the reader has it already."""
    return _answer(Entry.of("", body, content_type, updated, None))


def tag_authority() -> str:
    """The host that mints this installation's tag: ids."""
    base = shiplog_state().settings.base_url or request.host_url
    return urlsplit(base).hostname or "localhost"
