"""CSV downloads of the list pages, streamed: rows are read and written a batch at a time.

:func:`keyset_rows` walks a table newest first by rowid, :data:`BATCH` rows per query
(``rowid < last`` rather than OFFSET, so every batch is an index range), and
:func:`csv_response` writes each batch as it comes: 100,000 rows never sit in memory
and the first bytes leave before the last row is read.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from flask import Response

if TYPE_CHECKING:
    from appliance.store.database import Row, Store

BATCH = 1000  # rows per query and per chunk written
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): free text
# from outside (message bodies, caller names, URLs) gets a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def keyset_rows(
    store: Store, select: str, where: str, params: Sequence[Any], key: str = "rowid"
) -> Iterator[Row]:
    """``SELECT … FROM t WHERE …`` newest first, a batch per query.

    ``select`` and ``where`` are SQL of the caller's own (columns, and placeholders for
    ``params``); ``key`` is the table's integer key, which must be among the selected columns
    as ``_key``.
    """
    last: int | None = None
    while True:
        bound = "" if last is None else f" AND {key} < ?"
        rows = store.read(
            f"{select} WHERE ({where}){bound} ORDER BY {key} DESC LIMIT ?",
            (*params, *(() if last is None else (last,)), BATCH),
        )
        yield from rows
        if len(rows) < BATCH:
            return
        last = int(rows[-1]["_key"])


def safe_cell(value: Any, free_text: bool) -> Any:
    if value is None:
        return ""
    if free_text and isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_chunks(
    columns: Sequence[str], rows: Iterable[Row], free_text: frozenset[str] = frozenset()
) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(columns)
    n = 0
    for row in rows:
        writer.writerow([safe_cell(row[c], c in free_text) for c in columns])
        n += 1
        if n % BATCH == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def csv_response(
    filename: str,
    columns: Sequence[str],
    rows: Iterable[Row],
    free_text: frozenset[str] = frozenset(),
) -> Response:
    """A streamed ``text/csv`` download (a generator body: nothing is built in memory)."""
    rv = Response(csv_chunks(columns, rows, free_text), mimetype="text/csv")
    rv.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return rv
