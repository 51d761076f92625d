"""Reading a listing request (filter, cursor, limit) and building URLs that repeat it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from flask import request, url_for

from feed.filters import Filter, FilterError
from feed.state import shiplog_state
from feed.store import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor


@dataclass(frozen=True)
class Listing:
    """A parsed listing request."""

    filter: Filter
    cursor: str | None
    limit: int


def parse_listing(*, allow_limit: bool, allow_token: bool = False) -> Listing:
    """The filter, cursor and limit of the current request; FilterError if any is bad.
    Feeds also take `token` (a feed token, checked by `feed.web.auth`)."""
    extra = ("cursor", "limit") if allow_limit else ("cursor",)
    extra += ("token",) if allow_token else ()
    filter = Filter.from_args(request.args, allowed_extra=extra)
    cursor = request.args.get("cursor") or None
    if cursor:
        decode_cursor(cursor)
    limit = DEFAULT_LIMIT
    if allow_limit and request.args.get("limit"):
        raw = request.args["limit"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
            raise FilterError(f"limit: expected a whole number from 1 to {MAX_LIMIT}")
        limit = int(raw)
    return Listing(filter, cursor, limit)


def listing_url(endpoint: str, filter: Filter, *, external: bool = False, **extra: str) -> str:
    """The URL of `endpoint` showing exactly `filter` (plus `extra` arguments)."""
    path = url_for(endpoint)
    return (absolute(path) if external else path) + listing_query(filter, **extra)


def listing_query(filter: Filter, **extra: str) -> str:
    """The query string ("?..." or nothing) that repeats `filter` (plus `extra` arguments)."""
    args = filter.to_args() + [(key, value) for key, value in extra.items() if value]
    return f"?{urlencode(args)}" if args else ""


def absolute(path: str) -> str:
    """`path` on SHIPLOG_BASE_URL, else on the URL this request came to."""
    base = shiplog_state().settings.base_url or request.host_url.rstrip("/")
    return base + path
