"""Hostile text, delivered the way GitHub sends it, stays inert and valid in every output:
HTML pages, Atom/RSS/JSON feeds, the JSON API, and the messages every chat platform receives.

Each string of the corpus goes in as a commit message, a file name, a branch name, an author,
and an incident's title, body and note; then every output is read the way its reader does.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from feed.db import Database
from feed.jobs import enqueue
from feed.models import Delivery, Event, Subscription
from feed.render import ALLOWED_TAGS
from feed.state import shiplog_state
from feed.timefmt import iso_utc
from integrations.chat import PLATFORMS
from tests.chat_validators import google_chat_problems, slack_problems
from tests.conftest import SECRET, answer_text, assert_no_secrets, deliver
from tests.fake_chat import FakeChat
from tests.hostile import BIDI_CONTROLS, HOSTILE, LONG_LINE, strings
from tests.integrations.chat.test_delivery import make_app, work
from tests.integrations.github.test_webhooks import (
    comment_payload,
    commit,
    issue,
    push,
    repository,
)

CORPUS = [*HOSTILE, LONG_LINE]
NOW = datetime.now(UTC).replace(microsecond=0)
ALLOWED_HOSTS = {"SECURITY": {"allow_webhook_hosts": ["127.0.0.1"]}}
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# shiplog's own elements: what its templates write, what its sanitizer keeps of Markdown, and
# Pygments' spans. Any other element on a page (svg, img, iframe, ...) was injected.
OWN_ELEMENTS = (
    {
        tag
        for page in TEMPLATES.glob("*.html")
        for tag in re.findall(r"<([a-z][a-z0-9]*)", page.read_text())
    }
    | ALLOWED_TAGS
    | {"span", "div"}
)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background"}
REPO = {"repository": repository(), "sender": {"login": "mara"}}
# Every third string (each kind of attack has several) as a workflow's name: a break costs
# two deliveries and a page, and this module is the suite's slowest already.
CHECK_NAMES = HOSTILE[::3]
MAIN = ("e" * 40, "f" * 40)  # main's two commits, that each hostile workflow passes and fails
MASS_MENTIONS = re.compile(r"<!(channel|here|everyone)\b|@(everyone|here|channel|all)\b")


# --- delivering the corpus --------------------------------------------------------------------


def stored(text: str) -> str:
    """`text` as the timeline keeps it: NUL, which databases refuse, becomes U+FFFD."""
    return text.replace("\x00", "\ufffd")


def branch_name(text: str) -> str:
    """The longest branch name GitHub could send for `text` (no NUL, 255 characters)."""
    return text.replace("\x00", "")[:255]


def hostile_push(index: int, text: str) -> dict[str, Any]:
    hostile = commit(
        f"{index + 1:040x}",
        f"{text}\n\n{text}",
        timestamp=iso_utc(NOW),
        author={"name": text, "email": "x@example.com", "username": text},
        added=[text],
        modified=[f"src/{text}.py"],
    )
    return push(hostile, ref=f"refs/heads/{branch_name(text)}", pusher={"name": text})


def hostile_incident(index: int, text: str) -> list[tuple[str, dict[str, Any]]]:
    """An incident titled and described with `text`, and a note saying it again."""
    shown = {
        "number": index + 1,
        "title": text,
        "body": text,
        "user": {"login": text},
        "created_at": iso_utc(NOW),
        "updated_at": iso_utc(NOW),
    }
    note = comment_payload("created", text, updated=iso_utc(NOW))
    note["issue"] = issue(**shown)
    note["comment"].update(created_at=iso_utc(NOW), user={"login": text})
    opened = {
        "action": "opened",
        "issue": issue(**shown),
        "repository": repository(),
        "sender": {"login": text},
    }
    return [("issues", opened), ("issue_comment", note)]


def hostile_pull(index: int, text: str) -> dict[str, Any]:
    """A merged pull request titled `text` that brought the commit of `text`."""
    pull = {
        "number": index + 1,
        "title": text,
        "merged": True,
        "merged_at": iso_utc(NOW),
        "merge_commit_sha": f"{index + 1:040x}",
        "html_url": f"https://github.com/acme/api/pull/{index + 1}",
    }
    return {"action": "closed", "number": index + 1, "pull_request": pull, **REPO}


def hostile_build(index: int, text: str, sha: str, conclusion: str) -> dict[str, Any]:
    """A workflow named `text` (as GitHub allows: no NUL, 255 characters) finished on main."""
    name = branch_name(text)
    workflow = {"id": 2 * index + (conclusion == "failure") + 1, "name": name, "run_attempt": 1}
    workflow |= {"head_branch": "main", "head_sha": sha, "conclusion": conclusion}
    workflow |= {"status": "completed", "updated_at": iso_utc(NOW)}
    return {"action": "completed", "workflow": {"name": name}, "workflow_run": workflow, **REPO}


def deliver_corpus(client: FlaskClient, *, context: bool = True) -> None:
    """Every string of the corpus, as a push and as an incident with a note; all are taken.
    With `context`, each is also the title of the pull request that merged its push, and each
    of CHECK_NAMES names a workflow that passes on main's first commit and fails on its
    second: a break each."""
    for index, text in enumerate(CORPUS):
        pull = [("pull_request", hostile_pull(index, text))] if context else []
        for event, payload in [
            ("push", hostile_push(index, text)),
            *hostile_incident(index, text),
            *pull,
        ]:
            response = deliver(client, event, payload)
            assert_no_secrets("delivery", answer_text(response.headers, response.data))
            assert response.status_code == 200, (text[:60], response.json)
            assert response.json["events_created"] == (event != "pull_request"), text[:60]
    if not context:
        return
    good, bad = MAIN
    deliver(client, "push", push(commit(good, "Good"), commit(bad, "Bad")))
    for index, text in enumerate(CHECK_NAMES):
        for sha, conclusion in ((good, "success"), (bad, "failure")):
            response = deliver(client, "workflow_run", hostile_build(index, text, sha, conclusion))
            assert response.status_code == 200, (text[:60], response.json)


@pytest.fixture(scope="module")
def hostile(module_database_url: str) -> Iterator[FlaskClient]:
    """A client of an app whose timeline holds the whole corpus, delivered once for the
    tests that only read it."""
    with pytest.MonkeyPatch.context() as env:
        for name in [name for name in os.environ if name.startswith("SHIPLOG_")]:
            env.delenv(name)
        app = create_app(
            {
                "TESTING": True,
                "DATABASE_URL": module_database_url,
                "GITHUB_WEBHOOK_SECRET": SECRET,
                "SECRET_KEY": "test-secret-key",
            }
        )
        client = app.test_client()
        deliver_corpus(client)
        yield client
        shiplog_state(app).db.dispose()


def get(client: FlaskClient, path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response


def api_events(client: FlaskClient) -> list[dict[str, Any]]:
    events, cursor = [], ""
    while cursor is not None:
        page = get(client, f"/api/events?limit=200&cursor={cursor}").json
        events += page["events"]
        cursor = page["next_cursor"]
    return events


# --- HTML, read the way a browser does --------------------------------------------------------


class Elements(HTMLParser):
    """Every start tag with its attributes, the text between them, and the text of names
    (file paths, branches: what the templates put in <code>)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.names: list[str] = []
        self.in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self.in_code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self.in_code -= tag == "code" and self.in_code > 0

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.in_code:
            self.names.append(data)


def parse_html(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


def link_scheme(value: str) -> str:
    """The scheme a browser would follow: it drops controls and whitespace before reading it."""
    cleaned = re.sub(r"[\x00-\x20\x7f]", "", value).lower()
    return cleaned.split(":", 1)[0] if ":" in cleaned.split("/", 1)[0] else ""


def assert_inert_html(html: str, where: str) -> Elements:
    """No script but shiplog's own, no event handler, no script or data link, nothing injected."""
    page = parse_html(html)
    for tag, attrs in page.tags:
        seen = f"{where}: <{tag} {attrs}>"
        if tag == "script":
            assert attrs.get("src", "").startswith("/static/"), seen
        assert tag in OWN_ELEMENTS, seen
        assert not [name for name in attrs if name.startswith("on")], seen
        for name in URL_ATTRIBUTES & set(attrs):
            assert link_scheme(attrs[name]) in ("", "http", "https", "mailto"), seen
        if tag == "meta":
            assert "http-equiv" not in attrs, seen
    return page


def html_pages(client: FlaskClient) -> Iterator[str]:
    yield "/"
    yield "/status"
    for event in api_events(client):
        yield f"/events/{event['id']}"
    for incident in get(client, "/api/incidents").json["incidents"]:
        yield f"/incidents/{incident['id']}"


def test_every_page_shows_the_corpus_only_as_text(hostile: FlaskClient) -> None:
    events = api_events(hostile)
    titles = {f"/events/{e['id']}": e["title"] for e in events}
    commits = {
        f"/events/{e['id']}": int(e["sha"], 16)
        for e in events
        if e["kind"] == "commit" and e["sha"] not in MAIN
    }
    for path in html_pages(hostile):
        page = assert_inert_html(get(hostile, path).get_data(as_text=True), path)
        if path in titles:  # what was written is what people read
            assert titles[path] in "".join(page.text), path
        if path in commits:  # and the pull request that brought it
            assert f"via #{commits[path]}" in "".join(page.text), path


def test_names_show_direction_overrides_rather_than_obey_them(hostile: FlaskClient) -> None:
    """A file named `evil<U+202E>gnp.exe` must not read as `evilexe.png` (Trojan Source).

    The policy: names (file paths, branches) show each bidirectional control as a visible
    mark; prose (titles, messages, notes) keeps them, as right-to-left writing needs them and
    a browser ends an override with its paragraph; JSON, the API and the generic webhook give
    the text back as written, for their readers to decide."""
    for event in api_events(hostile):
        if event["kind"] == "commit":
            page = parse_html(get(hostile, f"/events/{event['id']}").get_data(as_text=True))
            shown = "".join(page.names)
            assert not set(shown) & set(BIDI_CONTROLS), (event["branch"][:40], shown[:80])


# --- feeds ------------------------------------------------------------------------------------

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.mark.parametrize("path", ["/feed.atom", "/feed.rss", "/status.atom", "/feed.json"])
def test_feeds_are_well_formed_and_their_html_inert(hostile: FlaskClient, path: str) -> None:
    body = get(hostile, path).data
    if path.endswith(".json"):
        items = json.loads(body)["items"]
        assert len(items) == 50
        for item in items:
            assert_inert_html(item["content_html"], f"{path} {item['id']}")
        return
    root = ET.fromstring(body)  # a reader refuses a feed that is not XML
    entries = root.findall(f"{ATOM}entry") or root.findall("channel/item")
    assert entries, path
    for entry in entries:
        for element in entry.iter():
            is_html = element.get("type") == "html" or element.tag.endswith(
                ("description", "}encoded")
            )
            if is_html and element.text:
                assert_inert_html(element.text, f"{path} {element.tag}")


def test_the_api_gives_the_text_back_as_written(hostile: FlaskClient) -> None:
    by_uid = {event["uid"]: event for event in api_events(hostile)}
    for index, text in enumerate(CORPUS):
        sha = f"{index + 1:040x}"
        commit_event = get(hostile, f"/api/events/{by_uid[f'commit:acme/api:{sha}']['id']}").json
        assert stored(text).strip() in commit_event["body"], text[:60]
        assert commit_event["branch"] == branch_name(text)
        assert commit_event["actor"] == text.replace("\x00", "")[:200]
        assert [f["path"] for f in commit_event["files"]] == [
            stored(text),
            f"src/{stored(text)}.py",
        ]
        note = by_uid[f"incident:acme/api#{index + 1}/comment/900"]
        assert note["body"] == stored(text)
        opened = by_uid[f"incident:acme/api#{index + 1}"]
        assert opened["body"] == stored(text)
    incidents = get(hostile, "/api/incidents").json["incidents"]
    assert {i["title"] for i in incidents} == {stored(text)[:300] for text in CORPUS}
    breaks = [event for event in by_uid.values() if event["kind"] == "build_broken"]
    assert sorted(e["data"]["check"] for e in breaks) == sorted(branch_name(t) for t in CHECK_NAMES)


# --- bodies that are not text -----------------------------------------------------------------


def rows(db: Database) -> tuple[int, int]:
    with db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Delivery)),
            session.scalar(select(func.count()).select_from(Event)),
        )


def raw_push(message: bytes) -> bytes:
    """A push whose commit message is `message`, as raw bytes inside the JSON body."""
    body = json.dumps(hostile_push(0, "MESSAGE")).encode()
    return body.replace(b"MESSAGE", message)


@pytest.mark.parametrize(
    "message",
    [b"caf\xe9", b"\xc3\x28", b"\xed\xa0\x80 (a surrogate in UTF-8)", b"\xff\xfe", b"\xf8\x88\x80"],
)
def test_a_body_with_invalid_utf8_is_400_and_changes_nothing(
    client: FlaskClient, db: Database, message: bytes
) -> None:
    response = deliver(client, "push", raw_push(message))
    assert response.status_code == 400
    assert "not valid JSON" in response.json["detail"]
    assert rows(db) == (0, 0)


def test_a_form_body_with_invalid_utf8_is_400(client: FlaskClient, db: Database) -> None:
    form = b"payload=" + quote_from_bytes(raw_push(b"caf\xe9")).encode()
    response = deliver(
        client, "push", form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    assert "cannot be parsed" in response.json["detail"]
    assert rows(db) == (0, 0)


@pytest.mark.parametrize("escape", [rb"\ud800", rb"lone \udfff", rb"\ude00\ud83d"])
def test_an_unpaired_surrogate_escape_is_400_and_changes_nothing(
    client: FlaskClient, db: Database, escape: bytes
) -> None:
    response = deliver(client, "push", raw_push(escape))
    assert response.status_code == 400
    assert "unpaired surrogate" in response.json["detail"]
    assert rows(db) == (0, 0)


def test_a_surrogate_pair_is_one_character(client: FlaskClient) -> None:
    assert deliver(client, "push", raw_push(rb"ship it \ud83d\ude80")).status_code == 200
    [event] = api_events(client)
    assert event["title"] == "ship it \N{ROCKET}"


# --- chat: what each platform receives --------------------------------------------------------

OUR_HOSTS = ("https://shiplog.example/", "https://github.com/")
MARKDOWN_LINK = re.compile(r"(?<!\\)\]\(([^)\s]*)")


def no_mentions(texts: list[str], pattern: str) -> None:
    for text in texts:
        assert not re.search(pattern, text), text[:200]


def markdown_links_are_ours(texts: list[str]) -> None:
    for text in texts:
        for target in MARKDOWN_LINK.findall(text):
            assert target.startswith(OUR_HOSTS), target


def slack(payload: dict[str, Any]) -> None:
    # The header block is plain_text, in which Slack parses nothing.
    texts = [payload["text"], *(block["text"]["text"] for block in payload["blocks"][1:])]
    no_mentions(texts, r"<[!@#]|@(channel|here|everyone)\b")
    for text in texts:
        for link in re.findall(r"<([^>]*)>", text):
            assert link.startswith(OUR_HOSTS) and link.count("|") == 1, link
    assert slack_problems(payload) == []  # mrkdwn verbatim: no URL in the text is a link


def discord(payload: dict[str, Any]) -> None:
    assert payload["allowed_mentions"] == {"parse": []}
    no_mentions(strings(payload), r"@(everyone|here)\b|<@[!&]?\w")
    markdown_links_are_ours(strings(payload))


def mattermost(payload: dict[str, Any]) -> None:
    no_mentions(strings(payload), r"@(channel|here|all|everyone)\b|<!")
    markdown_links_are_ours(strings(payload))


def teams(payload: dict[str, Any]) -> None:
    card = payload["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard"
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl" and action["url"].startswith(OUR_HOSTS)
    assert {block["type"] for block in card["body"]} == {"TextBlock"}
    markdown_links_are_ours(strings(card["body"]))


def googlechat(payload: dict[str, Any]) -> None:
    assert "<" not in payload["text"]
    for section in payload["cardsV2"][0]["card"]["sections"]:  # the header is plain text
        for widget in section["widgets"]:
            for tag in re.findall(r"<[^>]*>", widget["textParagraph"]["text"]):
                assert re.fullmatch(r'<a href="https://[^"<>]*">|</a>|<br>|</?i>', tag), tag
                assert not tag.startswith("<a ") or tag[9:].startswith(OUR_HOSTS), tag
    assert google_chat_problems(payload) == []


def webhook(payload: dict[str, Any]) -> None:
    assert payload["schema"] == "shiplog.message/1"  # text as written: receivers escape it


INERT = {
    "slack": slack,
    "discord": discord,
    "mattermost": mattermost,
    "teams": teams,
    "googlechat": googlechat,
    "webhook": webhook,
}


@pytest.fixture
def chat() -> Iterator[FakeChat]:
    with FakeChat().running() as fake:
        yield fake


def test_every_chat_message_is_inert(
    app_config: dict[str, Any],
    chat: FakeChat,
    isolated_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An alert per event and a digest of them all, to every platform, end to end. The
    renderers never see the database: on PostgreSQL, where each message costs the most, two
    platforms that escape in opposite ways (Slack's mrkdwn, Teams' Adaptive Card Markdown)
    show that the corpus comes back from it as it went in; SQLite's run takes all six."""
    on_sqlite = app_config["DATABASE_URL"].startswith("sqlite")
    checked = INERT if on_sqlite else {name: INERT[name] for name in ("slack", "teams")}
    channels, subscriptions = [], []
    for name, module in PLATFORMS.items():
        if name not in checked:
            continue
        monkeypatch.setattr(module, "PACE", timedelta(0))  # no waiting between messages
        channels.append({"name": name, "platform": name, "url": chat.url(f"/{name}")})
        subscriptions += [
            {
                "name": f"{name}-alerts",
                "channel": name,
                "mode": "realtime",
                "filter": {"kind": ["commit", "incident"]},
                "options": {"message_lines": 3},
            },
            {
                "name": f"{name}-digest",
                "channel": name,
                "mode": "digest",
                "schedule": "0 9 * * *",
                "options": {"max_items": 200, "message_lines": 3},
            },
        ]
    app = make_app({**app_config, **ALLOWED_HOSTS}, chat, channels, subscriptions)
    # Without PRs and builds, which cost time here: a PR's title goes where an author's name
    # does (a line's detail), and test_builds.py sends a hostile check name to chat.
    deliver_corpus(app.test_client(), context=False)
    shiplog = shiplog_state(app)
    window = {
        "since": iso_utc(NOW - timedelta(hours=1)),
        "until": iso_utc(NOW + timedelta(hours=1)),
    }
    with shiplog.db.write() as session:
        for digest in session.scalars(select(Subscription).where(Subscription.mode == "digest")):
            payload = {"subscription": digest.id, **window}
            enqueue(session, "deliver", f"hostile-digest:{digest.id}", payload)
    work(app)
    for name, inert in checked.items():
        received = chat.to(f"/{name}")
        assert len(received) == 3 * len(CORPUS) + 1, name  # an alert per event, and the digest
        for message in received:
            inert(json.loads(message.body))
    shiplog.db.dispose()
