"""A git repository shaped like pallets/flask's history, built deterministically.

`build(path)` writes about 5,500 commits with `git fast-import`: pull-request branches merged
with merge commits (about one commit in six is a merge), mostly small changes to one to three
files with the occasional sweep over dozens, lines edited in runs whose sizes follow a long
tail, files added, deleted and renamed, a few binary images and one move of the package into
`src/`. The same arguments always give the same commits and hashes. The shape is a model, not a
copy: flask's history could not be cloned here (no network). `python -m bench.gitrepo PATH`
builds one to look at.
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

COMMITS = 5_500
MERGE_SHARE = 0.17  # of all commits
START = 1_270_000_000  # April 2010, when flask began
PEOPLE = [(f"Contributor {n}", f"person{n}@example.com") for n in range(180)] + [
    (f"dev{n}", f"{1000 + n}+dev{n}@users.noreply.github.com") for n in range(40)
]
WORDS = [
    "app",
    "request",
    "response",
    "view",
    "route",
    "config",
    "blueprint",
    "session",
    "context",
    "json",
    "test",
]


@dataclass
class _Tree:
    """The files of a branch: path -> lines (text) or bytes (binary)."""

    files: dict[str, list[str] | bytes] = field(default_factory=dict)


class _Writer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.chunks: list[bytes] = []
        self.mark = 0
        self.when = START
        self.commits = 0

    def commit(
        self,
        ref: str,
        message: str,
        changes: list[tuple[str, str, list[str] | bytes | str | None]],
        parent: int | None,
        merge: int | None = None,
    ) -> int:
        self.mark += 1
        self.commits += 1
        self.when += self.rng.randint(600, 90_000)
        name, email = self.rng.choice(PEOPLE)
        body = message.encode()
        out = [
            f"commit {ref}\nmark :{self.mark}\n".encode(),
            f"author {name} <{email}> {self.when} +0000\n".encode(),
            f"committer {name} <{email}> {self.when} +0000\n".encode(),
            f"data {len(body)}\n".encode() + body + b"\n",
        ]
        if parent is not None:
            out.append(f"from :{parent}\n".encode())
        if merge is not None:
            out.append(f"merge :{merge}\n".encode())
        for op, path, content in changes:
            if op == "D":
                out.append(f"D {path}\n".encode())
            elif op == "R":
                out.append(f'R {path} "{content}"\n'.encode())
            else:
                data = content if isinstance(content, bytes) else "".join(content or []).encode()
                out.append(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")
        self.chunks.append(b"".join(out) + b"\n")
        return self.mark


def build(path: Path, commits: int = COMMITS, seed: int = 1) -> int:
    """Write the repository at `path` (a new folder); returns the number of commits."""
    rng = random.Random(seed)
    writer = _Writer(rng)
    main = _Tree()
    changes = [("M", p, lines) for p, lines in _initial_files(rng, main)]
    head = writer.commit("refs/heads/main", "Initial import\n", changes, None)
    moved = False
    while writer.commits < commits:
        if not moved and writer.commits > commits * 0.7:
            head = writer.commit("refs/heads/main", "Move the package to src/\n", _move(main), head)
            moved = True
            continue
        if rng.random() < MERGE_SHARE / (1 - 1.8 * MERGE_SHARE):  # a branch has 1.8 commits
            # A pull request: one to three commits on a branch, then a merge commit.
            side = _Tree(dict(main.files))
            tip = head
            touched: dict[str, list[str] | bytes | None] = {}
            for _ in range(rng.choice((1, 1, 2, 2, 3))):
                work = _change(rng, side)
                tip = writer.commit("refs/heads/topic", _message(rng), work, tip)
                for op, p, content in work:
                    if op == "R":
                        touched[p] = None
                        touched[str(content)] = side.files[str(content)]
                    else:
                        touched[p] = None if op == "D" else side.files[p]
            merged = [("D", p, None) if c is None else ("M", p, c) for p, c in touched.items()]
            number = rng.randint(100, 5_000)
            message = f"Merge pull request #{number} from dev/topic-{number}\n\n{_words(rng)}\n"
            head = writer.commit("refs/heads/main", message, merged, head, merge=tip)
            main = side
        else:
            head = writer.commit("refs/heads/main", _message(rng), _change(rng, main), head)
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    stream = b"".join(writer.chunks)
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=stream, check=True)
    subprocess.run(["git", "-C", str(path), "update-ref", "-d", "refs/heads/topic"], check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "main"], check=True)
    return writer.commits


def _initial_files(rng: random.Random, tree: _Tree) -> list[tuple[str, list[str]]]:
    made = []
    for n in range(60):
        folder = rng.choice(("flask", "flask", "tests", "docs", "examples/tutorial"))
        suffix = ".rst" if folder == "docs" else ".py"
        path = f"{folder}/{rng.choice(WORDS)}_{n}{suffix}"
        tree.files[path] = [_line(rng) for _ in range(rng.randint(20, 400))]
        made.append((path, tree.files[path]))
    return made


def _change(
    rng: random.Random, tree: _Tree
) -> list[tuple[str, str, list[str] | bytes | str | None]]:
    """One commit's changes to `tree` (applied to it), in fast-import terms."""
    roll = rng.random()
    count = 1 if roll < 0.45 else 2 if roll < 0.65 else 3 if roll < 0.75 else rng.randint(4, 10)
    if rng.random() < 0.01:
        count = rng.randint(20, 80)  # a sweep: formatting, a renamed helper
    text = [p for p, c in tree.files.items() if isinstance(c, list)]
    work: list[tuple[str, str, list[str] | bytes | str | None]] = []
    for path in rng.sample(text, min(count, len(text))):
        kind = rng.random()
        if kind < 0.03 and len(text) > 40:
            del tree.files[path]
            work.append(("D", path, None))
        elif kind < 0.05:
            new = f"{path.rsplit('/', 1)[0]}/{rng.choice(WORDS)}_{rng.randint(0, 9999)}.py"
            if new not in tree.files:
                tree.files[new] = tree.files.pop(path)
                work.append(("R", path, new))
        else:
            lines = list(tree.files[path])  # type: ignore[arg-type]
            _edit(rng, lines)
            tree.files[path] = lines
            work.append(("M", path, lines))
    if rng.random() < 0.06:
        folder = rng.choice(("flask", "tests", "docs"))
        new = f"{folder}/{rng.choice(WORDS)}_{rng.randint(0, 9999)}.py"
        if new not in tree.files:
            tree.files[new] = [_line(rng) for _ in range(rng.randint(5, 200))]
            work.append(("M", new, tree.files[new]))
    if rng.random() < 0.005:
        image = f"docs/_static/shot_{rng.randint(0, 999)}.png"
        tree.files[image] = rng.randbytes(rng.randint(2_000, 40_000))
        work.append(("M", image, tree.files[image]))
    return work


def _edit(rng: random.Random, lines: list[str]) -> None:
    """Replace, insert or delete a few runs of lines; run sizes have a long tail."""
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4, 6))):
        size = max(1, int(rng.lognormvariate(1.8, 1.2)))
        at = rng.randint(0, len(lines))
        removed = 0 if rng.random() < 0.3 else min(size, len(lines) - at)
        lines[at : at + removed] = [_line(rng) for _ in range(size if rng.random() < 0.8 else 0)]
    if not lines:
        lines.append(_line(rng))


def _move(tree: _Tree) -> list[tuple[str, str, list[str] | bytes | str | None]]:
    moves = [p for p in tree.files if p.startswith("flask/")]
    for path in moves:
        tree.files["src/" + path] = tree.files.pop(path)
    return [("R", p, "src/" + p) for p in moves]


def _line(rng: random.Random) -> str:
    indent = " " * (4 * rng.randint(0, 3))
    name, call = rng.choice(WORDS), rng.choice(WORDS)
    return f"{indent}{name}_{rng.randint(0, 999)} = {call}({rng.randint(0, 99)})\n"


def _words(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))).capitalize()


def _message(rng: random.Random) -> str:
    subject = _words(rng)
    if rng.random() < 0.5:
        return f"{subject}\n"
    return f"{subject}\n\n{_words(rng)}.\n{_words(rng)}.\n"


if __name__ == "__main__":
    print(build(Path(sys.argv[1])), "commits")
