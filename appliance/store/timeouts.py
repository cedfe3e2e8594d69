"""How long the PostgreSQL store waits for the server: libpq's settings and a deadline.

A server that stops or refuses is noticed at once (a refused connection, a closed socket).  A
network path that silently drops packets is not: without these settings a writer thread waits
on its socket for as long as the kernel keeps the connection (hours), and the node never enters
its outage state.  So every connection of :class:`~appliance.store.pg.PgStore` gets, unless
``database_url`` sets its own (the user's options win, key by key):

* ``connect_timeout`` 5 s: a connection (the pool's, the prober's) that is not set up by then
  fails;
* TCP keepalives after 5 s idle, every 2 s, 3 unanswered: a dead idle connection is dropped
  by the kernel within about 11 s;
* ``tcp_user_timeout`` 8 s: data sent and not acknowledged for 8 s drops the connection (a
  partition while a query is in flight, which keepalives do not cover);
* on the server, ``statement_timeout`` 5 s (a statement that runs away fails as an error, not
  as an outage: the store's statements are point reads and writes, and retention deletes in
  batches) and ``idle_in_transaction_session_timeout`` 10 s (a session whose client vanished
  in a transaction releases its row locks after 10 s, not after the server's keepalive of
  hours);

and each transaction and read has a client-side :class:`Deadline` of 8 s: past it the
connection's socket is shut down, so the waiting call fails as a lost connection and the
outage begins.  This covers what TCP cannot see: a path whose far end acknowledges and never
answers (a hung proxy or load balancer, a server stuck in I/O).
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

CONNECT_TIMEOUT = 5  # seconds, for a connection to be set up
KEEPALIVES_IDLE = 5  # seconds of silence before the first keepalive probe
KEEPALIVES_INTERVAL = 2  # seconds between probes
KEEPALIVES_COUNT = 3  # unanswered probes before the kernel drops the connection
TCP_USER_TIMEOUT_MS = 8000  # sent data unacknowledged this long drops the connection
STATEMENT_TIMEOUT_MS = 5000  # the server cancels a statement running longer
IDLE_IN_TRANSACTION_MS = 10000  # the server ends a session idle inside a transaction this long
DEADLINE = 8.0  # seconds a transaction or a read may take before its connection is cut
TICK = 0.25  # seconds between the watchdog's looks


def connection_settings(user: Mapping[str, Any], *, session: bool = True) -> dict[str, Any]:
    """libpq parameters to add to ``user`` (the URL's own, parsed): only those it does not set.
    ``session``: also the server's time-outs (not for the migration's connection, whose DDL
    may run long on a big table)."""
    defaults: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT,
        "keepalives": 1,
        "keepalives_idle": KEEPALIVES_IDLE,
        "keepalives_interval": KEEPALIVES_INTERVAL,
        "keepalives_count": KEEPALIVES_COUNT,
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
    }
    out = {k: v for k, v in defaults.items() if k not in user}
    if session:
        options = str(user.get("options") or "")
        extra = [
            f"-c {name}={value}"
            for name, value in (
                ("statement_timeout", STATEMENT_TIMEOUT_MS),
                ("idle_in_transaction_session_timeout", IDLE_IN_TRANSACTION_MS),
            )
            if name not in options
        ]
        if extra:
            out["options"] = " ".join([options, *extra]).strip()
    return out


def deadline_for(user: Mapping[str, Any]) -> float:
    """The client-side deadline: :data:`DEADLINE`, or longer than a ``statement_timeout`` the
    user set in ``options`` (in milliseconds, or with a unit: ``30s``, ``1min``), so a long
    statement they allowed fails on the server's time-out rather than as an outage."""
    for word in str(user.get("options") or "").replace("=", " ").split():
        if word.startswith("statement_timeout"):
            break
    else:
        return DEADLINE
    words = str(user["options"]).replace("=", " ").split()
    try:
        value = words[words.index("statement_timeout") + 1].lower()
        units = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
        number = value.rstrip("abcdefghijklmnopqrstuvwxyz")
        scale = units[value[len(number) :] or "ms"]
        seconds = float(number) * scale
    except (ValueError, IndexError, KeyError):
        return DEADLINE
    if seconds <= 0:  # 0 turns the server's time-out off: keep ours
        return DEADLINE
    return max(DEADLINE, seconds + 3.0)


class Watch:
    """One transaction or read being watched; ``cut`` once its deadline shut the socket."""

    __slots__ = ("cut", "due", "fd")

    def __init__(self, fd: int, due: float) -> None:
        self.fd, self.due, self.cut = fd, due, False


class Deadline:
    """One thread that shuts down the socket of a call past its deadline.  The waiting call then
    fails as if the server had closed the connection (it is on the caller's thread; closing the
    connection from here would free what that thread uses)."""

    def __init__(self, seconds: float = DEADLINE) -> None:
        self.seconds = seconds
        self.cuts = 0  # connections cut (a metric's source)
        self._lock = threading.Lock()
        self._watched: dict[int, Watch] = {}
        self._ids = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, fd: int) -> tuple[int, Watch]:
        w = Watch(fd, time.monotonic() + self.seconds)
        key = next(self._ids)
        with self._lock:
            self._watched[key] = w
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="store deadline", daemon=True
                )
                self._thread.start()
        return key, w

    def done(self, key: int) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            now = time.monotonic()
            with self._lock:  # under the lock: a finished call's socket is never cut
                late = [k for k, w in self._watched.items() if w.due <= now]
                for key in late:
                    w = self._watched.pop(key)
                    w.cut = True
                    self.cuts += 1
                    _shut(w.fd)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2 * TICK + 1)


def _shut(fd: int) -> None:
    """``shutdown(2)`` the socket ``fd`` (through a duplicate: ``fd`` stays open, its owner
    closes it)."""
    try:
        dup = socket.socket(fileno=socket.dup(fd))
    except OSError:
        return
    try:
        dup.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        dup.close()
