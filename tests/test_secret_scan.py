"""The suite-wide scan for secrets (tests/conftest.py `no_secret_leaks`) sees what it must."""

from __future__ import annotations

import logging

from tests.conftest import SECRET, WATCHED_SECRETS, _LeakLog, secrets_in
from tests.fake_chat import FakeChat


def test_a_secret_anywhere_in_text_is_seen() -> None:
    assert secrets_in(f"error: bad signature for {SECRET}!") == [SECRET]
    assert secrets_in("the admin token is admin-token-123") == ["admin-token-123"]
    assert secrets_in("nothing to see") == []


def test_chat_webhook_urls_are_watched_once_made() -> None:
    with FakeChat().running() as chat:
        url = chat.url("/services/T0/B0/secret-part")
    assert url in WATCHED_SECRETS
    assert secrets_in(f"posting to {url} failed") == [url]


def test_log_lines_and_their_tracebacks_are_scanned() -> None:
    leaks: list[str] = []
    handler = _LeakLog(leaks)
    logger = logging.getLogger("shiplog.test-scan")
    logger.addHandler(handler)
    logger.propagate = False  # these leaks are on purpose: keep them from the suite's own scan
    try:
        logger.warning("configured with %s", SECRET)
        try:
            raise RuntimeError("token test-token refused")
        except RuntimeError:
            logger.exception("sync failed")
        logger.debug("below INFO: %s", SECRET)  # the handler reads INFO and up, as in production
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    assert leaks == [
        f"log shiplog.test-scan: {SECRET!r}",
        "log shiplog.test-scan: 'test-token'",
    ]
