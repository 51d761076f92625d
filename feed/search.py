"""Free-text search of event titles and bodies.

On SQLite an FTS5 table with the trigram tokenizer indexes every event's title and body, so
`q` keeps the meaning it has everywhere else (a case-insensitive substring) while an index
finds the rows. The table keeps which trigrams each event holds, not where (`detail=none`):
the index finds the events that hold some of the text's trigrams (`trigrams`), and LIKE
decides. Triggers keep it in step with `events`. Queries shorter than three characters,
which trigrams cannot index, use LIKE. On PostgreSQL, `q` is LIKE on `lower(title)` and
`lower(body)`, each with a GIN index (`POSTGRES_INDEXES`) of its `pg_trgm` trigrams beside
the event's kind, repository, branch and actor (`btree_gin`), so that text with one of those
is one look-up in each index; the indexes are asked only for the text's `key_pattern`
(`holds`). Case is ignored beyond ASCII on both: where SQLite's own
lower() would not do (`has_case_beyond_ascii`), `unicode_lower` is Python's.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from sqlalchemy import Boolean, Select, Text, and_, column, func, literal_column, select, table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.visitors import InternalTraversal

SEARCH_TABLE = "events_search"
MIN_INDEXED = 3  # trigrams: shorter text cannot be looked up in the index
# SQLite's own lower() folds ASCII only ("ÜBER" stays "ÜBER"): each of shiplog's SQLite
# connections also has this one, Python's (feed.db), for text that is not ASCII.
SQLITE_LOWER = "shiplog_lower"


def fold(value: Any) -> Any:
    """`SQLITE_LOWER`: text in lower case as PostgreSQL's lower() and Python's give it."""
    return value.lower() if isinstance(value, str) else value


def has_case_beyond_ascii(needle: str) -> bool:
    """Whether `needle` holds a letter beyond ASCII with an upper case ("ü", not "修" nor
    "☕"): only such a needle needs `unicode_lower` to find text in any case."""
    return any(not char.isascii() and char.upper() != char for char in needle)


class unicode_lower(FunctionElement[str]):
    """lower() of any text: PostgreSQL's own; on SQLite, `SQLITE_LOWER`, a Python call a
    row tested (`has_case_beyond_ascii` says when SQLite's own lower() will not do)."""

    type = Text()
    inherit_cache = True


@compiles(unicode_lower)
def _lower(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _sqlite_lower(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f"{SQLITE_LOWER}({compiler.process(element.clauses, **kw)})"


# pg_trgm's words: runs of letters and digits (ASCII here, where every locale agrees).
WORD_RUN = re.compile(r"[a-z0-9]{3,}")


def key_pattern(needle: str) -> str | None:
    """A LIKE pattern that any text holding `needle` (lower case) matches, which gives a
    trigram index few trigrams to read: of each run of ASCII letters and digits, three
    characters kept and one left to `_`, in turn; every other character left to `_`
    ("session timeout": `%ses_ion_tim_out%`, 4 trigrams where pg_trgm takes 13 from the
    whole text, the padded ones of each word's start and end among them). Its characters
    stay where the needle has them, so the planner's estimate of it is that of the whole
    text. None when no run is three long: the whole text then."""
    kept = ["_"] * len(needle)
    for run in WORD_RUN.finditer(needle):
        for start in range(run.start(), run.end() - 2, 4):
            kept[start : start + 3] = needle[start : start + 3]
    pattern = "".join(kept)
    return f"%{pattern}%" if pattern.strip("_") else None


class Holds(ColumnElement[bool]):
    """Whether a lower-cased title or body holds the text: `like`, its LIKE, on SQLite; on
    PostgreSQL `keyed`, which asks the trigram index for the text's `key_pattern` only
    and tests the whole text with strpos (see `holds`)."""

    type = Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a condition as it is, not `= 1` where booleans are 0 and 1
    _traverse_internals: ClassVar = [
        ("like", InternalTraversal.dp_clauseelement),
        ("keyed", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, like: ColumnElement[bool], keyed: ColumnElement[bool]) -> None:
        self.like = like
        self.keyed = keyed


@compiles(Holds)
def _like(element: Holds, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.like, **kw)


@compiles(Holds, "postgresql")
def _keyed(element: Holds, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.keyed, **kw)


def holds(lowered: Any, needle: str, pattern: str, *, indexed: bool = True) -> ColumnElement[bool]:
    """`lowered` (lower() of a title or body) holds `needle` (lower case; `pattern` is its
    LIKE '%needle%', escaped with `\\`); `indexed` unless the column is kept from its
    index (`feed.filters.unindexed`).

    On PostgreSQL, pg_trgm reads the list of every trigram of a LIKE's text in its GIN
    index, padded ones included: 13 for "session timeout", about 1 ms each at a million
    events (28 ms for a branch's events with that text). Here the index is asked for the
    text's `key_pattern` (4 lists) and strpos tests the whole text on the rows it finds.
    The planner estimates that pattern from its sample of the column as it did the text,
    and takes strpos(...) <> 0 for nearly always true, so its plans weigh the text as
    before. Text without three ASCII letters or digits in a row keeps its LIKE."""
    like = lowered.like(pattern, escape="\\")
    keys = key_pattern(needle) if indexed else None
    if keys is None:
        return like
    keyed = and_(lowered.like(keys), func.strpos(lowered, needle) != 0).self_group()
    return Holds(like, keyed)


def sqlite_create(detail: str = "none") -> tuple[str, ...]:
    """The statements that make SQLite's search table, keeping `detail` of each event's
    trigrams ("none": which it holds, since 0024; "full": where too, as 0005 made it), its
    triggers, and fill it from `events`."""
    if detail not in ("none", "full"):
        raise ValueError(f"search: unknown detail {detail!r}")
    return (
        f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(title, body, content='events', "
        f"content_rowid='id', tokenize='trigram', detail='{detail}')",
        f"""CREATE TRIGGER {SEARCH_TABLE}_insert AFTER INSERT ON events BEGIN
            INSERT INTO {SEARCH_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body);
        END""",
        f"""CREATE TRIGGER {SEARCH_TABLE}_delete AFTER DELETE ON events BEGIN
            INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, title, body)
            VALUES ('delete', old.id, old.title, old.body);
        END""",
        f"""CREATE TRIGGER {SEARCH_TABLE}_update AFTER UPDATE OF title, body ON events BEGIN
            INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, title, body)
            VALUES ('delete', old.id, old.title, old.body);
            INSERT INTO {SEARCH_TABLE}(rowid, title, body) VALUES (new.id, new.title, new.body);
        END""",
        f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')",
    )


# PostgreSQL's indexes for `q` (0023), path globs (which may start with `*`) and repository,
# branch and author globs (prefixes, which a btree serves under a collation other than C only
# with the pattern operator class; 0012); {ops} names pg_trgm's schema. A GIN index serves any
# of its columns alone or together: these serve text alone as well as text with a kind, a
# repository, a branch or an actor. The models leave them out: they exist on PostgreSQL alone.
POSTGRES_INDEXES = {
    "ix_events_title_search": (
        "events",
        "USING gin (kind, repo, branch, actor, lower(title) {ops}.gin_trgm_ops)",
    ),
    "ix_events_body_search": (
        "events",
        "USING gin (kind, repo, branch, actor, lower(body) {ops}.gin_trgm_ops)",
    ),
    "ix_event_files_path_trgm": ("event_files", "USING gin (path {ops}.gin_trgm_ops)"),
    "ix_events_repo_pattern": ("events", "(repo varchar_pattern_ops)"),
    "ix_events_branch_pattern": ("events", "(branch varchar_pattern_ops)"),
    "ix_events_actor_pattern": ("events", "(actor varchar_pattern_ops)"),
}
SQLITE_DROP = (
    f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_insert",
    f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_update",
    f"DROP TABLE IF EXISTS {SEARCH_TABLE}",
)


def is_postgres_index(name: str | None) -> bool:
    """Whether `name` is one of the indexes only PostgreSQL has (not in the models)."""
    return name in POSTGRES_INDEXES


def is_search_table(name: str | None) -> bool:
    """Whether `name` is the search index or one of the tables FTS5 keeps for it."""
    return bool(name) and (name == SEARCH_TABLE or name.startswith(f"{SEARCH_TABLE}_"))


def trigrams(q: str) -> str:
    """An FTS5 query for the events that may hold `q` (3 characters or more): every third
    trigram of it and its last, which cover every character, each required. Any text that
    holds `q` holds them; the tokenizer folds each as it folded the text. Fewer than all of
    them: each one read costs its whole list of events (7 ms for "session timeout" at a
    million events, 24 ms with all 13)."""
    starts = [*range(0, len(q) - 2, 3), len(q) - 3]
    return " AND ".join('"' + q[i : i + 3].replace('"', '""') + '"' for i in dict.fromkeys(starts))


def matching_ids(q: str) -> Select[tuple[int]]:
    """The ids of the events whose title or body may hold `q` (3 characters or more; SQLite):
    a few more than hold it, never fewer."""
    index = table(SEARCH_TABLE, column("rowid"))
    return select(index.c.rowid).where(literal_column(SEARCH_TABLE).op("MATCH")(trigrams(q)))
