"""The demo: `shiplog demo` and `shiplog demo --clear`, seen through the pages and the API."""

from __future__ import annotations

import re
from itertools import groupby
from typing import Any

import feedparser
from flask import Flask
from sqlalchemy import func, select
from unidiff import PatchSet

from feed.models import Base, Event
from feed.state import shiplog_state


def shown(app: Flask) -> dict[str, Any]:
    """What a reader sees of the timeline and the incidents."""
    client = app.test_client()
    incidents = client.get("/api/incidents").json["incidents"]
    return {
        # Kinds and titles: a resolution's uid holds its time, and the demo is relative to now.
        "events": [
            (e["kind"], e["title"]) for e in client.get("/api/events?limit=200").json["events"]
        ],
        "incidents": [(i["uid"], i["status"], i["severity"]) for i in incidents],
        "incident pages": [client.get(f"/incidents/{i['id']}").status_code for i in incidents],
        "timelines": [client.get(f"/api/incidents/{i['id']}").json["events"] for i in incidents],
        "status": client.get("/api/status").json["recent"],
        "status feed": len(feedparser.parse(client.get("/status.atom").data).entries),
        "demo banner": "demo data" in client.get("/").get_data(as_text=True),
    }


def rows(app: Flask) -> dict[str, int]:
    with shiplog_state(app).db.read() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def test_clearing_the_demo_removes_all_of_it_and_loading_brings_it_all_back(app) -> None:
    runner = app.test_cli_runner()
    empty = rows(app)
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    loaded = shown(app)
    assert loaded["incidents"] == [("incident:acme/api#42", "resolved", "sev2")]
    assert loaded["incident pages"] == [200] and loaded["timelines"][0] == 4
    assert loaded["status feed"] == 1 and loaded["demo banner"]
    assert f"loaded {len(loaded['events'])} demo events" in first.output
    incident_id = app.test_client().get("/api/incidents").json["incidents"][0]["id"]

    cleared = runner.invoke(args=["demo", "--clear"])
    assert cleared.exit_code == 0, cleared.output
    assert f"removed {len(loaded['events'])} demo events" in cleared.output
    nothing = {"events": [], "incidents": [], "incident pages": [], "timelines": []}
    nothing |= {"status": [], "status feed": 0, "demo banner": False}
    assert shown(app) == nothing
    client = app.test_client()
    assert client.get(f"/incidents/{incident_id}").status_code == 404
    assert client.get(f"/api/incidents/{incident_id}").status_code == 404
    assert rows(app) == empty  # deliveries, aliases, repositories: nothing stays behind

    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0, again.output
    assert f"loaded {len(loaded['events'])} demo events" in again.output
    reloaded = shown(app)
    for key in ("events", "incidents", "timelines", "status feed", "demo banner"):
        assert reloaded[key] == loaded[key], key
    assert reloaded["incident pages"] == [200]


def test_loading_the_demo_twice_adds_nothing(app) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["demo"])
    before = rows(app)
    assert "loaded 0 demo events" in runner.invoke(args=["demo"]).output
    assert rows(app) == before
    with shiplog_state(app).db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) > 0


def patch_set(file: dict[str, Any]) -> PatchSet:
    """A file of /api/events/<id> as a unified diff, parsed by unidiff."""
    source = "/dev/null" if file["status"] == "added" else f"a/{file['path']}"
    header = f"--- {source}\n+++ b/{file['path']}\n"
    return PatchSet(header + file["patch"] + "\n")


def demo_commits(app: Flask) -> list[dict[str, Any]]:
    """Every commit and revert of the demo with its files, as the API shows them."""
    client = app.test_client()
    app.test_cli_runner().invoke(args=["demo"])
    listed = client.get("/api/events?kind=commit,revert&limit=200").json["events"]
    return [client.get(f"/api/events/{event['id']}").json for event in listed]


def test_every_demo_patch_parses_and_its_hunks_count_their_lines(app) -> None:
    commits = demo_commits(app)
    patches = [file["patch"] for commit in commits for file in commit["files"]]
    assert len(commits) == 10 and len(patches) == 16
    assert len(set(patches)) == len(patches)  # no two files share their lines
    for commit in commits:
        assert commit["files"], commit["title"]
        for file in commit["files"]:
            parsed = patch_set(file)  # raises on a hunk shorter than its header says
            assert len(parsed) == 1
            hunks = list(parsed[0])
            assert "".join(str(hunk) for hunk in hunks).rstrip("\n") == file["patch"]
            for hunk in hunks:
                lines = list(hunk)
                assert hunk.source_length == sum(not line.is_added for line in lines)
                assert hunk.target_length == sum(not line.is_removed for line in lines)
            assert parsed[0].added == file["additions"], file["path"]
            assert parsed[0].removed == file["deletions"], file["path"]
            assert file["status"] == ("added" if parsed[0].is_added_file else "modified")


def test_each_file_speaks_its_own_language(app) -> None:
    python_def = re.compile(r"^\s*(async )?def \w+\(", re.MULTILINE)
    for commit in demo_commits(app):
        for file in commit["files"]:
            changed = "\n".join(line.value for hunk in patch_set(file)[0] for line in hunk)
            if file["path"].endswith(".py"):
                if file["status"] == "added":  # the whole new file: it must be Python
                    compile(changed, file["path"], "exec")
            else:
                assert not python_def.search(changed), file["path"]


def test_the_revert_is_the_exact_inverse_of_what_it_reverts(app) -> None:
    commits = demo_commits(app)
    reverts = [commit for commit in commits if commit["kind"] == "revert"]
    assert reverts
    for revert in reverts:
        target = next(c for c in commits if c["sha"] == revert["data"]["reverts"])
        assert revert["title"] == f'Revert "{target["title"]}"'
        assert [f["path"] for f in revert["files"]] == [f["path"] for f in target["files"]]
        for undo, do in zip(revert["files"], target["files"], strict=True):
            assert (undo["additions"], undo["deletions"]) == (do["deletions"], do["additions"])
            assert inverse(patch_set(do)[0]) == shape(patch_set(undo)[0]), do["path"]


def shape(patched: Any) -> list[Any]:
    """A file's hunks as (source start and length, target start and length, lines)."""
    return [
        (
            (hunk.source_start, hunk.source_length),
            (hunk.target_start, hunk.target_length),
            [(line.line_type, line.value) for line in hunk],
        )
        for hunk in patched
    ]


def inverse(patched: Any) -> list[Any]:
    """The hunks that undo `patched`: sides swapped, every + a - and every - a +, and in each
    run of changed lines the removals first, as a diff writes them."""
    flip = {"+": "-", "-": "+", " ": " "}
    undone = []
    for source, target, lines in shape(patched):
        runs = groupby(
            ((flip[kind], value) for kind, value in lines), key=lambda pair: pair[0] == " "
        )
        ordered = [
            line
            for _, run in runs
            for line in sorted(run, key=lambda line: line[0] == "+")  # a stable sort
        ]
        undone.append((target, source, ordered))
    return undone
