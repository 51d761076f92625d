"""import-git's reader against the hand-written `git log --patch` parser it replaced.

The old parser is kept here, and only here, as the reference: on a repository made with the
git CLI to hold every awkward case (renames, copies, deletions, binary files, mode and type
changes, names with spaces, tabs, quotes, newlines and bytes that are not UTF-8, merges, empty
commits, a patch over the cap), both must give the same events, uids and patches.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from feed.models import Event, EventFile
from feed.state import shiplog_state
from feed.store import EventRecord
from integrations.github.commits import capped_files, commit_record, login_from_email
from integrations.github.gitlocal import read_history

CAP = 20_000  # a small cap, so that one commit's patches go over it
ENV = {
    "GIT_AUTHOR_NAME": "Mara Lind",
    "GIT_AUTHOR_EMAIL": "mara@example.com",
    "GIT_COMMITTER_NAME": "Mara Lind",
    "GIT_COMMITTER_EMAIL": "mara@example.com",
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/bin:/bin",
}
# Names git must quote in a patch's headers, and one that is not UTF-8.
SPACE, TAB, QUOTE, NEWLINE = "with space.txt", "tab\there.txt", 'say "hi".txt', "two\nlines.txt"
LATIN1 = os.fsdecode(b"caf\xe9.txt")


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.minute = 0

    def git(self, *args: str) -> str:
        self.minute += 1
        stamp = f"2026-11-20T{10 + self.minute // 60:02d}:{self.minute % 60:02d}:00+00:00"
        env = {**ENV, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        return subprocess.run(
            ["git", "-C", str(self.path), *args], check=True, capture_output=True, env=env
        ).stdout.decode()

    def write(self, name: str, text: str | bytes) -> None:
        data = text.encode(errors="surrogateescape") if isinstance(text, str) else text
        (self.path / name).write_bytes(data)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)


def lines(prefix: str, count: int) -> str:
    return "".join(f"{prefix} line {n}\n" for n in range(count))


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    r = Repo(tmp_path_factory.mktemp("parity") / "repo")
    r.path.mkdir()
    r.git("init", "-q", "-b", "main")
    r.write("app.py", lines("app", 30))
    for name in (SPACE, TAB, QUOTE, NEWLINE, LATIN1, "naïve.md"):
        r.write(name, lines(name, 5))
    r.write("logo.png", bytes(range(256)) * 8)
    r.write("run.sh", "echo hi\n")
    r.write("no-newline.txt", "last line has no newline")
    r.write("crlf.txt", "one\r\ntwo\r\n")
    os.symlink("app.py", r.path / "link")
    r.commit("Add the files\n\nWith a body.")
    r.write("app.py", lines("app", 12) + "changed\n" + lines("app", 30)[300:])
    r.write("no-newline.txt", "last line has no newline, still")
    r.write("logo.png", bytes(range(255, -1, -1)) * 8)
    r.commit("Edit text and binary files")
    for old, new in (
        (SPACE, "moved with space.txt"),
        (TAB, "moved\ttab.txt"),
        ("naïve.md", "ü.md"),
    ):
        r.git("mv", old, new)
    r.write(QUOTE, lines(QUOTE, 5) + "more\n")
    r.git("mv", QUOTE, 'still "quoted".txt')
    r.commit("Rename, one of them with edits")
    r.write("copy of app.py", (r.path / "app.py").read_text())
    r.git("rm", "-q", NEWLINE)
    r.write(LATIN1, lines("café", 6))
    r.commit("Copy one file, delete another, edit the latin-1 name")
    (r.path / "run.sh").chmod(0o755)
    r.commit("Make the script executable")
    (r.path / "link").unlink()
    r.write("link", "now a file\n")
    r.write("crlf.txt", "one\r\nthree\r\n")
    r.commit("Turn the link into a file")
    r.commit("An empty commit")
    r.git("checkout", "-q", "-b", "side")
    r.write("side.txt", "from the side\n")
    r.commit("Work on a side branch")
    r.git("checkout", "-q", "main")
    r.write("main.txt", "on main\n")
    r.commit("Work on main")
    r.git("merge", "-q", "--no-ff", "-m", "Merge branch 'side'", "side")
    r.write("huge.txt", lines("huge", 3_000))
    r.write("small.txt", "after the huge one\n")
    r.commit("A patch over the cap")
    r.write("empty.txt", "")
    r.commit(
        'Revert "Work on main"\n\nThis reverts commit 0123456789abcdef0123456789abcdef01234567.'
    )
    return r.path


def test_the_reader_matches_the_old_parser(clone: Path) -> None:
    new = list(read_history(clone, "acme/api", "main", web_url="https://github.com", patch_cap=CAP))
    old = list(reference(clone, "acme/api", "main", "https://github.com", CAP))
    assert [r.uid for r in new] == [r.uid for r in old]
    assert len(new) == 12
    for got, want in zip(new, old, strict=True):
        assert got == want, got.title


def test_awkward_names_and_patches_are_read_as_git_wrote_them(clone: Path) -> None:
    records = {
        r.title: r
        for r in read_history(clone, "acme/api", "main", web_url="https://x.test", patch_cap=CAP)
    }
    files = {(title, f.path): f for title, r in records.items() for f in r.files}
    added = records["Add the files"]
    assert {f.path for f in added.files} >= {
        SPACE,
        TAB,
        QUOTE,
        NEWLINE,
        "caf\ufffd.txt",
        "naïve.md",
    }
    assert files[("Add the files", "logo.png")].patch_status == "unavailable"
    moved = files[("Rename, one of them with edits", "moved\ttab.txt")]
    assert (moved.status, moved.previous_path, moved.patch) == ("renamed", TAB, None)
    quoted = files[("Rename, one of them with edits", 'still "quoted".txt')]
    assert (quoted.status, quoted.previous_path, quoted.additions) == ("renamed", QUOTE, 1)
    assert files[("Make the script executable", "run.sh")].patch is None
    kinds = [f.status for f in records["Turn the link into a file"].files if f.path == "link"]
    assert kinds == ["removed", "added"]
    assert files[("Turn the link into a file", "crlf.txt")].patch.endswith("+three\r")
    assert not records["Merge branch 'side'"].files
    assert not records["An empty commit"].files
    over = {f.path: f for f in records["A patch over the cap"].files}
    assert over["huge.txt"].patch_status == "truncated"
    assert over["small.txt"].patch_status == "truncated" and over["small.txt"].patch is None
    assert records['Revert "Work on main"'].kind == "revert"


def test_what_the_old_parser_could_not_import_is_read(tmp_path: Path) -> None:
    # The old parser's unquoting of a quoted name raised on characters beyond latin-1, and it
    # split commits on \x1e and fields on \x1f: each of these histories failed to import.
    r = Repo(tmp_path / "repo")
    r.path.mkdir()
    r.git("init", "-q", "-b", "main")
    r.write("tab\t日本.txt", "b\n")
    r.commit("Add a file")
    with pytest.raises(UnicodeEncodeError):
        list(reference(r.path, "acme/api", "main", "https://x", CAP))
    r.write("a.txt", "a\n")
    r.commit("Odd \x1f unit and \x1e record separators\n\nA body \x1e too")
    r.git("commit", "-q", "--allow-empty", "--author", "Unit\x1fName <u@x.test>", "-m", "Third")
    records = list(read_history(r.path, "acme/api", "main", web_url="https://x", patch_cap=CAP))
    titles = ["Add a file", "Odd \x1f unit and \x1e record separators", "Third"]
    assert [x.title for x in records] == titles
    assert [f.path for f in records[0].files] == ["tab\t日本.txt"]
    assert records[1].body == "A body \x1e too"
    assert [f.path for f in records[1].files] == ["a.txt"]
    assert records[2].data["author_name"] == "Unit\x1fName"


def test_the_cli_stores_what_the_reader_reads(app, clone: Path) -> None:
    result = app.test_cli_runner().invoke(args=["import-git", str(clone), "--repo", "acme/api"])
    assert result.exit_code == 0, result.output
    assert "read 12 commits, 12 new" in result.output
    want = list(reference(clone, "acme/api", "main", "https://github.com", 512 * 1024))
    with shiplog_state(app).db.read() as session:
        events = {e.uid: e for e in session.scalars(select(Event))}
        stored = [
            (f.event_id, f.path, f.status, f.previous_path, f.patch)
            for f in session.scalars(select(EventFile))
        ]
    assert set(events) == {r.uid for r in want}
    expected = [
        (events[r.uid].id, f.path, f.status, f.previous_path, f.patch)
        for r in want
        for f in r.files
    ]
    assert sorted(stored, key=repr) == sorted(expected, key=repr)


# The reference: integrations/github/gitlocal.py's parser before it read git's -z output,
# with one fix (marked FIXED): git ends a `---`/`+++` name that has a space with a tab, which
# the old parser kept ("with space.txt\t"), and then failed to unquote a quoted one
# ('"b/say \\"hi\\".txt"\t'). The tests above and below check the right names literally.

START, FIELD = "\x1e", "\x1f"
LOG_FORMAT = f"{START}%H{FIELD}%an{FIELD}%ae{FIELD}%cI{FIELD}%B{FIELD}"
QUOTED = re.compile(r'^"(.*)"$')


def reference(path: Path, repo: str, branch: str, web_url: str, cap: int) -> Iterator[EventRecord]:
    command = [
        "git", "-C", str(path), "-c", "core.quotepath=false", "log", "--reverse", "--patch",
        "--no-color", "--no-ext-diff", "--find-renames", f"--format={LOG_FORMAT}", branch, "--",
    ]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True).stdout
    for part in out.split(START.encode()):
        if part:
            sha, author, email, date, message, diff = part.decode(errors="replace").split(FIELD, 5)
            yield commit_record(
                repo=repo,
                branch=branch,
                sha=sha,
                message=message,
                actor=login_from_email(email) or author[:200] or None,
                when=datetime.fromisoformat(date).astimezone(UTC),
                url=f"{web_url}/{repo}/commit/{sha}",
                files=capped_files(list(_files(diff)), cap),
                data={"author_name": author},
                fetched=True,
            )


def _files(diff: str) -> Iterator[dict[str, Any]]:
    section: list[str] = []
    for line in diff.split("\n"):
        if line.startswith("diff --git ") and section:
            yield _file(section)
            section = []
        if line.startswith("diff --git ") or section:
            section.append(line)
    if section:
        yield _file(section)


def _file(lines: list[str]) -> dict[str, Any]:
    status, old, new, previous = "modified", None, None, None
    hunk_start = None
    for index, line in enumerate(lines):
        if line.startswith("@@"):
            hunk_start = index
            break
        if line.startswith("new file mode"):
            status = "added"
        elif line.startswith("deleted file mode"):
            status = "removed"
        elif line.startswith("rename from "):
            status, previous = "renamed", _unquote(line[len("rename from ") :])
        elif line.startswith("rename to "):
            new = _unquote(line[len("rename to ") :])
        elif line.startswith("--- ") and line != "--- /dev/null":
            old = _unquote(line[4:].removesuffix("\t")).removeprefix("a/")  # FIXED
        elif line.startswith("+++ ") and line != "+++ /dev/null":
            new = _unquote(line[4:].removesuffix("\t")).removeprefix("b/")  # FIXED
        elif line.startswith("Binary files "):
            old = old or _binary_path(line)
    if new is None and old is None:
        old = _header_path(lines[0])
    hunks = lines[hunk_start:] if hunk_start is not None else []
    while hunks and hunks[-1] == "":
        hunks.pop()
    return {
        "filename": new or old,
        "status": status,
        "previous_filename": previous,
        "additions": sum(1 for h in hunks if h.startswith("+")),
        "deletions": sum(1 for h in hunks if h.startswith("-")),
        "patch": "\n".join(hunks) if hunks else None,
    }


def _header_path(header: str) -> str:
    rest = header.removeprefix("diff --git ")
    half = (len(rest) - 1) // 2
    return _unquote(rest[half + 1 :]).removeprefix("b/")


def _binary_path(line: str) -> str | None:
    match = re.match(r"Binary files (?:a/(.+?)|/dev/null) and (?:b/(.+?)|/dev/null) differ", line)
    return (match.group(2) or match.group(1)) if match else None


def _unquote(path: str) -> str:
    quoted = QUOTED.match(path)
    if not quoted:
        return path
    raw = quoted.group(1).encode("latin-1", errors="backslashreplace")
    return raw.decode("unicode_escape").encode("latin-1").decode("utf-8", errors="replace")
