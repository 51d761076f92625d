"""Which chat webhook URLs shiplog may post to: no request forgery through a channel.

A channel's URL must be https on its platform's own hosts; any other host (a self-hosted
Mattermost, a generic webhook receiver) only when `[security] allow_webhook_hosts` lists it,
and only listed hosts may use plain http. Before each send the host is resolved, and an
address in a private, loopback, link-local or otherwise internal range, or an IPv6 address
that carries one (NAT64, 6to4, IPv4-compatible or -translated), is refused unless the host
is listed. Messages name the host, never the URL: the URL is a secret.
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
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

# IPv6 ranges whose last 32 bits are an IPv4 address: IPv4-mapped, IPv4-translated (RFC
# 2765), IPv4-compatible (deprecated), NAT64's well-known prefix (RFC 6052).
LAST_32_BITS_IPV4 = tuple(
    ipaddress.IPv6Network(network)
    for network in ("::ffff:0:0/96", "::ffff:0:0:0/96", "::/96", "64:ff9b::/96")
)
# Not global, whatever this Python's `is_global` says (it differs between versions): IETF
# protocol assignments, site-local IPv6 (deprecated, still routed inside sites), NAT64 for
# local use (RFC 8215).
NEVER_GLOBAL = tuple(
    ipaddress.ip_network(network) for network in ("192.0.0.0/24", "fec0::/10", "64:ff9b:1::/48")
)

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
        """Refuse a URL that is not https on the platform's hosts or a listed one, or that
        holds a control character (CR and LF would split the request it goes into)."""
        if any(unicodedata.category(char) == "Cc" for char in url):
            raise HostRefused("the webhook URL holds a control character (CR, LF, tab, NUL …)")
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
    """Whether `address`, or an IPv4 address it carries, is not a global unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return any(_not_global(each) for each in (ip, *_carried(ip)))


def _carried(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: its last 32 bits in the ranges that
    embed them there, the one after `2002:` (6to4), Teredo's server and client."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    carried = []
    if any(ip in network for network in LAST_32_BITS_IPV4):
        carried.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        carried.append(ip.sixtofour)
    if ip.teredo is not None:
        carried.extend(ip.teredo)
    return carried


def _not_global(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not ip.is_global or ip.is_multicast or any(ip in network for network in NEVER_GLOBAL)
