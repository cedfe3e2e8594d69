"""The on-call service a daemon runs: the directory, the pager, the handover texts, and the
one thread that escalates alerts and sends handovers when they fall due.

The composition root builds one with the parts it needs (the store, the outbox, a way to
wake a modem's voice side) and hooks :meth:`OnCall.intercept` into the inbox, which calls it
inside the transaction that stores each inbound message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from appliance.errors import StoreUnavailable
from appliance.oncall.directory import Directory
from appliance.oncall.handover import Handovers
from appliance.oncall.pager import Pager
from appliance.oncall.replies import Replies
from appliance.oncall.supportline import SupportLine
from appliance.sms.outbox import Outbox
from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)
MAX_SLEEP = 30.0  # seconds between looks when nothing is due sooner (schedules can change)


class OnCall:
    """Rotation, paging and handovers, with their thread."""

    def __init__(self, store: Store, outbox: Outbox, wake_voice: Callable[[str], None]) -> None:
        self.directory = Directory(store)
        self.pager = Pager(store, outbox, self.directory, wake_voice)
        self.handovers = Handovers(store, outbox, self.directory)
        self.support = SupportLine(store, outbox, self.directory, self.pager)  # /twimlets/oncall
        self.intercept = Replies(self.pager, outbox).intercept  # the inbox's hook
        self.pager.listeners.append(self.wake)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="oncall", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def wake(self) -> None:
        """Look again now (an alert or a schedule changed)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.pager.escalate_due()
                self.handovers.send_due()
                now = time.time()
                due = [t for t in (self.pager.next_due(), self.handovers.next_at(now)) if t]
                delay = min([MAX_SLEEP, *(t - now for t in due)])
            except StoreUnavailable:  # the store logged it; paging resumes when it is back
                delay = 1.0
            except Exception:  # noqa: BLE001 - logged; the thread must keep paging
                if self._stop.is_set():
                    return
                LOGGER.exception("on-call thread: a pass failed; trying again")
                delay = MAX_SLEEP / 6
            self._wake.wait(max(0.05, delay))
            self._wake.clear()
