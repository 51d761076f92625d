"""`python -m bench test-time`: how long `make test` takes, and where the time goes.

Runs what `make test` runs after its setup (ruff check, ruff format --check, pytest -n 2),
with PostgreSQL when one answers (as `.ci/run` does) and the browser tests when Chromium is
installed. The target (issue 12): under 4 minutes on the 2-core machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.databases import postgres_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TARGET = 240.0  # seconds
DURATION = re.compile(r"^([0-9.]+)s (?:call|setup|teardown)\s+(\S+?)::")
SUMMARY = re.compile(r"(\d+) passed(?:, (\d+) skipped)?(?:, (\d+) failed)?")


def run() -> dict[str, Any]:
    """Time the lint and the suite; the suite's per-file seconds from `--durations=0`."""
    environment = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home())}
    database = postgres_url()
    if database:
        environment["SHIPLOG_TEST_DATABASE_URL"] = database
    steps = {
        "ruff check": [str(BIN / "ruff"), "check", "."],
        "ruff format --check": [str(BIN / "ruff"), "format", "--check", "."],
    }
    seconds: dict[str, float] = {}
    for name, command in steps.items():
        began = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=environment, check=True, capture_output=True)
        seconds[name] = time.perf_counter() - began
    print("bench: the test suite (pytest -n 2) ...", file=sys.stderr)
    command = [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "-n", "2", "--durations=0"]
    began = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True)
    seconds["pytest -n 2"] = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"bench: the test suite failed:\n{result.stdout[-3000:]}")
    files: Counter[str] = Counter()
    for line in result.stdout.splitlines():
        found = DURATION.match(line)
        if found:
            files[found.group(2)] += float(found.group(1))
    passed, skipped, _failed = SUMMARY.findall(result.stdout)[-1]
    return {
        "seconds": seconds,
        "total": sum(seconds.values()),
        "passed": int(passed),
        "skipped": int(skipped or 0),
        "postgresql": database is not None,
        "browser": shutil.which("chromium") is not None,
        "files": files.most_common(12),
        "test_seconds": sum(files.values()),
    }


def lines(r: dict[str, Any]) -> list[str]:
    databases = "SQLite and PostgreSQL" if r["postgresql"] else "SQLite only (no PostgreSQL)"
    browser = "with" if r["browser"] else "without"
    met = "met" if r["total"] < TARGET else "NOT met"
    return [
        "## Test time",
        "",
        f"What `make test` runs once `.venv` exists: {r['passed']:,} tests passed, "
        f"{r['skipped']} skipped, on {databases}, {browser} the browser tests. "
        f"Target: under {TARGET / 60:.0f} minutes on the 2-core machine: {met}.",
        "",
        "| step | seconds |",
        "|---|---|",
        *(f"| `{name}` | {seconds:.1f} |" for name, seconds in r["seconds"].items()),
        f"| total | {r['total']:.1f} |",
        "",
        f"The tests' own time (call, setup and teardown, summed over both workers): "
        f"{r['test_seconds']:.0f} s. The slowest files:",
        "",
        "| file | seconds |",
        "|---|---|",
        *(f"| `{name}` | {seconds:.1f} |" for name, seconds in r["files"]),
        "",
        "Setting up `.venv` on a fresh clone (pip installing the project) comes before this and "
        "is not counted; CI's whole `.ci/run` is timed in the issue notes.",
        "",
    ]
