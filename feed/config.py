"""Settings: defaults in code, then the TOML file named by SHIPLOG_CONFIG, then SHIPLOG_* vars."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from feed.builds import DEFAULT_COUNTED
from feed.incidents import DEFAULT_COMPONENT_PREFIX, DEFAULT_SEVERITIES, IncidentRules
from feed.jobs import DEFAULT_THREADS, LANES

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DATABASES = ("sqlite", "postgresql")  # the backends shiplog migrates and tests
DEFAULT_INCIDENT_LABEL = "incident"
LOG_FORMATS = ("text", "json")
REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
HOST_PATTERN = re.compile(r"(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[?[0-9a-fA-F:.]+\]?")
FLAG_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False}
FLAG_WORDS |= {"off": False, "0": False, "": False}

# TOML section -> {key: Flask config key}; each secret may be given as `<key>_env` instead.
TOML_KEYS: dict[str, dict[str, str]] = {
    "server": {
        "database_url": "DATABASE_URL",
        "base_url": "BASE_URL",
        "admin_token": "ADMIN_TOKEN",
        "secret_key": "SECRET_KEY",
        "log_format": "LOG_FORMAT",
        "private": "PRIVATE",
        "worker_threads": "WORKER_THREADS",
    },
    "github": {
        "repos": "REPOS",
        "incident_label": "INCIDENT_LABEL",
        "severity_labels": "INCIDENT_SEVERITIES",
        "component_label_prefix": "INCIDENT_COMPONENT_PREFIX",
        "token": "GITHUB_TOKEN",
        "webhook_secret": "GITHUB_WEBHOOK_SECRET",
        "api_url": "GITHUB_API_URL",
        "branches": "SYNC_BRANCHES",
        "build_branches": "BUILD_BRANCHES",
        "sync_interval": "SYNC_INTERVAL",
        "backfill_days": "SYNC_BACKFILL_DAYS",
        "patch_cap": "SYNC_PATCH_CAP",
        "rate_limit_reserve": "SYNC_RATE_LIMIT_RESERVE",
        "app_id": "GITHUB_APP_ID",
        "app_private_key_file": "GITHUB_APP_PRIVATE_KEY_FILE",
        "app_installation_id": "GITHUB_APP_INSTALLATION_ID",
    },
}
# Sections that later parts of shiplog read; kept as they are.
TOML_RAW_SECTIONS = {
    "components": "COMPONENTS",
    "channels": "CHANNELS",
    "subscriptions": "SUBSCRIPTIONS",
    "security": "SECURITY",
}
# Raw sections written as [[name]]: each entry is a table.
TABLE_ARRAYS = {"channels", "subscriptions"}


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class Settings:
    """The settings the core and the integrations read, validated."""

    database_url: str
    github_webhook_secret: str | None
    github_token: str | None
    github_api_url: str
    repos: tuple[str, ...]
    incident_label: str
    admin_token: str | None
    base_url: str | None
    sync_branches: tuple[str, ...] = ()
    build_branches: tuple[str, ...] = DEFAULT_COUNTED
    sync_interval: int = 300
    sync_backfill_days: int = 90
    sync_patch_cap: int = 512 * 1024
    sync_rate_limit_reserve: int = 100
    job_max_attempts: int = 8
    job_lease_seconds: int = 600
    github_app_id: str | None = None
    github_app_private_key_file: str | None = None
    github_app_installation_id: int | None = None
    incident_severities: tuple[str, ...] = DEFAULT_SEVERITIES
    incident_component_prefix: str = DEFAULT_COMPONENT_PREFIX
    components: dict[str, tuple[str, ...]] = field(default_factory=dict)
    log_format: str = "text"
    private: bool = False
    allow_webhook_hosts: tuple[str, ...] = ()
    worker_threads: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_THREADS))

    @property
    def incident_rules(self) -> IncidentRules:
        return IncidentRules(self.incident_severities, self.incident_component_prefix)

    @property
    def has_github_source(self) -> bool:
        """True once anything connects shiplog to GitHub."""
        return bool(
            self.repos or self.github_webhook_secret or self.github_token or self.github_app_id
        )

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> Settings:
        """Validate the Flask config's SHIPLOG keys."""
        base_url = _text(config, "BASE_URL")
        if base_url is not None:
            _check_http_url("BASE_URL", base_url)
            base_url = base_url.rstrip("/")
        api_url = _text(config, "GITHUB_API_URL") or DEFAULT_GITHUB_API_URL
        _check_http_url("GITHUB_API_URL", api_url)
        label = _text(config, "INCIDENT_LABEL") or DEFAULT_INCIDENT_LABEL
        database_url = _database_url(_text(config, "DATABASE_URL"))
        return cls(
            database_url=database_url,
            github_webhook_secret=_text(config, "GITHUB_WEBHOOK_SECRET"),
            github_token=_text(config, "GITHUB_TOKEN"),
            github_api_url=api_url.rstrip("/"),
            repos=_repos(config.get("REPOS")),
            incident_label=label,
            admin_token=_text(config, "ADMIN_TOKEN"),
            base_url=base_url,
            sync_branches=_names(config.get("SYNC_BRANCHES"), "SYNC_BRANCHES"),
            build_branches=_names(config.get("BUILD_BRANCHES"), "BUILD_BRANCHES")
            or DEFAULT_COUNTED,
            sync_interval=_number(config, "SYNC_INTERVAL", 300, minimum=10),
            sync_backfill_days=_number(config, "SYNC_BACKFILL_DAYS", 90, minimum=1),
            sync_patch_cap=_number(config, "SYNC_PATCH_CAP", 512 * 1024, minimum=0),
            sync_rate_limit_reserve=_number(config, "SYNC_RATE_LIMIT_RESERVE", 100, minimum=0),
            job_max_attempts=_number(config, "JOB_MAX_ATTEMPTS", 8, minimum=1),
            job_lease_seconds=_number(config, "JOB_LEASE_SECONDS", 600, minimum=1),
            github_app_id=_text(config, "GITHUB_APP_ID"),
            github_app_private_key_file=_text(config, "GITHUB_APP_PRIVATE_KEY_FILE"),
            github_app_installation_id=_number(config, "GITHUB_APP_INSTALLATION_ID", None, 1),
            incident_severities=tuple(
                name.lower()
                for name in _names(config.get("INCIDENT_SEVERITIES"), "INCIDENT_SEVERITIES")
            )
            or DEFAULT_SEVERITIES,
            incident_component_prefix=_text(config, "INCIDENT_COMPONENT_PREFIX")
            or DEFAULT_COMPONENT_PREFIX,
            components=_components(config.get("COMPONENTS")),
            log_format=_choice(config, "LOG_FORMAT", LOG_FORMATS),
            private=_flag(config, "PRIVATE"),
            allow_webhook_hosts=_webhook_hosts(config.get("SECURITY")),
            worker_threads=_threads(config.get("WORKER_THREADS")),
        )


def read_toml(path: str | os.PathLike[str], environ: Mapping[str, str]) -> dict[str, Any]:
    """Flask config keys from a TOML file; `*_env` keys are looked up in `environ`."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None

    result: dict[str, Any] = {}
    for section, value in document.items():
        if section in TABLE_ARRAYS and not (
            isinstance(value, list) and all(isinstance(entry, dict) for entry in value)
        ):
            raise ConfigError(f"config: [[{section}]] must be an array of tables")
        if section in TOML_RAW_SECTIONS:
            result[TOML_RAW_SECTIONS[section]] = _resolve_env(section, value, environ)
            continue
        keys = TOML_KEYS.get(section)
        if keys is None:
            known = ", ".join(sorted([*TOML_KEYS, *TOML_RAW_SECTIONS]))
            raise ConfigError(f"config: unknown section [{_shown(section)}]; known: {known}")
        if not isinstance(value, dict):
            raise ConfigError(f"config: [{section}] must be a table")
        for key, item in value.items():
            name = key.removesuffix("_env")
            if name not in keys:
                raise ConfigError(f"config: unknown key {section}.{_shown(key)}")
            if key.endswith("_env"):
                item = _env_value(f"{section}.{key}", item, environ)
            result[keys[name]] = item
    return result


def _resolve_env(section: str, value: Any, environ: Mapping[str, str]) -> Any:
    """In [[channels]] and the like, `url_env = "NAME"` becomes `url` = the variable's value."""
    if isinstance(value, list):
        return [_resolve_env(section, item, environ) for item in value]
    if not isinstance(value, dict):
        return value
    resolved: dict[str, Any] = {}
    for key, item in value.items():
        if key.endswith("_env"):
            resolved[key.removesuffix("_env")] = _env_value(
                f"{section}.{_shown(key)}", item, environ
            )
        else:
            resolved[key] = item
    return resolved


def _env_value(where: str, name: Any, environ: Mapping[str, str]) -> str:
    """The value of the variable a `*_env` key names. The message repeats the name only when
    it looks like one (SOME_NAME): a secret written there by mistake must not be shown."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"config: {where} must name an environment variable")
    if name in environ:
        return environ[name]
    if ENV_NAME.fullmatch(name):
        raise ConfigError(f"config: {where} names {name!r}, which is not set in the environment")
    raise ConfigError(
        f"config: {where} names a variable that is not set in the environment "
        "(and does not look like a variable name: is it the value itself?)"
    )


def _shown(name: str) -> str:
    """A key or section name as an error shows it: quoted when it is not a plain name."""
    return name if PLAIN_NAME.fullmatch(name) else repr(name)


def _text(config: Mapping[str, Any], key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise ConfigError(f"config: {key} must be text")
    text = str(value).strip()
    return text or None


def _repos(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError("config: REPOS must be a list or comma-separated owner/name")
    repos = tuple(str(item).strip() for item in items if str(item).strip())
    for repo in repos:
        if not REPO_NAME.fullmatch(repo):
            raise ConfigError(f"config: REPOS: {repo!r} is not owner/name")
    return repos


def _number(config: Mapping[str, Any], key: str, default: Any, minimum: int) -> Any:
    value = config.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"config: {key} must be a whole number") from None
    if number < minimum:
        raise ConfigError(f"config: {key} must be at least {minimum}")
    return number


def _choice(config: Mapping[str, Any], key: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (any case); the first when unset."""
    value = (_text(config, key) or choices[0]).lower()
    if value not in choices:
        raise ConfigError(f"config: {key} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _database_url(url: str | None) -> str:
    """A URL SQLAlchemy can connect with; the error never shows it (it may hold a password)."""
    if not url:
        raise ConfigError("config: DATABASE_URL is empty")
    try:
        dialect = make_url(url).get_dialect()
    except ArgumentError:
        raise ConfigError(
            "config: DATABASE_URL is not a database URL "
            "(such as sqlite:///path or postgresql+psycopg://user@host/db)"
        ) from None
    except NoSuchModuleError as exc:
        raise ConfigError(f"config: DATABASE_URL names an unknown database driver: {exc}") from None
    if dialect.name not in DATABASES:
        raise ConfigError(
            f"config: DATABASE_URL: shiplog runs on SQLite or PostgreSQL, not {dialect.name} "
            "(use sqlite:///path or postgresql+psycopg://user@host/db)"
        )
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ConfigError(
            f"config: DATABASE_URL needs the driver {exc.name}, which is not installed; use "
            "postgresql+psycopg://user@host/db (pip install 'shiplog[postgres]') or sqlite:///path"
        ) from None
    return url


def _flag(config: Mapping[str, Any], key: str) -> bool:
    """A yes/no setting: true/false, yes/no, on/off or 1/0 (TOML booleans too)."""
    value = config.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in FLAG_WORDS:
        return FLAG_WORDS[text]
    raise ConfigError(f"config: {key} must be true or false, not {text!r}")


def _webhook_hosts(section: Any) -> tuple[str, ...]:
    """`[security] allow_webhook_hosts`: host names (or `*.domain`) chat channels may use."""
    if section is None:
        return ()
    if not isinstance(section, dict):
        raise ConfigError("config: [security] must be a table")
    unknown = sorted(set(section) - {"allow_webhook_hosts"})
    if unknown:
        raise ConfigError(f"config: unknown key security.{_shown(unknown[0])}")
    hosts = _names(section.get("allow_webhook_hosts"), "security.allow_webhook_hosts")
    for host in hosts:
        if not HOST_PATTERN.fullmatch(host):
            raise ConfigError(
                f"config: security.allow_webhook_hosts: {host!r} is not a host name "
                "(a name, an IP address or *.domain; no scheme, port or path)"
            )
    return tuple(host.strip("[]").lower() for host in hosts)


def _threads(value: Any) -> dict[str, int]:
    """WORKER_THREADS: `alerts=16,digests=4,github=4` (or a TOML table); lanes not named
    keep their default."""
    threads = dict(DEFAULT_THREADS)
    if value is None or value == "":
        return threads
    if isinstance(value, str):
        pairs = [item.partition("=")[::2] for item in value.split(",") if item.strip()]
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise ConfigError("config: WORKER_THREADS must be lane=threads pairs such as alerts=4")
    for lane, count in pairs:
        lane = str(lane).strip()
        if lane not in LANES:
            raise ConfigError(
                f"config: WORKER_THREADS: unknown lane {_shown(lane)}; lanes: {', '.join(LANES)}"
            )
        try:
            number = int(str(count).strip())
        except ValueError:
            number = -1
        if isinstance(count, bool) or not 0 <= number <= 64:
            raise ConfigError(f"config: WORKER_THREADS: {lane} must be 0 to 64 threads")
        threads[lane] = number
    return threads


def _names(value: Any, key: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"config: {key} must be a list or comma-separated names")
    return tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def _components(value: Any) -> dict[str, tuple[str, ...]]:
    """The [components] table: component name -> path globs."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("config: [components] must map names to lists of path globs")
    components: dict[str, tuple[str, ...]] = {}
    for name, globs in value.items():
        if isinstance(globs, str):
            globs = [globs]
        if not isinstance(globs, list) or not all(isinstance(g, str) and g for g in globs):
            where = f"components.{_shown(str(name))}"  # a name with a newline stays one line
            raise ConfigError(f"config: {where} must be a list of path globs")
        components[str(name).lower()] = tuple(globs)
    return components


def _check_http_url(key: str, url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed IPv6 bracket
        raise ConfigError(f"config: {key} must be an http(s) URL") from None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"config: {key} must be an http(s) URL")
