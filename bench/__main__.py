"""`make bench`: run the benchmarks and write bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    alerts,
    build_catchup,
    chat,
    fanout,
    health,
    importgit,
    load,
    queries,
    scale,
    sync,
    testtime,
    web,
)
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


TITLE = "# Benchmark results"


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bench [SECTION ...]`: every section and a new RESULTS.md; or only the
    named ones, each replacing its own part of RESULTS.md (between its markers)."""
    names = list(sys.argv[1:] if argv is None else argv)
    unknown = [name for name in names if name not in SECTIONS]
    if unknown:
        raise SystemExit(f"bench: unknown section {unknown[0]!r}; sections: {', '.join(SECTIONS)}")
    chosen = [name for name in SECTIONS if name in names] or list(SECTIONS)
    began = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    ran = {name: SECTIONS[name]() for name in chosen}
    if names:
        stamp = (
            f"Run separately: `.venv/bin/python -m bench {' '.join(chosen)}`, "
            f"{began:%Y-%m-%d %H:%M} UTC on {machine()}; {busy(load_before)}."
        )
        text = RESULTS.read_text() if RESULTS.exists() else TITLE + "\n"
        for name, lines in ran.items():
            text = replace_section(text, name, [stamp, "", *lines])
    else:
        sections = (line for name, lines in ran.items() for line in marked(name, lines))
        text = "\n".join([*header(began, load_before), *sections])
    RESULTS.write_text(text)
    print(text)


def busy(load_before: float) -> str:
    """The machine's 1-minute load average when the run began and ended: the other work
    the shared cores had."""
    return f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"


def header(began: datetime, load_before: float) -> list[str]:
    return [
        TITLE,
        "",
        f"Command: `make bench` (runs `.venv/bin/python -m bench`; `python -m bench SECTION ...` "
        f"runs only some of {', '.join(SECTIONS)} and replaces their parts). "
        f"Run {began:%Y-%m-%d %H:%M} UTC on {machine()}; {busy(load_before)}.",
        "These machines are shared and noisy: compare numbers measured in the same run.",
        "",
    ]


def marked(name: str, lines: list[str]) -> list[str]:
    """A section's lines between its markers (HTML comments: Markdown shows nothing)."""
    return [f"<!-- bench:{name} -->", *lines, f"<!-- /bench:{name} -->", ""]


def replace_section(text: str, name: str, lines: list[str]) -> str:
    """`text` with section `name`'s part replaced by `lines` (added at the end if absent)."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = "\n".join(marked(name, lines)).rstrip("\n")
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return text.rstrip("\n") + "\n\n" + block + "\n"
    return text[:start] + block + text[stop + len(end) :]


def sync_section() -> list[str]:
    print("bench: backfill of 2,000 commits ...", file=sys.stderr)
    backfill = sync.backfill()
    print("bench: idle re-poll of 20 repositories ...", file=sys.stderr)
    idle = sync.idle_repoll()
    print("bench: import-git of 5,000 commits ...", file=sys.stderr)
    imported = sync.import_git()
    return [
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
    ]


def builds_section() -> list[str]:
    print("bench: 30 days of build results for 20 repositories ...", file=sys.stderr)
    return build_catchup.lines(build_catchup.run())


def chat_section() -> list[str]:
    print("bench: rendering a 10,000-event digest for every platform ...", file=sys.stderr)
    rendering = chat.render_digest()
    print("bench: rendering a 2,000-event digest, every event accounted for ...", file=sys.stderr)
    accounting = chat.render_every_event()
    print("bench: delivery throughput ...", file=sys.stderr)
    delivery = chat.delivery_throughput()
    return [
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


def scale_section() -> list[str]:
    return scale_lines(scale.run())


def web_section() -> list[str]:
    print("bench: gunicorn: feeds, pushes and memory ...", file=sys.stderr)
    return web_lines(web.run())


def load_section() -> list[str]:
    return load_lines(load_runs())


def alerts_section() -> list[str]:
    print("bench: alert latency under pressure ...", file=sys.stderr)
    crises = alerts.runs()
    print("bench: 10,000 alerts to 50 channels ...", file=sys.stderr)
    fanouts = fanout.runs()
    return alerts_lines(crises) + fanout_lines(fanouts)


def import_git_section() -> list[str]:
    return importgit.lines(importgit.run())


# In the order they run and appear in RESULTS.md.
SECTIONS: dict[str, Callable[[], list[str]]] = {
    "sync": sync_section,
    "builds": builds_section,
    "health": lambda: health.lines(health.run()),
    "chat": chat_section,
    "scale": scale_section,
    "web": web_section,
    "load": load_section,
    "alerts": alerts_section,
    "import-git": import_git_section,
    "test-time": lambda: testtime.lines(testtime.run()),
}


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
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    runs = {names[key]: results[key] for key in names if key in results}
    lines = [
        "## The activity page at a million events",
        "",
        "`bench/dataset.py` builds the timeline: "
        + "; ".join(
            f"{name}: {r['build']['events']:,} events, {r['build']['files']:,} files with "
            f"patches, {r['build']['incidents']:,} incidents in {r['build']['seconds']:.0f} s"
            for name, r in runs.items()
        )
        + ". Each case is a request for the page (`/?...`), or the feed or API its name says, "
        "through the app in this process, queries and rendering of 50 entries included (a "
        "feed SQLite can tell unchanged is served from the feed cache after the warm-up); "
        f"{queries.RUNS} runs after one warm-up "
        "(`bench/queries.py`). Target: p95 under 50 ms; the 1,000th page at most 1.5 times "
        "the first.",
        "",
        "| case |" + "".join(f" {name} p50 ms | {name} p95 ms |" for name in runs),
        "|---|" + "---|---|" * len(runs),
    ]
    first = next(iter(runs.values()))["queries"]["cases"]
    for case in first:
        lines.append(
            f"| {case} |"
            + "".join(
                f" {c['p50']:.1f} | {c['p95']:.1f} |"
                for c in (r["queries"]["cases"][case] for r in runs.values())
            )
        )
    shapes = {name: r["queries"]["shapes"] for name, r in runs.items()}
    ingest = {name: r["queries"]["ingest"] for name, r in runs.items()}
    sizes = {name: r["queries"]["indexes"] for name, r in runs.items()}
    total = next(iter(shapes.values()))["total"]
    lines += [
        "",
        "SQLite: the 1,000th page costs "
        f"{first['1,000th page by cursor']['p50'] / first['first page']['p50']:.2f} times the "
        "first at the median; target: at most 1.5.",
        "",
        f"### Every pair and triple of filters ({total} shapes)",
        "",
        "`bench.queries.shapes()`: every pair and every triple of repo, kind, branch, author, "
        "path, one-word and two-word text, a date window, `bots` and `around`, all with values "
        "that match many events, then each filter in turn with values that match few, then "
        "none; each on the first page and on the page after a cursor halfway back in time. "
        f"Each shape's time is the slowest of {queries.SHAPE_RUNS} request(s) after a warm-up; "
        f"a shape at {queries.RECHECK_MS:.0f} ms or more is timed again, {queries.RUNS} "
        "requests, and their p95 is its time (the target's measure: one request is a noisy "
        "sample). Warm-ups over a second, first requests on a cold cache, are listed apart. "
        "The shapes go in a shuffled order "
        f"and stop after {queries.SHAPE_BUDGET:.0f} s a database, so a run cut short still "
        "samples every kind.",
        "",
        "| measure |" + "".join(f" {name} |" for name in runs),
        "|---|" + "---|" * len(runs),
        "| median over all shapes |" + "".join(f" {g['p50']:.1f} ms |" for g in shapes.values()),
        "| 99th percentile over all shapes |"
        + "".join(f" {g['p99']:.1f} ms |" for g in shapes.values()),
        "| worst shape |"
        + "".join(f" {g['worst_ms']:.0f} ms: {g['worst']} |" for g in shapes.values()),
        "| shapes measured in the time |"
        + "".join(f" {g['count']} of {g['total']} |" for g in shapes.values()),
        "| shapes at 50 ms or more |"
        + "".join(f" {len(g['over_50'])} of {g['count']} |" for g in shapes.values()),
        f"| shapes timed again ({queries.RUNS} requests) |"
        + "".join(f" {g.get('rechecked', 0)} |" for g in shapes.values()),
        "| first requests over a second |"
        + "".join(f" {len(g.get('cold', []))} |" for g in shapes.values()),
        "| 20-commit push accepted (p50 / p95) |"
        + "".join(f" {i['p50']:.1f} / {i['p95']:.1f} ms |" for i in ingest.values()),
        "| indexes of events and event_files (with SQLite's search index) |"
        + "".join(f" {sum(s.values()) / 2**20:,.0f} MiB |" for s in sizes.values()),
        "",
    ]
    for name, g in shapes.items():
        lines += [
            f"{name}'s worst shape, `{g['worst_query']}`; the plan of its slowest statement: "
            f"`{g['worst_plan']}`.",
            "",
        ]
        slowest = ", ".join(f"{shape} ({ms:.0f} ms)" for ms, shape in g["over_50"][:15])
        if slowest:
            lines += [f"{name}'s slowest shapes: {slowest}.", ""]
        cold = ", ".join(f"{shape} ({ms:.0f} ms)" for ms, shape in g.get("cold", [])[:10])
        if cold:
            lines += [f"{name}'s first requests over a second: {cold}.", ""]
    for name, s in sizes.items():
        lines += [
            f"{name}'s indexes: "
            + ", ".join(f"{index} {size / 2**20:,.0f} MiB" for index, size in s.items())
            + ".",
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


def alerts_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    crisis = alerts.Crisis()
    lines = [
        "## Alert latency under pressure",
        "",
        f"`bench/alerts.py`: the GitHub API emulator answers every request after "
        f"{crisis.api_latency * 1000:.0f} ms; a push of {crisis.commits:,} commits is delivered "
        f"first ({crisis.commits:,} patch fetches queued in the github lane); {crisis.channels} "
        "`webhook` channels have a realtime subscription each, and one of them hangs (the fake "
        f"chat server keeps every request {crisis.hang:.0f} s, then drops it); then "
        f"{crisis.incidents} incidents are opened, one every {crisis.every} s (signed `issues` "
        "webhooks, `opened`, labelled `incident`). Latency: from just before a webhook is sent "
        "to the fake chat server (a thread of the bench process) receiving its alert, for "
        "each healthy channel. Target: p99 under 2 s. The last row is the same with 8 "
        "channels of which 4 hang (with the 4 alert threads a worker first had, this case "
        "missed the target; `SHIPLOG_WORKER_THREADS` now gives 16).",
        "",
        "| run | served by | alerts received | p50 s | p99 s | max s "
        "| patch fetches done by then | hanging channels put aside | once they answered again |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        opened = (
            f"yes, {r['circuit_opened_after']:.0f} s after the first incident"
            if r["circuit_open"]
            else "no"
        )
        lines.append(
            f"| {name} | {r['servers']} | {r['alerts_received']} of {r['alerts_expected']}, "
            f"{r['duplicates']} twice | {r['p50']:.3f} | {r['p99']:.3f} | {r['max']:.3f} | "
            f"{r['patches_done']:,} of {r['patches_total']:,} | {opened} | "
            f"{r['recovered']} of {r['incidents'] * r['hanging']} delivered, "
            f"{r['recovered_duplicates']} twice |"
        )
    lines += [
        "",
        "Where the time goes (p50 / p99): "
        + "; ".join(
            f"{name}: the webhook's answer {r['webhook_p50'] * 1000:.0f} / "
            f"{r['webhook_p99'] * 1000:.0f} ms, the worker's own count from the alert's "
            f"arrival to its send {r['worker_p50'] * 1000:.0f} / "
            f"{r['worker_p99'] * 1000:.0f} ms"
            for name, r in runs.items()
        )
        + ". A hanging channel's messages go one at a time and each try holds one of the "
        "worker's alert threads for the 5 s read timeout; its circuit opens after three tries "
        "and two quick retries (about 21 s). With as many hanging channels as alert threads, "
        "every thread could be waiting on one of them and the healthy channels' alerts would "
        "wait for a thread. Afterwards the time is moved on (`channels.circuit_until`, "
        "`jobs.due_at`) for the hanging channels, which answer again.",
        "",
    ]
    return lines


def fanout_lines(runs: dict[str, dict[str, Any]]) -> list[str]:
    f = fanout.Fanout()
    lines = [
        f"## {f.messages:,} alerts",
        "",
        f"`bench/fanout.py`: {f.events} new commits for {f.channels} `webhook` channels whose "
        f"realtime subscriptions want every commit: {f.messages:,} deliver jobs, queued "
        "through the store and `feed.notify.enqueue_alerts`, then sent by `shiplog worker` "
        "(16 alert threads each). The fake chat server fails about one send in ten, picked by "
        f"a hash of the channel and its send count: {f.errors:.1%} answer 500, "
        f"{f.limited:.1%} 429 with `Retry-After: 1`, {f.timeouts:.1%} are kept {f.hang:.0f} s "
        "and dropped (the client gives up after its 5 s read timeout). Time: from starting "
        "the workers to the last message's arrival. Counted by channel and event.",
        "",
        "| database | workers | delivered | twice | dead | sends: ok / 500 / 429 / timed out "
        "| circuits opened | time | messages a second | longest pause between two arrivals |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in runs.items():
        o = r["outcomes"]
        lines.append(
            f"| {name} | {r['workers']} | {r['delivered']:,} of {r['messages']:,} | "
            f"{r['duplicates']} | {r['jobs']['dead']} | {o.get('ok', 0):,} / {o.get('500', 0)} / "
            f"{o.get('429', 0)} / {o.get('timeout', 0)} | {r['circuits_opened']} | "
            f"{r['seconds']:.0f} s | {r['per_second']:.0f} | {r['gaps']['max']:.1f} s |"
        )
    lines.append("")
    return lines


if __name__ == "__main__":
    main()
