"""The list queries the Calls, Recordings and Messages resources share.

Filters on UTC days (``DateSent``, ``StartTime<`` …) and on numbers, and the keyset
PageTokens (``PA<sid>_<date_created>``) of the newest-first Calls and Recordings
lists.  Paging parameters and the page body are in :mod:`appliance.api.common`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from appliance.api.common import ApiError, daemon
from appliance.store.database import Row

__all__ = ["day_filters", "keyset_page", "keyset_token", "keyset_where", "number_filter", "utc_day"]

_KEYSET_TOKEN = re.compile(r"^PA((?:CA|RE)[0-9a-f]{32})_([0-9]{1,12}(?:\.[0-9]{1,20})?)$")


def utc_day(key: str, value: str) -> tuple[float, float]:
    """A day filter's value (``key`` names it in errors) -> [start, end) of its UTC day.

    Twilio filters by day (``YYYY-MM-DD``); twilio-python sends dates and
    datetimes alike as ``YYYY-MM-DDTHH:MM:SSZ``, which counts as that day.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            when = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            when = datetime.fromisoformat(text)
            when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    except ValueError:
        raise ApiError(
            400, 20001, f"Invalid {key} {value!r}: use YYYY-MM-DD (or YYYY-MM-DDTHH:MM:SSZ)"
        ) from None
    day = datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp()
    return day, day + 86400.0


def day_filters(args: Mapping[str, str], name: str, column: str) -> tuple[list[str], list[Any]]:
    """SQL conditions (and parameters) for the ``name``, ``name<`` (on or before) and
    ``name>`` (on or after) UTC-day filters on ``column``."""
    where: list[str] = []
    params: list[Any] = []
    for key in (name, f"{name}<", f"{name}>"):
        if not args.get(key):
            continue
        start, end = utc_day(key, args[key])
        if key == name:
            where.append(f"{column} >= ? AND {column} < ?")
            params += [start, end]
        elif key.endswith("<"):
            where.append(f"{column} < ?")
            params.append(end)
        else:
            where.append(f"{column} >= ?")
            params.append(start)
    return where, params


def number_filter(value: str) -> str:
    """A To/From filter value, with the '+' a query string decoded as a space restored."""
    if value[:1] == " ":
        return "+" + value.strip()  # an unencoded '+' in a query string
    return value


def keyset_token(row: Row) -> str:
    """The PageToken after ``row`` in a newest-first (date_created, sid) listing."""
    return f"PA{row['sid']}_{row['date_created']!r}"


def keyset_where(token: str, table: str) -> tuple[str, list[Any]]:
    """SQL (and parameters) selecting the rows after a :func:`keyset_token`."""
    match = _KEYSET_TOKEN.match(token)
    if match is None:
        raise ApiError(400, 20001, f"Invalid PageToken {token!r}")
    sid, created = match.group(1), float(match.group(2))
    return (
        f"({table}.date_created < ? OR ({table}.date_created = ? AND {table}.sid < ?))",
        [created, created, sid],
    )


def keyset_page(
    select: str,
    table: str,
    where: list[str],
    params: list[Any],
    *,
    token: str,
    page: int,
    page_size: int,
) -> tuple[list[Row], str | None]:
    """One newest-first page of ``select`` filtered by ``where``, and the PageToken of
    the next page (None on the last).  A ``token`` replaces the Page offset."""
    offset = page * page_size
    if token:
        clause, values = keyset_where(token, table)
        where = [*where, clause]
        params = [*params, *values]
        offset = 0
    sql = select
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {table}.date_created DESC, {table}.sid DESC LIMIT ? OFFSET ?"
    rows = daemon().store.read(sql, (*params, page_size + 1, offset))
    more = len(rows) > page_size
    rows = rows[:page_size]
    return rows, keyset_token(rows[-1]) if more and rows else None
