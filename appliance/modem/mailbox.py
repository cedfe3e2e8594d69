"""The modem thread's mailbox: every event the :class:`~appliance.modem.modem.Modem` loop
handles, in arrival order, as ``(kind, payload)``.

Kinds: ``urc`` (from the driver's reader thread), ``gone`` (the driver lost its port),
``job`` (a function to run on the port, with its future: :meth:`Mailbox.submit`), ``wake``
(something was queued to send: :meth:`Mailbox.wake`) and ``stop``.  Only the modem thread
takes from it.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

Event = tuple[str, Any]
A = TypeVar("A")
T = TypeVar("T")


class Mailbox(queue.Queue[Event]):
    def __init__(self) -> None:
        super().__init__()
        self._wake_pending = False  # a "wake" is in the queue (see wake)

    def wake(self) -> None:
        """Queue a ``wake``.  Wake-ups coalesce: while one is pending another adds nothing (a
        burst of REST creates wakes the thread once, not once per message), and the pending
        one is cleared before it is handled (:meth:`woken`), so work committed after that is
        seen by the next one."""
        if self._wake_pending:
            return
        self._wake_pending = True
        self.put(("wake", None))

    def woken(self) -> None:
        """The pending ``wake`` is being handled: the next :meth:`wake` queues one again."""
        self._wake_pending = False

    def _get(self) -> Event:
        # A ``wake`` taken from the queue is no longer pending, whoever takes it: the loop's
        # handler, but also a wait while disconnected (:meth:`refuse_jobs`) that lets it go.
        # Were the flag left set there, every later wake() would add nothing for the life of
        # the process, and new messages would wait for the sender's own poll.
        item = super()._get()
        if item[0] == "wake":
            self._wake_pending = False
        return item

    def submit(self, fn: Callable[[A], T], timeout: float) -> T:
        """Queue ``fn`` as a ``job`` and wait up to ``timeout`` for its result (or error)."""
        future: Future[T] = Future()
        self.put(("job", (fn, future)))
        return future.result(timeout)

    @staticmethod
    def run_job(job: Any, arg: Callable[[], Any], passes: tuple[type[BaseException], ...]) -> None:
        """Run a ``job`` event's function on ``arg()`` and hand its result or error to the
        waiting caller; the errors of ``passes`` are raised here too, once handed."""
        fn, future = job
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn(arg()))
        except passes as e:
            future.set_exception(e)
            raise
        except Exception as e:  # noqa: BLE001 - handed to the caller
            future.set_exception(e)

    def refuse_jobs(
        self, seconds: float, done: Callable[[], bool], error: Callable[[], BaseException]
    ) -> None:
        """Wait the next ``seconds``, until ``done()``, answering each ``job`` with ``error()``;
        the other events are let go."""
        for kind, payload in self.within(seconds, done):
            if kind == "job":
                payload[1].set_exception(error())

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
            if item[0] == "wake":
                self._wake_pending = True  # still queued, so still pending
