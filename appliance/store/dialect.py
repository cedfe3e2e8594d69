"""The two SQL dialects the store speaks: SQLite's (as written) and PostgreSQL's (translated).

The domain writes its SQL once, in SQLite's form (``?`` and ``:name`` placeholders, the DDL of
the migrations).  :meth:`Dialect.sql` rewrites a statement for psycopg (``%s``,
``%(name)s``, a literal ``%`` doubled), :meth:`Dialect.ddl` rewrites the two column types whose
meaning differs (``INTEGER PRIMARY KEY``, ``REAL``), and the few constructs that have no common
spelling are attributes (``like``, ``claim``, ``least``...).  On SQLite every one of them is
the identity, so the single box runs exactly the statements it ran before.

Pure: no I/O, no driver import (the pure-cores contract in pyproject.toml).
"""

from __future__ import annotations

import dataclasses
import re
from functools import lru_cache

# A quoted string or identifier, a -- comment, or one of the tokens translated outside them.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\?|(?<!:):([A-Za-z_][A-Za-z0-9_]*)|%"""
)
_INTEGER_KEY = re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\b", re.IGNORECASE)
_REAL = re.compile(r"\bREAL\b", re.IGNORECASE)
_QUOTED = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*\"""")


@dataclasses.dataclass(frozen=True)
class Dialect:
    """What differs between the engines, as data and pure functions."""

    name: str  # "sqlite" or "postgresql" (also the key of a migration's per-dialect SQL)
    like: str  # case-insensitive LIKE for searches (SQLite's LIKE already ignores ASCII case)
    claim: str  # appended to a SELECT that claims rows for this transaction
    lock: str  # appended to a SELECT whose rows this transaction will change (waits its turn)
    least: str  # the scalar minimum and maximum of two values
    greatest: str
    identity: bool  # tables have no rowid: keys come from ``INSERT ... RETURNING id``
    # The database's clock in UNIX seconds (a fleet's leases are timed by one clock, the
    # server's, not by each node's): SQLite's julianday, PostgreSQL's clock_timestamp().
    now: str = "((julianday('now') - 2440587.5) * 86400.0)"
    # Data-modifying statements in WITH (PostgreSQL): a message and its parts inserted by one
    # statement, one round trip; SQLite runs them as two.
    dml_in_with: bool = False

    def sql(self, text: str) -> str:
        """``text`` with this dialect's placeholders (cached per string)."""
        return text if self.name == "sqlite" else _pg_sql(text)

    def ddl(self, text: str) -> str:
        """A migration statement in this dialect's column types."""
        return text if self.name == "sqlite" else _pg_ddl(text)

    def rowkey(self, table: str) -> str:
        """The column that orders ``table``'s rows by insertion where it has no ``id``:
        SQLite's ``rowid``; on PostgreSQL the ``seq`` identity column (``calls`` only)."""
        if self.name == "sqlite":
            return "rowid"
        if table != "calls":
            raise ValueError(f"{table} has no row key on PostgreSQL")
        return "seq"

    def floor_div(self, numerator: str, denominator: str) -> str:
        """``numerator / denominator`` rounded down to an integer (SQLite's CAST truncates,
        PostgreSQL's rounds; both are non-negative where used)."""
        if self.name == "sqlite":
            return f"CAST({numerator} / {denominator} AS INTEGER)"
        return f"FLOOR({numerator} / {denominator})"


SQLITE = Dialect(
    "sqlite", like="LIKE", claim="", lock="", least="MIN", greatest="MAX", identity=False
)
POSTGRES = Dialect(
    "postgresql",
    like="ILIKE",
    claim=" FOR UPDATE SKIP LOCKED",
    lock=" FOR UPDATE",
    least="LEAST",
    greatest="GREATEST",
    identity=True,
    now="EXTRACT(EPOCH FROM clock_timestamp())",
    dml_in_with=True,
)


@lru_cache(maxsize=4096)
def _pg_sql(text: str) -> str:
    """``?`` → ``%s``, ``:name`` → ``%(name)s`` outside quotes; every ``%`` doubled (psycopg
    reads ``%`` everywhere, quotes included, whenever parameters are passed, and the
    PostgreSQL store always passes them)."""

    def swap(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if m.group(1) is not None:
            return f"%({m.group(1)})s"
        return token.replace("%", "%%")  # a quoted string or comment: only its % change

    return _TOKENS.sub(swap, text)


@lru_cache(maxsize=256)
def _pg_ddl(text: str) -> str:
    """SQLite's ``INTEGER PRIMARY KEY`` (a rowid alias, 64-bit) and ``REAL`` (8 bytes) in
    PostgreSQL's words: an identity ``BIGINT`` and ``DOUBLE PRECISION`` (PostgreSQL's ``REAL``
    is 4 bytes, which would round every UNIX time to about two minutes).  Quoted text is left
    alone."""
    out: list[str] = []
    last = 0
    for m in _QUOTED.finditer(text):
        out.append(_pg_types(text[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_pg_types(text[last:]))
    return "".join(out)


def _pg_types(text: str) -> str:
    text = _INTEGER_KEY.sub("BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", text)
    return _REAL.sub("DOUBLE PRECISION", text)


def by_name(name: str) -> Dialect:
    for d in (SQLITE, POSTGRES):
        if d.name == name:
            return d
    raise ValueError(f"unknown SQL dialect {name!r}")
