"""The worker's GitHub jobs: periodic repository syncs and patch fetches for pushed commits."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from feed.db import Database
from feed.jobs import enqueue
from feed.models import Job
from feed.worker import Handler, RetryAt
from integrations.github import syncstate
from integrations.github.client import GitHubClient, RateLimited, Unavailable
from integrations.github.followups import INCIDENT_COMMENTS, PATCHES, RECONCILE
from integrations.github.sync import (
    SyncOptions,
    api_usage,
    backfill_incident_comments,
    fetch_patches,
    sync_branch,
    sync_repo,
)

log = logging.getLogger(__name__)
UNAVAILABLE_RECHECK = timedelta(hours=1)
SYNC = "sync"
# Every job kind this integration queues and handles, for the admin view of its work.
KINDS = (SYNC, PATCHES, RECONCILE, INCIDENT_COMMENTS)


def handlers(
    db: Database,
    client_factory: Callable[[], GitHubClient],
    options: SyncOptions,
    interval: timedelta,
) -> dict[str, Handler]:
    """The job kinds this integration handles, bound to its database and client."""

    @contextmanager
    def github(repo: str | None = None) -> Iterator[GitHubClient]:
        # A client per job; a rate limit makes the job wait for the reset, not fail. With
        # `repo`, the job's requests are added to that repository's count, however it ends.
        client = client_factory()
        try:
            yield client
        except RateLimited as exc:
            raise RetryAt(exc.resume_at, str(exc)) from None
        finally:
            usage = api_usage(client)
            client.close()
            if repo is not None and usage.requests:
                with db.write() as session:
                    syncstate.record_usage(session, repo, usage)

    def sync(payload: dict[str, Any]) -> datetime | None:
        with github() as client:  # sync_repo counts its requests as it marks the repository
            try:
                sync_repo(db, client, payload["repo"], options)
            except Unavailable as exc:
                log.warning("github sync: %s skipped: %s", payload["repo"], exc)
                return datetime.now(UTC) + UNAVAILABLE_RECHECK
        return datetime.now(UTC) + interval

    def patches(payload: dict[str, Any]) -> datetime | None:
        with github(payload["repo"]) as client:
            fetch_patches(db, client, payload["repo"], payload["sha"], options.patch_cap)
        return None

    def reconcile(payload: dict[str, Any]) -> datetime | None:
        with github(payload["repo"]) as client:
            try:
                sync_branch(db, client, payload["repo"], payload["branch"], options)
            except Unavailable as exc:
                log.warning("github sync: reconcile of %s skipped: %s", payload["repo"], exc)
        return None

    def incident_comments(payload: dict[str, Any]) -> datetime | None:
        repo, number = payload["repo"], payload["number"]
        with github(repo) as client:
            try:
                backfill_incident_comments(db, client, repo, number, options)
            except Unavailable as exc:
                log.warning("github sync: comments of %s#%s skipped: %s", repo, number, exc)
        return None

    return dict(zip(KINDS, (sync, patches, reconcile, incident_comments), strict=True))


def schedule_syncs(session: Session, repos: Iterable[str]) -> None:
    """Each configured repository has its periodic sync job, and no other one has: a
    repository taken off the list is synced no more (its timeline stays)."""
    repos = tuple(repos)
    # Sync jobs are due (or dead): the jobs index by state finds them among many done jobs.
    unlisted = [
        job_id
        for job_id, payload in session.execute(
            select(Job.id, Job.payload).where(Job.state.in_(("due", "dead")), Job.kind == SYNC)
        )
        if payload.get("repo") not in repos
    ]
    if unlisted:
        session.execute(delete(Job).where(Job.id.in_(unlisted)))
        log.info(
            "github sync: %d repositories no longer configured are synced no more", len(unlisted)
        )
    for repo in repos:
        enqueue(session, SYNC, sync_key(repo), {"repo": repo}, if_absent=True)


def sync_key(repo: str) -> str:
    return f"sync:{repo}"
