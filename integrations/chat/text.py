"""Cutting text to a platform's limit without breaking what it means, and laying out a
message within a platform's limits so that every event is shown or counted.

Text is split into units that must stay whole: Unicode's extended grapheme clusters (what a
reader sees as one character: क्षि, a Hangul syllable written in jamo, a flag, an emoji ZWJ
sequence, CRLF), each already escaped for the platform (so `&amp;` is one unit), and links. A
cut drops whole units and ends with an ellipsis.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import regex

from feed.digest import InOrder, Line, Message, Section
from feed.render import safe_url
from integrations.chat.http import size

ELLIPSIS = "…"
LINE_TEXT = 1500  # one item at most, its quoted lines included: a few fit in any section
LABEL = "see them all in shiplog"
MENTIONS = 25  # people one message may name; Discord's allowed_mentions takes up to 100
T = TypeVar("T")
Link = Callable[[str | None, str], str]


CLUSTER = regex.compile(r"\X")  # an extended grapheme cluster (Unicode TR 29)


def units(text: str, escape: Callable[[str], str] = lambda s: s) -> list[str]:
    """The escaped, unbreakable pieces of `text`."""
    return [escape(cluster) for cluster in CLUSTER.findall(text)]


def fit(pieces: list[str], limit: int, *, measure: Callable[[str], int] = len) -> str:
    """Join whole pieces up to `limit` (as `measure` counts), ending in … when cut."""
    if measure("".join(pieces)) <= limit:
        return "".join(pieces)
    budget = limit - measure(ELLIPSIS)
    kept: list[str] = []
    used = 0
    for piece in pieces:
        size = measure(piece)
        if used + size > budget:
            break
        kept.append(piece)
        used += size
    return "".join(kept).rstrip() + ELLIPSIS if budget >= 0 else ""


def clip(
    text: str,
    limit: int,
    escape: Callable[[str], str] = lambda s: s,
    *,
    measure: Callable[[str], int] = len,
) -> str:
    """`text`, escaped, cut to `limit` (characters, or as `measure` counts) at a safe place."""
    if len(text) <= limit:  # it may fit whole: escaping all at once is escaping each unit
        escaped = escape(text)
        if measure(escaped) <= limit:
            return escaped
    # Only the first `limit` clusters can fit; a cluster is rarely over 8 code points.
    bound = limit * 8 + 64
    if len(text) > bound:
        clusters = CLUSTER.findall(text[:bound])[:-1]  # the last may be cut: drop it
        return fit([escape(c) for c in clusters] + [ELLIPSIS], limit, measure=measure)
    return fit(units(text, escape), limit, measure=measure)


def json_size(text: str) -> int:
    """Bytes `text` adds inside a JSON string as it is sent: sizes of pieces add up."""
    return size(text) - 2  # without the quotes


def left(limit: int, *used: Any, measure: Callable[[Any], int] = size) -> int:
    """What remains of `limit` once `used` is spent, each part counted by `measure` (by
    default, bytes as sent)."""
    return limit - sum(measure(part) for part in used)


def markdown_link(url: str | None, label: str, escape: Callable[[str], str]) -> str:
    """`[label](url)` with the label escaped and cut; the label alone when the URL is unsafe."""
    safe = safe_url(url)
    text = clip(label, 200, escape)
    return f"[{text}]({quote(safe, safe=':/?#@!$&*+,;=%-._~')})" if safe else text


def render_line(
    line: Line,
    *,
    link: Link,
    escape: Callable[[str], str],
    bullet: str = "• ",
    quote_start: str = "\n> ",
    quote_end: str = "",
) -> str:
    """One item of a message: its link, who and how big, then as many of its quoted lines as
    fit in LINE_TEXT characters."""
    text = f"{bullet}{link(line.url, line.text)}"
    if line.detail:
        text += f" — {clip(line.detail, 200, escape)}"
    for quoted in line.quote.splitlines()[:10]:
        room = left(LINE_TEXT, text, quote_start, quote_end, measure=len)
        if room < 20:
            break
        text += f"{quote_start}{clip(quoted, min(room, 300), escape)}{quote_end}"
    return text


def more(count: int, url: str | None, link: Link) -> str:
    """`…and N more`, linking to the activity page listing exactly those."""
    return f"…and {count} more" + (f": {link(url, LABEL)}" if url else "")


def older(count: int, repos: int, url: str | None, link: Link) -> str:
    """The last `…and N more in M repositories`: the events no section covers."""
    where = f"{repos} {'repository' if repos == 1 else 'repositories'}"
    return f"…and {count} more in {where}" + (f": {link(url, LABEL)}" if url else "")


def window(message: Message, link: Link, before: str = "\n") -> str:
    """A digest's link to the activity page for its whole window, after `before`; nothing
    for an alert, whose one line links already."""
    if message.kind != "digest" or not message.url:
        return ""
    return before + link(message.url, "open in shiplog")


def handles(message: Message, platform: str) -> list[str]:
    """The handles on `platform` of the people the message names, each once, at most
    MENTIONS of them: only these may ever notify anyone."""
    found = [m.handles[platform] for m in message.mentions if m.handles.get(platform)]
    return list(dict.fromkeys(found))[:MENTIONS]


def mentions(
    message: Message,
    platform: str,
    mention: Callable[[str], str],
    escape: Callable[[str], str],
    before: str = "\n",
) -> str:
    """`Suspects: ` and the people the message names, after `before`: by their handle on
    `platform` (`mention` writes the platform's syntax for it), or by their GitHub login
    as inert text when they have none there; nothing when it names nobody."""
    pinged = set(handles(message, platform))
    names = [
        mention(person.handles[platform])
        if person.handles.get(platform) in pinged
        else escape(person.login)
        for person in message.mentions[:MENTIONS]
    ]
    return f"{before}Suspects: {', '.join(names)}" if names else ""


@dataclass(frozen=True)
class Pieces(Generic[T]):
    """How a platform writes each part of a message, and how it measures what it wrote."""

    heading: Callable[[Section], T]
    line: Callable[[Line], T]
    more: Callable[[int, str | None], T]  # "…and N more" after a section's lines
    older: Callable[[int, int, str | None], T]  # "…and N more in M repositories", last
    measure: Callable[[T], int]
    container: int = 0  # what a section, or the last "…and N more", costs besides its text


@dataclass(frozen=True)
class Limits:
    """How much is left for the sections: in all, in each (heading, lines and "…and N
    more"), how many (the last "…and N more" counts as one) and how many lines each."""

    total: int
    section: int = sys.maxsize
    sections: int = sys.maxsize
    lines: int = sys.maxsize


@dataclass(frozen=True)
class Part(Generic[T]):
    """One section as it goes out."""

    heading: T
    lines: list[T]
    more: T | None


@dataclass(frozen=True)
class Layout(Generic[T]):
    """The sections as they go out, and the last "…and N more" if anything is left."""

    parts: list[Part[T]]
    older: T | None  # for the events after the last stop


def layout(message: Message, pieces: Pieces[T], limits: Limits) -> Layout[T]:
    """The message within `limits`: its events in order, each section showing those that
    fit, up to where the message stops; every event not shown is counted in a "…and N more"
    whose link lists exactly the events it counts."""
    return _Planner(message, pieces, limits).run()


class _Open(Generic[T]):
    """A section as the layout grows it."""

    def __init__(self, heading: T, more: int, cost: int, stop: int) -> None:
        self.heading = heading
        self.stop = stop  # where it opened: its links are measured there
        self.lines: list[T] = []
        self.more = more  # what its "…and N more" may cost
        self.cost = cost  # heading, lines, "…and N more" and container
        self.taken = 0  # its events before the stop
        self.closed = False  # an event was left out: the rest are too, to keep them in order


class _Planner(Generic[T]):
    """Takes the timeline's events group by group (a group ends at a stop) while the
    sections they open fit; shows each event if its section shows all before it and its
    line fits. A "…and N more" is reserved at its longest (its count at most every event)
    before anything is shown, so what is shown never leaves a count without room."""

    def __init__(self, message: Message, pieces: Pieces[T], limits: Limits) -> None:
        self.sections = message.sections
        self.timeline = message.timeline or InOrder(message)
        self.pieces, self.limits = pieces, limits
        self.most, repos, url = self.timeline.older(0)
        stops = self.timeline.stops
        urls = [url] + ([self.timeline.older(stops[1])[2]] if len(stops) > 1 else [])
        longest = max(pieces.measure(pieces.older(self.most, repos, u)) for u in urls)
        self.linked = longest + pieces.container <= min(limits.total, limits.section)
        if not self.linked:  # a link too long for the platform: the count alone
            longest = pieces.measure(pieces.older(self.most, repos, None))
        self.reserve = longest + pieces.container

    def run(self) -> Layout[T]:
        owners, stops, limits = self.timeline.owners, self.timeline.stops, self.limits
        opened: dict[int, _Open[T]] = {}
        used = stop = 0
        for start, end in pairwise(stops):
            last = end == stops[-1] and self.timeline.older(end)[0] == 0
            keep = 0 if last else self.reserve
            new = [s for s in dict.fromkeys(owners[start:end]) if s not in opened]
            fresh = {s: self._open(s, end) for s in new}
            cost = sum(section.cost for section in fresh.values())
            if (
                used + cost + keep > limits.total
                or len(opened) + len(fresh) + (not last) > limits.sections
                or any(section.cost > limits.section for section in fresh.values())
            ):
                break
            opened.update(fresh)
            used += cost
            for owner in owners[start:end]:
                used += self._take(owner, opened[owner], limits.total - used - keep)
            stop = end
        return self._finish(opened, stop)

    def _open(self, index: int, stop: int) -> _Open[T]:
        heading = self.pieces.heading(self.sections[index])
        more = self._more(index, 0, stop)
        cost = self.pieces.container + self.pieces.measure(heading) + more
        return _Open(heading, more, cost, stop)

    def _take(self, index: int, section: _Open[T], room: int) -> int:
        """Count one more event of the section; show it if it fits: what it costs."""
        section.taken += 1
        lines = self.sections[index].lines
        shown = len(section.lines)
        if section.closed or shown >= min(len(lines), self.limits.lines):
            section.closed = True  # the rest go uncounted in order: after what is shown
            return 0
        line = self.pieces.line(lines[shown])
        done = shown + 1 == len(lines) and not self.sections[index].more
        more = 0 if done else self._more(index, shown + 1, section.stop)
        cost = self.pieces.measure(line) + more - section.more
        if cost > room or section.cost + cost > self.limits.section:
            section.closed = True
            return 0
        section.lines.append(line)
        section.more = more
        section.cost += cost
        return cost

    def _more(self, index: int, shown: int, stop: int) -> int:
        """The longest the section's "…and N more" may be after `shown` lines."""
        url = self.timeline.rest(index, shown, shown, stop)[1]
        return self.pieces.measure(self.pieces.more(self.most, url))

    def _finish(self, opened: dict[int, _Open[T]], stop: int) -> Layout[T]:
        parts = []
        for index in sorted(opened):
            section = opened[index]
            count, url = self.timeline.rest(index, len(section.lines), section.taken, stop)
            more = self.pieces.more(count, url) if count else None
            parts.append(Part(section.heading, section.lines, more))
        count, repos, url = self.timeline.older(stop)
        older = self.pieces.older(count, repos, url if self.linked else None) if count else None
        return Layout(parts, older)
