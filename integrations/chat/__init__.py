"""Chat platforms: one module each, what a module provides, and the registry to look one up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from feed.digest import Message
from integrations.chat import discord, googlechat, mattermost, slack, teams, webhook
from integrations.chat.http import Post


class Platform(Protocol):
    """What a platform's module provides: a pure render, how its webhook takes the payload
    (sent by `http.send`), and the least time between two messages to one channel."""

    PACE: timedelta
    POST: Post

    def render(self, message: Message) -> dict[str, Any]: ...


PLATFORMS: dict[str, Platform] = {
    "slack": slack,
    "discord": discord,
    "teams": teams,
    "mattermost": mattermost,
    "googlechat": googlechat,
    "webhook": webhook,
}


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
