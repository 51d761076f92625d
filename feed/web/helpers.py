"""Template helpers (times, kinds, safe links, rendered Markdown) and reading JSON bodies."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, abort, request
from jinja2 import BytecodeCache, MemcachedBytecodeCache

from feed.models import KIND_LABELS
from feed.render import render_diff, render_markdown, safe_url, show_direction_controls
from feed.timefmt import ago, exact_utc, iso_utc, span
from feed.web.listing import listing_url


def register_template_helpers(app: Flask) -> None:
    app.jinja_env.bytecode_cache = compiled_templates()
    app.jinja_env.filters.update(
        ago=lambda moment: ago(moment, datetime.now(UTC)),
        exact_utc=exact_utc,
        span=span,
        seconds_span=lambda seconds: span(timedelta(seconds=seconds)),
        iso_utc=iso_utc,
        kind_label=lambda kind: KIND_LABELS.get(kind, kind),
        markdown=render_markdown,
        diff=render_diff,
        safe_url=safe_url,
        name=show_direction_controls,
        diff_anchor=lambda path: hashlib.sha256(path.encode()).hexdigest(),
    )
    app.jinja_env.globals.update(listing_url=listing_url)


class _InMemory(dict[str, bytes]):
    """The client `MemcachedBytecodeCache` asks for (`get` and `set`), in this process."""

    def set(self, key: str, value: bytes, timeout: int | None = None) -> None:
        self[key] = value


@functools.cache
def compiled_templates() -> BytecodeCache:
    """The templates Jinja compiled, shared by every app this process builds: the second app
    loads them instead of parsing and compiling each one again (about 25 ms for the activity
    page's, the first time an app renders it). A template whose source changed is compiled
    anew: each is kept with its source's checksum."""
    return MemcachedBytecodeCache(_InMemory())


def json_object(api: str) -> dict[str, Any]:
    """The request's JSON object, or a 400 naming `api` (bad JSON, too deep, not an object)."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if not isinstance(data, dict):
        abort(400, description=f"{api}: send a JSON object")
    return data
