"""A modem's connection: opening the port, the handshake that sets it up, and what the log
says of it.

The :class:`~appliance.modem.modem.Modem` thread opens (:func:`connect`), drops and reopens the
port; this module opens it (with the SIM's PIN only while :class:`PinGuard` allows), does the
talking once the port is open (:func:`handshake`) and keeps the account of outages
(:class:`ConnectionLog`): ``modem connected`` the first time, ``modem lost`` when a connection
drops, ``modem unreachable`` while the port is missing or is not a modem (an ERROR line at once,
then one each report interval, DEBUG in between), and ``modem recovered`` with how long it was
down and why.  These are documented events: they keep the ``modem.modem`` logger name.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import time

from gsmmodem.exceptions import IncorrectPinError, PukRequiredError

from appliance import logs
from appliance.config import ModemConfig
from appliance.errors import CommandRejected, StoreUnavailable
from appliance.modem.attap import AtTap
from appliance.modem.driver import Driver
from appliance.modem.mailbox import Mailbox
from appliance.modem.profiles import Profile
from appliance.store.database import Store

# The events people grep for (docs, tests) are the modem thread's: same logger name.
LOGGER = logging.getLogger("appliance.modem.modem")


class NotConnected(Exception):
    """The port did not open as a modem; the text is the modem's ``last_error``."""


def connect(
    port: str,
    cfg: ModemConfig,
    profile: Profile,
    pins: PinGuard,
    log: ConnectionLog,
    tap: AtTap,
    events: Mailbox,
) -> tuple[Driver, str, str]:
    """Open ``port`` as ``cfg``'s modem and set it up (:func:`handshake`): the driver, the
    modem's manufacturer and model.  The driver's URCs and the loss of its port go to
    ``events``.  Raises :class:`NotConnected`, told to ``log``, when the port is missing or does
    not answer as a modem (the driver closed); :class:`~appliance.errors.StoreUnavailable`,
    with nothing opened, while the PIN's guard cannot read the store."""
    if "://" not in port and not os.path.exists(port):
        log.unreachable("is not present (unplugged, or another device name)")
        raise NotConnected(f"port {port} not present")
    # The PIN's guard reads the store: before the port is opened, so an outage
    # (StoreUnavailable, the loop waits) never leaves a driver behind.  A refusal kept in
    # memory during an outage is written first.
    pins.flush()
    pin = cfg.pin or None
    held = pins.blocked_reason(pin)
    send = pins.to_send(pin)
    driver = Driver(
        port,
        baudrate=cfg.baudrate,
        flow_control=profile.flow_control,
        urc_sink=lambda urc: events.put(("urc", urc)),
        tap=tap,
    )
    # Tagged with its driver: a late report from a connection already replaced is ignored.
    driver.gone_sink = lambda err: events.put(("gone", (driver, err)))
    try:
        handshake(driver, send, profile, cfg.name)
        return driver, (driver.manufacturer or "").strip(), (driver.model or "").strip()
    except Exception as e:  # noqa: BLE001 - any failure here means "try again later"
        error = f"connect failed: {type(e).__name__}: {e}"
        if held is not None:
            error += f" ({held})"
        log.unreachable(f"does not answer as a modem ({type(e).__name__}: {e})")
        try:
            driver.close()
        except Exception:  # noqa: BLE001
            pass
        pins.after_failure(send, e)  # after the close: never raises for an outage
        raise NotConnected(error) from e


def handshake(driver: Driver, pin: str | None, profile: Profile, modem: str) -> None:
    """Open ``driver``, run the profile's init commands (a refused one is only a WARNING) and
    select its SMS storage."""
    driver.open(pin=pin)
    for command in profile.init:
        try:
            driver.command(command)
        except CommandRejected as e:
            logs.event(
                LOGGER,
                logging.WARNING,
                "modem init command refused",
                modem=modem,
                command=command,
                error=str(e),
            )
    storage = profile.storage
    driver.command(f'AT+CPMS="{storage}","{storage}","{storage}"')


class PinGuard:
    """Sends a SIM PIN only while the SIM has not refused that PIN.

    A SIM blocks after three wrong PINs and then wants its PUK, which only the operator's
    paperwork has.  Retrying a refused PIN on every reconnection would block the SIM within
    minutes of a typo, so a refusal is remembered (a hash of the PIN, per modem, in the
    store's settings: a restart with the same wrong PIN does not try it again either) and
    the PIN is sent again only once the configured PIN changes.
    """

    def __init__(self, store: Store, modem: str) -> None:
        self.store, self.modem = store, modem
        self._key = f"sim_pin_refused:{modem}"
        # A refusal the database could not take (an outage): kept here, so the PIN is not
        # sent again meanwhile, and written by :meth:`flush` once the database is back.
        self._unrecorded: str | None = None

    @staticmethod
    def _digest(pin: str) -> str:
        return hashlib.sha256(pin.encode()).hexdigest()

    def to_send(self, pin: str | None) -> str | None:
        """``pin``, or None (send nothing) when the SIM refused this very PIN before.
        Raises :class:`StoreUnavailable` when only the store could tell (the caller then
        sends nothing: a PIN that may have been refused is not risked)."""
        if not pin:
            return pin
        digest = self._digest(pin)
        if self._unrecorded == digest or self.store.setting(self._key) == digest:
            return None
        return pin

    def blocked_reason(self, pin: str | None) -> str | None:
        """What to tell the user while a refused PIN is held back, else None."""
        if pin and self.to_send(pin) is None:
            return (
                f"the SIM refused the configured PIN earlier, so it is not sent again (a SIM"
                f" blocks after three wrong PINs): set the right `pin` for modem {self.modem}"
                " in the configuration, or unlock the SIM with its PUK in a phone, then restart"
            )
        return None

    def after_failure(self, pin: str | None, error: BaseException) -> None:
        """Remember ``pin`` as refused when ``error`` is the SIM saying it is wrong (or that
        the SIM now wants its PUK, after the third).  Never raises for an outage: the
        refusal is kept in memory and written by :meth:`flush` when the database is back."""
        if pin and isinstance(error, IncorrectPinError | PukRequiredError):
            self._unrecorded = self._digest(pin)
            logs.event(
                LOGGER,
                logging.ERROR,
                "SIM PIN refused",
                modem=self.modem,
                why="the configured PIN is wrong; it will not be sent again until it changes",
            )
            try:
                self.flush()
            except StoreUnavailable:
                LOGGER.debug("%s: the PIN refusal is written when the database is back", self.modem)

    def flush(self) -> None:
        """Write a refusal kept in memory (an outage); :class:`StoreUnavailable` while the
        database is still away (the refusal stays kept)."""
        digest = self._unrecorded
        if digest is None:
            return
        key = self._key

        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, digest),
            )

        self.store.write(fn)  # idempotent: a write the outage cut but that landed is harmless
        self._unrecorded = None


class ConnectionLog:
    """Since when and why one modem is down, told in the log as it goes."""

    def __init__(self, name: str, port: str, simulated: bool, report_interval: float) -> None:
        self.name = name
        self.port = port
        self.simulated = simulated
        self.report_interval = report_interval  # seconds between ERROR lines while unreachable
        self.unreachable_since: float | None = None  # monotonic; None while connected
        self.next_report = 0.0  # monotonic time of the next "port missing" ERROR line
        self.lost: tuple[float, str] | None = None  # since when (monotonic) and why; None: up

    def connected(self, manufacturer: str, model: str) -> None:
        """The handshake succeeded: ``modem connected`` the first time, else ``modem recovered``."""
        if self.lost is None:
            logs.event(
                LOGGER,
                logging.INFO,
                "modem connected",
                modem=self.name,
                port=self.port,
                manufacturer=manufacturer,
                model=model,
            )
        else:
            since, reason = self.lost
            logs.event(
                LOGGER,
                logging.INFO,
                "modem recovered",
                modem=self.name,
                port=self.port,
                down_s=round(time.monotonic() - since),
                reason=reason,
            )
        self.lost = None
        self.unreachable_since, self.next_report = None, 0.0

    def dropped(self, reason: str) -> None:
        """A connection that was up went down."""
        logs.event(
            LOGGER, logging.WARNING, "modem lost", modem=self.name, port=self.port, reason=reason
        )
        self.lost = (time.monotonic(), reason)

    def unreachable(self, what: str) -> None:
        """The port is missing or is not a modem: an ERROR line at once, then every minute."""
        now = time.monotonic()
        if self.unreachable_since is None:
            self.unreachable_since = now
        if self.lost is None:
            self.lost = (now, f"port {what}")
        if now < self.next_report:
            logs.event(
                LOGGER,
                logging.DEBUG,
                "modem unreachable",
                modem=self.name,
                port=self.port,
                reason=what,
            )
            return
        self.next_report = now + self.report_interval
        minutes = (now - self.unreachable_since) / 60
        setting = (
            'simulated (port = "sim"): `appliance sim fault replug` plugs it back'
            if self.simulated
            else "check the cable and the modem's `port` setting"
            f" (APPLIANCE_MODEM_{self.name.upper()}_PORT; `appliance probe` lists the modems)"
        )
        logs.event(
            LOGGER,
            logging.ERROR,
            "modem unreachable",
            modem=self.name,
            port=self.port,
            reason=what,
            minutes=round(minutes) if minutes >= 1 else None,
            fix=setting,
        )

    def report_in(self) -> float:
        """Seconds until the next ERROR line is due (negative: overdue)."""
        return self.next_report - time.monotonic()
