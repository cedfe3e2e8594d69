"""Search and filters of the list pages: text, number, direction, status, error code, dates.

A :class:`Filter` is read from the query string; :meth:`Filter.where` turns it into a
``WHERE`` clause for one table.  Column names come only from the fixed :class:`Columns` of
each table below; everything the user typed travels as a bound parameter (``LIKE ? ESCAPE``,
``= ?``), never inside the SQL text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

FIELDS = ("q", "number", "direction", "status", "error_code", "since", "until")
MAX_TEXT = 200  # characters of a search term kept


@dataclasses.dataclass(frozen=True)
class Columns:
    """Which columns of a table each filter looks at ("" or (): the table has none)."""

    text: tuple[str, ...]
    numbers: tuple[str, ...] = ()
    direction: str = ""
    status: str = ""
    error_code: str = ""
    time: str = ""


MESSAGES = Columns(
    text=("body",),
    numbers=("from_number", "to_number"),
    direction="direction",
    status="status",
    error_code="error_code",
    time="date_created",
)
CALLS = Columns(
    text=("caller_name", "sid"),
    numbers=("from_number", "to_number"),
    direction="direction",
    status="status",
    error_code="error_code",
    time="date_created",
)
WEBHOOKS = Columns(
    text=("url", "error_message", "message_sid", "call_sid"),
    status="status",
    error_code="error_code",
    time="at",
)
SUBSCRIBERS = Columns(text=("name", "town", "phone_number"), status="status", time="created")


def _like(value: str) -> str:
    """``value`` as a LIKE pattern matching it anywhere, its own % and _ taken literally."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _day(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class Filter:
    q: str = ""
    number: str = ""
    direction: str = ""  # "inbound" or "outbound" (every outbound-* kind)
    status: str = ""
    error_code: int | None = None
    since: float | None = None  # UTC, inclusive
    until: float | None = None  # UTC, exclusive (the end of the day asked for)
    values: Mapping[str, str] = dataclasses.field(default_factory=dict)  # as typed, for the form
    errors: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> Filter:
        values = {k: str(args.get(k, "")).strip()[:MAX_TEXT] for k in FIELDS}
        errors: dict[str, str] = {}
        code: int | None = None
        if values["error_code"]:
            try:
                code = int(values["error_code"])
            except ValueError:
                errors["error_code"] = "An error code is a number, e.g. 30003"
        direction = values["direction"] if values["direction"] in ("inbound", "outbound") else ""
        since = until = None
        if values["since"]:
            day = _day(values["since"])
            if day is None:
                errors["since"] = "A date as YYYY-MM-DD"
            else:
                since = day.timestamp()
        if values["until"]:
            day = _day(values["until"])
            if day is None:
                errors["until"] = "A date as YYYY-MM-DD"
            else:
                until = (day + timedelta(days=1)).timestamp()
        number = "".join(ch for ch in values["number"] if ch not in " ()-.")
        return cls(
            q=values["q"],
            number=number,
            direction=direction,
            status=values["status"],
            error_code=code,
            since=since,
            until=until,
            values=values,
            errors=errors,
        )

    @property
    def active(self) -> bool:
        return any(
            (self.q, self.number, self.direction, self.status, self.error_code is not None)
        ) or (self.since is not None or self.until is not None)

    def query(self, **extra: Any) -> str:
        """This filter (and ``extra``) as a query string, for links that keep it."""
        pairs = {k: v for k, v in self.values.items() if v}
        pairs.update({k: str(v) for k, v in extra.items() if v not in (None, "")})
        return urlencode(pairs)

    def where(self, cols: Columns, alias: str = "", like: str = "LIKE") -> tuple[str, list[Any]]:
        """``(sql, params)``: the conditions joined by AND (``1 = 1`` when there are none).

        ``like`` is the store's case-insensitive LIKE (``store.dialect.like``: PostgreSQL's
        LIKE is case-sensitive, SQLite's is not for ASCII)."""
        p = f"{alias}." if alias else ""
        if self.errors:
            return "1 = 0", []  # a filter the user mistyped matches nothing (the form says why)
        clauses: list[str] = []
        params: list[Any] = []
        if self.q and cols.text:
            clauses.append(
                "(" + " OR ".join(f"{p}{c} {like} ? ESCAPE '\\'" for c in cols.text) + ")"
            )
            params.extend([_like(self.q)] * len(cols.text))
        if self.number and cols.numbers:
            clauses.append(
                "(" + " OR ".join(f"{p}{c} {like} ? ESCAPE '\\'" for c in cols.numbers) + ")"
            )
            params.extend([_like(self.number)] * len(cols.numbers))
        if self.direction and cols.direction:
            op = "=" if self.direction == "inbound" else "!="
            clauses.append(f"{p}{cols.direction} {op} ?")
            params.append("inbound")
        if self.status and cols.status:
            clauses.append(f"{p}{cols.status} = ?")
            params.append(self.status)
        if self.error_code is not None and cols.error_code:
            clauses.append(f"{p}{cols.error_code} = ?")
            params.append(self.error_code)
        if self.since is not None and cols.time:
            clauses.append(f"{p}{cols.time} >= ?")
            params.append(self.since)
        if self.until is not None and cols.time:
            clauses.append(f"{p}{cols.time} < ?")
            params.append(self.until)
        return (" AND ".join(clauses) or "1 = 1"), params
