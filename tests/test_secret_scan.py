"""The suite-wide scan for secrets (tests/conftest.py `no_secret_leaks`) sees what it must."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import (
    SECRET,
    WATCHED_SECRETS,
    _LeakLog,
    answer_text,
    assert_no_secrets,
    secrets_in,
    subprocess_secrets_env,
)
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


def test_what_a_subprocess_says_and_answers_is_scanned(tmp_path: Path) -> None:
    env = {**os.environ, **subprocess_secrets_env(tmp_path)}
    leaky = "import os; print('starting with', os.environ['SHIPLOG_ADMIN_TOKEN'])"
    said = subprocess.run([sys.executable, "-c", leaky], env=env, capture_output=True, text=True)
    with pytest.raises(AssertionError, match="admin-token-123"):
        assert_no_secrets("leaky stdout", said.stdout, said.stderr)
    to_stderr = "import os, sys; sys.stderr.write(open(os.environ['SHIPLOG_CONFIG']).read())"
    said = subprocess.run([sys.executable, "-c", to_stderr], env=env, capture_output=True)
    with pytest.raises(AssertionError, match="subprocess-secret"):
        assert_no_secrets("leaky stderr", said.stdout, said.stderr)  # bytes too
    with pytest.raises(AssertionError, match="bench-secret"):
        assert_no_secrets(
            "an answer", answer_text([("X-Echo", "bench-secret")], b""), also=("bench-secret",)
        )
    quiet = subprocess.run([sys.executable, "-c", "print('ok')"], env=env, capture_output=True)
    assert_no_secrets("a quiet subprocess", quiet.stdout, quiet.stderr, answer_text({}, "ok"))
