"""Values crossing to and from PostgreSQL: result rows that read as ``sqlite3.Row`` does, and
parameters cleaned where PostgreSQL refuses what SQLite took.

* :class:`PgRow`: ``row[0]``, ``row["sid"]``, ``row.keys()``, ``dict(row)``; one class per
  column list, found by :func:`row_factory` from the names the server sent.
* :func:`clean_params`: NUL characters in text replaced (PostgreSQL ``text`` cannot hold
  U+0000; :data:`nul_replaced` counts them for ``/metrics``) and ``bool`` sent as an integer
  (the schema's flags are ``INTEGER``).

No psycopg here (the cursor is only read through the attributes it has), so this is plain
Python; :mod:`appliance.store.pg` uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

REPLACEMENT = "\ufffd"
nul_replaced = 0  # text parameters whose NUL characters were replaced (a metric's source)
_nul_lock = threading.Lock()


class PgRow(tuple[Any, ...]):
    """A result row: ``row[0]``, ``row["sid"]``, ``row.keys()``, ``dict(row)``."""

    _index: dict[str, int] = {}
    _names: tuple[str, ...] = ()

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            try:
                return tuple.__getitem__(self, self._index[key])
            except KeyError:
                return tuple.__getitem__(self, self._index[key.lower()])
        return tuple.__getitem__(self, key)


_row_classes: dict[tuple[str, ...], type[PgRow]] = {}


def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    cls = _row_classes.get(names)
    if cls is None:
        index = {n: i for i, n in reversed(list(enumerate(names)))}  # first of a repeated name
        cls = type("PgRow", (PgRow,), {"_index": index, "_names": names})
        _row_classes[names] = cls
    return cls


_by_fnames: dict[tuple[bytes | None, ...], type[PgRow]] = {}


def row_factory(cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
    """The row class for the cursor's result, found by its columns' names as the server sent
    them (cheaper than ``cursor.description``, which makes a ``Column`` per name per query)."""
    res = cursor.pgresult
    if res is None:
        return _row_class(())
    fnames = tuple(map(res.fname, range(res.nfields)))
    cls = _by_fnames.get(fnames)
    if cls is None:
        cls = _row_class(tuple(d.name for d in cursor.description or ()))
        _by_fnames[fnames] = cls
    return cls


def _clean(value: Any) -> Any:
    global nul_replaced
    if isinstance(value, str) and "\x00" in value:
        with _nul_lock:
            nul_replaced += 1
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, bool):
        return int(value)
    return value


def clean_params(params: Any) -> Any:
    """Parameters PostgreSQL accepts where SQLite did (always passed, even empty: the
    translated SQL has its ``%`` doubled).  Those that need nothing changed (the usual case)
    are passed as they are, without a copy."""
    if params is None:
        return ()
    if isinstance(params, Mapping):
        return {k: _clean(v) for k, v in params.items()}
    for value in params:
        if isinstance(value, str):
            if "\x00" in value:
                break
        elif isinstance(value, bool):
            break
    else:
        return params
    return tuple(map(_clean, params))
