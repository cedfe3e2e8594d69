"""The modem thread's mailbox: every event the :class:`~appliance.modem.modem.Modem` loop
handles, in arrival order, as ``(kind, payload)``.

Kinds: ``urc`` (from the driver's reader thread), ``gone`` (the driver lost its port),
``job`` (a function to run on the port, with its future), ``wake`` (something was queued to
send) and ``stop``.  Only the modem thread takes from it.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

Event = tuple[str, Any]


class Mailbox(queue.Queue[Event]):
    def within(self, seconds: float, done: Callable[[], bool]) -> Iterator[Event]:
        """The events of the next ``seconds``, until ``done()`` (checked before each)."""
        end = time.monotonic() + seconds
        while not done():
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                yield self.get(timeout=left)
            except queue.Empty:
                return

    def keep_only(self, kinds: tuple[str, ...]) -> None:
        """Drop every queued event not of ``kinds``, keeping the others in order (the URCs
        of a connection that was closed; the sweep after reconnecting catches up)."""
        pending = []
        while True:
            try:
                item = self.get_nowait()
            except queue.Empty:
                break
            if item[0] in kinds:
                pending.append(item)
        for item in pending:
            self.put(item)
