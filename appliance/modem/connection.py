"""A modem's connection: the handshake that sets a port up, and what the log says of it.

The :class:`~appliance.modem.modem.Modem` thread opens, drops and reopens the port; this module
does the talking once the port is open (:func:`handshake`) and keeps the account of outages
(:class:`ConnectionLog`): ``modem connected`` the first time, ``modem lost`` when a connection
drops, ``modem unreachable`` while the port is missing or is not a modem (an ERROR line at once,
then one each report interval, DEBUG in between), and ``modem recovered`` with how long it was
down and why.  These are documented events: they keep the ``modem.modem`` logger name.
"""

from __future__ import annotations

import logging
import time

from appliance import logs
from appliance.errors import CommandRejected
from appliance.modem.driver import Driver
from appliance.modem.profiles import Profile

# The events people grep for (docs, tests) are the modem thread's: same logger name.
LOGGER = logging.getLogger("appliance.modem.modem")


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
