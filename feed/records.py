"""An event and its files as a source reports them, before they are stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feed.models import FILE_KINDS, KINDS

# Columns with a bounded length: a record that does not fit is refused, never cut.
COLUMN_LIMITS = {
    "uid": 1024,
    "repo": 200,
    "branch": 255,
    "actor": 200,
    "sha": 64,
    "reverts_ref": 64,
}


@dataclass(frozen=True)
class FileRecord:
    """A file touched by an event, as a source reports it."""

    path: str
    status: str
    previous_path: str | None = None
    additions: int | None = None
    deletions: int | None = None
    patch: str | None = None
    patch_status: str = "pending"


@dataclass(frozen=True)
class EventRecord:
    """An event as a source reports it, before it is stored."""

    uid: str
    kind: str
    repo: str
    title: str
    occurred_at: datetime
    updated_at: datetime | None = None
    branch: str | None = None
    actor: str | None = None
    sha: str | None = None
    body: str = ""
    url: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    files: Sequence[FileRecord] = ()
    diff_state: str | None = None
    reverts_ref: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"store: unknown event kind {self.kind!r}")
        if self.files and self.kind not in FILE_KINDS:
            raise ValueError(f"store: a {self.kind} carries no files")
        if self.occurred_at.tzinfo is None:
            raise ValueError("store: occurred_at must carry a time zone")
        for name, limit in COLUMN_LIMITS.items():
            value = getattr(self, name)
            if value is not None and (len(value) > limit or "\x00" in value):
                raise ValueError(f"store: {name} is longer than {limit} or holds NUL")
