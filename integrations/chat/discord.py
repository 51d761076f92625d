"""Discord webhooks: content and embeds within Discord's limits; nobody can be mentioned."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from feed.digest import Line, Message, Section
from integrations.chat.http import Post
from integrations.chat.text import (
    LABEL,
    Limits,
    Pieces,
    clip,
    fit,
    handles,
    layout,
    markdown_link,
    mentions,
    more,
    older,
    render_line,
    window,
)

# Discord's limits (discord.com/developers/docs/resources/message#embed-object-embed-limits):
CONTENT = 2000
MAX_EMBEDS = 10
TITLE = 256
DESCRIPTION = 4096
ALL_EMBEDS = 6000  # every title and description of every embed together
COLOURS = {"sev1": 0xCF222E, "sev2": 0xCF222E, "failure": 0xCF222E, None: 0x0969DA}
MARKDOWN = re.compile(r"([\\*_~`|>#\-\[\]()<:])")
PACE = timedelta(seconds=0.5)
# `wait=true`: Discord answers with the message it created, so delivery is confirmed.
POST = Post(query={"wait": "true"})
# A user's id (a snowflake: Developer Mode, "Copy User ID"); `<@id>` pings only the users
# `allowed_mentions.users` lists.
HANDLE = re.compile(r"[1-9][0-9]{16,19}")
HANDLE_FORM = "a Discord user id (17 to 20 digits) such as 80351110224678912"


def render(message: Message) -> dict[str, Any]:
    """A webhook payload: an embed per section, then one for what the sections leave out;
    `allowed_mentions` with no parse types stops every ping but those of the users it
    lists: the people the message names, by their handles from the config."""
    colour = COLOURS.get(message.severity, COLOURS[None])
    laid = layout(
        message, _PIECES, Limits(total=ALL_EMBEDS, section=DESCRIPTION, sections=MAX_EMBEDS)
    )
    embeds = [
        {
            "title": part.heading,
            "description": "".join(part.lines) + (part.more or ""),
            "color": colour,
        }
        for part in laid.parts
    ]
    if laid.older:  # "…and N more in M repositories" as the title, the link below
        title, _, link = laid.older.partition("\n")
        embeds.append({"title": title, "description": link or "…", "color": colour})
    summary = clip(f"{message.title}\n{message.summary}", CONTENT // 2, escape)
    pings = mentions(message, "discord", lambda handle: f"<@{handle}>", escape)
    content = fit([summary, pings, window(message, _link)], CONTENT)
    allowed: dict[str, Any] = {"parse": []}
    users = [user for user in handles(message, "discord") if f"<@{user}>" in content]
    if users:
        allowed["users"] = users
    return {"content": content, "embeds": embeds, "allowed_mentions": allowed}


def escape(text: str) -> str:
    """Markdown and mention syntax made literal."""
    text = MARKDOWN.sub(r"\\\1", text)
    return text.replace("@", "@\u200b")


def _link(url: str | None, label: str) -> str:
    return markdown_link(url, label, escape)


def _heading(section: Section) -> str:
    return clip(section.heading, TITLE, escape)


def _line(line: Line) -> str:
    return render_line(line, link=_link, escape=escape) + "\n"


def _older(count: int, repos: int, url: str | None) -> str:
    """`…and N more in M repositories`, then its link on a line of its own."""
    title = older(count, repos, None, _link)
    return f"{title}\n{_link(url, LABEL)}" if url else title


_PIECES = Pieces(
    heading=_heading,
    line=_line,
    more=lambda count, url: more(count, url, _link),
    older=_older,
    measure=len,
)
