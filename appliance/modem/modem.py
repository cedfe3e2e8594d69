"""One modem, one thread: the loop that receives, sends, sweeps, watches health, reconnects.

Theory of operation
-------------------
Every AT command to a modem is issued by its :class:`Modem` thread, so
commands never interleave (python-gsmmodem-new defect B5.5).  The driver's
reader thread only *queues* URCs; everything else that wants the modem
(``appliance at``, the REST API waking the queue) puts a job on the same queue.
The loop, each turn:

1. connects if needed (backing off while the port is missing or silent);
2. handles queued URCs and jobs: ``+CMTI`` -> read, store, delete;
   ``+CMT``/``+CDS`` -> store (:mod:`~appliance.modem.receiver`); call URCs -> the
   call handler (:class:`~appliance.modem.callhandler.CallHandler`, the voice phone);
3. runs what is due: storage sweep (catches URCs lost to line noise or to a
   crash), health poll (signal, registration), reassembly timeouts, call timers
   and the next queued outbound call when the line is free;
4. sends at most one SMS part if the rate allows (:mod:`~appliance.modem.sender`),
   then goes round again, so inbound traffic is never starved by a long outbound queue.

A port that vanishes (USB unplug), or two commands in a row that time out,
drop the connection; the loop reconnects with exponential backoff, whatever
the port's new ``/dev/ttyUSBn`` number, because it opens a stable path.  Opening the
port, what is said on it once it is open, and what the log says of the connection coming
and going, is :mod:`~appliance.modem.connection`'s.

When the database is unreachable (:class:`~appliance.errors.StoreUnavailable`, PostgreSQL
only) the loop neither stores nor sends: an SMS stays in the modem's storage (its ``+CMTI``
is let go; ``AT+CMGD`` only ever follows a commit), queued messages wait, and an outcome
the journal could not take is kept (:class:`~appliance.modem.sender.Sender`).  Jobs (the AT
console, USSD) still run, and so do calls: one already up goes on (its changes are kept and
written later, :mod:`appliance.voice.backlog`), one that rings is turned away as busy
(:meth:`~appliance.voice.phone.Phone.on_event`).  Once the database answers, the journal is settled, storage is
swept and the queue looked at, without a restart.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from appliance import logs
from appliance.config import Config, ModemConfig
from appliance.errors import ModemError, ModemGone, ModemTimeout, StoreUnavailable
from appliance.modem import atcodec, connection, health
from appliance.modem.attap import AtTap
from appliance.modem.callhandler import CallHandler
from appliance.modem.driver import Driver
from appliance.modem.mailbox import Mailbox
from appliance.modem.profiles import Profile
from appliance.modem.receiver import Receiver
from appliance.modem.sender import Sender
from appliance.modem.ussdsession import UssdSession
from appliance.sms.inbox import Inbox
from appliance.sms.outbox import Outbox
from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RECONNECT_DELAY = 60.0  # seconds between reconnect attempts, at most
TIMEOUTS_BEFORE_RESET = 2  # consecutive command timeouts that mean "the modem hung"
UNREACHABLE_REPORT_INTERVAL = 60.0  # seconds between ERROR lines while the port is missing/wrong
STORE_RETRY = 1.0  # seconds between turns while the database is unreachable


class Modem:
    """Owns one modem's driver and thread."""

    def __init__(
        self,
        cfg: ModemConfig,
        profile: Profile,
        settings: Config,
        store: Store,
        inbox: Inbox,
        outbox: Outbox,
        port: str,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.profile = profile
        self.settings = settings
        self.store = store
        self.inbox = inbox
        self.outbox = outbox
        self.port = port
        self.state = "stopped"
        self.last_error: str | None = None
        self.driver: Driver | None = None
        self.tap = AtTap()  # the panel's AT monitor; kept across reconnections
        self._events = Mailbox()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._next_sweep = 0.0
        self._next_health = 0.0
        self._timeouts = 0
        self._away = False  # the database is unreachable: wait for it (_store_away)
        self._settle = True  # the journal to settle before the next send (start, outages)
        self._pins = connection.PinGuard(store, self.name)
        self._log = connection.ConnectionLog(
            self.name, port, cfg.simulated, UNREACHABLE_REPORT_INTERVAL
        )
        self.receiver = Receiver(
            self.name,
            profile,
            settings,
            inbox,
            self._command,
            self._connected_driver,
            self._answered,
        )
        self.sender = Sender(
            self.name, profile, settings, outbox, self._connected_driver, self._answered
        )
        self.phone: CallHandler | None = None
        self._phone_check = True
        self.connected = threading.Event()
        # USSD (balance, menus): requests run as jobs here, +CUSD URCs come back via _on_urc
        self.ussd = UssdSession(self.name, profile, self.submit, settings.ussd_timeout)

    # -- public, any thread ------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=f"modem {self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the part being sent, then close the port."""
        self._stopping = True
        self._events.put(("stop", None))
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """Something was queued: look at the queue soon (wake-ups coalesce:
        :meth:`~appliance.modem.mailbox.Mailbox.wake`)."""
        self._events.wake()

    def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        """Run one AT command; only from the modem thread (jobs, the phone)."""
        return self._command(cmd, timeout)

    def submit(self, fn: Callable[[Driver], T], timeout: float = 60.0) -> T:
        """Run ``fn(driver)`` on the modem thread and return its result."""
        return self._events.submit(fn, timeout)

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._settle_journal()  # the journal logs each message failed with 30008
        except StoreUnavailable:
            pass  # settled in the first turn the database answers
        delay = self.settings.reconnect_delay
        while not self._stopping:
            if self.driver is None:
                try:
                    connected = self._connect()
                except StoreUnavailable:  # a PIN's guard lives in the store: wait for it
                    self._idle(STORE_RETRY)
                    continue
                if connected:
                    delay = self.settings.reconnect_delay
                else:
                    # wake for the next report too: an ERROR line every minute while it lasts
                    self._idle(min(delay, max(self._log.report_in(), 0.1)))
                    delay = min(delay * 2, MAX_RECONNECT_DELAY)
                    continue
            try:
                if self._away:
                    self._store_away()
                else:
                    self._turn()
            except StoreUnavailable as e:  # the store logged the outage once
                LOGGER.debug("%s: waiting for the database: %s", self.name, e)
                self._away = self._settle = True
                self._next_sweep = 0.0  # SMS that came meanwhile are on the SIM: sweep then
                self.sender.look_now()
            except ModemGone as e:
                self._drop(f"port gone: {e}")
            except ModemTimeout as e:
                self._timeouts += 1
                self.last_error = str(e)
                logs.event(
                    LOGGER,
                    logging.WARNING,
                    "modem command timed out",
                    modem=self.name,
                    error=str(e),
                )
                if self._timeouts >= TIMEOUTS_BEFORE_RESET:
                    self._drop("modem stopped answering")
            except Exception as e:  # noqa: BLE001 - the loop must survive anything
                logs.event(
                    LOGGER, logging.ERROR, "modem loop error", modem=self.name, exc_info=True
                )
                self.last_error = f"{type(e).__name__}: {e}"
                self._idle(1.0)
        self._close()
        self.state = "stopped"
        self._record_health()

    def _settle_journal(self) -> None:
        """Before the first send, and once the database is back: record what the sender
        kept, then settle messages left ``sending`` (a crash, or a claim whose commit the
        outage made uncertain) if none is being sent here."""
        self.sender.flush()
        if self.sender.idle:
            self.outbox.recover(self.name)
        self._settle = False

    def _store_away(self) -> None:
        """Wait up to :data:`STORE_RETRY` for the database.  SMS URCs are let go (the message
        stays in storage; the sweep takes it later); jobs and other URCs are handled."""

        def back() -> bool:
            return self._stopping or self.store.available

        for kind, payload in self._events.within(STORE_RETRY, back):
            if not (kind == "urc" and self.receiver.is_sms(payload)):
                self._handle(kind, payload)
        if self.phone is not None:  # a live call's timers (AT+CLCC polls), not the queue
            due = self.phone.next_deadline()
            if due is not None and time.monotonic() >= due:
                self.phone.tick(place=False)
        if back():
            self._away = False

    def _turn(self) -> None:
        if self._settle:
            self._settle_journal()
        now = time.monotonic()
        deadlines = [self._next_sweep, self._next_health]
        if self._can_send():
            deadlines.append(self.sender.due())
        if self.phone is not None:
            due = self.phone.next_deadline()
            if due is not None:
                deadlines.append(due)
            if self._phone_check:
                deadlines.append(now)
        expiry = self.inbox.next_expiry()
        if expiry is not None:
            deadlines.append(now + max(0.0, expiry - time.time()))
        timeout = max(0.0, min(deadlines) - now)
        try:
            kind, payload = self._events.get(timeout=timeout)
            self._handle(kind, payload)
            while True:  # drain whatever else is queued before doing timed work
                kind, payload = self._events.get_nowait()
                self._handle(kind, payload)
        except queue.Empty:
            pass
        now = time.monotonic()
        # Each timed task is rescheduled before it runs: one that fails (a sweep refused while
        # the SIM wants its PIN again) must not starve the others, the health poll above all.
        if now >= self._next_sweep:
            self._next_sweep = now + self.settings.sweep_interval
            self.receiver.sweep()
        if now >= self._next_health:
            self._next_health = now + self.settings.health_interval
            self._health()
        if expiry is not None and time.time() >= expiry:
            self.inbox.expire()
        if self.phone is not None:
            due = self.phone.next_deadline()
            if self._phone_check or (due is not None and now >= due):
                self._phone_check = False
                self.phone.tick()
        if self._can_send() and now >= self.sender.due():
            self.sender.send_part()

    def _idle(self, seconds: float) -> None:
        """Wait while disconnected; still answer jobs (with an error) and stop requests."""
        self._events.refuse_jobs(
            seconds,
            lambda: self._stopping,
            lambda: ModemError(f"modem {self.name} is not connected ({self.last_error})"),
        )

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "wake":
            self._events.woken()
            self.sender.look_now()  # something was queued: look now
            self._phone_check = True
        elif kind == "urc":
            self._on_urc(payload)
        elif kind == "gone":
            driver, error = payload
            if driver is self.driver:
                raise ModemGone(str(error))
        elif kind == "job":  # the port's loss or a hang is the loop's too
            self._events.run_job(payload, self._connected_driver, (ModemGone, ModemTimeout))

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> bool:
        self.state = "connecting"
        try:
            driver, self.manufacturer, self.model = connection.connect(
                self.port, self.cfg, self.profile, self._pins, self._log, self.tap, self._events
            )
        except connection.NotConnected as e:
            self.last_error = str(e)
            self._record_health()
            return False
        self.driver = driver
        self._timeouts = 0
        self.state = "ready"
        self.last_error = None
        self._log.connected(self.manufacturer, self.model)
        self._next_sweep = 0.0  # sweep storage at once: messages may have arrived while away
        self._next_health = 0.0
        self.sender.look_now()  # and look at the queue: wake-ups were not heard while away
        self._phone_check = True
        if self.phone is not None:
            try:
                self.phone.on_connect()
            except (ModemGone, ModemTimeout) as e:
                self._drop(f"voice set-up failed: {e}")
                return False
        self.connected.set()
        return True

    def _drop(self, reason: str) -> None:
        self._log.dropped(reason)
        self.last_error = reason
        self.state = "disconnected"
        self.connected.clear()
        self.sender.requeue()
        if self.phone is not None:
            self.phone.on_drop()
        self._close()
        self._record_health()

    def _close(self) -> None:
        if self.driver is not None:
            try:
                self.driver.close()
            except Exception:  # noqa: BLE001
                pass
            self.driver = None
        self._events.keep_only(("job", "stop", "wake"))  # forget the old connection's URCs

    def _command(self, cmd: str, timeout: float | None = None) -> list[str]:
        assert self.driver is not None
        lines = self.driver.command(cmd, timeout=timeout or self.settings.command_timeout)
        self._timeouts = 0
        return lines

    def _connected_driver(self) -> Driver:
        assert self.driver is not None
        return self.driver

    def _answered(self) -> None:
        """The modem answered a command: it has not hung."""
        self._timeouts = 0

    # -- routing -----------------------------------------------------------------------------

    def _on_urc(self, urc: atcodec.Urc) -> None:
        """SMS URCs go to the receiver, call URCs to the phone, +CUSD to the USSD session; the
        rest is only logged."""
        if self.ussd.on_urc(urc):
            pass
        elif self.receiver.on_urc(urc):
            pass
        elif self.phone is not None and self.phone.on_line(urc.line):
            pass
        else:
            LOGGER.debug("%s: URC %s", self.name, urc.line)

    def _can_send(self) -> bool:
        """Whether the sender may go on (connected, not stopping)."""
        return self.driver is not None and not self._stopping

    # -- health ------------------------------------------------------------------------------

    def _health(self) -> None:
        reading, error = health.poll(self._command)
        if error is not None:
            self.last_error = error
        self._record_health(reading)

    def _record_health(self, reading: health.Reading | None = None) -> None:
        health.record(
            self.store,
            self.name,
            self.state,
            getattr(self, "manufacturer", None),
            getattr(self, "model", None),
            self.last_error,
            reading,
        )
