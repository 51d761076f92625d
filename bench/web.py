"""Benchmarks of the web process under gunicorn: feed throughput, push latency, worker memory."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from feed.db import Database
from feed.migrate import upgrade
from feed.models import Event
from feed.state import shiplog_state
from feed.store import EventRecord, FileRecord, upsert_event
from integrations.github import demo
from integrations.github.commits import commit_record

EVENTS = 5000
SECRET = "bench-webhook-secret"
PUSHES = 200
IN_PROCESS_PUSHES = 50
PUSH_COMMITS = 20
SECONDS = 4.0  # per throughput measurement, split over ROUNDS interleaved rounds
ROUNDS = 4
WORKERS = 1
CLIENTS = 3  # client threads per gunicorn worker: enough to keep a sync worker busy
ROOT = Path(__file__).resolve().parents[1]
SHARED_PUSH = ROOT.parent / "shared" / "github-payloads" / "push" / "with-new-branch.payload.json"
REPOS = [f"acme/service-{n}" for n in range(8)]
PUSH_REPO = "acme/api"


@dataclass(frozen=True)
class Server:
    """A running gunicorn: where it listens and its master's pid."""

    host: str
    port: int
    pid: int
    log: Path


def run(
    events: int = EVENTS,
    seconds: float = SECONDS,
    pushes: int = PUSHES,
    in_process_pushes: int = IN_PROCESS_PUSHES,
    workers: int = WORKERS,
) -> dict[str, float]:
    """Everything in one run, on one SQLite timeline of about `events` events and one gunicorn:
    /feed.atom, its 304 and a static feed-sized body (interleaved), then `pushes` signed
    20-commit push deliveries over HTTP, then the worker's memory; then `in_process_pushes`
    more through the Flask test client, with gunicorn stopped."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        results: dict[str, float] = {"events": build_timeline(url, events)}
        with gunicorn(url, Path(tmp), workers) as server:
            results |= feed_throughput(server, seconds)
            results |= push_latency_http(server, pushes)
            results |= worker_memory(server)
        results |= push_latency_in_process(url, in_process_pushes)
        results |= private_feed_cost(url)
    return results


def build_timeline(url: str, events: int) -> int:
    """Migrate a database at `url` and fill it: the demo timeline, then `events` commits,
    reverts, releases and deployments over 60 days in 8 repositories. Returns the count."""
    db = Database(url)
    upgrade(db.engine)
    demo.load(db, "incident")
    start = datetime.now(UTC) - timedelta(days=60)
    step = timedelta(days=60) / events
    with db.write() as session:
        for n in range(events):
            upsert_event(session, _timeline_record(n, start + n * step))
    with db.read() as session:
        count = session.scalar(select(func.count()).select_from(Event)) or 0
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    db.dispose()
    return count


@contextmanager
def gunicorn(
    url: str, folder: Path, workers: int = WORKERS, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`bench.wsgi:app` under gunicorn (sync workers) on a free port, until the block ends;
    `env` adds SHIPLOG_* settings. Its output is in `Server.log`."""
    extra = env or {}
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPLOG_")}
    env |= {"SHIPLOG_DATABASE_URL": url, "SHIPLOG_GITHUB_WEBHOOK_SECRET": SECRET} | extra
    log = folder / "gunicorn.log"
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        *("--workers", str(workers), "--worker-class", "sync"),
        *("--bind", f"127.0.0.1:{port}", "--timeout", "60", "--chdir", str(ROOT)),
        *_control_socket_off(),
        "bench.wsgi:app",
    ]
    with log.open("wb") as out:
        # From the project's folder, as the README starts it, so gunicorn.conf.py is read.
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server("127.0.0.1", port, process.pid, log)
    try:
        _wait_healthy(server, process)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def feed_throughput(server: Server, seconds: float = SECONDS) -> dict[str, float]:
    """Requests a second and latency of /bench/static, a warm /feed.atom and its 304, measured
    in `ROUNDS` interleaved rounds so that a noisy neighbour hurts all three alike."""
    clients = CLIENTS * len(worker_pids(server))
    static = _get(server, "/bench/static")
    feed = _get(server, "/feed.atom")
    assert static.status == feed.status == 200, (static.status, feed.status)
    assert len(static.body) == len(feed.body), (len(static.body), len(feed.body))
    assert static.content_type == feed.content_type, (static.content_type, feed.content_type)
    etag = feed.headers["ETag"]
    assert _get(server, "/feed.atom", {"If-None-Match": etag}).status == 304
    cases = {
        "static": ("/bench/static", {}, 200),
        "feed": ("/feed.atom", {}, 200),
        "not_modified": ("/feed.atom", {"If-None-Match": etag}, 304),
    }
    totals = {name: _Tally() for name in cases}
    for round_ in range(ROUNDS):
        order = list(cases)[round_ % 3 :] + list(cases)[: round_ % 3]
        for name in order:
            path, headers, status = cases[name]
            totals[name].add(_hammer(server, path, headers, status, seconds / ROUNDS, clients))
    results: dict[str, float] = {"feed_bytes": len(feed.body), "clients": clients}
    for name, tally in totals.items():
        results |= tally.summary(name)
    results["feed_ratio"] = results["feed_rps"] / results["static_rps"]
    results["not_modified_ratio"] = results["not_modified_rps"] / results["static_rps"]
    # The same ratios in the worker's CPU per request, which the client's speed cannot cap.
    static_cpu = results["static_worker_cpu_ms"]
    results["feed_cpu_ratio"] = static_cpu / results["feed_worker_cpu_ms"]
    results["not_modified_cpu_ratio"] = static_cpu / results["not_modified_worker_cpu_ms"]
    return results


def push_latency_http(server: Server, pushes: int = PUSHES) -> dict[str, float]:
    """Milliseconds from connect to answer for `pushes` signed 20-commit push deliveries,
    one at a time, over HTTP."""
    latencies = []
    for n in range(pushes):
        body, headers = push_delivery(n)
        began = time.perf_counter()
        answer = request(server, "POST", "/webhooks/github", headers, body)
        latencies.append(time.perf_counter() - began)
        _check_push(answer.status, answer.body)
    return _latency_summary("push", latencies)


def push_latency_in_process(url: str, pushes: int = IN_PROCESS_PUSHES) -> dict[str, float]:
    """Milliseconds per delivery like those of `push_latency_http` (with commits of their
    own) through the Flask test client: the app's share, with no server or HTTP."""
    from app import create_app

    app = create_app({"DATABASE_URL": url, "GITHUB_WEBHOOK_SECRET": SECRET, "TESTING": True})
    client = app.test_client()
    latencies = []
    for n in range(1_000_000, 1_000_000 + pushes):
        body, headers = push_delivery(n)
        began = time.perf_counter()
        response = client.post("/webhooks/github", data=body, headers=headers)
        latencies.append(time.perf_counter() - began)
        _check_push(response.status_code, response.get_data())
    shiplog_state(app).db.dispose()
    return _latency_summary("push_in_process", latencies)


def private_feed_cost(url: str, rounds: int = 5, requests: int = 200) -> dict[str, float]:
    """Milliseconds a warm /feed.atom takes through the Flask test client in public mode and
    in private mode with a feed token (its lookup is the difference), interleaved."""
    from app import create_app
    from feed import people

    public = create_app({"DATABASE_URL": url, "TESTING": True})
    private = create_app(
        {"DATABASE_URL": url, "TESTING": True, "PRIVATE": "true", "SECRET_KEY": "bench"}
    )
    with shiplog_state(private).db.write() as session:
        person = people.add_person(session, "bench-reader")
        token = people.add_feed_token(session, person.id, "bench").token
    cases = {"public_feed": (public, "/feed.atom"), "private_feed": (private, "/feed.atom")}
    query = {"public_feed": {}, "private_feed": {"token": token}}
    latencies: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (app, path) in cases.items():
            client = app.test_client()
            for _ in range(requests):
                began = time.perf_counter()
                response = client.get(path, query_string=query[name])
                latencies[name].append(time.perf_counter() - began)
                assert response.status_code == 200, (name, response.status_code)
    for app in (public, private):
        shiplog_state(app).db.dispose()
    results: dict[str, float] = {}
    for name, measured in latencies.items():
        results |= _latency_summary(name, measured[requests:])  # the first round warms up
    results["private_feed_ratio"] = results["private_feed_p50_ms"] / results["public_feed_p50_ms"]
    return results


def worker_memory(server: Server) -> dict[str, float]:
    """Resident memory of the (largest) gunicorn worker now, and its peak, in MB."""
    sizes = [_status_kb(pid) for pid in worker_pids(server)]
    rss, peak = max(sizes)
    return {"worker_rss_mb": rss / 1024, "worker_peak_rss_mb": peak / 1024}


def worker_pids(server: Server) -> list[int]:
    """The gunicorn master's children: its workers."""
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text()
    return [int(pid) for pid in children.split()]


@dataclass(frozen=True)
class _Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


@dataclass
class _Tally:
    """Requests, their latencies, wall time and worker CPU over the rounds of one case."""

    requests: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] | None = None

    def add(self, other: _Tally) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.cpu_seconds += other.cpu_seconds
        self.latencies = (self.latencies or []) + (other.latencies or [])

    def summary(self, name: str) -> dict[str, float]:
        return {
            f"{name}_rps": self.requests / self.seconds,
            f"{name}_requests": self.requests,
            # Worker CPU per request, and the share of the time the worker was busy: near 1
            # means the server was the bottleneck, well under 1 means the client was.
            f"{name}_worker_cpu_ms": self.cpu_seconds / self.requests * 1000,
            f"{name}_worker_busy": self.cpu_seconds / self.seconds,
            **_latency_summary(name, self.latencies or [], percentiles=(50, 99)),
        }


def _hammer(
    server: Server,
    path: str,
    headers: dict[str, str],
    status: int,
    seconds: float,
    clients: int,
) -> _Tally:
    """`clients` threads asking `path` for `seconds`, one connection a request (gunicorn's
    sync workers close each one); every answer must have `status`.

    The client shares the machine's cores with the server, so it speaks HTTP/1.1 over a bare
    socket, a fixed request out and everything up to the close in, to cost as little as it can.
    """
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures: list[str] = []
    workers = worker_pids(server)
    lines = [f"GET {path} HTTP/1.1", f"Host: {server.host}:{server.port}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    expected = f" {status} ".encode()
    address = (server.host, server.port)
    deadline = time.perf_counter() + seconds

    def client(mine: list[float]) -> None:
        try:
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                with socket.create_connection(address, timeout=30) as connection:
                    connection.sendall(request)
                    first = connection.recv(65536)
                    while len(first) < 13 and (more := connection.recv(65536)):
                        first += more
                    while connection.recv(65536):
                        pass
                mine.append(time.perf_counter() - began)
                if first[8:13] != expected:
                    failures.append(f"{path}: {first[:40]!r}, expected {status}")
                    return
        except OSError as exc:
            failures.append(f"{path}: {exc!r}")

    threads = [threading.Thread(target=client, args=(mine,)) for mine in latencies]
    cpu_before = sum(_cpu_seconds(pid) for pid in workers)
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cpu = sum(_cpu_seconds(pid) for pid in workers) - cpu_before
    if failures:
        raise AssertionError(f"bench web: {failures[0]} ({len(failures)} failures)")
    flat = [value for mine in latencies for value in mine]
    return _Tally(len(flat), elapsed, cpu, flat)


def request(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> _Answer:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return _Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def _get(server: Server, path: str, headers: dict[str, str] | None = None) -> _Answer:
    return request(server, "GET", path, headers)


def push_delivery(n: int) -> tuple[bytes, dict[str, str]]:
    """Delivery `n`: a signed push of 20 commits no other delivery has."""
    now = datetime.now(UTC).replace(microsecond=0)
    commits = [_push_commit(n * PUSH_COMMITS + k, now) for k in range(PUSH_COMMITS)]
    shared = _shared_push()
    repository = {
        **shared.get("repository", {}),
        "name": PUSH_REPO.split("/")[1],
        "full_name": PUSH_REPO,
        "html_url": f"https://github.com/{PUSH_REPO}",
        "default_branch": "main",
        "pushed_at": int(now.timestamp()),
    }
    payload = {
        "ref": "refs/heads/main",
        "before": _sha(f"before {n}"),
        "after": commits[-1]["id"],
        "repository": repository,
        "pusher": {"name": "mara", "email": "mara@example.com"},
        "sender": shared.get("sender", {"login": "mara"}),
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{PUSH_REPO}/compare/{commits[0]['id'][:12]}...",
        "commits": commits,
        "head_commit": commits[-1],
    }
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/bench",
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": "sha256="
        + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }
    return body, headers


def _push_commit(m: int, when: datetime) -> dict[str, Any]:
    sha = _sha(f"push {m}")
    person = {"name": "Mara Lind", "email": "mara@example.com", "username": "mara"}
    return {
        "id": sha,
        "tree_id": _sha(f"tree {m}"),
        "distinct": True,
        "message": f"Tune retries for job {m}\n\nKeeps the **queue** short after a deploy.",
        "timestamp": (when - timedelta(seconds=PUSH_COMMITS - m % PUSH_COMMITS)).isoformat(),
        "url": f"https://github.com/{PUSH_REPO}/commit/{sha}",
        "author": person,
        "committer": person,
        "added": [f"src/jobs/job_{m}.py"],
        "removed": [],
        "modified": ["src/jobs/__init__.py", f"tests/test_job_{m % 50}.py"],
    }


def _check_push(status: int, body: bytes) -> None:
    answer = json.loads(body)
    if status not in (200, 202) or answer["events_created"] != PUSH_COMMITS:
        raise AssertionError(f"bench web: push answered {status} {answer}")


def _timeline_record(n: int, when: datetime) -> EventRecord:
    """Event `n` of the synthetic timeline: mostly commits with files, some of the rest."""
    repo = REPOS[n % len(REPOS)]
    actor = f"dev{n % 23}"
    if n % 250 == 0:
        return EventRecord(
            uid=f"release:{repo}:{n}",
            kind="release",
            repo=repo,
            actor=actor,
            title=f"v1.{n // 250}.0",
            body="## Changes\n\n- Faster **retries**\n- Fixed `timeout` handling (#12)\n",
            url=f"https://github.com/{repo}/releases/tag/v1.{n // 250}.0",
            occurred_at=when,
        )
    if n % 50 == 0:
        return EventRecord(
            uid=f"deployment:{repo}:{n}",
            kind="deployment",
            repo=repo,
            branch="main",
            actor=actor,
            sha=_sha(f"timeline {n - 1}"),
            title="Deployed to production",
            url=f"https://github.com/{repo}/deployments",
            occurred_at=when,
            data={"environment": "production", "state": "success"},
        )
    message = (
        f"Tune the cache for module {n % 40}\n\nThe pool was cold after deploys; keep a "
        f"**warm** one.\n\n- measured with `bench`\n- refs #{n % 900}"
    )
    if n % 97 == 0:
        message = f"Revert change {n - 8}\n\nThis reverts commit {_sha(f'timeline {n - 8}')}."
    files = [
        FileRecord(
            path=f"src/module_{(n + k) % 40}/file_{k}.py",
            status="modified",
            additions=2,
            deletions=1,
            patch="@@ -1,3 +1,4 @@\n-timeout = 30\n+timeout = 10\n+retries = 3\n context\n",
            patch_status="ok",
        )
        for k in range(3)
    ]
    sha = _sha(f"timeline {n}")
    return commit_record(
        repo=repo,
        branch="main",
        sha=sha,
        message=message,
        actor=actor,
        when=when,
        url=f"https://github.com/{repo}/commit/{sha}",
        files=files,
        fetched=True,
    )


def _shared_push() -> dict[str, Any]:
    """GitHub's real push payload, for its repository and sender objects; {} without it."""
    try:
        return json.loads(SHARED_PUSH.read_text())
    except (OSError, ValueError):
        return {}


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _latency_summary(
    name: str, latencies: list[float], percentiles: tuple[int, ...] = (50, 95)
) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        f"{name}_p{p}_ms": ordered[min(len(ordered) - 1, len(ordered) * p // 100)] * 1000
        for p in percentiles
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bench web: gunicorn exited:\n{server.log.read_text()}")
        try:
            if _get(server, "/healthz").status == 200 and worker_pids(server):
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"bench web: gunicorn did not answer /healthz:\n{server.log.read_text()}")


def _control_socket_off() -> list[str]:
    """gunicorn 25.1 and later open a control socket in $HOME unless told not to."""
    major, minor = (int(part) for part in version("gunicorn").split(".")[:2])
    return ["--no-control-socket"] if (major, minor) >= (25, 1) else []


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int) -> tuple[int, int]:
    """VmRSS and VmHWM of `pid`, in kB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


if __name__ == "__main__":
    began = time.perf_counter()
    for key, value in run().items():
        print(f"{key}: {value:,.3f}" if isinstance(value, float) else f"{key}: {value:,}")
    print(f"bench web: {time.perf_counter() - began:.0f} s", file=sys.stderr)
