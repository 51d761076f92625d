"""A sample timeline, delivered as GitHub would deliver it, through the webhook ingest path."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from feed.db import Database
from feed.ingest import Intake
from feed.store import attach_files
from integrations.github import demo_files
from integrations.github.commits import diff_stats
from integrations.github.routing import Context
from integrations.github.webhooks import take_delivery

DEMO_NAMESPACE = uuid.UUID("5b1d7c52-4f0e-4a55-9a49-2f6d8f1f7a10")
REPOS = {"acme/api": "main", "acme/web": "main"}


def load(db: Database, incident_label: str, *, now: datetime | None = None) -> int:
    """Deliver the demo timeline; returns the number of events it created.

    Delivery ids are derived from the content, so loading twice creates nothing new.
    """
    now = now or datetime.now(UTC)
    context = Context(incident_label=incident_label)
    intake = Intake()  # the demo alerts nobody, so it needs nothing prepared
    created = 0
    for event, payload in deliveries(now, incident_label):
        digest = hashlib.sha256(repr((event, _stable(payload))).encode()).hexdigest()
        outcome = take_delivery(
            db,
            intake,
            context,
            delivery_id=str(uuid.uuid5(DEMO_NAMESPACE, digest)),
            event=event,
            payload=payload,
            demo=True,
        )
        created += outcome.events_created
        if event == "push":
            _attach_demo_patches(db, payload)
    return created


def _attach_demo_patches(db: Database, push: dict[str, Any]) -> None:
    """Stand in for the worker's patch fetch, which cannot reach GitHub for demo repos."""
    repo = push["repository"]["full_name"]
    with db.write() as session:
        for commit in push["commits"]:
            files = demo_files.files_of(commit["message"].splitlines()[0])
            attach_files(session, f"commit:{repo}:{commit['id']}", files, stats=diff_stats(files))


def deliveries(now: datetime, incident_label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(X-GitHub-Event, payload) pairs telling two days of a small team's work."""

    def at(hours: float) -> datetime:
        return (now - timedelta(hours=hours)).replace(microsecond=0)

    cache = _commit(
        "acme/api",
        "Cache session lookups in Redis",
        "Cuts p95 of /login from 180 ms to 40 ms in staging.",
        "mara",
        at(26.2),
    )
    yield (
        "push",
        _push(
            "acme/api",
            "main",
            [
                _commit(
                    "acme/api",
                    "Add rate limiting to /login",
                    "Five attempts a minute per address; see `docs/security.md`.",
                    "mara",
                    at(50),
                ),
                _commit(
                    "acme/api",
                    "Bump SQLAlchemy to 2.0.36",
                    "",
                    "renovate[bot]",
                    at(49.5),
                ),
                _commit(
                    "acme/api",
                    "Document the retry policy",
                    "",
                    "tomas",
                    at(49),
                ),
            ],
            pusher="mara",
        ),
    )
    yield (
        "push",
        _push(
            "acme/web",
            "main",
            [
                _commit(
                    "acme/web",
                    "Show build status on the dashboard",
                    "Polls the CI API every 30 s; falls back to *unknown*.",
                    "li",
                    at(46),
                ),
                _commit(
                    "acme/web",
                    "Fix dark mode contrast on tables",
                    "",
                    "li",
                    at(45.5),
                ),
            ],
            pusher="li",
        ),
    )
    for title, conclusion, hours in [
        ("Show build status on the dashboard", "success", 45.8),
        ("Fix dark mode contrast on tables", "success", 45.3),
    ]:
        yield "workflow_run", _run("acme/web", "ci", _sha("acme/web", title), conclusion, at(hours))
    yield (
        "deployment_status",
        _deployment(
            "acme/web",
            9000,
            "staging",
            "success",
            at(45),
            "li",
            _sha("acme/web", "Fix dark mode contrast on tables"),
        ),
    )
    yield (
        "release",
        _release(
            "acme/api",
            "v2.4.0",
            at(30),
            "tomas",
            "## Highlights\n\n- Rate limiting on `/login`\n"
            "- SQLAlchemy 2.0.36\n\n**Full changelog**: v2.3.2...v2.4.0",
        ),
    )
    yield (
        "deployment_status",
        _deployment(
            "acme/api", 9001, "production", "success", at(29), "tomas", _sha("acme/api", "v2.4.0")
        ),
    )
    yield (
        "push",
        _push(
            "acme/api",
            "main",
            [
                cache,
                _commit(
                    "acme/api",
                    "Tune the connection pool size",
                    "Pool of 20, overflow 10, matching the new database tier.",
                    "tomas",
                    at(26),
                ),
            ],
            pusher="tomas",
        ),
    )
    yield (
        "deployment_status",
        _deployment("acme/api", 9002, "production", "success", at(25), "tomas", cache["id"]),
    )

    issue = _issue(
        "acme/api",
        42,
        "Login failures after yesterday's deploy",
        at(6),
        "sam",
        "Users report **500s on /login** since this morning.\n\n"
        "Dashboard: https://grafana.example.com/d/login",
        [incident_label, "sev2", "component:api"],
    )
    yield "issues", {"action": "opened", "issue": issue, **_common("acme/api", "sam")}
    yield (
        "issue_comment",
        _comment(
            "acme/api",
            issue,
            7001,
            at(5.7),
            "sam",
            "/status identified\n/next-update 30m\n"
            "Elevated 500s on /login; error rate at 12%.\n\n"
            "Suspect: `Cache session lookups in Redis`.",
        ),
    )
    revert = _commit(
        "acme/api",
        'Revert "Cache session lookups in Redis"',
        f"This reverts commit {cache['id']}.",
        "mara",
        at(5.5),
    )
    yield "push", _push("acme/api", "main", [revert], pusher="mara")
    yield (
        "deployment_status",
        _deployment("acme/api", 9003, "production", "success", at(5.4), "mara", revert["id"]),
    )
    yield (
        "issue_comment",
        _comment(
            "acme/api",
            issue,
            7002,
            at(5),
            "mara",
            "/status monitoring\n"
            "Rolled back the session cache. Error rate is back to normal; monitoring for an hour.",
        ),
    )
    closed = {**issue, "state": "closed", "closed_at": _iso(at(4)), "updated_at": _iso(at(4))}
    yield "issues", {"action": "closed", "issue": closed, **_common("acme/api", "sam")}

    yield (
        "push",
        _push(
            "acme/web",
            "release-candidate",
            [
                _commit(
                    "acme/web",
                    "Squash the navigation rework",
                    "",
                    "li",
                    at(3),
                ),
            ],
            pusher="li",
            forced=True,
            before=_sha("acme/web", "old release-candidate head"),
        ),
    )
    yield (
        "push",
        _push(
            "acme/web",
            "main",
            [
                _commit(
                    "acme/web",
                    "Add an incident banner to the status page",
                    "",
                    "sam",
                    at(2),
                ),
            ],
            pusher="sam",
        ),
    )
    banner = _sha("acme/web", "Add an incident banner to the status page")
    yield "workflow_run", _run("acme/web", "ci", banner, "failure", at(1.8))
    yield (
        "deployment_status",
        _deployment(
            "acme/web",
            9004,
            "staging",
            "failure",
            at(1),
            "sam",
            banner,
            description="Smoke test failed: /status returned 502",
        ),
    )


def _run(repo: str, name: str, sha: str, conclusion: str, when: datetime) -> dict[str, Any]:
    """A finished GitHub Actions run of workflow `name` on the default branch."""
    ident = int(sha[:8], 16)
    return {
        "action": "completed",
        "workflow": {"name": name, "path": f".github/workflows/{name}.yml"},
        "workflow_run": {
            "id": ident,
            "name": name,
            "head_branch": REPOS[repo],
            "head_sha": sha,
            "run_attempt": 1,
            "status": "completed",
            "conclusion": conclusion,
            "updated_at": _iso(when),
            "html_url": f"https://github.com/{repo}/actions/runs/{ident}",
            "head_repository": {"full_name": repo},
        },
        **_common(repo, "github-actions[bot]"),
    }


def _common(repo: str, sender: str) -> dict[str, Any]:
    return {
        "repository": {
            "full_name": repo,
            "html_url": f"https://github.com/{repo}",
            "default_branch": REPOS[repo],
        },
        "sender": {"login": sender},
    }


def _commit(
    repo: str,
    title: str,
    body: str,
    author: str,
    when: datetime,
) -> dict[str, Any]:
    sha = _sha(repo, title)
    message = f"{title}\n\n{body}" if body else title
    return {
        "id": sha,
        "distinct": True,
        "message": message,
        "timestamp": _iso(when),
        "url": f"https://github.com/{repo}/commit/{sha}",
        "author": {"name": author.title(), "username": author},
        **demo_files.paths_of(title),
    }


def _push(
    repo: str,
    branch: str,
    commits: list[dict[str, Any]],
    *,
    pusher: str,
    forced: bool = False,
    before: str = "0" * 40,
) -> dict[str, Any]:
    payload = _common(repo, pusher)
    payload["repository"]["pushed_at"] = commits[-1]["timestamp"]
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": commits[-1]["id"],
        "created": False,
        "deleted": False,
        "forced": forced,
        "compare": f"https://github.com/{repo}/compare/{before[:12]}...{commits[-1]['id'][:12]}",
        "commits": commits,
        "head_commit": commits[-1],
        "pusher": {"name": pusher},
        **payload,
    }


def _release(repo: str, tag: str, when: datetime, author: str, notes: str) -> dict[str, Any]:
    return {
        "action": "published",
        "release": {
            "tag_name": tag,
            "name": tag,
            "body": notes,
            "html_url": f"https://github.com/{repo}/releases/tag/{tag}",
            "published_at": _iso(when),
            "created_at": _iso(when),
            "prerelease": False,
            "target_commitish": "main",
            "author": {"login": author},
        },
        **_common(repo, author),
    }


def _deployment(
    repo: str,
    ident: int,
    environment: str,
    state: str,
    when: datetime,
    creator: str,
    sha: str,
    description: str = "",
) -> dict[str, Any]:
    return {
        "action": "created",
        "deployment": {
            "id": ident,
            "sha": sha,
            "ref": "main",
            "environment": environment,
            "created_at": _iso(when - timedelta(minutes=4)),
            "creator": {"login": creator},
        },
        "deployment_status": {
            "id": ident * 10,
            "state": state,
            "environment": environment,
            "description": description,
            "target_url": f"https://github.com/{repo}/actions/runs/{ident}",
            "created_at": _iso(when),
            "updated_at": _iso(when),
        },
        **_common(repo, creator),
    }


def _issue(
    repo: str, number: int, title: str, when: datetime, author: str, body: str, labels: list[str]
) -> dict[str, Any]:
    return {
        "number": number,
        "title": title,
        "body": body,
        "state": "open",
        "html_url": f"https://github.com/{repo}/issues/{number}",
        "user": {"login": author},
        "labels": [{"name": label} for label in labels],
        "created_at": _iso(when),
        "updated_at": _iso(when),
        "closed_at": None,
    }


def _comment(
    repo: str, issue: dict[str, Any], ident: int, when: datetime, author: str, body: str
) -> dict[str, Any]:
    return {
        "action": "created",
        "issue": issue,
        "comment": {
            "id": ident,
            "body": body,
            "user": {"login": author},
            "html_url": f"{issue['html_url']}#issuecomment-{ident}",
            "created_at": _iso(when),
            "updated_at": _iso(when),
        },
        **_common(repo, author),
    }


def _sha(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stable(payload: dict[str, Any]) -> str:
    """The payload without its times, so a reload on another day finds the same deliveries."""
    return repr(_strip_times(payload))


def _strip_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _strip_times(item)
            for key, item in sorted(value.items())
            if not key.endswith(("_at", "timestamp"))
        }
    if isinstance(value, list):
        return [_strip_times(item) for item in value]
    return value
