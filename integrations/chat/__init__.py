"""Chat platforms: one module each, and the registry shared code looks them up in."""

from __future__ import annotations

from types import ModuleType

from integrations.chat import discord, googlechat, mattermost, slack, teams, webhook

PLATFORMS: dict[str, ModuleType] = {
    "slack": slack,
    "discord": discord,
    "teams": teams,
    "mattermost": mattermost,
    "googlechat": googlechat,
    "webhook": webhook,
}


class UnknownPlatform(LookupError):
    """A channel names a platform shiplog has no module for."""


def platform(name: str) -> ModuleType:
    """The module for `name`; UnknownPlatform says which names there are."""
    try:
        return PLATFORMS[name]
    except KeyError:
        raise UnknownPlatform(
            f"chat: unknown platform {name!r}; use one of {', '.join(PLATFORMS)}"
        ) from None
