"""Typed reads from a delivery's JSON: every wrong shape is one clear PayloadError."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from integrations.github.payload import (
    PayloadError,
    optional,
    person,
    repo_name,
    required,
    timestamp,
)

DELIVERY = {"sender": {"login": "mara", "id": 7, "site_admin": False}, "commits": None}


@pytest.mark.parametrize(
    ("path", "kind", "value"),
    [
        ("sender.login", str, "mara"),
        ("sender.id", int, 7),
        ("sender.site_admin", bool, False),
        ("sender.missing", str, None),
        ("commits", list, None),  # null reads as absent
        ("commits.0.id", str, None),  # so does anything under it
    ],
)
def test_optional_reads_a_dotted_path(path: str, kind: type, value: Any) -> None:
    assert optional(DELIVERY, path, kind) == value


@pytest.mark.parametrize(
    ("path", "kind", "message"),
    [
        ("sender.login", int, "sender.login must be a number"),
        ("sender.site_admin", int, "sender.site_admin must be a number"),  # True is no count
        ("sender.id", str, "sender.id must be text"),
        ("sender.login.first", str, "sender.login.first is not inside an object"),
        ("sender.missing", str, "missing sender.missing"),
    ],
)
def test_a_wrong_shape_is_a_payload_error_naming_the_field(
    path: str, kind: type, message: str
) -> None:
    with pytest.raises(PayloadError, match=re.escape(message)):
        required(DELIVERY, path, kind)


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2026-11-26T09:00:00Z", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
        ("2026-11-26T10:30:00+01:30", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),
        ("2026-11-26T09:00:00", datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),  # naive: UTC
        (1795683600, datetime(2026, 11, 26, 9, 0, tzinfo=UTC)),  # push payloads: Unix seconds
        (None, None),
    ],
)
def test_times_are_read_as_utc(value: Any, moment: datetime | None) -> None:
    assert timestamp({"at": value}, "at") == moment


@pytest.mark.parametrize("value", ["yesterday", True, 10**20, ["2026-11-26"]])
def test_anything_else_is_not_a_time(value: Any) -> None:
    with pytest.raises(PayloadError, match="at is not"):
        timestamp({"at": value}, "at")


@pytest.mark.parametrize(
    "name", ["acme/api", "a/b", "octo-org/.github", "acme/web_app.v2", "A1-b2/x-y"]
)
def test_repository_names_github_allows_pass(name: str) -> None:
    assert repo_name({"repository": {"full_name": name}}) == name


@pytest.mark.parametrize(
    "name",
    ["acme", "acme/", "/api", "acme/..", "-acme/api", "ac--me/api", "acme/api/x", "acme/a pi"],
)
def test_other_repository_names_are_refused_before_they_reach_a_url(name: str) -> None:
    with pytest.raises(PayloadError, match=re.escape("repository.full_name is not owner/name")):
        repo_name({"repository": {"full_name": name}})


def test_a_person_loses_nul_and_is_cut_to_what_the_timeline_keeps() -> None:
    assert person("ma\x00ra") == "mara"
    assert person("x" * 500) == "x" * 200
    assert person("") is None and person(None) is None and person("\x00") is None
