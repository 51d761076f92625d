"""Which chat webhook URLs shiplog may post to: no request forgery through a channel.

A channel's URL must be https on its platform's own hosts; any other host (a self-hosted
Mattermost, a generic webhook receiver) only when `[security] allow_webhook_hosts` lists it,
and only listed hosts may use plain http. Before each send the host is resolved, and an
address in a private, loopback, link-local or otherwise internal range is refused unless the
host is listed. Messages name the host, never the URL: the URL is a secret.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

# Each platform's webhook hosts; "*.example.com" matches any subdomain.
PLATFORM_HOSTS: dict[str, tuple[str, ...]] = {
    "slack": ("hooks.slack.com", "hooks.slack-gov.com"),
    "discord": ("discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"),
    "teams": (
        "*.webhook.office.com",  # incoming webhooks (connectors)
        "*.logic.azure.com",  # Workflows (Power Automate)
        "*.environment.api.powerplatform.com",  # Workflows, newer URLs
    ),
    "googlechat": ("chat.googleapis.com",),
    "mattermost": (),  # self-hosted: list the host in allow_webhook_hosts
    "webhook": (),
}

Resolver = Callable[[str, int], Iterable[str]]


class HostRefused(ValueError):
    """A webhook URL shiplog will not post to; the message says why and names the host."""


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class WebhookHosts:
    """The allow-list from the config, and the checks made with it."""

    allowed: tuple[str, ...] = ()
    resolver: Resolver = resolve

    def check_url(self, platform: str, url: str) -> None:
        """Refuse a URL that is not https on the platform's hosts or a listed one."""
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").rstrip(".").lower()
            parts.port  # noqa: B018 - raises ValueError on a port that is not a number
        except ValueError:
            raise HostRefused("the webhook URL is not a valid URL") from None
        if parts.scheme not in ("https", "http") or not host:
            raise HostRefused("the webhook URL must be an https URL")
        listed = _matches(host, self.allowed)
        if parts.scheme == "http" and not listed:
            raise HostRefused(
                f"the webhook URL must be https (host {host}); plain http only for hosts "
                "in [security] allow_webhook_hosts"
            )
        if not listed and not _matches(host, PLATFORM_HOSTS.get(platform, ())):
            own = ", ".join(PLATFORM_HOSTS.get(platform, ())) or "none: it is self-hosted"
            raise HostRefused(
                f"host {host} is not one of {platform}'s ({own}); "
                "add it to [security] allow_webhook_hosts to use it"
            )

    def check_address(self, url: str) -> None:
        """Refuse a host that resolves to an internal address, unless it is listed."""
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        if _matches(host, self.allowed):
            return
        try:
            addresses = list(self.resolver(host, parts.port or 443))
        except OSError:
            raise HostRefused(f"host {host} does not resolve") from None
        for address in addresses:
            if _internal(address):
                raise HostRefused(
                    f"host {host} resolves to an internal address; "
                    "list it in [security] allow_webhook_hosts if that is intended"
                )

    def check(self, platform: str, url: str) -> None:
        """Both checks, as made before each send."""
        self.check_url(platform, url)
        self.check_address(url)


def _matches(host: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
        elif host == pattern:
            return True
    return False


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast
