"""Startup objects are frozen out of the garbage collector's passes in the servers."""

from __future__ import annotations

import gc
import re
import shutil
from pathlib import Path

from bench import web
from feed.heap import freeze_startup


def test_freeze_startup_leaves_what_exists_out_of_later_collections() -> None:
    kept = [[index] for index in range(1_000)]  # made "at startup"
    try:
        frozen = freeze_startup()
        assert frozen >= len(kept)
        garbage = []
        garbage.append(garbage)  # a cycle made "during a request" is still collected
        del garbage
        assert gc.collect() >= 1
        # Frozen objects may still die by reference count (another thread's, on this
        # shared worker), which lowers the count; none goes back into the generations.
        assert len(kept) <= gc.get_freeze_count() <= frozen
        tracked = {id(thing) for thing in gc.get_objects()}
        assert not [item for item in kept if id(item) in tracked]
    finally:
        gc.unfreeze()


def test_gunicorn_started_as_the_readme_says_freezes_each_worker(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "shiplog.db"
    shutil.copy(sqlite_template, path)
    with web.gunicorn(f"sqlite:///{path}", tmp_path, workers=1) as server:
        assert web.request(server, "GET", "/health").status == 200
    said = re.findall(r"shiplog: (\d+) startup objects left out", server.log.read_text())
    assert len(said) == 1
    assert int(said[0]) > 50_000  # the app, Flask, SQLAlchemy and the rest of its imports
