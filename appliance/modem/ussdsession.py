"""One modem's USSD dialogue: a request out through the modem thread, the ``+CUSD`` answer back.

Theory of operation
-------------------
Every AT command goes through the modem thread (:meth:`~appliance.modem.modem.Modem.submit`),
so a request is a job there: ``AT+CSCS="GSM"`` if the family wants it, then
``AT+CUSD=1,"<str>",<dcs>`` (:mod:`appliance.modem.ussd` writes both from the profile's
``[ussd]`` table).  The job returns at the ``OK``; the network's answer comes later as a
``+CUSD`` URC, which the modem thread hands to :meth:`UssdSession.on_urc` while the caller
(an HTTP thread, the CLI through the REST API, the balance check) waits for it here, at
most ``ussd_timeout`` seconds.  A modem that answers before its ``OK`` puts the ``+CUSD``
in the job's response instead: it is taken from there.

One exchange at a time per modem (the network has one session per SIM).  ``+CUSD: 1`` leaves
the session open: the next request is the user's answer in the same session
(:attr:`UssdSession.open`).  When no answer comes in time the session is cancelled
(``AT+CUSD=2``) so the modem is free again; a ``+CUSD`` nobody waits for (the network ended
an idle session, or sent a USSD of its own) is logged and closes or opens the session.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance import logs
from appliance.errors import CommandRejected, ConfigError, ModemError
from appliance.modem import atcodec, ussd
from appliance.modem.driver import Driver
from appliance.modem.profiles import Profile

LOGGER = logging.getLogger(__name__)

SUBMIT_SLACK = 5.0  # seconds the modem thread may take to get to a request (a send in flight)
CANCEL_TIMEOUT = 10.0  # seconds for AT+CUSD=2 to be answered

Submit = Callable[[Callable[[Driver], list[str]], float], list[str]]
Listener = Callable[[str, "UssdReply"], None]


class UssdTimeout(ModemError):
    """The network did not answer a USSD request in time (the session was cancelled)."""


class UssdBusy(ModemError):
    """Another USSD exchange is under way on this modem."""


@dataclass(frozen=True)
class UssdReply:
    """The network's answer to one request."""

    modem: str
    request: str
    status: int  # <m> of +CUSD: 0 done, 1 more input wanted, 2 ended, 4 not supported, 5 timeout
    text: str
    dcs: int | None
    raw: str | None  # <str> as the modem wrote it
    at: float  # Unix time

    @property
    def name(self) -> str:
        return ussd.STATUS_NAMES.get(self.status, f"status-{self.status}")

    @property
    def open(self) -> bool:
        """The network wants an answer in the same session."""
        return self.status == 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "modem": self.modem,
            "request": self.request,
            "status": self.name,
            "status_code": self.status,
            "text": self.text,
            "dcs": self.dcs,
            "raw": self.raw,
            "session_open": self.open,
        }


class UssdSession:
    """The USSD side of one modem; its methods are for any thread but the modem's own."""

    def __init__(self, name: str, profile: Profile, submit: Submit, timeout: float) -> None:
        self.name = name
        try:
            self.dialect = ussd.UssdDialect.from_table(profile.raw.get("ussd", {}))
        except ValueError as e:
            raise ConfigError(f"modem profile {profile.family}: {e}") from None
        self.timeout = timeout
        self._submit = submit
        self._exchange = threading.Lock()  # one request at a time
        self._cond = threading.Condition()
        self._answers: list[ussd.Cusd] = []
        self._waiting = False
        self._assembler = ussd.CusdAssembler()
        self.open = False  # the network left the session open (+CUSD: 1)
        self.last: UssdReply | None = None
        self.listeners: list[Listener] = []  # told (request, reply) after each answer

    # -- the modem thread --------------------------------------------------------------------

    def on_urc(self, urc: atcodec.Urc) -> bool:
        """A line the modem wrote on its own: True if it was (part of) a ``+CUSD``."""
        mine, cusd = self._assembler.feed(urc.line)
        if cusd is not None:
            self._answer(cusd)
        return mine

    def _answer(self, cusd: ussd.Cusd) -> None:
        with self._cond:
            if self._waiting:
                self._answers.append(cusd)
                self._cond.notify_all()
                return
            self.open = cusd.status == 1
        logs.event(LOGGER, logging.INFO, "ussd from the network", modem=self.name, status=cusd.name)
        text = ussd.decode(cusd, self.dialect)
        logs.event(LOGGER, logging.DEBUG, "ussd text", modem=self.name, text=text)

    # -- callers -----------------------------------------------------------------------------

    def request(self, text: str, timeout: float | None = None) -> UssdReply:
        """Send ``text`` (a code such as ``*100#``, or the answer to a menu); wait for the answer.

        Raises ``ValueError`` for text that cannot be sent, :class:`UssdBusy` while another
        exchange runs, :class:`UssdTimeout` when the network does not answer in time,
        :class:`~appliance.errors.CommandRejected` when the modem refuses the request and
        :class:`~appliance.errors.ModemError` when it is not connected.
        """
        wait = self.timeout if timeout is None else timeout
        command = ussd.request_command(text, self.dialect)  # ValueError for bad text
        if not self._exchange.acquire(timeout=wait):
            raise UssdBusy(f"modem {self.name}: another USSD request is waiting for its answer")
        try:
            return self._request(text, command, wait)
        finally:
            self._exchange.release()

    def _request(self, text: str, command: str, wait: float) -> UssdReply:
        deadline = time.monotonic() + wait
        charset = ussd.charset_command(self.dialect)

        def job(driver: Driver) -> list[str]:
            if time.monotonic() > deadline:  # queued behind a long send: too late to ask
                raise UssdTimeout(f"modem {self.name} was busy for {wait:g} s")
            if charset is not None:
                try:
                    driver.command(charset)
                except CommandRejected as e:
                    LOGGER.debug("%s: %s refused: %s", self.name, charset, e)
            return driver.command(command, timeout=max(wait, 1.0))

        with self._cond:
            self._answers.clear()
            self._waiting = True
        try:
            # What is sent may be a PIN (mobile money): like message bodies, at DEBUG only.
            logs.event(LOGGER, logging.INFO, "ussd request", modem=self.name)
            logs.event(LOGGER, logging.DEBUG, "ussd request text", modem=self.name, request=text)
            try:
                lines = self._submit(job, wait + SUBMIT_SLACK)
            except TimeoutError:  # the modem thread did not get to it (concurrent.futures)
                raise UssdTimeout(f"modem {self.name} was busy for {wait:g} s") from None
            self._take_from_response(lines)
            with self._cond:
                while not self._answers:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                cusd = self._answers.pop(0) if self._answers else None
        finally:
            with self._cond:
                self._waiting = False
        if cusd is None:
            self.open = False
            self._cancel_quietly()
            logs.event(
                LOGGER,
                logging.WARNING,
                "ussd request unanswered",
                modem=self.name,
                waited_s=round(wait, 1),
            )
            raise UssdTimeout(
                f"modem {self.name}: the network did not answer within {wait:g} s"
                " (the session was cancelled; ussd_timeout sets how long to wait)"
            )
        reply = UssdReply(
            modem=self.name,
            request=text,
            status=cusd.status,
            text=ussd.decode(cusd, self.dialect),
            dcs=cusd.dcs,
            raw=cusd.raw,
            at=time.time(),
        )
        self.open = reply.open
        self.last = reply
        logs.event(
            LOGGER,
            logging.INFO,
            "ussd answer",
            modem=self.name,
            status=reply.name,
            dcs=reply.dcs,
        )
        logs.event(LOGGER, logging.DEBUG, "ussd text", modem=self.name, text=reply.text)
        for listener in list(self.listeners):
            try:
                listener(text, reply)
            except Exception:  # noqa: BLE001 - a listener must not cost the caller its answer
                logs.event(
                    LOGGER, logging.ERROR, "ussd listener failed", modem=self.name, exc_info=True
                )
        return reply

    def _take_from_response(self, lines: list[str]) -> None:
        """A ``+CUSD`` written before the ``OK`` is in the command's response lines."""
        assembler = ussd.CusdAssembler()
        for line in lines[:-1]:  # the last is the final result code (OK)
            mine, cusd = assembler.feed(line)
            if cusd is not None:
                with self._cond:
                    self._answers.append(cusd)
            elif not mine:
                LOGGER.debug("%s: line in the AT+CUSD response: %r", self.name, line)

    def cancel(self) -> None:
        """End the session (``AT+CUSD=2``)."""
        with self._exchange:
            self._cancel(CANCEL_TIMEOUT)
        logs.event(LOGGER, logging.INFO, "ussd session cancelled", modem=self.name)

    def _cancel(self, timeout: float) -> None:
        def job(driver: Driver) -> list[str]:
            try:
                return driver.command(ussd.CANCEL, timeout=timeout)
            except CommandRejected:
                return []  # no session to cancel: some modems answer ERROR

        self.open = False
        try:
            self._submit(job, timeout + SUBMIT_SLACK)
        except TimeoutError:  # the modem thread did not get to it (concurrent.futures)
            raise UssdTimeout(
                f"modem {self.name} was busy: the session was not cancelled"
            ) from None

    def _cancel_quietly(self) -> None:
        try:
            self._cancel(CANCEL_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - the caller hears about the timeout, not this
            LOGGER.debug("%s: cancelling the USSD session failed: %s", self.name, e)
