"""Cutting text to a platform's limit without breaking what it means.

Text is split into units that must stay whole: a character with the marks, joiners and
selectors that belong to it, each already escaped for the platform (so `&amp;` is one unit),
and links. A cut drops whole units and ends with an ellipsis.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

from feed.digest import Line

ELLIPSIS = "…"
ZWJ = "\u200d"


def graphemes(text: str) -> list[str]:
    """Characters with their combining marks, variation selectors, skin tones, ZWJ
    sequences and flag pairs."""
    clusters: list[str] = []
    for char in text:
        joins = clusters and (
            unicodedata.combining(char)
            or char == ZWJ
            or clusters[-1].endswith(ZWJ)
            or 0xFE00 <= ord(char) <= 0xFE0F
            or 0x1F3FB <= ord(char) <= 0x1F3FF  # skin tones
            or unicodedata.category(char) == "Me"
            or (_regional(char) and len(clusters[-1]) == 1 and _regional(clusters[-1]))
        )
        if joins:
            clusters[-1] += char
        else:
            clusters.append(char)
    return clusters


def _regional(char: str) -> bool:
    """A regional indicator: two of them make one flag."""
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def units(text: str, escape: Callable[[str], str] = lambda s: s) -> list[str]:
    """The escaped, unbreakable pieces of `text`."""
    return [escape(cluster) for cluster in graphemes(text)]


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


def clip(text: str, limit: int, escape: Callable[[str], str] = lambda s: s) -> str:
    """`text`, escaped, cut to `limit` characters at a safe place."""
    # Only the first `limit` clusters can fit; a cluster is rarely over 8 code points.
    bound = limit * 8 + 64
    if len(text) > bound:
        clusters = graphemes(text[:bound])[:-1]  # the last may be cut: drop it
        return fit([escape(c) for c in clusters] + ["…"], limit)
    return fit(units(text, escape), limit)


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def render_line(
    line: Line,
    *,
    link: Callable[[str | None, str], str],
    escape: Callable[[str], str],
    bullet: str = "• ",
    quote_start: str = "\n> ",
    quote_end: str = "",
) -> str:
    """One item of a message: its link, who and how big, then a few quoted lines."""
    text = f"{bullet}{link(line.url, line.text)}"
    if line.detail:
        text += f" — {clip(line.detail, 200, escape)}"
    for quoted in line.quote.splitlines()[:10]:
        text += f"{quote_start}{clip(quoted, 300, escape)}{quote_end}"
    return text


def more(count: int, url: str | None, link: Callable[[str | None, str], str]) -> str:
    """`…and N more`, linking to the activity page for everything the message covers."""
    return f"…and {count} more: {link(url, 'see them all in shiplog')}"
