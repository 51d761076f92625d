"""Commit messages to records: reverts in every spelling git and GitHub use, diff stats, caps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from integrations.github.commits import capped_files, commit_record

SHA = "3f9c2a1b4d5e6f708192a3b4c5d6e7f8091a2b3c"


def record(message: str):
    return commit_record(
        repo="acme/api",
        branch="main",
        sha="e" * 40,
        message=message,
        actor="mara",
        when=datetime(2026, 11, 1, tzinfo=UTC),
        url=None,
    )


@pytest.mark.parametrize(
    ("message", "kind", "ref", "subject", "reapply"),
    [
        ("Fix login", "commit", None, None, False),
        (f'Revert "Fix login"\n\nThis reverts commit {SHA}.', "revert", SHA, "Fix login", False),
        (
            f"Undo it\n\nThis reverts commit {SHA[:7]} (Fix login, 2026-11-01).",
            "revert",
            SHA[:7],
            None,
            False,
        ),
        (
            f'Reapply "Fix login"\n\nThis reverts commit {SHA.upper()}.',
            "revert",
            SHA,
            "Fix login",
            True,
        ),
        # GitHub's revert button, squash-merged as PR 123:
        ('Revert "Fix login" (#123)', "revert", None, "Fix login", False),
        ('Revert "Fix login" then more', "commit", None, None, False),
        ('Revert "Fix login"', "revert", None, "Fix login", False),
        ("Mention: this reverts nothing", "commit", None, None, False),
    ],
)
def test_reverts_are_recognised(message, kind, ref, subject, reapply) -> None:
    made = record(message)
    assert made.kind == kind
    assert made.reverts_ref == ref
    assert made.data.get("reverts_subject") == subject
    assert bool(made.data.get("reapply")) is reapply


def test_the_patch_cap_cuts_between_lines_and_marks_what_it_cut() -> None:
    raw = [
        {
            "filename": "a.py",
            "status": "modified",
            "additions": 3,
            "deletions": 0,
            "patch": "@@ -0,0 +1,3 @@\n+one\n+two\n+three",
        },
        {"filename": "b.py", "status": "modified", "patch": "@@ -1 +1 @@\n+b"},
        {"filename": "c.bin", "status": "added"},
    ]
    files = capped_files(raw, cap=24)
    assert [(f.path, f.patch_status) for f in files] == [
        ("a.py", "truncated"),
        ("b.py", "truncated"),
        ("c.bin", "unavailable"),
    ]
    assert files[0].patch == "@@ -0,0 +1,3 @@\n+one"
    assert files[1].patch is None
    assert [f.patch_status for f in capped_files(raw, cap=10_000)] == ["ok", "ok", "unavailable"]
