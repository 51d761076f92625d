"""What a routed GitHub object asks of the store: its events, and the GitHub jobs that follow.

The jobs (patch fetches, branch reconciles, comment backfills) go to the ingest as data; the
worker's handlers for them are in `jobs.py`.
"""

from __future__ import annotations

from feed.ingest import Batch, FollowUp
from integrations.github.routing import Routed

PATCHES = "patches"
RECONCILE = "reconcile"
INCIDENT_COMMENTS = "incident_comments"


def batch(routed: Routed, *, demo: bool = False) -> Batch:
    """The batch for one routed delivery (or an API object routed the same way). The demo
    asks for no GitHub work, which could not reach its made-up repositories, and alerts
    nobody."""
    return Batch(
        records=routed.records,
        replace=routed.replace,
        deletions=routed.deletions,
        issue=routed.snapshot,
        results=routed.results,
        pulls=routed.pulls,
        follow_ups=() if demo else follow_ups(routed),
        alerts=not demo,
    )


def follow_ups(routed: Routed) -> list[FollowUp]:
    """Each new commit without its diff gets a patch fetch; an incident labelled after people
    had commented gets its comments read (they become its first updates); a push that may
    not hold the whole history of its branch gets that branch read from the API."""
    jobs = [
        FollowUp(
            PATCHES,
            f"patches:{record.repo}:{record.sha}",
            {"repo": record.repo, "sha": record.sha},
            after=record.uid,
        )
        for record in routed.records
        if record.diff_state == "pending" and record.sha
    ]
    if routed.snapshot and routed.snapshot.comments:
        jobs += [
            FollowUp(
                INCIDENT_COMMENTS,
                f"incident_comments:{record.uid}",
                {"repo": record.repo, "number": record.data["number"]},
                after=record.uid,
            )
            for record in routed.records
            if record.kind == "incident_opened"
        ]
    if routed.reconcile and routed.repo:
        branch, head = routed.reconcile
        repo = routed.repo["full_name"]
        jobs.append(
            FollowUp(
                RECONCILE, f"reconcile:{repo}:{branch}:{head}", {"repo": repo, "branch": branch}
            )
        )
    return jobs
