"""`make bench`: run the benchmarks and write bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import chat, sync

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def main() -> None:
    print("bench: backfill of 2,000 commits ...", file=sys.stderr)
    backfill = sync.backfill()
    print("bench: idle re-poll of 20 repositories ...", file=sys.stderr)
    idle = sync.idle_repoll()
    print("bench: import-git of 5,000 commits ...", file=sys.stderr)
    imported = sync.import_git()
    print("bench: rendering a 10,000-event digest for every platform ...", file=sys.stderr)
    rendering = chat.render_digest()
    print("bench: delivery throughput ...", file=sys.stderr)
    delivery = chat.delivery_throughput()
    lines = [
        "# Benchmark results",
        "",
        f"Command: `make bench` (runs `.venv/bin/python -m bench`). "
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "These machines are shared and noisy: compare numbers measured in the same run.",
        "",
        "## GitHub sync (against the local API emulator in `tests/github_emulator.py`)",
        "",
        "| measure | shiplog sync | naive PyGithub loop | target |",
        "|---|---|---|---|",
        f"| backfill of {backfill['commits']:,} commits: requests | "
        f"{backfill['ours_requests']:,.0f} | {backfill['naive_requests']:,.0f} | |",
        f"| requests per commit | {backfill['ours_requests_per_commit']:.3f} | "
        f"{backfill['naive_requests_per_commit']:.3f} | at most 1.02 |",
        f"| commits per second | {backfill['ours_commits_per_second']:.0f} | "
        f"{backfill['naive_commits_per_second']:.0f} | |",
        f"| idle re-poll of {idle['repos']} repositories: requests counted against the "
        f"rate limit | {idle['requests_counted']:.0f} (of {idle['requests_sent']:.0f} sent, "
        f"all 304) | {idle['naive_counted']:.0f} (lists everything again) | 0 |",
        "",
        "The naive loop is `for c in repo.get_commits(): c.files` with PyGithub's defaults "
        "(30 per page), and a full re-list on every poll. shiplog's backfill also stores "
        "every commit, its files and patches in SQLite; the naive loop stores nothing.",
        "",
        "## import-git",
        "",
        "| repository | time | speed | API requests |",
        "|---|---|---|---|",
        f"| {imported['commits']:,} commits, 3 files with patches each, into SQLite | "
        f"{imported['seconds']:.1f} s | {imported['commits_per_second']:.0f} commits/s | 0 |",
        "",
        "## Chat",
        "",
        "Rendering one digest of 10,000 events (best of 5; target: under 100 ms a platform):",
        "",
        "| step | milliseconds |",
        "|---|---|",
        *(f"| {name} | {ms:.1f} |" for name, ms in rendering.items()),
        "",
        f"Delivery: one worker sent {delivery['messages']:.0f} messages to the fake chat "
        f"server (the webhook platform, SQLite) in {delivery['seconds']:.1f} s: "
        f"{delivery['per_second']:.0f} messages a second.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
