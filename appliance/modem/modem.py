"""One modem, one thread: receive, send, sweep, watch health, reconnect.

Theory of operation
-------------------
Every AT command to a modem is issued by its :class:`Modem` thread, so
commands never interleave (python-gsmmodem-new defect B5.5).  The driver's
reader thread only *queues* URCs; everything else that wants the modem
(``appliance at``, the REST API waking the queue) puts a job on the same queue.
The loop, each turn:

1. connects if needed (backing off while the port is missing or silent);
2. handles queued URCs and jobs: ``+CMTI`` -> read, store, delete;
   ``+CMT``/``+CDS`` -> store; call URCs -> the :class:`~appliance.voice.Phone`;
3. runs what is due: storage sweep (catches URCs lost to line noise or to a
   crash), health poll (signal, registration), reassembly timeouts, call timers
   and the next queued outbound call when the line is free;
4. sends at most one SMS part if the rate allows, then goes round again, so
   inbound traffic is never starved by a long outbound queue.

A port that vanishes (USB unplug), or two commands in a row that time out,
drop the connection; the loop reconnects with exponential backoff, whatever
the port's new ``/dev/ttyUSBn`` number, because it opens a stable path.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

from appliance.config import Config, ModemConfig
from appliance.errors import CommandRejected, ModemError, ModemGone, ModemTimeout
from appliance.modem import atcodec
from appliance.modem.driver import Driver
from appliance.modem.profiles import Profile
from appliance.sms.inbox import Inbox
from appliance.sms.outbox import Claimed, Outbox
from appliance.store.database import Store

if TYPE_CHECKING:
    from appliance.voice.engine import Phone

LOGGER = logging.getLogger(__name__)
T = TypeVar("T")

MAX_RECONNECT_DELAY = 60.0  # seconds between reconnect attempts, at most
TIMEOUTS_BEFORE_RESET = 2  # consecutive command timeouts that mean "the modem hung"


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
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._current: Claimed | None = None
        self._rate_ready = 0.0  # monotonic time the rate limit allows the next part
        self._queue_check = 0.0  # monotonic time to look at an empty queue again
        self._next_sweep = 0.0
        self._next_health = 0.0
        self._timeouts = 0
        self.phone: Phone | None = None
        self._phone_check = True
        self.connected = threading.Event()

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
        self._events.put(("wake", None))

    def command(self, cmd: str, timeout: float | None = None) -> list[str]:
        """Run one AT command; only from the modem thread (jobs, the phone)."""
        return self._command(cmd, timeout)

    def submit(self, fn: Callable[[Driver], T], timeout: float = 60.0) -> T:
        """Run ``fn(driver)`` on the modem thread and return its result."""
        future: Future[T] = Future()
        self._events.put(("job", (fn, future)))
        return future.result(timeout)

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        failed = self.outbox.recover(self.name)
        for sid in failed:
            LOGGER.warning(
                "%s: %s was cut mid-send by a restart; marked failed (30008), not resent",
                self.name,
                sid,
            )
        delay = self.settings.reconnect_delay
        while not self._stopping:
            if self.driver is None:
                if self._connect():
                    delay = self.settings.reconnect_delay
                else:
                    self._idle(delay)
                    delay = min(delay * 2, MAX_RECONNECT_DELAY)
                    continue
            try:
                self._turn()
            except ModemGone as e:
                self._drop(f"port gone: {e}")
            except ModemTimeout as e:
                self._timeouts += 1
                self.last_error = str(e)
                LOGGER.warning("%s: %s", self.name, e)
                if self._timeouts >= TIMEOUTS_BEFORE_RESET:
                    self._drop("modem stopped answering")
            except Exception as e:  # noqa: BLE001 - the loop must survive anything
                LOGGER.exception("%s: unexpected error", self.name)
                self.last_error = f"{type(e).__name__}: {e}"
                self._idle(1.0)
        self._close()
        self.state = "stopped"
        self._record_health()

    def _turn(self) -> None:
        now = time.monotonic()
        deadlines = [self._next_sweep, self._next_health]
        if self._can_send():
            deadlines.append(max(self._rate_ready, self._queue_check))
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
        if now >= self._next_sweep:
            self._sweep()
            self._next_sweep = now + self.settings.sweep_interval
        if now >= self._next_health:
            self._health()
            self._next_health = now + self.settings.health_interval
        if expiry is not None and time.time() >= expiry:
            self.inbox.expire()
        if self.phone is not None:
            due = self.phone.next_deadline()
            if self._phone_check or (due is not None and now >= due):
                self._phone_check = False
                self.phone.tick()
        if self._can_send() and now >= max(self._rate_ready, self._queue_check):
            self._send_part()

    def _idle(self, seconds: float) -> None:
        """Wait while disconnected; still answer jobs (with an error) and stop requests."""
        end = time.monotonic() + seconds
        while not self._stopping:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                kind, payload = self._events.get(timeout=left)
            except queue.Empty:
                return
            if kind == "job":
                payload[1].set_exception(
                    ModemError(f"modem {self.name} is not connected ({self.last_error})")
                )

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "wake":
            self._queue_check = 0.0  # something was queued: look now
            self._phone_check = True
        elif kind == "urc":
            self._on_urc(payload)
        elif kind == "gone":
            driver, error = payload
            if driver is self.driver:
                raise ModemGone(str(error))
        elif kind == "job":
            fn, future = payload
            if not future.set_running_or_notify_cancel():
                return
            try:
                assert self.driver is not None
                future.set_result(fn(self.driver))
            except (ModemGone, ModemTimeout) as e:
                future.set_exception(e)
                raise
            except Exception as e:  # noqa: BLE001 - handed to the caller
                future.set_exception(e)

    # -- connection --------------------------------------------------------------------------

    def _connect(self) -> bool:
        self.state = "connecting"
        if "://" not in self.port and not os.path.exists(self.port):
            self.last_error = f"port {self.port} not present"
            self._record_health()
            return False
        driver = Driver(
            self.port,
            baudrate=self.cfg.baudrate,
            flow_control=self.profile.flow_control,
            urc_sink=lambda urc: self._events.put(("urc", urc)),
        )
        # Tagged with its driver: a late report from a connection already replaced is ignored.
        driver.gone_sink = lambda err: self._events.put(("gone", (driver, err)))
        try:
            driver.open(pin=self.cfg.pin or None)
            for command in self.profile.init:
                try:
                    driver.command(command)
                except CommandRejected as e:
                    LOGGER.warning("%s: init command %s refused: %s", self.name, command, e)
            storage = self.profile.storage
            driver.command(f'AT+CPMS="{storage}","{storage}","{storage}"')
            self.manufacturer = (driver.manufacturer or "").strip()
            self.model = (driver.model or "").strip()
        except Exception as e:  # noqa: BLE001 - any failure here means "try again later"
            self.last_error = f"connect failed: {type(e).__name__}: {e}"
            LOGGER.warning("%s: %s", self.name, self.last_error)
            try:
                driver.close()
            except Exception:  # noqa: BLE001
                pass
            self._record_health()
            return False
        self.driver = driver
        self._timeouts = 0
        self.state = "ready"
        self.last_error = None
        LOGGER.info(
            "%s: connected on %s (%s %s)", self.name, self.port, self.manufacturer, self.model
        )
        self._next_sweep = 0.0  # sweep storage at once: messages may have arrived while away
        self._next_health = 0.0
        self._queue_check = 0.0  # and look at the queue: wake-ups were not heard while away
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
        LOGGER.warning("%s: disconnected: %s", self.name, reason)
        self.last_error = reason
        self.state = "disconnected"
        self.connected.clear()
        if self._current is not None:
            self.outbox.requeue(self._current.sid)
            self._current = None
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
        # Forget URCs of the old connection; the sweep after reconnecting catches up.
        pending = []
        while True:
            try:
                item = self._events.get_nowait()
            except queue.Empty:
                break
            if item[0] in ("job", "stop", "wake"):
                pending.append(item)
        for item in pending:
            self._events.put(item)

    def _command(self, cmd: str, timeout: float | None = None) -> list[str]:
        assert self.driver is not None
        lines = self.driver.command(cmd, timeout=timeout or self.settings.command_timeout)
        self._timeouts = 0
        return lines

    # -- inbound -----------------------------------------------------------------------------

    def _on_urc(self, urc: atcodec.Urc) -> None:
        line = urc.line
        slot = atcodec.parse_storage_urc(line)
        if slot is not None:
            memory, index = slot
            self._take(memory, index, None, "CDSI" if line.startswith("+CDSI") else "CMTI")
        elif line.startswith(("+CMT:", "+CDS:")):
            if urc.data:
                self.inbox.ingest(self.name, None, None, urc.data, line[1:4])
        elif self.phone is not None and self.phone.on_line(line):
            pass
        else:
            LOGGER.debug("%s: URC %s", self.name, line)

    def _take(self, memory: str, index: int, pdu_hex: str | None, source: str) -> None:
        """Read (unless given), store, then delete one SMS from modem storage."""
        switched = memory != self.profile.storage
        if switched:
            self._command(f'AT+CPMS="{memory}"')
        try:
            if pdu_hex is None:
                assert self.driver is not None
                pdu_hex = self.driver.read_slot(index)
                self._timeouts = 0
            if pdu_hex is None:
                return  # empty slot: already taken by a sweep
            if not self.inbox.known_slot(self.name, memory, index, pdu_hex):
                self.inbox.ingest(self.name, memory, index, pdu_hex, source)
            self._command(f"AT+CMGD={index},0")
            self.inbox.slot_deleted(self.name, memory, index)
        finally:
            if switched:
                self._command(f'AT+CPMS="{self.profile.storage}"')

    def _sweep(self) -> None:
        assert self.driver is not None
        entries = self.driver.list_slots(timeout=self.settings.command_timeout * 3)
        self._timeouts = 0
        for index, _stat, pdu_hex in entries:
            if pdu_hex:
                self._take(self.profile.storage, index, pdu_hex, "sweep")
        self.inbox.forget_slots(self.name, self.profile.storage, set())

    # -- outbound ----------------------------------------------------------------------------

    def _can_send(self) -> bool:
        return self.driver is not None and not self._stopping

    def _send_part(self) -> None:
        now = time.monotonic()
        if self._current is None:
            self._current = self.outbox.claim(self.name, time.time())
            if self._current is None:
                due = self.outbox.next_due(self.name, time.time())
                wait = self.settings.sweep_interval if due is None else max(0.05, due - time.time())
                self._queue_check = now + min(
                    wait, self.settings.sweep_interval
                )  # a scheduled send wakes us
                return
        from appliance.sms import pdu  # local: keeps start-up light

        msg = self._current
        part = msg.next_part
        segment = msg.segments[part - 1]
        pdu_hex, length = pdu.encode_submit(msg.to_number, segment)
        rate = self.settings.outbound_rate
        self._rate_ready = now + (1.0 / rate if rate > 0 else 0.0)
        self.outbox.part_started(msg.sid, part)
        assert self.driver is not None
        try:
            mr = self.driver.send_pdu(
                pdu_hex,
                length,
                timeout=self.profile.send_timeout,
                prompt_timeout=self.settings.command_timeout,
            )
        except CommandRejected as e:
            self._current = None
            status = self.outbox.part_refused(
                msg.sid, part, e.error, self.settings.outbound_retry_limit
            )
            LOGGER.warning("%s: %s part %d refused (%s): %s", self.name, msg.sid, part, e, status)
            return
        except (ModemTimeout, ModemGone) as e:
            self._current = None
            if getattr(e, "prompt_only", False):
                self.outbox.requeue(msg.sid)
            else:
                self.outbox.part_unknown(msg.sid, part, str(e))
            raise
        self._timeouts = 0
        self.outbox.part_sent(msg.sid, part, mr, len(msg.segments))
        if part == len(msg.segments):
            LOGGER.info("%s: sent %s (%d parts)", self.name, msg.sid, len(msg.segments))
            self._current = None
        else:
            self._current = Claimed(
                msg.sid, msg.modem, msg.to_number, msg.body, msg.segments, part + 1
            )

    # -- health ------------------------------------------------------------------------------

    def _health(self) -> None:
        signal = None
        registration = None
        operator = None
        sim = None
        try:
            try:
                for line in self._command("AT+CPIN?"):
                    if line.startswith("+CPIN:"):
                        sim = line[6:].strip()  # READY, SIM PIN, SIM PUK, ...
            except CommandRejected as e:
                # +CME ERROR: 10 is "SIM not inserted"; other errors mean "unknown".
                sim = "NOT INSERTED" if (e.kind, e.error) == ("CME", 10) else None
            for line in self._command("AT+CSQ"):
                if line.startswith("+CSQ:"):
                    rssi = int(line[5:].split(",")[0])
                    signal = None if rssi == 99 else rssi
            for line in self._command("AT+CREG?"):
                if line.startswith("+CREG:"):
                    stat = line[6:].split(",")[1].strip() if "," in line else line[6:].strip()
                    registration = {
                        "0": "not registered",
                        "1": "home",
                        "2": "searching",
                        "3": "denied",
                        "4": "unknown",
                        "5": "roaming",
                    }.get(stat, stat)
            for line in self._command("AT+COPS?"):
                if line.startswith("+COPS:") and '"' in line:
                    operator = line.split('"')[1]
        except CommandRejected as e:
            self.last_error = str(e)
        self._record_health(signal=signal, registration=registration, operator=operator, sim=sim)

    def _record_health(self, **values: Any) -> None:
        now = time.time()
        row = (
            self.name,
            self.state,
            values.get("signal"),
            values.get("registration"),
            values.get("operator"),
            values.get("sim"),
            getattr(self, "manufacturer", None),
            getattr(self, "model", None),
            self.last_error,
            now,
        )
        try:
            self.store.write(
                lambda conn: conn.execute(
                    "INSERT INTO modem_health (modem, state, signal, registration, operator, sim, manufacturer,"
                    " model, last_error, updated) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (modem) DO UPDATE SET"
                    " state = excluded.state, signal = COALESCE(excluded.signal, modem_health.signal),"
                    " registration = COALESCE(excluded.registration, modem_health.registration),"
                    " operator = COALESCE(excluded.operator, modem_health.operator),"
                    " sim = COALESCE(excluded.sim, modem_health.sim),"
                    " manufacturer = COALESCE(excluded.manufacturer, modem_health.manufacturer),"
                    " model = COALESCE(excluded.model, modem_health.model),"
                    " last_error = excluded.last_error, updated = excluded.updated",
                    row,
                )
            )
        except Exception:  # noqa: BLE001 - health is best effort (store may be closing)
            LOGGER.debug("could not record health", exc_info=True)
