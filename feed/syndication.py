"""Atom and RSS (feedgen) and JSON Feed 1.1 from a list of events.

Everything in a feed comes from the data: entry ids are tag: URIs built from the event's uid,
and the feed's `updated` is the newest entry's, so an unchanged timeline gives the same bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from feedgen.feed import FeedGenerator
from markupsafe import Markup, escape

from feed.models import KIND_LABELS, Event, Incident
from feed.render import render_markdown, safe_url
from feed.timefmt import iso_utc

# The date part of every tag: URI. It names when the authority minted the ids and never moves.
TAG_DATE = "2026"
# Every feed's own author: Atom needs one on each entry or on the feed (RFC 4287, 4.1.1), and
# a deployment with no creator or a release without author names nobody.
FEED_AUTHOR = "shiplog"
# An empty feed's `updated`: the day of shiplog's first migration (0001). No timeline is
# older, so no reader finds it implausible, and an empty feed is the same bytes every time.
EMPTY_FEED_UPDATED = datetime(2026, 11, 26, tzinfo=UTC)
ATOM_TYPE = "application/atom+xml; charset=utf-8"
RSS_TYPE = "application/rss+xml; charset=utf-8"
JSON_FEED_TYPE = "application/feed+json; charset=utf-8"
# What XML 1.0 cannot hold: C0 controls but tab, newline and return; surrogates; U+FFFE, U+FFFF.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class FeedMeta:
    """What a feed says about itself, all URLs absolute."""

    title: str
    description: str
    self_url: str
    home_url: str
    feed_key: str  # "feed", "status": names the feed in its id
    tag_authority: str
    event_url: Callable[[Event], str] = lambda event: ""
    next_url: str | None = None
    incident_url: Callable[[Incident], str] = lambda incident: ""
    # The feed's filter as `Filter.canonical_query` gives it, encoded already.
    filter_query: str = ""


def tag_uri(authority: str, name: str) -> str:
    """A tag: URI (RFC 4151) for `name` that stays the same for as long as the authority does."""
    return f"tag:{authority},{TAG_DATE}:{quote(name, safe=':/?@!$&()*+,;=-._~')}"


def feed_id(meta: FeedMeta) -> str:
    """The feed's own id: its key, then its filter's canonical query, encoded once."""
    own = tag_uri(meta.tag_authority, meta.feed_key)
    return f"{own}?{meta.filter_query}" if meta.filter_query else own


def updated_of(events: Sequence[Event]) -> datetime:
    """The feed's updated time: the newest change among its entries."""
    return max((event.updated_at for event in events), default=EMPTY_FEED_UPDATED)


def last_modified_of(changes: Sequence[datetime]) -> datetime | None:
    """The feed's Last-Modified: the newest of its entries' changes. None for an empty feed,
    whose `updated` tells nothing of its data: a first entry older than that date (a backfill)
    must not be answered 304 to a reader asking If-Modified-Since; the ETag serves instead."""
    return max(changes, default=None)


def xml_text(text: str) -> str:
    """`text` with each character XML cannot hold as U+FFFD, as NUL is when it is stored: a
    control character in a commit message must not make the whole feed unreadable."""
    return NOT_XML.sub("\ufffd", text)


def entry_title(event: Event) -> str:
    return f"{event.repo}: {event.title}"


def entry_html(event: Event) -> Markup:
    """The HTML body of a feed entry: what, where, who, then the message."""
    facts = [Markup("<strong>{}</strong>").format(KIND_LABELS[event.kind]), escape(event.repo)]
    if event.branch:
        facts.append(Markup("branch <code>{}</code>").format(event.branch))
    if event.sha:
        facts.append(Markup("<code>{}</code>").format(event.short_sha))
    if event.actor:
        facts.append(Markup("by {}").format(event.actor))
    html = Markup("<p>{}</p>").format(Markup(" · ").join(facts))
    html += render_markdown(event.body)
    github = safe_url(event.url)
    if github:
        html += Markup('<p><a href="{}">View on GitHub</a></p>').format(github)
    return html


def atom(events: Sequence[Event], meta: FeedMeta) -> bytes:
    """An Atom 1.0 document."""
    generator = _generator(events, meta)
    if meta.next_url:
        generator.link(href=meta.next_url, rel="next")
    return generator.atom_str(pretty=True)


def rss(events: Sequence[Event], meta: FeedMeta) -> bytes:
    """An RSS 2.0 document."""
    return _generator(events, meta).rss_str(pretty=True)


def json_feed(events: Sequence[Event], meta: FeedMeta) -> bytes:
    """A JSON Feed 1.1 document."""
    document: dict[str, object] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": meta.title,
        "description": meta.description,
        "home_page_url": meta.home_url,
        "feed_url": meta.self_url,
        **_json_authors(FEED_AUTHOR),
    }
    if meta.next_url:
        document["next_url"] = meta.next_url
    document["items"] = [
        {
            "id": tag_uri(meta.tag_authority, event.uid),
            "url": meta.event_url(event),
            **({"external_url": safe_url(event.url)} if safe_url(event.url) else {}),
            "title": entry_title(event),
            "content_html": str(entry_html(event)),
            "date_published": iso_utc(event.occurred_at),
            "date_modified": iso_utc(event.updated_at),
            **(_json_authors(event.actor) if event.actor else {}),
            "tags": [event.kind, event.repo],
        }
        for event in events
    ]
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def _json_authors(name: str) -> dict[str, object]:
    """JSON Feed 1.1's `authors`, and 1.0's `author` beside it for older readers."""
    return {"authors": [{"name": name}], "author": {"name": name}}


def _head(meta: FeedMeta) -> FeedGenerator:
    """A feed with its own fields set (id, title, links, generator, author), no entries."""
    generator = FeedGenerator()
    generator.id(feed_id(meta))
    generator.title(xml_text(meta.title))
    generator.subtitle(xml_text(meta.description))
    # feedgen gives RSS's <link> the last link added: the page, not the feed itself.
    generator.link(href=meta.self_url, rel="self")
    generator.link(href=meta.home_url, rel="alternate")
    generator.generator("shiplog")
    generator.author(name=FEED_AUTHOR)  # for entries that name nobody; RSS shows no name
    return generator


def _generator(events: Sequence[Event], meta: FeedMeta) -> FeedGenerator:
    generator = _head(meta)
    generator.load_extension("dc")
    updated = updated_of(events)
    generator.updated(updated)
    generator.lastBuildDate(updated)
    for event in events:
        entry = generator.add_entry(order="append")
        entry_id = tag_uri(meta.tag_authority, event.uid)
        entry.id(entry_id)
        entry.guid(entry_id, permalink=False)
        entry.title(xml_text(entry_title(event)))
        # One link only: feedgen 1.0 drops `rel` on entry links, so a second would read as
        # another alternate. The GitHub link is in the content instead.
        entry.link(href=meta.event_url(event), rel="alternate")
        entry.published(event.occurred_at)
        entry.updated(event.updated_at)
        if event.actor:
            entry.author(name=xml_text(event.actor))
            entry.dc.dc_creator(xml_text(event.actor))
        entry.category(term=event.kind, label=KIND_LABELS[event.kind])
        entry.content(xml_text(str(entry_html(event))), type="html")
    return generator


def status_atom(incidents: Sequence[Incident], notes: dict[str, str], meta: FeedMeta) -> bytes:
    """One Atom entry per incident: its id never changes, its `updated` moves with every
    update and at resolution. The id is the incident's uid under `status:`, apart from the
    timeline's "incident opened" entry (the bare uid): a reader that keys entries by id across
    feeds must not take the two for one."""
    generator = _head(meta)
    updated = max((i.updated_at for i in incidents), default=EMPTY_FEED_UPDATED)
    generator.updated(updated)
    for incident in incidents:
        entry = generator.add_entry(order="append")
        entry.id(tag_uri(meta.tag_authority, f"status:{incident.uid}"))
        entry.title(xml_text(f"{incident.title} ({incident.status})"))
        entry.link(href=meta.incident_url(incident), rel="alternate")
        entry.published(incident.opened_at)
        entry.updated(incident.updated_at)
        facts = [Markup("<strong>{}</strong>").format(incident.status.capitalize())]
        if incident.severity:
            facts.append(escape(incident.severity))
        if incident.components:
            facts.append(Markup("affects {}").format(", ".join(incident.components)))
        html = Markup("<p>{}</p>").format(Markup(" · ").join(facts))
        html += render_markdown(notes.get(incident.uid, ""))
        entry.content(xml_text(str(html)), type="html")
    return generator.atom_str(pretty=True)
