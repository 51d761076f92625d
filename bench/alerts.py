"""Alert latency under pressure: incidents opened one after another while a push's patch
fetches crawl through a slow GitHub API and one of the chat channels hangs.

Measured from the moment each `issues` webhook is sent to the moment each healthy channel
(the fake chat server, a thread of this process) receives its alert; with how many patch
fetches were done by then, whether the hanging channels were put aside
(`shiplog_chat_circuit_open` on /metrics), and, once they answer again, whether they get
each of their alerts once. `make bench` runs it on SQLite under `shiplog run` and on
PostgreSQL under gunicorn with two `shiplog worker`s, with one channel of four hanging; and
on SQLite with four of eight hanging (as many as a worker first had alert threads).
`tests/test_crisis_loop.py` runs it scaled down.

    .venv/bin/python -m bench.alerts
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from bench import web
from bench.databases import postgres_schema, postgres_url
from bench.processes import (
    Running,
    gunicorn_and_workers,
    load_config,
    parse_metrics,
    shiplog_run,
    toml_config,
)
from feed.db import Database
from feed.models import Channel, Job
from feed.notify import channel_partition
from tests.fake_chat import Answer, FakeChat, Received
from tests.github_emulator import Emulator, FakeCommit, make_commits

REPO = "acme/api"
TOKEN = "bench-github-token"
HANGING = "hanging-"  # and a number: the channels that never answer
SPARE = 100  # commits the API knows beyond the push: each nudge pushes one
TITLE = re.compile(r"\(crisis (\d+)\)")
CIRCUIT = "shiplog_chat_circuit_open"
TIMED_OUT = re.compile(r"worker: \S+ waits until \S+: (\S+): timed out")


@dataclass(frozen=True)
class Crisis:
    """The scenario's sizes; the defaults are `make bench`'s."""

    commits: int = 2000  # in the push delivered first: one patch fetch each
    api_latency: float = 0.1  # seconds the GitHub API takes to answer anything
    channels: int = 4  # webhook channels with a realtime subscription
    hanging: int = 1  # of them, those that never answer
    incidents: int = 50
    every: float = 0.2  # seconds between incidents
    hang: float = 30.0  # seconds a hanging channel keeps each request, then drops it
    patience: float = 60.0  # seconds to wait for alerts after the last incident
    circuit_patience: float = 60.0  # for the hanging channels' circuits to open
    read_timeout: float | None = None  # the chat client's, in the servers; None: shiplog's
    hurry: bool = False  # bring the hanging channels' retries forward instead of waiting

    @property
    def healthy(self) -> list[str]:
        return [f"up-{n}" for n in range(1, self.channels - self.hanging + 1)]

    @property
    def hanging_names(self) -> list[str]:
        return [f"{HANGING}{n}" for n in range(1, self.hanging + 1)]


def run(
    url: str,
    folder: Path,
    crisis: Crisis = Crisis(),
    *,
    servers: str = "run",
    extra: Mapping[str, str] | None = None,
    secrets: Collection[str] = (),
) -> dict[str, Any]:
    """The crisis against the migrated or empty database at `url`, served by `shiplog run`
    (`servers="run"`) or gunicorn and two workers (`"gunicorn"`); `extra` adds SHIPLOG_*
    settings. `secrets_seen` names each of `secrets` found in an answer or a log."""
    env = dict(extra or {})
    env.setdefault("SHIPLOG_GITHUB_WEBHOOK_SECRET", web.SECRET)
    env.setdefault("SHIPLOG_GITHUB_TOKEN", TOKEN)
    emulator = Emulator(token=env["SHIPLOG_GITHUB_TOKEN"])
    emulator.latency = crisis.api_latency
    start = datetime.now(UTC) - timedelta(days=3)
    commits = make_commits(crisis.commits + SPARE, start=start, prefix="Crisis")
    emulator.repo(REPO).push("main", *commits)
    hanging = threading.Event()
    hanging.set()

    def answer(path: str) -> Answer:
        if path.startswith(f"/{HANGING}") and hanging.is_set():
            return Answer(delay=crisis.hang, drop=True)
        return Answer()

    with emulator.running(), FakeChat(answer).running() as chat:
        names = crisis.healthy + crisis.hanging_names
        config = folder / "crisis.toml"
        config.write_text(
            toml_config(
                [{"name": n, "platform": "webhook", "url": chat.url(f"/{n}")} for n in names],
                [{"name": f"{n}-alerts", "channel": n, "mode": "realtime"} for n in names],
            )
        )
        env |= {"SHIPLOG_CONFIG": str(config), "SHIPLOG_GITHUB_API_URL": emulator.url}
        load_config(url, config)
        db = Database(url)
        try:
            if servers == "run":
                launch = shiplog_run(url, folder, env, read_timeout=crisis.read_timeout)
            else:
                launch = gunicorn_and_workers(url, folder, env, read_timeout=crisis.read_timeout)
            with launch as running:
                scene = _Scene(crisis, running, chat, db, commits, env, secrets)
                scene.play(hanging)
            logs = running.output()
            scene.scan("logs", logs)
            scene.numbers["timed_out"] = timed_out(logs)
            return scene.results() | {"servers": _servers_name(servers), "database": _kind(url)}
        finally:
            db.dispose()


class _Scene:
    """One run of the crisis: what was sent when, and what came of it."""

    def __init__(
        self,
        crisis: Crisis,
        running: Running,
        chat: FakeChat,
        db: Database,
        commits: Sequence[FakeCommit],
        env: Mapping[str, str],
        secrets: Collection[str],
    ) -> None:
        self.crisis = crisis
        self.server = running.web
        self.chat = chat
        self.db = db
        self.commits = list(commits)
        self.pushed = crisis.commits
        self.secret = env["SHIPLOG_GITHUB_WEBHOOK_SECRET"]
        self.secrets = tuple(secrets)
        self.secrets_seen: set[str] = set()
        self.lock = threading.Lock()
        self.sent: dict[int, float] = {}
        self.statuses: Counter[int] = Counter()
        self.webhook_seconds: list[float] = []
        self.numbers: dict[str, Any] = {}

    # --- the story ----------------------------------------------------------------------

    def play(self, hanging: threading.Event) -> None:
        crisis = self.crisis
        began = time.monotonic()
        answer = self.deliver("push", _push(self.commits[: crisis.commits], "0" * 40))
        if answer.status != 200 or json.loads(answer.body)["events_created"] != crisis.commits:
            raise RuntimeError(f"bench alerts: the push answered {answer.status} {answer.body!r}")
        self.numbers["push_seconds"] = time.monotonic() - began
        self.numbers["patches_queued"] = self.count_jobs("patches", "due")

        self.open_incidents()
        expected = len(crisis.healthy) * crisis.incidents
        deadline = max(self.sent.values()) + crisis.patience
        while self.healthy_received() < expected and time.monotonic() < deadline:
            time.sleep(0.01)
        self.numbers["alerts_done_after"] = time.monotonic() - min(self.sent.values())
        self.numbers["patches_done"] = self.count_jobs("patches", "done")
        self.numbers["hanging_received"] = len(self.hanging_received())

        self.numbers |= self.wait_for_circuit()
        hanging.clear()
        self.numbers |= self.recover()
        self.numbers["patches_done_at_end"] = self.count_jobs("patches", "done")

    def open_incidents(self) -> None:
        """One `issues` webhook every `every` seconds, sent by a pool of threads so that a
        slow answer does not hold up the next."""
        with ThreadPoolExecutor(8) as pool:
            start = time.monotonic()
            sending = []
            for n in range(self.crisis.incidents):
                time.sleep(max(start + n * self.crisis.every - time.monotonic(), 0.0))
                sending.append(pool.submit(self.open_incident, n))
            for future in sending:
                future.result()

    def open_incident(self, n: int) -> None:
        payload = _incident(n)
        with self.lock:
            self.sent[n] = time.monotonic()
        answer = self.deliver("issues", payload)
        with self.lock:
            self.statuses[answer.status] += 1
            self.webhook_seconds.append(time.monotonic() - self.sent[n])

    def wait_for_circuit(self) -> dict[str, Any]:
        """Until /metrics says every hanging channel is put aside (bringing their retries
        forward with `hurry`)."""
        first = min(self.sent.values())
        deadline = first + self.crisis.circuit_patience
        partitions = self.hanging_partitions()
        while time.monotonic() < deadline:
            if self.circuits_open() == len(partitions):
                return {"circuit_open": True, "circuit_opened_after": time.monotonic() - first}
            if self.crisis.hurry and self.move_time(partitions, circuit=False):
                self.nudge()
            time.sleep(0.1 if self.crisis.hurry else 0.25)
        return {"circuit_open": False, "circuit_opened_after": None}

    def recover(self) -> dict[str, Any]:
        """The hanging channels answer again; time moves on past their circuits and retries,
        until their messages are all out. What they got, and their circuits then."""
        partitions = self.hanging_partitions()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.count_jobs("deliver", "due", partitions) == 0:
                break
            if self.move_time(partitions, circuit=True):
                self.nudge()
            time.sleep(0.1)
        got = Counter((r.path, self.number(r.body)) for r in self.hanging_received())
        return {
            "recovered": len(got),
            "recovered_duplicates": sum(n - 1 for n in got.values()),
            "circuit_open_after_recovery": self.circuits_open() > 0,
            "hanging_dead": self.count_jobs("deliver", "dead", partitions),
        }

    # --- helpers ------------------------------------------------------------------------

    def deliver(self, event: str, payload: dict[str, Any]) -> web._Answer:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": "sha256="
            + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest(),
        }
        answer = web.request(self.server, "POST", "/webhooks/github", headers, body)
        self.scan_answer(answer)
        return answer

    def nudge(self) -> None:
        """Push one more commit: new work wakes the worker in every process at once (the web
        process's commit in `shiplog run`, NOTIFY on PostgreSQL), so it looks at the
        jobs whose time was moved, instead of at its next poll."""
        if self.pushed >= len(self.commits):
            return
        before = self.commits[self.pushed - 1].sha
        self.pushed += 1
        self.deliver("push", _push(self.commits[self.pushed - 1 : self.pushed], before))

    def move_time(self, partitions: Collection[str], *, circuit: bool) -> bool:
        """Make the partitions' waiting jobs due now (and with `circuit`, end the hanging
        channels' circuits); whether anything was waiting."""
        now = datetime.now(UTC)
        with self.db.write() as session:
            moved = session.execute(
                update(Job)
                .where(Job.partition.in_(partitions), Job.state == "due", Job.due_at > now)
                .values(due_at=now)
            ).rowcount
            if circuit:
                moved += session.execute(
                    update(Channel)
                    .where(Channel.name.startswith(HANGING), Channel.circuit_until > now)
                    .values(circuit_until=now - timedelta(seconds=1))
                ).rowcount
        return moved > 0

    def circuits_open(self) -> int:
        """How many hanging channels /metrics says are put aside."""
        answer = web.request(self.server, "GET", "/metrics")
        self.scan_answer(answer)
        if answer.status != 200:
            raise RuntimeError(f"bench alerts: /metrics answered {answer.status}")
        found = parse_metrics(answer.body.decode())
        return sum(
            found.get((CIRCUIT, (("channel", name), ("platform", "webhook"))), 0.0) == 1.0
            for name in self.crisis.hanging_names
        )

    def hanging_partitions(self) -> list[str]:
        with self.db.read() as session:
            found = session.scalars(select(Channel.id).where(Channel.name.startswith(HANGING)))
            return [channel_partition(channel, "alerts") for channel in found]

    def count_jobs(self, kind: str, state: str, partitions: Collection[str] = ()) -> int:
        query = select(func.count()).where(Job.kind == kind, Job.state == state)
        if partitions:
            query = query.where(Job.partition.in_(partitions))
        with self.db.read() as session:
            return session.scalar(query) or 0

    def worker_latencies(self) -> list[float]:
        """What the worker recorded for the healthy channels' alerts: from arrival (the
        webhook's transaction) to the send's end (`jobs.latency_seconds`)."""
        with self.db.read() as session:
            healthy = select(Channel.id).where(Channel.name.in_(self.crisis.healthy))
            partitions = [channel_partition(n, "alerts") for n in session.scalars(healthy)]
            query = select(Job.latency_seconds).where(
                Job.partition.in_(partitions), Job.latency_seconds.is_not(None)
            )
            return sorted(session.scalars(query))

    def hanging_received(self) -> list[Received]:
        with self.chat.lock:
            return [r for r in self.chat.received if r.path.startswith(f"/{HANGING}")]

    def healthy_received(self) -> int:
        """Alerts the healthy channels have, each counted once."""
        with self.chat.lock:
            healthy = [r for r in self.chat.received if not r.path.startswith(f"/{HANGING}")]
        return len({(r.path, self.number(r.body)) for r in healthy})

    @staticmethod
    def number(body: bytes) -> int:
        found = TITLE.search(json.loads(body)["title"])
        return int(found.group(1)) if found else -1

    def scan(self, where: str, text: str) -> None:
        self.secrets_seen |= {f"{where}: {s}" for s in self.secrets if s in text}

    def scan_answer(self, answer: web._Answer) -> None:
        if self.secrets:
            headers = "".join(f"{key}: {value}\n" for key, value in answer.headers.items())
            self.scan("answer", headers + answer.body.decode("utf-8", "replace"))

    def results(self) -> dict[str, Any]:
        crisis = self.crisis
        with self.chat.lock:
            healthy = [r for r in self.chat.received if not r.path.startswith(f"/{HANGING}")]
        counts = Counter((r.path.strip("/"), self.number(r.body)) for r in healthy)
        first = {}
        for r in healthy:  # the first copy of each is the one that counts
            first.setdefault((r.path.strip("/"), self.number(r.body)), r.at)
        latencies = sorted(at - self.sent[n] for (_, n), at in first.items() if n in self.sent)
        expected = {(name, n) for name in crisis.healthy for n in range(crisis.incidents)}
        return {
            **self.numbers,
            "incidents": crisis.incidents,
            "hanging": crisis.hanging,
            "channels": crisis.channels,
            "patches_total": crisis.commits,
            "alerts_expected": len(expected),
            "alerts_received": len(expected & set(counts)),
            "alerts_unexpected": sorted(set(counts) - expected),
            "duplicates": sum(n - 1 for n in counts.values()),
            "latencies": latencies,
            **percentiles(latencies),
            "webhook_statuses": dict(self.statuses),
            **{f"worker_{k}": v for k, v in percentiles(self.worker_latencies()).items()},
            **{f"webhook_{k}": v for k, v in percentiles(sorted(self.webhook_seconds)).items()},
            "secrets_seen": sorted(self.secrets_seen),
        }


def timed_out(logs: str) -> dict[str, int]:
    """Per channel, how many sends the servers' logs say timed out. A send the chat server
    took but answered after the read timeout is sent again: a duplicate the channel gets."""
    return dict(Counter(TIMED_OUT.findall(logs)))


def percentiles(ordered: Sequence[float]) -> dict[str, float]:
    """p50, p99 (nearest rank) and the max of sorted seconds; NaN for none."""
    if not ordered:
        return {"p50": float("nan"), "p99": float("nan"), "max": float("nan")}

    def rank(p: int) -> float:
        return ordered[max(-(-len(ordered) * p // 100) - 1, 0)]

    return {"p50": rank(50), "p99": rank(99), "max": ordered[-1]}


def _push(commits: Sequence[FakeCommit], before: str) -> dict[str, Any]:
    """A push to main of `commits` (oldest first), as GitHub delivers it."""
    entries = [
        {
            "id": c.sha,
            "tree_id": hashlib.sha1(c.sha.encode(), usedforsecurity=False).hexdigest(),
            "distinct": True,
            "message": c.message,
            "timestamp": c.date.isoformat(),
            "url": f"https://github.com/{REPO}/commit/{c.sha}",
            "author": {"name": c.author_name, "email": "octocat@example.com", "username": "octo"},
            "committer": {"name": c.author_name, "email": "octocat@example.com"},
            "added": [],
            "removed": [],
            "modified": [f["filename"] for f in c.files],
        }
        for c in commits
    ]
    return {
        "ref": "refs/heads/main",
        "before": before,
        "after": commits[-1].sha,
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{REPO}/compare/{before[:12]}...{commits[-1].sha[:12]}",
        "commits": entries,
        "head_commit": entries[-1],
        "pusher": {"name": "mara"},
        "repository": {
            "full_name": REPO,
            "name": REPO.split("/")[1],
            "html_url": f"https://github.com/{REPO}",
            "default_branch": "main",
            "pushed_at": int(time.time()),
        },
        "sender": {"login": "mara"},
    }


def _incident(n: int) -> dict[str, Any]:
    """Issue 1000 + n opened with the incident label, now."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    number = 1000 + n
    issue = {
        "number": number,
        "title": f"Checkout errors (crisis {n})",
        "body": "Customers see 500s at checkout.",
        "state": "open",
        "html_url": f"https://github.com/{REPO}/issues/{number}",
        "user": {"login": "sam"},
        "labels": [{"name": "incident"}, {"name": "sev1"}],
        "created_at": now,
        "updated_at": now,
        "closed_at": None,
        "comments": 0,
    }
    return {
        "action": "opened",
        "issue": issue,
        "repository": {"full_name": REPO, "html_url": f"https://github.com/{REPO}"},
        "sender": {"login": "sam"},
    }


def _servers_name(servers: str) -> str:
    return "shiplog run" if servers == "run" else "gunicorn -w 2 and two shiplog workers"


def _kind(url: str) -> str:
    return "PostgreSQL" if url.startswith("postgresql") else "SQLite"


def runs(crisis: Crisis = Crisis()) -> dict[str, dict[str, Any]]:
    """`make bench`'s runs: SQLite under `shiplog run`, PostgreSQL under gunicorn and two
    workers when a server answers; then SQLite with as many channels hanging as a worker
    first had alert threads (4), beside four healthy ones."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = run(f"sqlite:///{tmp}/alerts.db", Path(tmp), crisis)
    admin = postgres_url()
    if admin:
        with tempfile.TemporaryDirectory() as tmp, postgres_schema(admin, "shiplog_alerts") as url:
            results["PostgreSQL"] = run(url, Path(tmp), crisis, servers="gunicorn")
    crowded = replace(crisis, channels=8, hanging=4)
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite, 4 of 8 hanging"] = run(f"sqlite:///{tmp}/alerts.db", Path(tmp), crowded)
    return results


if __name__ == "__main__":
    for name, result in runs().items():
        shown = {k: v for k, v in result.items() if k != "latencies"}
        print(name, json.dumps(shown, indent=2, default=str), file=sys.stderr)
