"""`make bench`: run the benchmarks and write bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import chat, load, queries, scale, sync, web
from bench.databases import postgres_schema, postgres_url

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
    print("bench: rendering a 2,000-event digest, every event accounted for ...", file=sys.stderr)
    accounting = chat.render_every_event()
    print("bench: delivery throughput ...", file=sys.stderr)
    delivery = chat.delivery_throughput()
    at_scale = scale.run()
    print("bench: gunicorn: feeds, pushes and memory ...", file=sys.stderr)
    served = web.run()
    loads = load_runs()
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
        'Rendering one digest of 2,000 events, each shown or counted in an "…and N more" '
        "linked to exactly the rest (`bench.chat.render_every_event`; median of 9; "
        "target: under 100 ms a platform):",
        "",
        "| platform | milliseconds |",
        "|---|---|",
        *(f"| {name} | {ms:.1f} |" for name, ms in accounting.items()),
        "",
        f"Delivery: one worker sent {delivery['messages']:.0f} messages to the fake chat "
        f"server (the webhook platform, SQLite) in {delivery['seconds']:.1f} s: "
        f"{delivery['per_second']:.0f} messages a second.",
        "",
    ]
    lines += scale_lines(at_scale) + web_lines(served) + load_lines(loads)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


def load_runs(seconds: float = 60.0) -> dict[str, dict[str, Any]]:
    print("bench: a minute of load on SQLite ...", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"SQLite": load.run(f"sqlite:///{tmp}/load.db", seconds)}
    admin = postgres_url()
    if admin:
        print("bench: a minute of load on PostgreSQL ...", file=sys.stderr)
        with postgres_schema(admin, "shiplog_load") as url:
            runs["PostgreSQL"] = load.run(url, seconds)
    return runs


def load_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        "## Load",
        "",
        "`bench/load.py`: gunicorn with 4 sync workers; 8 threads send signed 20-commit pushes "
        "(every commit new) while 8 threads read the page, a filtered page, the Atom feed and "
        "the JSON API, for a minute, all in one Python process on the same 2 cores. Then the "
        "timeline is counted.",
        "",
    ]
    for name, r in runs.items():
        lines += [
            f"**{name}** ({r['seconds']:.0f} s): {r['server_errors']} answers of 5xx; "
            f"{r['commits_accepted']:,} commits accepted, {r['commits_stored']:,} stored, "
            f"{r['commits_distinct']:,} distinct.",
            "",
            "| endpoint | requests | per second | p50 ms | p99 ms |",
            "|---|---|---|---|---|",
            *(
                f"| {endpoint} | {e['requests']:,.0f} | {e['per_second']:.1f} | "
                f"{e['p50_ms']:.0f} | {e['p99_ms']:.0f} |"
                for endpoint, e in r["endpoints"].items()
            ),
            "",
        ]
    return lines


def scale_lines(results: dict[str, Any]) -> list[str]:
    sqlite = results["sqlite"]
    postgres = results.get("postgresql")
    built = [("SQLite", sqlite["build"])] + (
        [("PostgreSQL", postgres["build"])] if postgres else []
    )
    lines = [
        "## The activity page at a million events",
        "",
        "`bench/dataset.py` builds the timeline: "
        + "; ".join(
            f"{name}: {b['events']:,} events, {b['files']:,} files with patches, "
            f"{b['incidents']:,} incidents in {b['seconds']:.0f} s"
            for name, b in built
        )
        + ". Each case is a request for the page (`/?...`) through the app in this process, "
        f"queries and rendering of 50 entries included; {queries.RUNS} runs after one warm-up "
        "(`bench/queries.py`). Target: p95 under 50 ms on SQLite; the 1,000th page at most "
        "1.5 times the first.",
        "",
        "| case | SQLite p50 ms | SQLite p95 ms |"
        + (" PostgreSQL p50 ms | PostgreSQL p95 ms |" if postgres else ""),
        "|---|---|---|" + ("---|---|" if postgres else ""),
    ]
    for case, numbers in sqlite["queries"].items():
        row = f"| {case} | {numbers['p50']:.1f} | {numbers['p95']:.1f} |"
        if postgres:
            other = postgres["queries"][case]
            row += f" {other['p50']:.1f} | {other['p95']:.1f} |"
        lines.append(row)
    first = sqlite["queries"]["first page"]
    deep = sqlite["queries"]["1,000th page by cursor"]
    lines += [
        "",
        f"SQLite: the 1,000th page costs {deep['p50'] / first['p50']:.2f} times the first "
        f"at the median ({deep['p95'] / first['p95']:.2f} at p95); target: at most 1.5.",
        "",
    ]
    return lines


def web_lines(r: dict[str, float]) -> list[str]:
    return [
        "## Under gunicorn",
        "",
        f"`bench/web.py`: gunicorn with one sync worker over SQLite ({r['events']:,.0f} events), "
        f"{r['clients']:.0f} client threads in this process; static, feed and 304 requests "
        "interleaved in the same run. The static response is a feed-sized body "
        f"({r['feed_bytes']:,.0f} bytes) served by the same app (`bench/wsgi.py`).",
        "",
        "| request | requests/s | p50 ms | p99 ms | worker CPU ms a request | share of static |"
        " target |",
        "|---|---|---|---|---|---|---|",
        f"| static body | {r['static_rps']:.0f} | {r['static_p50_ms']:.1f} | "
        f"{r['static_p99_ms']:.1f} | {r['static_worker_cpu_ms']:.2f} | 100% | |",
        f"| warm `/feed.atom` (50 entries) | {r['feed_rps']:.0f} | {r['feed_p50_ms']:.1f} | "
        f"{r['feed_p99_ms']:.1f} | {r['feed_worker_cpu_ms']:.2f} | {r['feed_ratio']:.0%} | "
        "at least 80% |",
        f"| `/feed.atom` answered 304 | {r['not_modified_rps']:.0f} | "
        f"{r['not_modified_p50_ms']:.1f} | {r['not_modified_p99_ms']:.1f} | "
        f"{r['not_modified_worker_cpu_ms']:.2f} | {r['not_modified_ratio']:.0%} | "
        "at least 90% |",
        "",
        f"A 20-commit push delivery, accepted over HTTP: p50 {r['push_p50_ms']:.1f} ms, "
        f"p95 {r['push_p95_ms']:.1f} ms; in the process (test client): p50 "
        f"{r['push_in_process_p50_ms']:.1f} ms, p95 {r['push_in_process_p95_ms']:.1f} ms "
        "(target: p50 under 20 ms).",
        "",
        f"The gunicorn worker's resident memory after all of it: {r['worker_rss_mb']:.0f} MB "
        f"(peak {r['worker_peak_rss_mb']:.0f} MB; target: under 150 MB).",
        "",
        "Private mode: a warm `/feed.atom` through the test client takes p50 "
        f"{r['public_feed_p50_ms']:.2f} ms in public mode and {r['private_feed_p50_ms']:.2f} ms "
        f"in private mode with a feed token ({r['private_feed_ratio']:.1f} times: the token's "
        "lookup), interleaved in one run.",
        "",
    ]


if __name__ == "__main__":
    main()
