"""PyGithub, set up for shiplog: conditional listings, rate-limit bookkeeping, clear errors."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException
from github.Commit import Commit
from urllib3.util.retry import Retry

from feed.config import SETTINGS

log = logging.getLogger(__name__)

PER_PAGE = 100
DEFAULT_TIMEOUT = 15
SECONDARY_LIMIT_WAIT = timedelta(seconds=60)
RESET_MARGIN = timedelta(seconds=1)  # the least wait after "rate limit exhausted"
LINK_NEXT = 'rel="next"'


class GitHubError(Exception):
    """Something the sync cannot do now; the subclass says whether and when to try again."""


class RateLimited(GitHubError):
    """Out of requests (or close to the reserve): wait until `resume_at`."""

    def __init__(self, resume_at: datetime, reason: str) -> None:
        super().__init__(reason)
        self.resume_at = resume_at


class Unavailable(GitHubError):
    """The resource is gone (404/410) or shiplog may not see it (401/403)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Transient(GitHubError):
    """A 5xx or a timeout that outlasted the retries."""


@dataclass(frozen=True)
class ListingPage:
    """A response, or word that it has not changed since `etag`; `next_url` for listings."""

    modified: bool
    data: Any
    etag: str | None
    next_url: str | None


@dataclass(frozen=True)
class ClientSettings:
    api_url: str
    token: str | None = None
    app_id: str | None = None
    app_private_key_file: str | None = None
    app_installation_id: int | None = None
    reserve: int = SETTINGS["sync_rate_limit_reserve"].default
    timeout: int = DEFAULT_TIMEOUT
    retry_backoff: float = 0.25  # seconds before the second retry of a 5xx; then doubled


class RateBudget:
    """One credential's rate limit as the latest answer told it, shared by the clients of
    every worker thread: none of them spends the reserve another has seen reached."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remaining = -1
        self._reset = datetime.fromtimestamp(0, UTC)

    def note(self, remaining: int, reset: datetime) -> None:
        """Keep the answer of a later window, or a lower count of the same window."""
        if remaining < 0:
            return
        with self._lock:
            if reset > self._reset or (reset == self._reset and remaining < self._remaining):
                self._remaining, self._reset = remaining, reset

    def current(self) -> tuple[int, datetime]:
        with self._lock:
            return self._remaining, self._reset


class GitHubClient:
    """The requests the sync makes, all through one PyGithub `Github`."""

    def __init__(self, settings: ClientSettings, budget: RateBudget | None = None) -> None:
        self.reserve = settings.reserve
        self.budget = budget or RateBudget()
        self.github = Github(
            base_url=settings.api_url,
            auth=_auth(settings),
            per_page=PER_PAGE,
            timeout=settings.timeout,
            lazy=True,
            # The sync's requests are serial GETs, which GitHub asks for; PyGithub's default
            # pause of 0.25 s between them would cap a backfill at four commits a second.
            seconds_between_requests=None,
            retry=Retry(
                total=3,
                backoff_factor=settings.retry_backoff,
                status_forcelist=(500, 502, 503, 504),
                allowed_methods=frozenset({"GET", "POST"}),
                raise_on_status=False,
                respect_retry_after_header=False,
            ),
        )
        self.requests = 0
        self.not_modified = 0

    @property
    def counted(self) -> int:
        """Requests that counted against the rate limit (a 304 does not)."""
        return self.requests - self.not_modified

    def fetch(self, path: str, params: dict[str, Any] | None, etag: str | None) -> ListingPage:
        """GET `path`; with `etag`, an unchanged answer is a 304 that costs nothing."""
        headers = {"If-None-Match": etag} if etag else None
        status, response_headers, body = self._request(
            path, params, headers, conditional=bool(etag)
        )
        if status == 304:
            return ListingPage(False, None, etag, None)
        return ListingPage(
            True, _json_or_none(body), response_headers.get("etag"), _next(response_headers)
        )

    def pages(self, first: ListingPage, key: str | None = None) -> Iterator[list[dict[str, Any]]]:
        """The items of a listing's first page, then of each following page; `key` names the
        list in listings that answer with an object (`workflow_runs`, `check_suites`)."""
        yield _items(first.data, key)
        url = first.next_url
        while url:
            _, headers, body = self._request(url, None, None, conditional=False)
            yield _items(_json_or_none(body), key)
            url = _next(headers)

    def commit(self, repo: str, sha: str) -> Commit:
        """A commit with its files and patches: one request, through PyGithub's own model."""
        self._check_reserve(conditional=False)
        self.requests += 1
        try:
            commit = self.github.get_repo(repo).get_commit(sha)
            commit.raw_data  # noqa: B018 - the client is lazy: this is the one request
        except GithubException as exc:
            raise _classify(exc.status, exc.headers or {}, exc.data) from None
        except requests.RequestException as exc:
            raise Transient(f"github: {type(exc).__name__} fetching {repo}@{sha[:7]}") from None
        finally:
            self.rate()  # what the answer said of the limit, for the other clients too
        return commit

    def rate(self) -> tuple[int, datetime]:
        """Requests left and when the window resets, as of the last response to any client
        sharing this one's budget."""
        remaining, _limit = self.github.requester.rate_limiting
        reset = datetime.fromtimestamp(self.github.requester.rate_limiting_resettime, UTC)
        self.budget.note(remaining, reset)
        return self.budget.current()

    def close(self) -> None:
        self.github.close()

    def _request(
        self,
        url: str,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        *,
        conditional: bool,
    ) -> tuple[int, dict[str, Any], str]:
        self._check_reserve(conditional=conditional)
        self.requests += 1
        try:
            status, response_headers, body = self.github.requester.requestJson(
                "GET", url, params, headers
            )
        except requests.RequestException as exc:
            raise Transient(f"github: {type(exc).__name__} on {urlsplit(url).path}") from None
        self.rate()
        if status == 304:
            self.not_modified += 1
        elif status >= 400:
            data = _json_or_none(body)
            raise _classify(status, response_headers, data)
        return status, response_headers, body

    def _check_reserve(self, *, conditional: bool) -> None:
        remaining, reset = self.rate()
        now = datetime.now(UTC)
        if remaining == 0 and now < reset + RESET_MARGIN:
            # GitHub's reset is in whole seconds by its clock: until a margin past it, asking
            # would only be refused again, once per client.
            raise RateLimited(reset + RESET_MARGIN, "primary rate limit exhausted")
        if remaining < 0 or reset <= now:
            return  # nothing known yet, or the window has already reset
        if remaining <= self.reserve and not conditional:
            raise RateLimited(
                reset, f"rate limit: {remaining} requests left (reserve {self.reserve})"
            )


def _classify(status: int, headers: dict[str, Any], data: Any) -> GitHubError:
    headers = {key.lower(): value for key, value in headers.items()}
    message = data.get("message", "") if isinstance(data, dict) else ""
    now = datetime.now(UTC)
    if status in (403, 429):
        if "retry-after" in headers:
            wait = _seconds(headers["retry-after"], SECONDARY_LIMIT_WAIT.total_seconds())
            return RateLimited(now + timedelta(seconds=wait), "secondary rate limit")
        if headers.get("x-ratelimit-remaining") == "0":
            reset = _seconds(headers.get("x-ratelimit-reset"), now.timestamp() + 60)
            # The reset is in whole seconds by GitHub's clock, which may be behind ours: a
            # reset that looks past is not yet, and asking again at once would only be refused.
            resume = max(datetime.fromtimestamp(reset, UTC), now + RESET_MARGIN)
            return RateLimited(resume, "primary rate limit exhausted")
        if status == 429:
            return RateLimited(now + SECONDARY_LIMIT_WAIT, "too many requests")
        return Unavailable("forbidden", f"github: 403 {message}".strip())
    if status == 401:
        return Unavailable("forbidden", "github: 401 bad credentials")
    if status in (404, 410):
        return Unavailable("gone", f"github: {status} {message}".strip())
    if status >= 500:
        return Transient(f"github: {status} after retries")
    return Unavailable("failing", f"github: unexpected {status} {message}".strip())


def _auth(settings: ClientSettings) -> Auth.Auth | None:
    if settings.app_id and settings.app_private_key_file and settings.app_installation_id:
        key = Path(settings.app_private_key_file).read_text()
        app = Auth.AppAuth(settings.app_id, key)
        return app.get_installation_auth(settings.app_installation_id)
    if settings.token:
        return Auth.Token(settings.token)
    return None


def _next(headers: dict[str, Any]) -> str | None:
    for part in str(headers.get("link", "")).split(","):
        if LINK_NEXT in part:
            return part.split(";")[0].strip().strip("<>")
    return None


def _items(data: Any, key: str | None = None) -> list[dict[str, Any]]:
    if key is not None:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list):
        raise Transient("github: a listing did not answer with a list")
    return [item for item in data if isinstance(item, dict)]


def _json_or_none(body: str) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def _seconds(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default
