"""No request forgery through a channel: https on the platform's hosts, others only when
listed, no internal addresses, no redirects."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from sqlalchemy import select

from app import create_app
from feed.commands import load_chat_config
from feed.config import ConfigError
from feed.models import Channel, Subscription
from feed.state import shiplog_state
from feed.worker import run_due
from integrations.chat.hosts import HostRefused, WebhookHosts
from tests.conftest import deliver
from tests.fake_chat import Answer, FakeChat
from tests.integrations.chat.test_delivery import jobs, revert_push
from worker_setup import worker_parts

ADMIN = {"Authorization": "Bearer admin-token-123"}


@pytest.mark.parametrize(
    ("platform", "url"),
    [
        ("slack", "https://hooks.slack.com/services/T0/B0/x"),
        ("discord", "https://discord.com/api/webhooks/1/x"),
        ("discord", "https://discordapp.com/api/webhooks/1/x"),
        ("teams", "https://acme.webhook.office.com/webhookb2/x"),
        ("teams", "https://prod-01.westus.logic.azure.com:443/workflows/x"),
        ("googlechat", "https://chat.googleapis.com/v1/spaces/A/messages?key=k"),
        ("mattermost", "https://chat.internal.example/hooks/x"),
        ("webhook", "http://receiver.internal.example/in"),
        ("webhook", "https://x.corp.example/in"),
    ],
)
def test_platform_hosts_and_listed_hosts_are_accepted(platform: str, url: str) -> None:
    hosts = WebhookHosts(("chat.internal.example", "receiver.internal.example", "*.corp.example"))
    hosts.check_url(platform, url)


@pytest.mark.parametrize(
    ("platform", "url", "reason"),
    [
        ("slack", "http://hooks.slack.com/services/x", "must be https"),
        ("slack", "ftp://hooks.slack.com/x", "must be an https URL"),
        ("slack", "https://discord.com/api/webhooks/1/x", "not one of slack's"),
        ("slack", "https://hooks.slack.com.evil.example/x", "not one of slack's"),
        ("slack", "https://hooks.slack.com@evil.example/x", "host evil.example"),
        ("teams", "https://webhook.office.com/x", "not one of teams'"),
        ("teams", "https://evilwebhook.office.com/x", "not one of teams'"),
        ("mattermost", "https://chat.example/hooks/x", "it is self-hosted"),
        ("webhook", "https://169.254.169.254/latest/meta-data", "add it to [security]"),
        ("webhook", "https://corp.example/in", "not one of webhook's"),
        ("slack", "https://hooks.slack.com:port/x", "not a valid URL"),
        ("slack", "https:///x", "must be an https URL"),
    ],
)
def test_other_hosts_schemes_and_tricks_are_refused(platform: str, url: str, reason: str) -> None:
    hosts = WebhookHosts(("chat.internal.example", "*.corp.example"))
    with pytest.raises(HostRefused, match=reason.replace("[", r"\[")) as refused:
        hosts.check_url(platform, url)
    assert url not in str(refused.value)


CONTROLS = ["\r\n", "\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\x9b"]


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T0/B0/x{}",
        "https://hooks.slack.com/services/T0/B0/x{}Host: evil.example",
        "https://hooks.slack.com{}/services/x",
        "{}https://hooks.slack.com/services/x",
    ],
)
def test_a_url_with_a_control_character_is_refused(url: str, control: str) -> None:
    with pytest.raises(HostRefused, match="control character") as refused:
        WebhookHosts().check_url("slack", url.format(control))
    assert "hooks.slack.com" not in str(refused.value)


def test_the_admin_api_and_the_config_file_refuse_a_url_with_cr_lf_by_channel(
    unlisted, app_config
) -> None:
    url = "https://hooks.slack.com/services/T0/B0/secret-part\r\nX-Injected: 1"
    client = unlisted.test_client()
    answer = client.post(
        "/api/channels", json={"name": "eng", "platform": "slack", "url": url}, headers=ADMIN
    )
    assert answer.status_code == 400
    assert answer.json["error"].startswith("channel eng: the webhook URL holds a control")
    assert "secret-part" not in answer.get_data(as_text=True)
    assert client.get("/api/channels", headers=ADMIN).json == {"channels": []}
    # The config file is read once per process: a process started with the bad channel.
    started = create_app(
        {**app_config, "CHANNELS": [{"name": "eng", "platform": "slack", "url": url}]}
    )
    with started.app_context(), pytest.raises(click.ClickException) as refused:
        load_chat_config(shiplog_state(started))
    shiplog_state(started).db.dispose()
    assert "channel eng: the webhook URL holds a control character" in refused.value.message
    assert "secret-part" not in refused.value.message


INTERNAL = ["127.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.0.1", "169.254.169.254"]
INTERNAL += ["100.64.0.1", "0.0.0.0", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1"]


@pytest.mark.parametrize("address", INTERNAL)
def test_a_platform_host_resolving_inside_is_refused(address: str) -> None:
    hosts = WebhookHosts(resolver=lambda host, port: ["52.1.2.3", address])
    with pytest.raises(HostRefused, match="resolves to an internal address"):
        hosts.check("slack", "https://hooks.slack.com/services/x")


# IPv6 forms that lead to IPv4 loopback or private ranges, and ranges that are never global.
CARRIED = [
    ("64:ff9b::7f00:1", "NAT64 of 127.0.0.1"),
    ("64:ff9b::10.1.2.3", "NAT64 of 10.1.2.3"),
    ("64:ff9b::169.254.169.254", "NAT64 of the metadata address"),
    ("64:ff9b:1::a01:203", "NAT64 for local use"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
    ("2002:c0a8:1::1", "6to4 of 192.168.0.1"),
    ("::127.0.0.1", "IPv4-compatible 127.0.0.1"),
    ("::10.1.2.3", "IPv4-compatible 10.1.2.3"),
    ("::ffff:0:127.0.0.1", "IPv4-translated 127.0.0.1"),
    ("::ffff:0:172.16.0.1", "IPv4-translated 172.16.0.1"),
    ("::ffff:10.1.2.3", "IPv4-mapped 10.1.2.3"),
    ("2001:0:808:808::80ff:fffe", "Teredo with client 127.0.0.1"),
    ("fec0::1", "site-local"),
    ("fec0::1%eth0", "site-local with a zone"),
    ("192.0.0.1", "IETF protocol assignments"),
    ("192.0.0.9", "IETF protocol assignments, anycast"),
    ("::ffff:192.0.0.9", "IPv4-mapped 192.0.0.9"),
    ("64:ff9b::192.0.0.9", "NAT64 of 192.0.0.9"),
]


@pytest.mark.parametrize(("address", "form"), CARRIED)
def test_an_address_carrying_an_internal_one_is_refused(address: str, form: str) -> None:
    hosts = WebhookHosts(resolver=lambda host, port: [address])
    with pytest.raises(HostRefused, match="resolves to an internal address"):
        hosts.check("slack", "https://hooks.slack.com/services/x")


def test_a_public_address_and_a_listed_host_pass_the_address_check() -> None:
    public = ["52.1.2.3", "2600::1", "64:ff9b::8.8.8.8"]  # DNS64 gives the last one
    WebhookHosts(resolver=lambda host, port: public).check(
        "slack", "https://hooks.slack.com/services/x"
    )
    listed = WebhookHosts(("chat.internal.example",), resolver=lambda host, port: ["10.0.0.8"])
    listed.check("mattermost", "https://chat.internal.example/hooks/x")
    with pytest.raises(HostRefused, match="does not resolve"):
        WebhookHosts(resolver=_unresolvable).check("slack", "https://hooks.slack.com/x")


def _unresolvable(host: str, port: int) -> list[str]:
    raise OSError("no such host")


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat().running() as fake:
        yield fake


@pytest.fixture
def unlisted(app_config, isolated_env):
    """An app with the admin API on and no host listed: 127.0.0.1 is not allowed."""
    app = create_app({**app_config, "SECURITY": None, "ADMIN_TOKEN": "admin-token-123"})
    yield app
    shiplog_state(app).db.dispose()


def test_the_admin_api_refuses_a_loopback_channel_and_stores_nothing(unlisted, chat) -> None:
    client = unlisted.test_client()
    url = chat.url("/hook")
    answer = client.post(
        "/api/channels", json={"name": "x", "platform": "webhook", "url": url}, headers=ADMIN
    )
    https = url.replace("http:", "https:")
    refused = client.post(
        "/api/channels", json={"name": "x", "platform": "webhook", "url": https}, headers=ADMIN
    )
    assert "host 127.0.0.1 is not one of webhook's" in refused.json["error"]
    assert answer.status_code == 400
    assert "must be https (host 127.0.0.1)" in answer.json["error"]
    assert "allow_webhook_hosts" in answer.json["error"]
    assert client.get("/api/channels", headers=ADMIN).json == {"channels": []}


def test_the_config_file_refuses_a_loopback_channel_by_name(unlisted, chat) -> None:
    unlisted.config["CHANNELS"] = [{"name": "x", "platform": "slack", "url": chat.url("/h")}]
    with unlisted.app_context(), pytest.raises(click.ClickException) as refused:
        load_chat_config(shiplog_state(unlisted))
    assert "channel x: the webhook URL must be https" in refused.value.message


def test_a_stored_channel_that_is_no_longer_allowed_is_not_posted_to(unlisted, chat) -> None:
    """A channel saved before the rule (or by hand) is checked again at every send."""
    with shiplog_state(unlisted).db.write() as session:
        channel = Channel(name="old", platform="webhook", url=chat.url("/old"), source="api")
        session.add(channel)
        session.flush()
        session.add(Subscription(name="all", channel_id=channel.id, mode="realtime", filter={}))
    deliver(unlisted.test_client(), "push", revert_push())
    handlers, _ = worker_parts(shiplog_state(unlisted))
    run_due(shiplog_state(unlisted).db, {"deliver": handlers["deliver"]})
    assert chat.received == []
    [job] = jobs(unlisted)
    assert job.state == "dead" and "allow_webhook_hosts" in job.last_error
    with shiplog_state(unlisted).db.read() as session:
        reason = session.scalars(select(Channel.failing_reason)).one()
    assert "host 127.0.0.1" in reason and chat.url("/old") not in reason


def test_a_redirect_from_the_chat_server_is_not_followed(app_config, isolated_env, chat) -> None:
    chat.answer("/hook", Answer(307, "", {"Location": chat.url("/elsewhere")}))
    app = create_app(
        {
            **app_config,
            "CHANNELS": [{"name": "eng", "platform": "slack", "url": chat.url("/hook")}],
            "SUBSCRIPTIONS": [{"name": "alerts", "channel": "eng", "mode": "realtime"}],
        }
    )
    with app.app_context():
        load_chat_config(shiplog_state(app))
    deliver(app.test_client(), "push", revert_push())
    handlers, _ = worker_parts(shiplog_state(app))
    run_due(shiplog_state(app).db, {"deliver": handlers["deliver"]})
    assert [r.path for r in chat.received] == ["/hook"]
    [job] = jobs(app)
    assert job.state == "dead" and "307 redirect refused" in job.last_error
    shiplog_state(app).db.dispose()


@pytest.mark.parametrize(
    ("security", "message"),
    [
        ({"allow_webhook_hosts": ["https://chat.example"]}, "is not a host name"),
        ({"allow_webhook_hosts": ["chat.example/hooks"]}, "is not a host name"),
        ({"allow_webhook_hosts": 5}, "must be a list"),
        ({"allow_hosts": ["chat.example"]}, "unknown key security.allow_hosts"),
        ("chat.example", r"\[security\] must be a table"),
    ],
)
def test_a_bad_allow_list_is_refused_by_name(app_config, isolated_env, security, message) -> None:
    with pytest.raises(ConfigError, match=message):
        create_app({**app_config, "SECURITY": security})
