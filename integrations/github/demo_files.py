"""The demo's files before and after each commit, and their patches as GitHub shows them."""

from __future__ import annotations

import difflib

from feed.store import FileRecord

REVERT_PREFIX = 'Revert "'

RATELIMIT_PY = '''\
"""Per-address rate limits for the login endpoint."""

import time
from collections import defaultdict, deque

WINDOW_SECONDS = 60
MAX_ATTEMPTS = 5

_attempts: dict[str, deque[float]] = defaultdict(deque)


def allow(address: str, now: float | None = None) -> bool:
    """True if `address` may try again; records the attempt."""
    now = time.monotonic() if now is None else now
    recent = _attempts[address]
    while recent and recent[0] <= now - WINDOW_SECONDS:
        recent.popleft()
    if len(recent) >= MAX_ATTEMPTS:
        return False
    recent.append(now)
    return True
'''

ROUTES_PY = '''\
"""HTTP routes of the API service."""

from flask import Blueprint, abort, jsonify, request

from services.api import auth, session

bp = Blueprint("api", __name__)


@bp.post("/login")
def login():
    form = request.get_json(silent=True) or {}
    user = auth.check_password(form.get("email", ""), form.get("password", ""))
    if user is None:
        abort(401)
    return jsonify(token=session.start(user.id))


@bp.post("/logout")
def logout():
    session.end(request.headers.get("Authorization", ""))
    return "", 204
'''

PYPROJECT_TOML = """\
[project]
name = "acme-api"
version = "2.3.2"
requires-python = ">=3.11"
dependencies = [
    "flask>=3.0",
    "gunicorn>=22.0",
    "psycopg[binary]>=3.1",
    "redis>=5.0",
    "sqlalchemy==2.0.35",
]

[project.optional-dependencies]
dev = ["pytest>=8", "ruff>=0.6"]
"""

REQUIREMENTS_LOCK = """\
blinker==1.8.2
click==8.1.7
flask==3.0.3
greenlet==3.1.1
gunicorn==22.0.0
itsdangerous==2.2.0
jinja2==3.1.4
markupsafe==2.1.5
psycopg==3.2.3
psycopg-binary==3.2.3
redis==5.1.1
sqlalchemy==2.0.35
typing-extensions==4.12.2
werkzeug==3.0.4
"""

RETRIES_MD = """\
# Retries

Calls to other services go through `libs.http.client`, which retries for us.

## What is retried

- Connection errors and timeouts.
- `502`, `503` and `504` answers.

Nothing else is retried: a `4xx` will not get better by asking again.
"""

BUILD_STATUS_TSX = """\
import { useEffect, useState } from "react";

type State = "passing" | "failing" | "unknown";

const POLL_MS = 30_000;

export function BuildStatus({ branch }: { branch: string }) {
  const [state, setState] = useState<State>("unknown");

  useEffect(() => {
    let stopped = false;
    async function poll() {
      try {
        const answer = await fetch(`/ci/api/branches/${encodeURIComponent(branch)}`);
        const body = answer.ok ? await answer.json() : null;
        if (!stopped) setState(body?.state ?? "unknown");
      } catch {
        if (!stopped) setState("unknown");
      }
    }
    poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [branch]);

  return <span className={`build build-${state}`}>build {state}</span>;
}
"""

DASHBOARD_TSX = """\
import { DeployList } from "../components/DeployList";
import { Header } from "../components/Header";
import { IncidentList } from "../components/IncidentList";

export function Dashboard() {
  return (
    <main className="dashboard">
      <Header title="Dashboard" />
      <section>
        <h2>Deploys</h2>
        <DeployList limit={10} />
      </section>
      <section>
        <h2>Incidents</h2>
        <IncidentList open />
      </section>
    </main>
  );
}
"""

TABLES_CSS = """\
table {
  border-collapse: collapse;
  width: 100%;
}

th,
td {
  padding: 0.5rem 0.75rem;
  text-align: left;
}

tbody tr:nth-child(even) {
  background: #f6f8fa;
}

@media (prefers-color-scheme: dark) {
  table {
    color: #c9d1d9;
  }

  tbody tr:nth-child(even) {
    background: #f6f8fa;
  }

  th {
    color: #8b949e;
  }
}
"""

SESSION_PY = '''\
"""Sessions: who a bearer token belongs to."""

from services.api import db
from services.api.models import Session


def lookup(token: str) -> Session | None:
    """The live session of `token`, or None."""
    with db.connect() as connection:
        return connection.scalar(Session.live().where(Session.token == token))


def start(user_id: int) -> str:
    with db.connect() as connection:
        return connection.scalar(Session.started(user_id))


def end(token: str) -> None:
    with db.connect() as connection:
        connection.execute(Session.ended(token))
'''

CACHE_PY = '''\
"""Small helpers for HTTP caching headers."""

from datetime import timedelta


def max_age(duration: timedelta) -> str:
    return f"max-age={int(duration.total_seconds())}"


def no_store() -> str:
    return "no-store"
'''

DB_PY = '''\
"""The database engine of the API service."""

import os

from sqlalchemy import create_engine

engine = create_engine(
    os.environ["DATABASE_URL"],
    pool_size=5,
    max_overflow=0,
    pool_pre_ping=True,
)


def connect():
    return engine.begin()
'''

NAV_TSX = """\
import { NavLink } from "react-router-dom";

const LINKS = [
  { to: "/", label: "Dashboard" },
  { to: "/deploys", label: "Deploys" },
  { to: "/incidents", label: "Incidents" },
];

export function Nav() {
  return (
    <nav className="nav">
      <ul>
        {LINKS.map((link) => (
          <li key={link.to}>
            <NavLink to={link.to}>{link.label}</NavLink>
          </li>
        ))}
      </ul>
    </nav>
  );
}
"""

NAV_CSS = """\
.nav ul {
  display: flex;
  gap: 1rem;
  list-style: none;
  margin: 0;
  padding: 0;
}

.nav a {
  color: inherit;
  text-decoration: none;
}

.nav a.active {
  font-weight: 600;
}
"""

INCIDENT_BANNER_TSX = """\
type Incident = { id: number; title: string; severity: string | null };

export function IncidentBanner({ incidents }: { incidents: Incident[] }) {
  if (incidents.length === 0) return null;
  const [first, ...rest] = incidents;
  return (
    <div className="incident-banner" role="status">
      <strong>{first.severity ?? "incident"}</strong> {first.title}
      {rest.length > 0 && <span> and {rest.length} more</span>}
      <a href={`/incidents/${first.id}`}>Details</a>
    </div>
  );
}
"""


def _edit(text: str, *changes: tuple[str, str]) -> str:
    """`text` with each (old, new) replaced once; an old that is missing is a bug here."""
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


# Commit title -> path -> (the file before, the file after); "" is no file.
FILES: dict[str, dict[str, tuple[str, str]]] = {
    "Add rate limiting to /login": {
        "services/api/ratelimit.py": ("", RATELIMIT_PY),
        "services/api/routes.py": (
            ROUTES_PY,
            _edit(
                ROUTES_PY,
                (
                    "from services.api import auth, session\n",
                    "from services.api import auth, ratelimit, session\n",
                ),
                (
                    "    form = request.get_json(silent=True) or {}\n",
                    '    if not ratelimit.allow(request.remote_addr or ""):\n'
                    "        abort(429)\n"
                    "    form = request.get_json(silent=True) or {}\n",
                ),
            ),
        ),
    },
    "Bump SQLAlchemy to 2.0.36": {
        "pyproject.toml": (
            PYPROJECT_TOML,
            _edit(PYPROJECT_TOML, ('"sqlalchemy==2.0.35"', '"sqlalchemy==2.0.36"')),
        ),
        "requirements.lock": (
            REQUIREMENTS_LOCK,
            _edit(
                REQUIREMENTS_LOCK,
                ("sqlalchemy==2.0.35\n", "sqlalchemy==2.0.36\n"),
            ),
        ),
    },
    "Document the retry policy": {
        "docs/retries.md": (
            RETRIES_MD,
            _edit(
                RETRIES_MD,
                (
                    "Nothing else is retried: a `4xx` will not get better by asking again.\n",
                    "Nothing else is retried: a `4xx` will not get better by asking again.\n\n"
                    "## How often\n\n"
                    "Three attempts at most, 0.5 s, 1 s and 2 s apart, with full jitter.\n"
                    "A `Retry-After` header wins when it asks for longer, up to 30 s.\n",
                ),
            ),
        ),
    },
    "Show build status on the dashboard": {
        "src/components/BuildStatus.tsx": ("", BUILD_STATUS_TSX),
        "src/pages/Dashboard.tsx": (
            DASHBOARD_TSX,
            _edit(
                DASHBOARD_TSX,
                (
                    'import { DeployList } from "../components/DeployList";\n',
                    'import { BuildStatus } from "../components/BuildStatus";\n'
                    'import { DeployList } from "../components/DeployList";\n',
                ),
                (
                    '      <Header title="Dashboard" />\n',
                    '      <Header title="Dashboard" />\n      <BuildStatus branch="main" />\n',
                ),
            ),
        ),
    },
    "Fix dark mode contrast on tables": {
        "src/styles/tables.css": (
            TABLES_CSS,
            _edit(
                TABLES_CSS,
                (
                    "  tbody tr:nth-child(even) {\n    background: #f6f8fa;\n  }\n\n  th {",
                    "  tbody tr:nth-child(even) {\n    background: #161b22;\n  }\n\n  th {",
                ),
            ),
        ),
    },
    "Cache session lookups in Redis": {
        "services/api/session.py": (
            SESSION_PY,
            _edit(
                SESSION_PY,
                (
                    "from services.api import db\n",
                    "from libs.http.cache import remember\nfrom services.api import db\n",
                ),
                (
                    "def lookup(token: str) -> Session | None:\n",
                    "@remember(seconds=300)\ndef lookup(token: str) -> Session | None:\n",
                ),
            ),
        ),
        "libs/http/cache.py": (
            CACHE_PY,
            _edit(
                CACHE_PY,
                (
                    '"""Small helpers for HTTP caching headers."""\n\n'
                    "from datetime import timedelta\n",
                    '"""Small helpers for HTTP caching headers, and a Redis-backed memo."""\n\n'
                    "import functools\nimport os\nimport pickle\n"
                    "from datetime import timedelta\n\nimport redis\n\n"
                    'client = redis.Redis.from_url(os.environ.get("REDIS_URL", '
                    '"redis://localhost:6379/0"))\n',
                ),
                (
                    'def no_store() -> str:\n    return "no-store"\n',
                    'def no_store() -> str:\n    return "no-store"\n\n\n'
                    "def remember(seconds: int):\n"
                    '    """Keep what the function returns in Redis for `seconds`, by its '
                    'arguments."""\n\n'
                    "    def decorate(function):\n"
                    "        @functools.wraps(function)\n"
                    "        def cached(*args):\n"
                    '            key = f"{function.__qualname__}:{args!r}"\n'
                    "            hit = client.get(key)\n"
                    "            if hit is not None:\n"
                    "                return pickle.loads(hit)\n"
                    "            value = function(*args)\n"
                    "            client.setex(key, seconds, pickle.dumps(value))\n"
                    "            return value\n\n"
                    "        return cached\n\n"
                    "    return decorate\n",
                ),
            ),
        ),
    },
    "Tune the connection pool size": {
        "services/api/db.py": (
            DB_PY,
            _edit(
                DB_PY,
                (
                    "    pool_size=5,\n    max_overflow=0,\n",
                    "    pool_size=20,\n    max_overflow=10,\n",
                ),
            ),
        ),
    },
    "Squash the navigation rework": {
        "src/components/Nav.tsx": (
            NAV_TSX,
            _edit(
                NAV_TSX,
                (
                    '  { to: "/incidents", label: "Incidents" },\n',
                    '  { to: "/incidents", label: "Incidents" },\n'
                    '  { to: "/status", label: "Status" },\n',
                ),
                (
                    '    <nav className="nav">\n',
                    '    <nav className="nav" aria-label="Main">\n',
                ),
            ),
        ),
        "src/styles/nav.css": (
            NAV_CSS,
            _edit(
                NAV_CSS,
                ("  gap: 1rem;\n", "  flex-wrap: wrap;\n  gap: 0.5rem 1rem;\n"),
                (
                    ".nav a.active {\n  font-weight: 600;\n}\n",
                    ".nav a.active {\n  font-weight: 600;\n  text-decoration: underline;\n}\n",
                ),
            ),
        ),
    },
    "Add an incident banner to the status page": {
        "src/components/IncidentBanner.tsx": ("", INCIDENT_BANNER_TSX),
    },
}


def files_of(title: str) -> list[FileRecord]:
    """The files of the demo commit titled `title`, with their patches; a revert's are the
    exact inverse of the commit it names."""
    if title.startswith(REVERT_PREFIX):
        target = FILES[title.removeprefix(REVERT_PREFIX).removesuffix('"')]
        versions = {path: (after, before) for path, (before, after) in target.items()}
    else:
        versions = FILES[title]
    return [_record(path, before, after) for path, (before, after) in versions.items()]


def paths_of(title: str) -> dict[str, list[str]]:
    """The push payload's `added`, `removed` and `modified` lists of a demo commit."""
    lists: dict[str, list[str]] = {"added": [], "removed": [], "modified": []}
    for record in files_of(title):
        lists[record.status].append(record.path)
    return lists


def _record(path: str, before: str, after: str) -> FileRecord:
    status = "added" if not before else "removed" if not after else "modified"
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3))[
        2:
    ]  # GitHub's patch starts at the first hunk: no ---/+++ lines
    additions = sum(1 for line in lines if line.startswith("+"))
    deletions = sum(1 for line in lines if line.startswith("-"))
    return FileRecord(
        path,
        status,
        additions=additions,
        deletions=deletions,
        patch="\n".join(lines),
        patch_status="ok",
    )
