"""The admin view of the repository sync: each repository's state, API budget and pending work.

The sync's job kinds come from the integration that queues them, at registration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, jsonify, render_template
from sqlalchemy import select

from feed.models import Job, Repo
from feed.state import shiplog_state
from feed.timefmt import iso_utc
from feed.web.auth import admin_only


@dataclass(frozen=True)
class SyncJobs:
    """The job kinds a repository sync queues (as the integration names them), and which
    of them is its periodic sync."""

    kinds: Collection[str] = ()
    periodic: str | None = None


def make_blueprint(jobs: SyncJobs) -> Blueprint:
    """The admin's sync views, counting `jobs` as each repository's pending work."""
    blueprint = Blueprint("admin", __name__)

    @blueprint.get("/api/sync")
    @admin_only
    def sync_json() -> Response:
        return jsonify(repos=[_shown(row) for row in sync_rows(jobs)])

    @blueprint.get("/admin/sync")
    @admin_only
    def sync_page() -> str:
        return render_template("admin_sync.html", repos=sync_rows(jobs))

    return blueprint


def sync_rows(jobs: SyncJobs) -> list[dict[str, Any]]:
    """Every tracked repository (the demo's aside) with its sync state and its jobs."""
    with shiplog_state().db.read() as session:
        repos = session.scalars(
            select(Repo).where(Repo.is_demo.is_(False)).order_by(Repo.full_name)
        ).all()
        pending = session.scalars(
            select(Job).where(Job.kind.in_(tuple(jobs.kinds)), Job.state.in_(("due", "dead")))
        ).all()
    counts = Counter((job.payload.get("repo"), job.state) for job in pending)
    syncs = {job.payload.get("repo"): job for job in pending if job.kind == jobs.periodic}
    return [
        {
            "repo": repo,
            "next_sync": syncs.get(repo.full_name),
            "due": counts[(repo.full_name, "due")],
            "dead": counts[(repo.full_name, "dead")],
        }
        for repo in repos
    ]


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    repo: Repo = row["repo"]
    sync: Job | None = row["next_sync"]
    return {
        "repo": repo.full_name,
        "status": repo.sync_status,
        "reason": repo.sync_reason,
        "last_synced_at": _time(repo.last_synced_at),
        "next_sync_at": _time(sync.due_at) if sync else None,
        "last_error": sync.last_error if sync else None,
        "api_requests": repo.api_requests,
        "rate_limit_remaining": repo.rate_limit_remaining,
        "rate_limit_reset_at": _time(repo.rate_limit_reset_at),
        "jobs_due": row["due"],
        "jobs_dead": row["dead"],
    }


def _time(moment: Any) -> str | None:
    return iso_utc(moment) if moment else None
