"""Mattermost incoming webhooks: Slack-style attachments, no @-mentions, 16,383 characters."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from feed.digest import Line, Message, Section
from feed.render import safe_url
from integrations.chat.http import Post
from integrations.chat.text import (
    Limits,
    Pieces,
    clip,
    layout,
    left,
    markdown_link,
    mentions,
    more,
    older,
    render_line,
)

# A post's message holds at most 16,383 characters (`PostMessageMaxRunesV2` in Mattermost's
# server/public/model/post.go, since 5.0). Counted here: message and attachment text together.
MAX_TEXT = 16383
COLOURS = {"sev1": "#cf222e", "sev2": "#cf222e", "failure": "#cf222e", None: "#0969da"}
MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<:!])")
PACE = timedelta(seconds=0.2)
POST = Post()
# A username (System Console > Users): `@name` notifies them. Mattermost's own rule, without
# a trailing `.`, `-` or `_` (which would end the mention early) and never a name that
# notifies a whole channel.
RESERVED = "all|channel|here|matterbot|system|valet"
HANDLE = re.compile(rf"(?!(?:{RESERVED})\Z)[a-z][a-z0-9._-]{{1,20}}[a-z0-9]")
HANDLE_FORM = "a Mattermost username (3 to 22 lower-case letters, digits, '.', '-', '_')"


def render(message: Message) -> dict[str, Any]:
    """Slack-style attachment: a heading per section with its lines, then what the sections
    leave out."""
    pings = mentions(message, "mattermost", lambda handle: f"@{handle}", escape)
    text = clip(f"{message.title}\n{message.summary}", 1000, escape) + pings
    laid = layout(message, _PIECES, Limits(total=left(MAX_TEXT, text, measure=len)))
    body = "".join(part.heading + "".join(part.lines) + (part.more or "") for part in laid.parts)
    attachment: dict[str, Any] = {
        "fallback": clip(message.title, 300, escape),
        "color": COLOURS.get(message.severity, COLOURS[None]),
        "text": body + (laid.older or ""),
    }
    if safe_url(message.url):
        attachment["title"] = "Open in shiplog"
        attachment["title_link"] = message.url
    return {"text": text, "attachments": [attachment]}


def escape(text: str) -> str:
    """Markdown made literal; `@` cannot start a mention (`@channel`, `@all`, `@here`)."""
    return MARKDOWN.sub(r"\\\1", text).replace("@", "@\u200b")


def _link(url: str | None, label: str) -> str:
    return markdown_link(url, label, escape)


def _heading(section: Section) -> str:
    return f"\n#### {clip(section.heading, 300, escape)}\n"


def _line(line: Line) -> str:
    return render_line(line, link=_link, escape=escape, bullet="- ", quote_start="\n  > ") + "\n"


_PIECES = Pieces(
    heading=_heading,
    line=_line,
    more=lambda count, url: more(count, url, _link) + "\n",
    older=lambda count, repos, url: "\n" + older(count, repos, url, _link),
    measure=len,
)
