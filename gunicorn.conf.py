"""gunicorn reads this file when started from the project's folder (the README's command)."""

from typing import Any

from feed.heap import freeze_startup


def post_worker_init(worker: Any) -> None:
    """Each worker, once it has made the app: keep its startup objects out of the full
    garbage collections, which would otherwise fall inside requests (feed/heap.py)."""
    worker.log.info("shiplog: %d startup objects left out of garbage collection", freeze_startup())
