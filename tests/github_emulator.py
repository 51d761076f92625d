"""A GitHub REST API emulator on 127.0.0.1 for the sync's tests and benchmarks.

It serves, from an in-memory model, the endpoints the sync uses, shaped like GitHub's
(field and header names as in the responses PyGithub's test suite recorded): `Link`
pagination with `per_page` and `page`, `since`, weak ETags answered with 304, rate-limit
headers that count down, GitHub App installation tokens, and switchable faults. It counts
requests, and which of them counted against the rate limit, so tests assert the cost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt

RATE_LIMIT = 5000
SHUTDOWN_POLL = 0.05  # seconds: how soon the server notices it is asked to stop
INSTALLATION_TOKEN = "ghs_emulatedinstallationtoken"
CI_LISTINGS = {
    "check-suites": "suites",
    "check-runs": "check_runs",
    "status": "statuses",  # the combined status: each context's latest
    "statuses": "statuses",  # every status, newest first, a bare list
}


@dataclass
class FakeCommit:
    sha: str
    message: str
    date: datetime
    author_login: str | None = "octocat"
    author_name: str = "The Octocat"
    author_email: str = "octocat@example.com"
    files: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeRepo:
    full_name: str
    default_branch: str = "main"
    branches: dict[str, list[FakeCommit]] = field(default_factory=dict)  # newest first
    issues: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)  # newest first
    # CI: workflow runs (every attempt, as make_workflow_run shapes them), and per commit SHA
    # its check suites, check runs and statuses (each list oldest first, as reported).
    runs: list[dict[str, Any]] = field(default_factory=list)
    suites: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status: int | None = None  # answer every request with this (404 gone, 403 forbidden)

    def push(self, branch: str, *commits: FakeCommit) -> None:
        """Add commits (oldest first) on top of `branch`."""
        history = self.branches.setdefault(branch, [])
        for commit in commits:
            history.insert(0, commit)

    def force_push(self, branch: str, *commits: FakeCommit, drop: int = 1) -> None:
        """Replace the newest `drop` commits of `branch` by `commits`."""
        del self.branches[branch][:drop]
        self.push(branch, *commits)


@dataclass
class Fault:
    """Answer the next `times` matching requests with `status` (and headers, or a delay)."""

    status: int = 502
    times: int = 1
    path_contains: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=lambda: {"message": "Server Error"})
    delay: float = 0.0


class Emulator:
    """The server and its model; start it with `running()`."""

    def __init__(self, *, token: str | None = "test-token", app_key: str | None = None) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status)
        self.token = token
        self.app_public_key = app_key
        self.limit = RATE_LIMIT
        self.remaining = RATE_LIMIT
        self.ahead = 0.0  # seconds GitHub's clock is ahead of ours (see `move_on`)
        self.reset_at = self.now() + 3600
        self.latency = 0.0  # seconds every request waits before its answer: a slow API
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.server: ThreadingHTTPServer | None = None

    # --- the model -----------------------------------------------------------------------

    def repo(self, full_name: str, default_branch: str = "main") -> FakeRepo:
        return self.repos.setdefault(full_name, FakeRepo(full_name, default_branch))

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def counted(self) -> int:
        """Requests that counted against the rate limit."""
        return sum(1 for _, _, status in self.requests if status != 304)

    def now(self) -> float:
        """GitHub's clock, in seconds since the epoch."""
        return time.time() + self.ahead

    def move_on(self, seconds: float) -> None:
        """Move GitHub's clock on, as if `seconds` went by: a test waits for a reset so."""
        with self.lock:
            self.ahead += seconds

    def exhaust(self, reset_in: float) -> None:
        """Spend the primary rate limit; it comes back `reset_in` seconds from now."""
        with self.lock:
            self.remaining = 0
            self.reset_at = self.now() + reset_in

    @contextmanager
    def running(self) -> Iterator[Emulator]:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.stopping.clear()
        thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL}, daemon=True
        )
        thread.start()
        try:
            yield self
        finally:
            self.stopping.set()  # requests waiting out the latency end now
            self.server.shutdown()
            self.server.server_close()

    # --- answering -----------------------------------------------------------------------

    def answer(self, method: str, target: str, headers: dict[str, str], body: bytes):
        parts = urlsplit(target)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        prefix = "/api/v3" if parts.path.startswith("/api/v3/") else ""  # GitHub Enterprise
        path = parts.path.removeprefix(prefix)
        if self.latency:
            self.stopping.wait(self.latency)
        with self.lock:
            fault = self._take_fault(path)
        if fault is not None:
            time.sleep(fault.delay)
            if fault.status:
                return self._send(method, path, fault.status, fault.body, extra=fault.headers)

        if method == "POST" and path.startswith("/app/installations/"):
            return self._installation_token(method, path, headers)
        if not self._authorized(headers):
            return self._send(method, path, 401, {"message": "Bad credentials"})
        with self.lock:
            if self.remaining <= 0 and self.now() < self.reset_at:
                return self._send(
                    method,
                    path,
                    403,
                    {"message": "API rate limit exceeded for installation."},
                )
        segments = path.strip("/").split("/")
        if len(segments) < 3 or segments[0] != "repos":
            return self._send(method, path, 404, {"message": "Not Found"})
        repo = self.repos.get(f"{segments[1]}/{segments[2]}")
        if repo is None:
            return self._send(method, path, 404, {"message": "Not Found"})
        if repo.status:
            return self._send(method, path, repo.status, {"message": "Repository access blocked"})
        rest = segments[3:]
        if not rest:
            return self._respond(method, path, headers, self._repo_json(repo))
        if rest == ["commits"]:
            return self._list(method, path, headers, query, prefix, self._commits(repo, query))
        if len(rest) == 2 and rest[0] == "commits":
            commit = self._find(repo, rest[1])
            if commit is None:
                return self._send(method, path, 404, {"message": "No commit found for SHA"})
            return self._respond(method, path, headers, self._commit_json(repo, commit, True))
        if rest == ["issues"]:
            return self._list(method, path, headers, query, prefix, self._issues(repo, query))
        if rest == ["issues", "comments"]:
            return self._list(method, path, headers, query, prefix, self._comments(repo, query))
        if len(rest) == 3 and rest[0] == "issues" and rest[2] == "comments":
            on_issue = [c for c in repo.comments if c["issue_url"].endswith(f"/issues/{rest[1]}")]
            return self._list(method, path, headers, query, prefix, on_issue)
        if rest == ["releases"]:
            return self._list(method, path, headers, query, prefix, list(repo.releases))
        if rest == ["actions", "runs"]:
            runs = self._runs(repo, query)
            return self._list(method, path, headers, query, prefix, runs, wrap="workflow_runs")
        if len(rest) == 5 and rest[:2] == ["actions", "runs"] and rest[3] == "attempts":
            for run in repo.runs:
                if [str(run["id"]), str(run["run_attempt"])] == [rest[2], rest[4]]:
                    return self._respond(method, path, headers, run)
            return self._send(method, path, 404, {"message": "Not Found"})
        if len(rest) == 3 and rest[0] == "commits" and rest[2] in CI_LISTINGS:
            if self._find(repo, rest[1]) is None:
                return self._send(
                    method, path, 404, {"message": f"No commit found for SHA: {rest[1]}"}
                )
            if rest[2] == "status":
                return self._respond(method, path, headers, self._combined(repo, rest[1]))
            items = getattr(repo, CI_LISTINGS[rest[2]]).get(rest[1], [])
            if rest[2] == "statuses":
                return self._list(method, path, headers, query, prefix, items[::-1])
            wrap = rest[2].replace("-", "_")
            if wrap == "check_runs":  # GitHub's default filter=latest: the newest run per name
                items = list({run["name"]: run for run in items}.values())
            return self._list(method, path, headers, query, prefix, items, wrap=wrap)
        return self._send(method, path, 404, {"message": "Not Found"})

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.path_contains in path and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        if self.app_public_key is not None:
            return given == f"token {INSTALLATION_TOKEN}"
        return self.token is None or given in (f"token {self.token}", f"Bearer {self.token}")

    def _installation_token(self, method: str, path: str, headers: dict[str, str]):
        bearer = headers.get("authorization", "").removeprefix("Bearer ")
        try:
            jwt.decode(bearer, self.app_public_key, algorithms=["RS256"])
        except (jwt.PyJWTError, TypeError, ValueError):
            return self._send(
                method, path, 401, {"message": "A JSON web token could not be decoded"}
            )
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._send(method, path, 201, {"token": INSTALLATION_TOKEN, "expires_at": expires})

    def _list(self, method, path, headers, query, prefix, items, *, wrap: str | None = None):
        per_page = min(int(query.get("per_page", 30)), 100)
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        link = None
        if page * per_page < len(items):
            next_query = urlencode({**query, "page": page + 1})
            link = f'<{self.url}{prefix}{path}?{next_query}>; rel="next"'
        data = {"total_count": len(items), wrap: chunk} if wrap else chunk
        return self._respond(method, path, headers, data, link=link)

    def _respond(self, method, path, headers, data, *, link: str | None = None):
        body = json.dumps(data).encode()
        etag = f'W/"{hashlib.sha1(body, usedforsecurity=False).hexdigest()}"'
        if headers.get("if-none-match") == etag:
            return self._send(method, path, 304, None, extra={"ETag": etag})
        extra = {"ETag": etag, **({"Link": link} if link else {})}
        return self._send(method, path, 200, data, extra=extra, raw=body)

    def _send(self, method, path, status, data, *, extra=None, raw: bytes | None = None):
        with self.lock:
            if self.now() >= self.reset_at:  # a new window, told on every answer
                self.remaining, self.reset_at = self.limit, self.now() + 3600
            if status != 304 and not path.startswith("/app/"):
                self.remaining = max(self.remaining - 1, 0)
            self.requests.append((method, path, status))
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(self.remaining),
                "X-RateLimit-Reset": str(int(self.reset_at)),
                "X-RateLimit-Used": str(self.limit - self.remaining),
                "X-RateLimit-Resource": "core",
                **(extra or {}),
            }
        body = b"" if status == 304 else (raw if raw is not None else json.dumps(data).encode())
        return status, headers, body

    # --- GitHub's shapes -----------------------------------------------------------------

    def _repo_json(self, repo: FakeRepo) -> dict[str, Any]:
        owner, name = repo.full_name.split("/")
        return {
            "id": abs(hash(repo.full_name)) % 10**8,
            "name": name,
            "full_name": repo.full_name,
            "owner": {"login": owner, "type": "Organization"},
            "private": False,
            "html_url": f"https://github.com/{repo.full_name}",
            "url": f"{self.url}/repos/{repo.full_name}",
            "default_branch": repo.default_branch,
        }

    def _commits(self, repo: FakeRepo, query: dict[str, str]) -> list[dict[str, Any]]:
        history = repo.branches.get(query.get("sha", repo.default_branch), [])
        since = _time(query.get("since"))
        return [
            self._commit_json(repo, commit, False)
            for commit in history
            if since is None or commit.date >= since
        ]

    def _find(self, repo: FakeRepo, sha: str) -> FakeCommit | None:
        for history in repo.branches.values():
            for commit in history:
                if commit.sha == sha:
                    return commit
        return None

    def _commit_json(self, repo: FakeRepo, commit: FakeCommit, detail: bool) -> dict[str, Any]:
        date = commit.date.strftime("%Y-%m-%dT%H:%M:%SZ")
        person = {"name": commit.author_name, "email": commit.author_email, "date": date}
        user = (
            {"login": commit.author_login, "id": 1, "type": "User"} if commit.author_login else None
        )
        data: dict[str, Any] = {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:12]}",
            "commit": {
                "author": person,
                "committer": person,
                "message": commit.message,
                "tree": {"sha": "0" * 40, "url": f"{self.url}/repos/{repo.full_name}/git/trees/0"},
                "url": f"{self.url}/repos/{repo.full_name}/git/commits/{commit.sha}",
                "comment_count": 0,
            },
            "url": f"{self.url}/repos/{repo.full_name}/commits/{commit.sha}",
            "html_url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
            "author": user,
            "committer": user,
            "parents": [],
        }
        if detail:
            additions = sum(f.get("additions", 0) for f in commit.files)
            deletions = sum(f.get("deletions", 0) for f in commit.files)
            data["stats"] = {
                "total": additions + deletions,
                "additions": additions,
                "deletions": deletions,
            }
            data["files"] = commit.files
        return data

    def _runs(self, repo: FakeRepo, query: dict[str, str]) -> list[dict[str, Any]]:
        """The latest attempt of each run, newest first, as `branch`, `status`, `head_sha`
        and `created` (`>=`, `<=`, `>`, `<` a date or time, or `from..to`) filter them."""
        latest: dict[int, dict[str, Any]] = {}
        for run in repo.runs:
            if run["run_attempt"] >= latest.get(run["id"], run)["run_attempt"]:
                latest[run["id"]] = run
        low, high = _created_range(query.get("created", ""))
        wanted = query.get("status")
        return sorted(
            (
                run
                for run in latest.values()
                if query.get("branch") in (None, run["head_branch"])
                and query.get("head_sha") in (None, run["head_sha"])
                and wanted in (None, run["status"], run["conclusion"])
                and (low is None or _time(run["created_at"]) >= low)
                and (high is None or _time(run["created_at"]) <= high)
            ),
            key=lambda run: (run["created_at"], run["id"]),
            reverse=True,
        )

    def _combined(self, repo: FakeRepo, sha: str) -> dict[str, Any]:
        """GitHub's combined status: the latest status of each context, and their verdict."""
        latest = list({s["context"]: s for s in repo.statuses.get(sha, [])}.values())[::-1]
        states = {status["state"] for status in latest}
        if states & {"failure", "error"}:
            state = "failure"
        elif "pending" in states or not latest:
            state = "pending"
        else:
            state = "success"
        return {
            "state": state,
            "statuses": latest[:100],
            "sha": sha,
            "total_count": len(latest),
            "repository": {"full_name": repo.full_name},
            "commit_url": f"{self.url}/repos/{repo.full_name}/commits/{sha}",
            "url": f"{self.url}/repos/{repo.full_name}/commits/{sha}/status",
        }

    def _issues(self, repo: FakeRepo, query: dict[str, str]) -> list[dict[str, Any]]:
        wanted = {name for name in query.get("labels", "").split(",") if name}
        state = query.get("state", "open")
        since = _time(query.get("since"))
        found = [
            issue
            for issue in repo.issues
            if wanted <= {label["name"] for label in issue["labels"]}
            and (state == "all" or issue["state"] == state)
            and (since is None or _time(issue["updated_at"]) >= since)
        ]
        return sorted(found, key=lambda issue: issue["updated_at"])

    def _comments(self, repo: FakeRepo, query: dict[str, str]) -> list[dict[str, Any]]:
        since = _time(query.get("since"))
        found = [c for c in repo.comments if since is None or _time(c["updated_at"]) >= since]
        return sorted(found, key=lambda comment: comment["updated_at"])


def _handler(emulator: Emulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per response and no Nagle: otherwise each keep-alive request waits
        # out a delayed ACK (about 40 ms).
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def handle(self) -> None:
            # The client may go away between two requests on its connection.
            with contextlib.suppress(ConnectionResetError):
                super().handle()

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, response_headers, payload = emulator.answer(method, self.path, headers, body)
            try:
                self.send_response(status)
                for key, value in response_headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _created_range(spec: str) -> tuple[datetime | None, datetime | None]:
    """GitHub's search syntax for dates, as the runs listing's `created` takes it."""
    if ".." in spec:
        low, high = spec.split("..", 1)
        return _time(low), _time(high)
    for sign in (">=", "<=", ">", "<"):
        if spec.startswith(sign):
            moment = _time(spec[len(sign) :])
            return (moment, None) if sign[0] == ">" else (None, moment)
    return (_time(spec), _time(spec) + timedelta(days=1)) if spec else (None, None)


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- building repositories ---------------------------------------------------------------


def make_commits(
    count: int, *, start: datetime, prefix: str = "Change", files_per_commit: int = 2
) -> list[FakeCommit]:
    """`count` commits, oldest first, a minute apart, each touching a few files with patches."""
    commits = []
    for index in range(count):
        sha = hashlib.sha1(f"{prefix}-{index}".encode(), usedforsecurity=False).hexdigest()
        files = [
            {
                "sha": hashlib.sha1(f"{sha}{n}".encode(), usedforsecurity=False).hexdigest(),
                "filename": f"src/module_{index % 17}/file_{n}.py",
                "status": "modified",
                "additions": 2,
                "deletions": 1,
                "changes": 3,
                "patch": (
                    f"@@ -1,2 +1,3 @@\n-old line {index}\n+new line {index}\n+added {n}\n context"
                ),
            }
            for n in range(files_per_commit)
        ]
        commits.append(
            FakeCommit(
                sha=sha,
                message=f"{prefix} {index}\n\nBody of change {index}.",
                date=start + timedelta(minutes=index),
                files=files,
            )
        )
    return commits


def make_issue(
    number: int,
    title: str,
    *,
    labels: tuple[str, ...] = ("incident",),
    created: datetime,
    state: str = "open",
    closed: datetime | None = None,
    repo: str = "acme/api",
) -> dict[str, Any]:
    stamp = (closed or created).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "url": f"https://api.github.com/repos/{repo}/issues/{number}",
        "html_url": f"https://github.com/{repo}/issues/{number}",
        "id": 1000 + number,
        "number": number,
        "title": title,
        "user": {"login": "sam", "id": 7},
        "labels": [{"id": n, "name": name, "color": "d73a4a"} for n, name in enumerate(labels)],
        "state": state,
        "comments": 0,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": stamp,
        "closed_at": closed.strftime("%Y-%m-%dT%H:%M:%SZ") if closed else None,
        "body": f"Body of {title}",
    }


def make_comment(ident: int, issue: dict[str, Any], body: str, when: datetime) -> dict[str, Any]:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "url": f"{issue['url']}/comments/{ident}",
        "html_url": f"{issue['html_url']}#issuecomment-{ident}",
        "issue_url": issue["url"],
        "id": ident,
        "user": {"login": "sam", "id": 7},
        "created_at": stamp,
        "updated_at": stamp,
        "body": body,
    }


def make_release(tag: str, when: datetime, *, draft: bool = False, repo: str = "acme/api"):
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "url": f"https://api.github.com/repos/{repo}/releases/{abs(hash(tag)) % 10**6}",
        "html_url": f"https://github.com/{repo}/releases/tag/{tag}",
        "id": abs(hash(tag)) % 10**6,
        "tag_name": tag,
        "target_commitish": "main",
        "name": tag,
        "draft": draft,
        "prerelease": False,
        "created_at": stamp,
        "published_at": None if draft else stamp,
        "author": {"login": "tomas", "id": 9},
        "body": f"Notes for {tag}",
    }


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_workflow_run(
    sha: str,
    conclusion: str | None,
    *,
    run_id: int,
    when: datetime,
    attempt: int = 1,
    name: str = "tests",
    branch: str = "main",
    repo: str = "acme/api",
    status: str = "completed",
) -> dict[str, Any]:
    """One attempt of a workflow run as the runs listing shows it (and a `workflow_run`
    delivery carries it): see ../shared/github-payloads/workflow_run."""
    api = f"https://api.github.com/repos/{repo}/actions/runs/{run_id}"
    return {
        "id": run_id,
        "name": name,
        "node_id": f"WFR_{run_id}",
        "head_branch": branch,
        "head_sha": sha,
        "path": ".github/workflows/ci.yml",
        "display_title": f"{name} on {branch}",
        "run_number": run_id % 10_000,
        "event": "push",
        "status": status,
        "conclusion": conclusion if status == "completed" else None,
        "workflow_id": 161335,
        "check_suite_id": run_id * 10 + attempt,
        "url": api,
        "html_url": f"https://github.com/{repo}/actions/runs/{run_id}",
        "previous_attempt_url": f"{api}/attempts/{attempt - 1}" if attempt > 1 else None,
        "pull_requests": [],
        "created_at": _stamp(when),
        "updated_at": _stamp(when + timedelta(minutes=4 * attempt)),
        "run_attempt": attempt,
        "run_started_at": _stamp(when + timedelta(minutes=4 * (attempt - 1))),
        "actor": {"login": "mara", "id": 3},
        "triggering_actor": {"login": "mara", "id": 3},
        "head_repository": {"full_name": repo},
        "repository": {"full_name": repo},
    }


def make_check_suite(
    sha: str,
    conclusion: str | None,
    *,
    suite_id: int,
    when: datetime,
    app: str = "CircleCI",
    slug: str = "circleci-checks",
    branch: str | None = "main",
    status: str = "completed",
) -> dict[str, Any]:
    """A check suite as `GET /repos/{o}/{r}/commits/{ref}/check-suites` lists it."""
    return {
        "id": suite_id,
        "node_id": f"CS_{suite_id}",
        "head_branch": branch,
        "head_sha": sha,
        "status": status,
        "conclusion": conclusion if status == "completed" else None,
        "before": "0" * 40,
        "after": sha,
        "pull_requests": [],
        "app": {"id": abs(hash(slug)) % 10**6, "slug": slug, "name": app, "owner": {"login": app}},
        "created_at": _stamp(when),
        "updated_at": _stamp(when + timedelta(minutes=3)),
        "latest_check_runs_count": 1,
    }


def make_check_run(
    suite: dict[str, Any], name: str, conclusion: str | None, *, run_id: int
) -> dict[str, Any]:
    """A check run of `suite` as `GET /repos/{o}/{r}/commits/{ref}/check-runs` lists it (its
    suite named by id only, as GitHub does)."""
    return {
        "id": run_id,
        "node_id": f"CR_{run_id}",
        "head_sha": suite["head_sha"],
        "external_id": str(run_id),
        "html_url": f"https://github.com/acme/api/runs/{run_id}",
        "details_url": "https://ci.example.com/job/1",
        "status": suite["status"],
        "conclusion": conclusion if suite["status"] == "completed" else None,
        "started_at": suite["created_at"],
        "completed_at": suite["updated_at"],
        "output": {"title": None, "summary": None, "text": None, "annotations_count": 0},
        "name": name,
        "check_suite": {"id": suite["id"]},
        "app": suite["app"],
        "pull_requests": [],
    }


def make_status(
    sha: str, state: str, *, status_id: int, when: datetime, context: str = "ci/jenkins"
) -> dict[str, Any]:
    """One commit status as the combined status lists it."""
    return {
        "url": f"https://api.github.com/repos/acme/api/statuses/{sha}",
        "avatar_url": "https://avatars.githubusercontent.com/u/1",
        "id": status_id,
        "node_id": f"SC_{status_id}",
        "state": state,
        "description": f"Build {state}",
        "target_url": f"https://ci.example.com/job/{status_id}",
        "context": context,
        "created_at": _stamp(when),
        "updated_at": _stamp(when),
    }
