"""Working with systemd: readiness, status, a watchdog pinged only while the appliance is healthy.

The protocol is ``sd_notify(3)``: one datagram per message on the AF_UNIX socket named
by ``$NOTIFY_SOCKET`` (a path, or ``@name`` in the abstract namespace).  With
``Type=notify`` systemd waits for ``READY=1``; with ``WatchdogSec=`` it sets
``$WATCHDOG_USEC`` and kills and restarts the service when ``WATCHDOG=1`` stops
arriving.  Outside systemd every call here is a no-op.

"Healthy" is not "the process runs": a :class:`Probe` thread per modem asks that
modem's loop for a trivial job (answered by the loop whether it is connected or
between reconnect attempts, so an unplugged modem is not a reason to restart, but a
hung loop or a dead thread is), and one probe commits a trivial write through the
store's writer thread.  The watchdog is pinged only while every probe has answered
within ``watchdog_grace`` seconds.  ``$NOTIFY_SOCKET`` and ``$WATCHDOG_*`` belong to
the service manager's protocol, so this module reads them itself (they are not settings).
The radio (network lost, SIM not ready) goes to the ``STATUS=`` line, never to the watchdog.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING

from appliance.errors import ModemError, StoreUnavailable
from appliance.system import health

if TYPE_CHECKING:
    from appliance.modem.modem import Modem
    from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)

HEARTBEAT_KEY = "watchdog_heartbeat"  # settings row the store probe rewrites


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one sd_notify message (``READY=1``, ``STATUS=...``); False when not under systemd."""
    env = os.environ if environ is None else environ
    path = env.get("NOTIFY_SOCKET", "")
    if path.startswith("@"):
        address = "\0" + path[1:]  # abstract namespace
    elif path.startswith("/"):
        address = path
    else:
        return False  # unset, or a vsock address this appliance has no use for
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8", "replace"))
    except OSError as e:
        LOGGER.warning("sd_notify to %s failed: %s", path, e)
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between watchdog pings (half of ``$WATCHDOG_USEC``), or None if it is off."""
    env = os.environ if environ is None else environ
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        pid = int(env.get("WATCHDOG_PID", "0") or 0)
    except ValueError:
        LOGGER.warning("ignoring a malformed WATCHDOG_USEC/WATCHDOG_PID")
        return None
    if usec <= 0 or (pid and pid != os.getpid()):
        return None
    return usec / 1_000_000 / 2


class Probe:
    """Calls ``ask(timeout)`` again and again on its own thread; remembers the last good answer.

    ``ask`` returns None when all is well or a short description of the problem, and
    raises ``TimeoutError`` when nothing answered within ``timeout``.
    """

    def __init__(
        self,
        name: str,
        ask: Callable[[float], str | None],
        interval: float,
        grace: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.ask, self.interval, self.grace, self.clock = (
            name,
            ask,
            interval,
            grace,
            clock,
        )
        self.last_ok = clock()  # a fresh probe gets the benefit of the doubt for `grace`
        self.problem: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"probe {name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def healthy(self) -> tuple[bool, str]:
        """(healthy, why): healthy while the last good answer is at most ``grace`` seconds old."""
        age = self.clock() - self.last_ok
        if not self._thread.is_alive() and not self._stop.is_set():
            return False, f"{self.name}: probe thread died"
        if age > self.grace:
            return False, f"{self.name}: no good answer for {age:.0f} s ({self.problem})"
        return True, self.problem or "ok"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                problem = self.ask(self.grace)
            except (TimeoutError, FutureTimeout):
                problem = f"no answer within {self.grace:.0f} s"
            except Exception as e:  # noqa: BLE001 - any failure is "unhealthy", never a crash
                problem = f"{type(e).__name__}: {e}"
            else:
                if problem is None:
                    self.last_ok = self.clock()
            self.problem = problem
            self._stop.wait(self.interval)


def modem_probe(modem: Modem) -> Callable[[float], str | None]:
    """Ask the modem's loop to run a no-op; a disconnected loop answers with an error, also fine."""

    def ask(timeout: float) -> str | None:
        try:
            modem.submit(lambda _driver: None, timeout=timeout)
        except ModemError:
            pass  # answered by the loop between reconnect attempts: it is alive
        return None

    return ask


def store_probe(store: Store) -> Callable[[float], str | None]:
    """Commit a one-row write through the writer thread (proves the writer and the disk work)."""

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (HEARTBEAT_KEY, f"{time.time():.0f}"),
        )

    def ask(timeout: float) -> str | None:
        try:
            store.submit(write).result(timeout)
        except StoreUnavailable:
            # The database server is away (PostgreSQL): the store answered, and a restart would
            # not bring the server back; /health and STATUS= say it.
            pass
        return None

    return ask


class Service:
    """The daemon's side of the service manager: READY, STATUS, WATCHDOG, STOPPING."""

    def __init__(
        self,
        modems: Mapping[str, Modem],
        store: Store,
        *,
        grace: float,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.modems = modems
        self.store = store
        self.environ = dict(os.environ if environ is None else environ)
        self.interval = watchdog_interval(self.environ)
        self.grace = float(grace)
        self.probes: list[Probe] = []
        self.pings = 0
        self._status = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self, message: str) -> bool:
        return notify(message, self.environ)

    def start(self) -> None:
        """Report readiness (call once everything is started) and start the watchdog, if on."""
        every = self.interval if self.interval is not None else 5.0
        probe_every = min(every, self.grace / 2)
        for name, modem in self.modems.items():
            self.probes.append(Probe(f"modem {name}", modem_probe(modem), probe_every, self.grace))
        self.probes.append(Probe("store", store_probe(self.store), probe_every, self.grace))
        self._status = self.status_text()
        self.notify(f"READY=1\nSTATUS={self._status}")
        if self.interval is None:
            self.probes.clear()  # no watchdog: nothing to ping, nothing to probe
            return
        for probe in self.probes:
            probe.start()
        LOGGER.info(
            "systemd watchdog on: ping every %.1f s while healthy (grace %.0f s)",
            self.interval,
            self.grace,
        )
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stopping(self) -> None:
        """Tell systemd the stop has begun; stop probing (the modems are about to stop)."""
        # Pings stop first (systemd disarms the watchdog once the unit is stopping), so that
        # STOPPING=1 is the last word and no ping can race past it.
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for probe in self.probes:
            probe.stop()
        self.notify("STOPPING=1\nSTATUS=stopping: finishing the work in flight")

    def health(self) -> tuple[bool, list[str]]:
        """(every probe answered within the grace, what is wrong)."""
        problems = []
        for probe in self.probes:
            ok, why = probe.healthy()
            if not ok:
                problems.append(why)
        return not problems, problems

    def status_text(self) -> str:
        """Each modem's radio state for ``STATUS=``: ``modem1 ready (home, Operator)``,
        ``modem1 degraded: network lost (...)``, ``modem1 connecting (port ... not present)``.

        A degraded modem only shows here and on ``/health``: it does not withhold the
        watchdog, because a restart cures no network outage (:mod:`appliance.system.health`).
        """
        try:
            rows = health.health_rows(self.store)
        except Exception:  # noqa: BLE001 - the line still tells the modem threads' states
            rows = {}
        parts = [
            health.summary(c, rows.get(c.modem))
            for c in health.assess_all(self.modems, self.store, rows)
        ]
        if not self.store.available:
            parts.insert(0, "database unreachable")
        return "; ".join(parts) or "no modems"

    def _run(self) -> None:
        assert self.interval is not None
        was_ok = True
        while not self._stop.wait(self.interval):
            ok, problems = self.health()
            status = self.status_text() if ok else "unhealthy: " + "; ".join(problems)
            if ok:
                self.notify("WATCHDOG=1" + ("" if status == self._status else f"\nSTATUS={status}"))
                self.pings += 1
                if not was_ok:
                    LOGGER.info("healthy again: watchdog pings resume")
            else:
                if status != self._status:
                    self.notify(f"STATUS={status}")
                if was_ok:
                    LOGGER.error("%s: watchdog pings withheld", status)
            self._status, was_ok = status, ok
