"""`python -m bench import-git`: import-git into SQLite against `git log -p` alone.

Both read the same flask-shaped repository (`bench/gitrepo.py`) in the same run.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.gitrepo import build
from feed.db import Database
from feed.ingest import Intake
from feed.migrate import upgrade
from integrations.github.gitlocal import import_history

PATCH_CAP = 512 * 1024  # the default of SHIPLOG_SYNC_PATCH_CAP
# The first run of this section, on the parser that read `git log --patch`'s headers by hand.
BEFORE = (
    "Before (`fc6cad9`, the hand-written patch parser; 2026-11-28 12:31 UTC, load average 11 to "
    "13): `git log -p` 18.64 s (295 commits/s, 5.18 CPU s); import-git 30.51 s (180 commits/s, "
    "8.54 CPU s), 1.6 times as long."
)

# The same bench at the two steps before this code, on the same machine (2026-11-29).
OVERLAP = (
    "Before the thread (`e3675ec`, git's output read straight from the pipe; 02:22 UTC, load "
    "average 0.4): 2.76 s (1,996 commits/s) against `git log -p`'s 1.56 s, 1.8 times as long: "
    "git and Python took turns, as the pipe's 64 KiB buffer let git run only that far ahead. "
    "With the thread, before the intake placed waiting CI results with one query a batch "
    "(`e539c22`; 02:31 UTC, load average 1.9): 2.34 s (2,347 commits/s) against 1.65 s, 1.4 "
    "times as long, with 1.43 CPU s in Python, 0.68 s of them one UPDATE per commit in "
    "`feed.builds.place_commits`. (On 2026-11-28, on a machine half as fast, the code before "
    "the thread made 892 commits/s against `git log -p`'s 1,789.)"
)

# Where the Python side's time goes now, by cProfile with CPU time as its clock.
PROFILE = (
    "A CPU profile of the Python side (cProfile timed by `time.process_time`, 2026-11-29 "
    "02:38 UTC, profiler overhead included: 2.66 s): storing 1.46 s (SQLAlchemy binding and "
    "running the batched inserts 0.65 s, `feed.store.scrub` removing NULs 0.46 s), reading "
    "1.17 s (the raw list and the patch cut into files 0.41 s, the patch cap 0.34 s, the rest "
    "splitting, decoding and building records). The Python side is now half of git's work, "
    "so git decides the import's time; making Python faster still would not show on two cores."
)


def run(rounds: int = 3) -> dict[str, Any]:
    """Build the repository, then for each of `rounds`: `git log -p` alone, and import-git
    into a new SQLite database. The best round of each counts."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "repo"
        print("bench: building a flask-shaped repository ...", file=sys.stderr)
        commits = build(path)
        stats = shape(path)
        gits, imports = [], []
        for n in range(rounds):
            print(f"bench: git log -p and import-git, round {n + 1} ...", file=sys.stderr)
            gits.append(git_log_p(path))
            imports.append(import_git(path, Path(tmp) / f"import-{n}.db", commits))
    (git_seconds, git_cpu), (import_seconds, python_cpu, import_git_cpu) = min(gits), min(imports)
    return {
        **stats,
        "commits": commits,
        "git_seconds": git_seconds,
        "git_cpu": git_cpu,
        "import_seconds": import_seconds,
        "import_cpu": python_cpu + import_git_cpu,
        "import_python_cpu": python_cpu,
        "import_git_cpu": import_git_cpu,
        "git_per_second": commits / git_seconds,
        "import_per_second": commits / import_seconds,
        "ratio": import_seconds / git_seconds,
        "rounds": rounds,
    }


def _cpu() -> tuple[float, float]:
    """CPU seconds used so far by this process (Python) and its waited-for children (git)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _since(start: tuple[float, float]) -> tuple[float, float]:
    now = _cpu()
    return now[0] - start[0], now[1] - start[1]


def git_log_p(path: Path) -> tuple[float, float]:
    """Seconds and CPU seconds for `git log -p` of the whole history, read through a pipe
    and dropped."""
    command = ["git", "-C", str(path), "log", "-p", "--reverse", "--find-renames", "main"]
    began, cpu = time.perf_counter(), _cpu()
    with subprocess.Popen(command, stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        while process.stdout.read(1 << 20):
            pass
    return time.perf_counter() - began, sum(_since(cpu))


def import_git(path: Path, database: Path, commits: int) -> tuple[float, float, float]:
    """Seconds, and CPU seconds of Python and of git, for import-git of the whole history
    into a new, migrated SQLite database."""
    db = Database(f"sqlite:///{database}")
    upgrade(db.engine)
    began, cpu = time.perf_counter(), _cpu()
    report = import_history(db, path, "pallets/flask", patch_cap=PATCH_CAP, intake=Intake())
    seconds, (python, git) = time.perf_counter() - began, _since(cpu)
    db.dispose()
    if report.created != commits:
        raise SystemExit(f"bench: import-git stored {report.created} of {commits} commits")
    return seconds, python, git


def shape(path: Path) -> dict[str, Any]:
    """What the repository holds: merges, files touched and `git log -p`'s size."""
    git = ["git", "-C", str(path)]
    merges = subprocess.run([*git, "rev-list", "--merges", "--count", "main"], capture_output=True)
    numstat = subprocess.run(
        [*git, "log", "--no-merges", "--find-renames", "--format=tformat:@", "--numstat", "main"],
        capture_output=True,
    ).stdout.splitlines()
    patch = subprocess.run([*git, "log", "-p", "--find-renames", "main"], capture_output=True)
    changed = [line for line in numstat if line and line != b"@"]
    return {
        "merges": int(merges.stdout),
        "files_touched": len(changed),
        "patch_megabytes": len(patch.stdout) / 1e6,
    }


def lines(r: dict[str, Any], before: str = BEFORE) -> list[str]:
    """RESULTS.md's section for the run `r`."""
    per_commit = r["files_touched"] / (r["commits"] - r["merges"])
    return [
        "## import-git on a flask-shaped history",
        "",
        f"`bench/gitrepo.py` builds {r['commits']:,} commits ({r['merges']:,} merges, "
        f"{per_commit:.1f} files touched per other commit, {r['patch_megabytes']:.0f} MB of "
        "`git log -p`), shaped like pallets/flask's history (which could not be cloned: no "
        f"network). Best of {r['rounds']} rounds of each, interleaved; import-git is "
        "`import_history` into a new SQLite database (migrated beforehand), patches capped at "
        "512 KiB a commit. Target: at least 1,000 commits/s.",
        "",
        "| measure | time | commits/s | CPU seconds (git's included) |",
        "|---|---|---|---|",
        f"| `git log -p` alone (read through a pipe) | {r['git_seconds']:.2f} s | "
        f"{r['git_per_second']:,.0f} | {r['git_cpu']:.2f} |",
        f"| `shiplog import-git` into SQLite | {r['import_seconds']:.2f} s | "
        f"{r['import_per_second']:,.0f} | {r['import_cpu']:.2f} |",
        f"| import-git / git log -p | {r['ratio']:.1f} times as long | | |",
        "",
        f"Where import-git's CPU time goes: {r['import_git_cpu']:.2f} s in git (`log -z --raw "
        f"--patch`), {r['import_python_cpu']:.2f} s in Python (reading, parsing, storing): "
        f"{r['commits'] / r['import_cpu']:,.0f} commits per CPU second, against "
        f"{r['commits'] / r['git_cpu']:,.0f} for `git log -p` alone. A thread reads git's "
        "output up to 32 MiB ahead of the store, so git and Python run on the two cores at "
        "once and the import takes about as long as the slower of the two (git), not their "
        "sum. "
        f"{OVERLAP}",
        "",
        PROFILE,
        "",
        *([before, ""] if before else []),
    ]
