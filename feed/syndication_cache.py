"""Rendered feeds kept with a fingerprint of the events they show.

A feed is rendered again only when the events on its page change: a new event, an edit or a
deletion changes the fingerprint of exactly the feeds whose filter selects it. While nothing
at all was written to the database (SQLite tells each process through `data_version`), a
cached feed is served without a query.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime

from werkzeug.http import http_date, quote_etag

from feed.models import Event

DEFAULT_MAX_BYTES = 32 * 1024 * 1024
CACHE_CONTROL = "public, max-age=60"


@dataclass
class Entry:
    """One rendered feed, with the headers every answer about it carries."""

    fingerprint: str
    body: bytes
    etag: str
    updated: datetime | None  # Last-Modified; None: not sent
    headers: dict[str, str]
    # The database's change token when the fingerprint was last checked; None: unknown.
    checked_at: int | None

    @classmethod
    def of(
        cls,
        mark: str,
        body: bytes,
        content_type: str,
        updated: datetime | None,
        token: int | None,
    ) -> Entry:
        etag = hashlib.sha256(body).hexdigest()[:32]
        headers = {"Content-Type": content_type, "ETag": quote_etag(etag)}
        if updated is not None:
            headers["Last-Modified"] = http_date(updated)
        headers["Cache-Control"] = CACHE_CONTROL
        return cls(mark, body, etag, updated, headers, token)


def fingerprint(events: Sequence[Event], next_cursor: str | None) -> str:
    """What a page's rendering depends on, hashed: each event's rendered fields, and whether
    an older page follows."""
    digest = hashlib.blake2b(digest_size=16)
    for event in events:
        fields = (
            event.id,
            event.kind,
            event.repo,
            event.branch,
            event.actor,
            event.sha,
            event.title,
            event.body,
            event.url,
            event.occurred_at,
            event.updated_at,
        )
        digest.update(repr(fields).encode())
    digest.update(repr(next_cursor).encode())
    return digest.hexdigest()


class FeedCache:
    """A byte-bounded LRU of rendered feeds, safe to share between threads."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, Entry] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: Hashable, entry: Entry) -> None:
        if len(entry.body) > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._size -= len(old.body)
            self._entries[key] = entry
            self._size += len(entry.body)
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= len(evicted.body)

    def __len__(self) -> int:
        return len(self._entries)
