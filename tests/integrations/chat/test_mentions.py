"""[people] and mentions: a handle that its platform could not read stops startup with one
line; in a message, only the handles of the people it names can ping, whatever the text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import create_app
from feed.config import ConfigError, Settings, read_toml
from feed.digest import Mention, Message
from feed.state import shiplog_state
from integrations.chat import discord, googlechat, mattermost, slack, teams, webhook
from tests.integrations.chat.test_renderers import PROPERTY, sections, text, urls
from tests.validators import adaptive_card_problems

GOOD = {
    "slack": "U024BE7LH",
    "discord": "80351110224678912",
    "mattermost": "octo",
    "teams": "octo@acme.example",
    "googlechat": "users/123456789",
}


@pytest.mark.parametrize(
    ("people", "said"),
    [
        ({"octocat": {"slack": "bob"}}, "people.octocat.slack: 'bob' is not a Slack member id"),
        ({"octocat": {"slack": "<!channel>"}}, "is not a Slack member id"),
        ({"octocat": {"discord": "123"}}, "people.octocat.discord: '123' is not a Discord"),
        ({"octocat": {"discord": "@everyone"}}, "is not a Discord user id"),
        ({"octocat": {"mattermost": "all"}}, "people.octocat.mattermost: 'all' is not a"),
        ({"octocat": {"mattermost": "here"}}, "is not a Mattermost username"),
        ({"octocat": {"mattermost": "@octo"}}, "is not a Mattermost username"),
        ({"octocat": {"teams": "Octo Cat"}}, "is not a Microsoft Entra object id"),
        ({"octocat": {"googlechat": "users/all"}}, "is not a Google Chat user name"),
        ({"octocat": {"googlechat": "<users/1>"}}, "is not a Google Chat user name"),
        ({"octocat": {"webhook": "x"}}, "people.octocat.webhook: not a platform with handles"),
        ({"octocat": {"irc": "octo"}}, "people.octocat.irc: not a platform with handles"),
        ({"octocat": {"slack": 5}}, "people.octocat must be a table of handles"),
        ({"octocat": "U024BE7LH"}, "people.octocat must be a table of handles"),
        ({"-octo": {"slack": "U024BE7LH"}}, "people.-octo: not a GitHub login"),
        ({"octo cat": {"slack": "U024BE7LH"}}, "people.'octo cat': not a GitHub login"),
        ({"Octo": {}, "octo": {}}, "people.octo: this login is listed twice"),
        (["octocat"], "[people] must map GitHub logins to tables of chat handles"),
    ],
)
def test_a_bad_people_entry_stops_startup_with_one_line(
    app_config: dict[str, Any], isolated_env: None, people: Any, said: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        create_app({**app_config, "PEOPLE": people})
    message = str(raised.value)
    assert said in message and "\n" not in message


def test_people_come_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "shiplog.toml"
    handles = "\n".join(f'{name} = "{handle}"' for name, handle in GOOD.items())
    path.write_text(f"[people.OctoCat]\n{handles}\n\n[people.mara]\nslack = 'W0123ABCD'\n")
    settings = Settings.from_mapping({**read_toml(path, {}), "DATABASE_URL": "sqlite://"})
    assert settings.people == {"octocat": GOOD, "mara": {"slack": "W0123ABCD"}}


PEOPLE = (
    Mention("octocat", GOOD),
    Mention("mara", {"slack": "W0123ABCD", "discord": "80351110224678913"}),
    Mention("sam", {}),  # no handle anywhere: named as text
)


# Hostile messages, small enough that each example renders on six platforms quickly.
small_messages = st.builds(
    Message,
    kind=st.sampled_from(["digest", "alert"]),
    title=text,
    summary=text,
    sections=st.lists(sections, max_size=2),
    url=urls,
)


@settings(PROPERTY, max_examples=10)
@given(small_messages, st.lists(st.sampled_from(PEOPLE), max_size=3, unique_by=lambda p: p.login))
def test_only_the_named_people_s_handles_can_ping(message: Message, people: list[Any]) -> None:
    """Hostile titles, summaries and lines, with or without people named: every mention a
    platform would read is a handle of one of them, and Discord's allowed users are exactly
    those its content mentions."""
    message = Message(**{**message.__dict__, "mentions": tuple(people)})
    allowed = {name: {p.handles.get(name) for p in people} - {None} for name in GOOD}

    payload = slack.render(message)
    texts = [payload["text"], *(b["text"]["text"] for b in payload["blocks"][1:])]
    for value in texts:
        for ping in re.findall(r"<[@!#]([^>|]*)[^>]*>", value):
            assert ping in allowed["slack"], ping

    payload = discord.render(message)
    users = set(payload["allowed_mentions"].get("users", []))
    assert payload["allowed_mentions"]["parse"] == [] and users <= allowed["discord"]
    assert set(re.findall(r"<@!?&?(\d+)>", payload["content"])) == users

    payload = mattermost.render(message)
    words = re.findall(r"(?<![\w\\])@(?!\u200b)([\w.-]*)", json.dumps(payload, ensure_ascii=False))
    assert set(words) <= allowed["mattermost"], words

    payload = googlechat.render(message)
    assert set(re.findall(r"<(users/[^>]*)>", payload["text"])) <= allowed["googlechat"]
    assert "<" not in re.sub(r"<users/\d+>", "", payload["text"])

    card = teams.render(message)["attachments"][0]["content"]
    assert adaptive_card_problems(card) == []
    ids = {e["mentioned"]["id"] for e in card.get("msteams", {}).get("entities", [])}
    assert ids == allowed["teams"]

    assert "mentions" not in webhook.render(message)  # a webhook notifies nobody


def test_a_person_without_a_handle_is_named_as_inert_text() -> None:
    message = Message(kind="alert", title="t", summary="s", mentions=PEOPLE)
    assert "Suspects: <@U024BE7LH>, <@W0123ABCD>, sam" in slack.render(message)["text"]
    text = mattermost.render(message)["text"]
    assert text.endswith("Suspects: @octo, mara, sam")


def test_the_admin_api_sets_mention_suspects_and_refuses_anything_but_a_boolean(
    app_config: dict[str, Any], isolated_env: None
) -> None:
    app = create_app({**app_config, "ADMIN_TOKEN": "admin-token-123"})
    try:
        admin, auth = app.test_client(), {"Authorization": "Bearer admin-token-123"}

        def subscribe(**fields: Any) -> Any:
            entry = {"name": "alerts", "channel": "eng", "mode": "realtime", **fields}
            return admin.post("/api/subscriptions", headers=auth, json=entry)

        channel = {
            "name": "eng",
            "platform": "slack",
            "url": "https://hooks.slack.com/services/T/B/X",
        }
        assert admin.post("/api/channels", headers=auth, json=channel).status_code == 201
        refused = subscribe(mention_suspects="yes")
        assert refused.status_code == 400 and "mention_suspects" in refused.json["error"]
        assert admin.get("/api/subscriptions", headers=auth).json["subscriptions"] == []
        made = subscribe(mention_suspects=True)
        assert made.status_code == 201 and made.json["mention_suspects"] is True
        plain = subscribe()  # the default
        assert plain.json["mention_suspects"] is False
    finally:
        shiplog_state(app).db.dispose()
