"""Whether the database answers: the outage's state, its two log lines, and who is told.

Only the PostgreSQL store (:mod:`appliance.store.pg`) ever begins an outage: a SQLite file
has no server to lose.  While an outage lasts every store call fails at once with
:class:`~appliance.errors.StoreUnavailable` (no call waits out a connection time-out), and
one prober thread (the store's) tries the server every second.  When it answers, the outage
ends and :attr:`Outage.listeners` are called (the daemon wakes its modems and workers, so a
storage sweep and the queues run at once).

Who does what meanwhile (docs/reliability.md, "The database is down"): the REST API answers
503 (20503) with ``Retry-After``; the modem threads leave inbound SMS on the SIM and do not
send; webhook workers keep the outcome of a request they made and commit it once the
database is back; the chores skip their turn.  The log says it twice: ``database
unreachable`` when it begins and ``database reachable again`` (with its duration) when it
ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from appliance import logs
from appliance.errors import StoreUnavailable

LOGGER = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds a 503 asks a REST client to wait (Retry-After)


class Outage:
    """One store's reachability: up, or down since a time and for a reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._up = threading.Event()
        self._up.set()
        self.since: float | None = None  # UNIX time the current outage began
        self._began = 0.0  # the same, monotonic
        self.reason = ""
        self.count = 0  # outages since start (a metric's source)
        self.listeners: list[Callable[[], None]] = []

    @property
    def down(self) -> bool:
        return not self._up.is_set()

    def begin(self, reason: str) -> bool:
        """The database stopped answering (``reason``: the driver's words, no password).
        True for the call that began the outage (the others only find it begun)."""
        with self._lock:
            if not self._up.is_set():
                return False
            self.since, self._began, self.reason = time.time(), time.monotonic(), reason
            self.count += 1
            self._up.clear()
        logs.event(
            LOGGER,
            logging.ERROR,
            "database unreachable",
            error=reason,
            then="REST answers 503, inbound SMS stay on the SIM, sending and webhooks wait",
        )
        return True

    def end(self) -> None:
        """The database answers again: log how long it was away, tell the listeners."""
        with self._lock:
            if self._up.is_set():
                return
            lasted = time.monotonic() - self._began
            self.since, self.reason = None, ""
            self._up.set()
        logs.event(LOGGER, logging.WARNING, "database reachable again", down_s=round(lasted, 1))
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:  # noqa: BLE001 - one listener must not keep the others asleep
                LOGGER.exception("outage listener failed")

    def wait(self, timeout: float) -> bool:
        """Block until the database answers (True) or ``timeout`` seconds pass (False)."""
        return self._up.wait(timeout)

    def error(self) -> StoreUnavailable:
        return StoreUnavailable(f"the database is unreachable ({self.reason or 'no answer'})")

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` at once while the database is down."""
        if not self._up.is_set():
            raise self.error()
