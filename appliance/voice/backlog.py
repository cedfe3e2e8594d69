"""Call writes the database could not take: kept in order and written once it is back.

A call lives in the network, not in the store, so a database outage (PostgreSQL only,
:mod:`appliance.store.outage`) must not end one or leave it stuck: a call's status changes,
its status callbacks, its events and its webhook log are written through one
:class:`Backlog` per store.  While the database answers, a write goes straight through.
When it fails with :class:`~appliance.errors.StoreUnavailable` (or while earlier ones still
wait, so one call's changes keep their order), it is kept in memory; the store's outage
listener writes the kept ones, oldest first, when the database answers again, and the first
writer after that does too if the listener found it still away.

A kept write must be safe to run twice: the outage may have cut the answer of a COMMIT that
landed.  Each is written so (an update of fixed values, an insert that first looks for its
row, docs/design.md "Voice during an outage"); :func:`once` makes such an insert of a row
with no key of its own (an event, a webhook log line): a re-run first looks for the values
fixed when the write was made, the first run does not (the normal path pays nothing).
What is kept is lost if the process dies before the database returns, as a call is (the
next start closes its row, error 31005; a recording's row is also on disk,
:mod:`appliance.voice.recordingrows`).
A daemon that stops is the same case, with one more chance: :func:`closing` (before the
store closes) waits a few seconds for the database and writes what is kept; what it could
not write is counted in one WARNING line, ``call writes not made``.  A flush that finds
the store closed (the server came back just as the daemon stopped) ends there quietly.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from appliance import logs
from appliance.errors import StoreClosed, StoreUnavailable
from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)

Work = Callable[[], object]  # store calls that raise StoreUnavailable while it is away

_BACKLOGS: weakref.WeakKeyDictionary[Store, Backlog] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()
STOP_GRACE = 3.0  # s a stopping daemon gives the database to take the kept writes


def once(insert: Callable[[Any], object], landed: Callable[[Any], object]) -> Callable[[Any], None]:
    """``insert(conn)`` as a write a re-run does not make twice: the first run inserts; a
    later one (the outage cut the answer of the first one's COMMIT, which may have landed)
    inserts only if ``landed(conn)`` finds nothing."""
    tried = False

    def fn(conn: Any) -> None:
        nonlocal tried
        if tried and landed(conn):
            return  # a write an outage cut had landed
        tried = True
        insert(conn)

    return fn


def closing(store: Store, seconds: float = STOP_GRACE) -> None:
    """The store is about to close: its backlog (if it has one) writes what it keeps,
    waiting up to ``seconds`` for the database to answer (its prober tries each second)."""
    with _REGISTRY_LOCK:
        backlog = _BACKLOGS.get(store)
    if backlog is not None:
        backlog.close(seconds)


class Backlog:
    """One store's kept call writes (any thread may write; one flush at a time)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()  # guards _kept
        self._flushing = threading.Lock()  # one flush at a time, in order
        self._kept: list[tuple[str, Work]] = []
        self._told = False  # the writes left at close were counted in the log
        store.outage.listeners.append(self._store_back)

    @staticmethod
    def of(store: Store) -> Backlog:
        """The store's backlog (made on first use, with its outage listener)."""
        with _REGISTRY_LOCK:
            backlog = _BACKLOGS.get(store)
            if backlog is None:
                backlog = _BACKLOGS[store] = Backlog(store)
            return backlog

    @property
    def size(self) -> int:
        return len(self._kept)

    def write(self, what: str, fn: Callable[[Any], object]) -> bool:
        """``store.write(fn)`` now (True), or once the database is back (False: kept)."""
        return self.run(what, lambda: self.store.write(fn))

    def run(self, what: str, work: Work) -> bool:
        """``work()`` (store calls) now (True), or once the database is back (False: kept;
        ``what`` names it in the log).  Never raises :class:`StoreUnavailable`."""
        if self._kept:
            self.flush()
        with self._lock:
            if self._kept:  # still away: after the ones before it
                self._kept.append((what, work))
                return False
        try:
            work()
        except StoreUnavailable:
            with self._lock:
                self._kept.append((what, work))
            LOGGER.debug("kept until the database is back: %s", what)
            return False
        return True

    def flush(self, deadline: float | None = None) -> bool:
        """Write what is kept, oldest first; True if nothing is left (False: still away, the
        store closed, or the monotonic ``deadline`` passed)."""
        with self._flushing:
            written = 0
            while True:
                with self._lock:
                    if not self._kept:
                        break
                    what, work = self._kept[0]
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                try:
                    work()
                except StoreUnavailable:
                    return False
                except StoreClosed:  # the daemon stopped as the database came back
                    self._not_made("the store closed")
                    return False
                except Exception:  # noqa: BLE001 - one bad write must not hold the others back
                    logs.event(
                        LOGGER, logging.ERROR, "kept call write failed", what=what, exc_info=True
                    )
                with self._lock:
                    self._kept.pop(0)
                written += 1
            if written:
                logs.event(
                    LOGGER, logging.INFO, "call writes kept during the outage written", n=written
                )
            return True

    def close(self, seconds: float) -> None:
        """Before the store closes: write what is kept if the database answers within
        ``seconds``; count what is left in one line (it is lost, as if the process died)."""
        if self._kept:
            deadline = time.monotonic() + seconds
            self.store.outage.wait(seconds)
            if self.flush(deadline):
                return
            self._not_made(
                "the database is unreachable"
                if self.store.outage.down
                else f"the database did not take them within {seconds:g} s"
            )

    def _not_made(self, why: str) -> None:
        with self._lock:
            left, told, self._told = len(self._kept), self._told, True
        if left and not told:
            logs.event(
                LOGGER,
                logging.WARNING,
                "call writes not made: the daemon stopped",
                n=left,
                why=why,
            )

    def _store_back(self) -> None:
        self.flush()  # the outage's listener (the prober's thread): StoreUnavailable is caught
