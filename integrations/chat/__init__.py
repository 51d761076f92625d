"""Chat platforms: one module each, what a module provides, and the registry to look one up."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Protocol

from feed.digest import Message
from integrations.chat import discord, googlechat, mattermost, slack, teams, webhook
from integrations.chat.http import Post


class Platform(Protocol):
    """What a platform's module provides: a pure render, how its webhook takes the payload
    (sent by `http.send`), the least time between two messages to one channel, and the
    form of a person's handle there (None where nobody can be notified)."""

    PACE: timedelta
    POST: Post
    HANDLE: re.Pattern[str] | None
    HANDLE_FORM: str

    def render(self, message: Message) -> dict[str, Any]: ...


PLATFORMS: dict[str, Platform] = {
    "slack": slack,
    "discord": discord,
    "teams": teams,
    "mattermost": mattermost,
    "googlechat": googlechat,
    "webhook": webhook,
}


def people_problem(people: Mapping[str, Mapping[str, str]]) -> str | None:
    """What is wrong with the config's `[people]` (the first thing), or None: each handle
    must be named by a platform and have that platform's form."""
    for login, handles in people.items():
        for name, handle in handles.items():
            where = f"people.{login}.{name}"
            module = PLATFORMS.get(name)
            if module is None or module.HANDLE is None:
                named = [key for key, found in PLATFORMS.items() if found.HANDLE is not None]
                return f"{where}: not a platform with handles; use {', '.join(named)}"
            if not module.HANDLE.fullmatch(handle):
                return f"{where}: {handle[:80]!r} is not {module.HANDLE_FORM}"
    return None


class UnknownPlatform(LookupError):
    """A channel names a platform shiplog has no module for."""


def platform(name: str) -> Platform:
    """The module for `name`; UnknownPlatform says which names there are."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UnknownPlatform(
            f"chat: unknown platform {name!r}; use one of {', '.join(PLATFORMS)}"
        ) from None
