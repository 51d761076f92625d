"""Settings: defaults in code, then the TOML file named by SHIPLOG_CONFIG, then SHIPLOG_* vars."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar, dataclass_transform
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from feed.builds import DEFAULT_COUNTED
from feed.incidents import DEFAULT_COMPONENT_PREFIX, DEFAULT_SEVERITIES, IncidentRules
from feed.jobs import DEFAULT_THREADS, LANES, LEASE, MAX_ATTEMPTS

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DATABASES = ("sqlite", "postgresql")  # the backends shiplog migrates and tests
DEFAULT_INCIDENT_LABEL = "incident"
LOG_FORMATS = ("text", "json")
REPO_NAME = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]+")
SHOWN_VALUE = re.compile(r"[A-Za-z0-9_./ -]{1,24}")  # no URL, nor a token's length
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
HOST_PATTERN = re.compile(r"(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[?[0-9a-fA-F:.]+\]?")
FLAG_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False}
FLAG_WORDS |= {"off": False, "0": False, "": False}
# GitHub's rule for a login: letters, digits and single hyphens, not at either end, up to 39.
GITHUB_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class Setting:
    """One row of the settings table: the Flask config key (`SHIPLOG_<key>` in the
    environment), the reader that checks a value and gives the default when there is none,
    and the key in the config file (`section.name`; a secret may be `name_env` there)."""

    key: str
    read: Callable[[Mapping[str, Any], str], Any]
    toml: str | None = None

    @property
    def default(self) -> Any:
        """The value when nothing sets it."""
        return self.read({}, self.key)


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


def _value(text: str, otherwise: str) -> str:
    """A setting's value as an error shows it: quoted when it is short and plain, like a
    misspelt word or name; else `otherwise`. A value may be a secret read from the wrong
    variable (`repos_env` naming the webhook URL's), and an error is printed and logged."""
    return repr(text) if SHOWN_VALUE.fullmatch(text) else otherwise


def _not(text: str) -> str:
    """The end of an error naming the value refused (`, not 'xml'`), when `_value` shows it."""
    shown = _value(text, "")
    return f", not {shown}" if shown else ""


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
            raise ConfigError(f"config: REPOS: {_value(repo, 'an item')} is not owner/name")
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
        raise ConfigError(f"config: {key} must be one of {', '.join(choices)}{_not(value)}")
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
    if dialect.name == "sqlite":
        _check_sqlite_folder(make_url(url).database)
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ConfigError(
            f"config: DATABASE_URL needs the driver {exc.name}, which is not installed; use "
            "postgresql+psycopg://user@host/db (pip install 'shiplog[postgres]') or sqlite:///path"
        ) from None
    return url


def _check_sqlite_folder(database: str | None) -> None:
    """The SQLite file's folder exists or can be made (nothing on its way is a file)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).parent
    try:
        existing = next(path for path in (folder, *folder.parents) if path.exists())
        blocked = not existing.is_dir()
    except OSError:  # unreadable on the way: the engine's own error will say so
        return
    if blocked:
        raise ConfigError(
            f"config: DATABASE_URL: cannot make the folder {str(folder)!r} for the SQLite file "
            f"({str(existing)!r} is a file); name a folder shiplog may write to"
        )


def _flag(config: Mapping[str, Any], key: str) -> bool:
    """A yes/no setting: true/false, yes/no, on/off or 1/0 (TOML booleans too)."""
    value = config.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in FLAG_WORDS:
        return FLAG_WORDS[text]
    raise ConfigError(f"config: {key} must be true or false{_not(text)}")


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
                f"config: security.allow_webhook_hosts: {_value(host, 'an item')} is not a host "
                "name (a name, an IP address or *.domain; no scheme, port or path)"
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
            named = _value(lane, "")
            raise ConfigError(
                f"config: WORKER_THREADS: unknown lane{' ' + named if named else ''}; "
                f"lanes: {', '.join(LANES)}"
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


def _people(value: Any) -> dict[str, dict[str, str]]:
    """The [people] table: GitHub login (kept in lower case, as GitHub matches logins) ->
    {platform: chat handle}. The chat integration checks each handle against its
    platform's pattern when the app starts."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("config: [people] must map GitHub logins to tables of chat handles")
    people: dict[str, dict[str, str]] = {}
    for login, handles in value.items():
        where = f"people.{_shown(str(login))}"
        if not isinstance(login, str) or not GITHUB_LOGIN.fullmatch(login):
            raise ConfigError(f"config: {where}: not a GitHub login (letters, digits, '-')")
        if login.lower() in people:
            raise ConfigError(f"config: {where}: this login is listed twice (in another case)")
        if not isinstance(handles, dict) or not all(
            isinstance(handle, str) and handle for handle in handles.values()
        ):
            raise ConfigError(
                f'config: {where} must be a table of handles such as {{ slack = "U024BE7LH" }}'
            )
        for name in handles:
            if not PLAIN_NAME.fullmatch(str(name)):
                raise ConfigError(f"config: {where}: {str(name)!r} is not a platform's name")
        people[login.lower()] = {str(name): handle for name, handle in handles.items()}
    return people


def _check_http_url(key: str, url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:  # such as an unclosed IPv6 bracket
        raise ConfigError(f"config: {key} must be an http(s) URL") from None
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"config: {key} must be an http(s) URL")


Reader = Callable[[Mapping[str, Any], str], Any]


def _text_or(default: str | None = None) -> Reader:
    return lambda config, key: _text(config, key) or default


def _number_or(default: int | None, minimum: int) -> Reader:
    return lambda config, key: _number(config, key, default, minimum)


def _names_or(default: tuple[str, ...] = (), *, lower: bool = False) -> Reader:
    def read(config: Mapping[str, Any], key: str) -> tuple[str, ...]:
        names = _names(config.get(key), key)
        return tuple(name.lower() for name in names) if lower else names

    return lambda config, key: read(config, key) or default


def _http_url_or(default: str | None) -> Reader:
    def read(config: Mapping[str, Any], key: str) -> str | None:
        url = _text(config, key) or default
        if url is None:
            return None
        _check_http_url(key, url)
        return url.rstrip("/")

    return read


def _parsed(parse: Callable[[Any], Any]) -> Reader:
    return lambda config, key: parse(config.get(key))


def _setting(key: str, read: Reader, toml: str | None = None) -> Any:
    """A field of Settings with its row of the table: read from the Flask config key `key`
    (`SHIPLOG_<key>` in the environment) by `read`, and from the TOML key `toml`."""
    return field(metadata={"setting": Setting(key, read, toml)})


_Table = TypeVar("_Table")


@dataclass_transform(frozen_default=True, field_specifiers=(_setting,))
def _settings_table(cls: type[_Table]) -> type[_Table]:
    """`cls` as a frozen dataclass. Declared as a dataclass transform with `_setting` as its
    field specifier, so that type checkers see every field as required and of its own type
    (under a plain `@dataclass`, they would take `_setting(...)` for a default)."""
    return dataclass(frozen=True)(cls)


@_settings_table
class Settings:
    """The settings the core and the integrations read, validated. Each field is its own row
    of the table: its type, where it is read from, and its reader (which checks a value and
    gives the default). A new setting is one field here; nothing else repeats it."""

    database_url: str = _setting(
        "DATABASE_URL", lambda config, key: _database_url(_text(config, key)), "server.database_url"
    )
    github_webhook_secret: str | None = _setting(
        "GITHUB_WEBHOOK_SECRET", _text_or(), "github.webhook_secret"
    )
    github_token: str | None = _setting("GITHUB_TOKEN", _text_or(), "github.token")
    github_api_url: str = _setting(
        "GITHUB_API_URL", _http_url_or(DEFAULT_GITHUB_API_URL), "github.api_url"
    )
    repos: tuple[str, ...] = _setting("REPOS", _parsed(_repos), "github.repos")
    incident_label: str = _setting(
        "INCIDENT_LABEL", _text_or(DEFAULT_INCIDENT_LABEL), "github.incident_label"
    )
    admin_token: str | None = _setting("ADMIN_TOKEN", _text_or(), "server.admin_token")
    base_url: str | None = _setting("BASE_URL", _http_url_or(None), "server.base_url")
    sync_branches: tuple[str, ...] = _setting("SYNC_BRANCHES", _names_or(), "github.branches")
    build_branches: tuple[str, ...] = _setting(
        "BUILD_BRANCHES", _names_or(DEFAULT_COUNTED), "github.build_branches"
    )
    sync_interval: int = _setting(
        "SYNC_INTERVAL", _number_or(300, minimum=10), "github.sync_interval"
    )
    sync_backfill_days: int = _setting(
        "SYNC_BACKFILL_DAYS", _number_or(90, minimum=1), "github.backfill_days"
    )
    sync_patch_cap: int = _setting(
        "SYNC_PATCH_CAP", _number_or(512 * 1024, minimum=0), "github.patch_cap"
    )
    sync_rate_limit_reserve: int = _setting(
        "SYNC_RATE_LIMIT_RESERVE", _number_or(100, minimum=0), "github.rate_limit_reserve"
    )
    job_max_attempts: int = _setting("JOB_MAX_ATTEMPTS", _number_or(MAX_ATTEMPTS, minimum=1))
    job_lease_seconds: int = _setting(
        "JOB_LEASE_SECONDS", _number_or(int(LEASE.total_seconds()), minimum=1)
    )
    github_app_id: str | None = _setting("GITHUB_APP_ID", _text_or(), "github.app_id")
    github_app_private_key_file: str | None = _setting(
        "GITHUB_APP_PRIVATE_KEY_FILE", _text_or(), "github.app_private_key_file"
    )
    github_app_installation_id: int | None = _setting(
        "GITHUB_APP_INSTALLATION_ID", _number_or(None, minimum=1), "github.app_installation_id"
    )
    incident_severities: tuple[str, ...] = _setting(
        "INCIDENT_SEVERITIES", _names_or(DEFAULT_SEVERITIES, lower=True), "github.severity_labels"
    )
    incident_component_prefix: str = _setting(
        "INCIDENT_COMPONENT_PREFIX",
        _text_or(DEFAULT_COMPONENT_PREFIX),
        "github.component_label_prefix",
    )
    components: dict[str, tuple[str, ...]] = _setting(  # the [components] table
        "COMPONENTS", _parsed(_components)
    )
    log_format: str = _setting(
        "LOG_FORMAT", lambda config, key: _choice(config, key, LOG_FORMATS), "server.log_format"
    )
    private: bool = _setting("PRIVATE", lambda config, key: _flag(config, key), "server.private")
    people: dict[str, dict[str, str]] = _setting("PEOPLE", _parsed(_people))  # [people]
    allow_webhook_hosts: tuple[str, ...] = _setting(  # the [security] table
        "SECURITY", _parsed(_webhook_hosts)
    )
    worker_threads: dict[str, int] = _setting(
        "WORKER_THREADS", _parsed(_threads), "server.worker_threads"
    )

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
        """Validate the Flask config's SHIPLOG keys, each as its field's row says."""
        return cls(**{name: row.read(config, row.key) for name, row in SETTINGS.items()})


# The table: Settings field -> its row, for the TOML keys and the integrations' defaults.
SETTINGS: dict[str, Setting] = {item.name: item.metadata["setting"] for item in fields(Settings)}
FLASK_TOML_KEYS = {"server.secret_key": "SECRET_KEY"}  # Flask's own setting, read by Flask


def _toml_keys() -> dict[str, dict[str, str]]:
    """TOML section -> {name: Flask config key}, from the table."""
    keys: dict[str, dict[str, str]] = {}
    rows = [(row.toml, row.key) for row in SETTINGS.values() if row.toml]
    for where, key in [*rows, *FLASK_TOML_KEYS.items()]:
        section, name = where.split(".")
        keys.setdefault(section, {})[name] = key
    return keys


TOML_KEYS = _toml_keys()
# Sections that later parts of shiplog read; kept as they are.
TOML_RAW_SECTIONS = {
    "components": "COMPONENTS",
    "channels": "CHANNELS",
    "subscriptions": "SUBSCRIPTIONS",
    "security": "SECURITY",
    "people": "PEOPLE",
}
# Raw sections written as [[name]]: each entry is a table.
TABLE_ARRAYS = {"channels", "subscriptions"}
