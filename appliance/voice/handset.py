"""The AT commands of call control on one modem, each family's quirks included.

A :class:`Handset` holds no call state: its :class:`appliance.voice.phone.Phone` decides what
a call needs and asks for it here (answer, dial, release, hold, audio on and off).  Every
method runs on the modem's thread.  A command whose refusal the phone must act on raises
:class:`appliance.errors.CommandRejected`; the others log it and go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from appliance.errors import CommandRejected
from appliance.voice import call
from appliance.voice.call import CallEvent, CallLeg

if TYPE_CHECKING:
    from appliance.modem.modem import Modem
    from appliance.modem.profiles import VoiceProfile

LOGGER = logging.getLogger(__name__)

ATD_TIMEOUT = 30.0  # seconds for ATD to answer OK (the network takes the call, not the callee)
ATA_TIMEOUT = 20.0  # seconds for ATA to answer OK
CPCMREG_ATTEMPTS = 6  # SIM7600: AT+CPCMREG=1 can fail the first time (voice.md 1.3)
CPCMREG_RETRY_DELAY = 0.3


class Handset:
    """One modem's call commands; every method runs on that modem's thread."""

    def __init__(self, modem: Modem, voice: VoiceProfile) -> None:
        self.modem = modem
        self.voice = voice

    def init(self) -> None:
        """The family's voice set-up commands, after each (re)connect; a refusal is logged."""
        for cmd in self.voice.init:
            try:
                self.modem.command(cmd)
            except CommandRejected as e:
                LOGGER.warning("%s: voice init %s failed: %s", self.modem.name, cmd, e)

    def calls(self) -> list[CallEvent]:
        """AT+CLCC: the calls the modem lists (raises CommandRejected)."""
        return call.parse_clcc(self.modem.command("AT+CLCC"))

    def hang_up_leftovers(self) -> None:
        """Hang up calls the modem still has from before (the modem hung, the daemon restarted)."""
        try:
            listed = self.calls()
        except CommandRejected:
            return
        if any(e.kind != "released" for e in listed):
            LOGGER.warning(
                "%s: hanging up %d call(s) left from before", self.modem.name, len(listed)
            )
            try:
                self.modem.command("AT+CHUP")
            except CommandRejected:
                self.quiet("ATH")

    def dial(self, number: str) -> None:
        """ATD<number>; (raises CommandRejected if the modem refuses)."""
        if self.voice.audio_enable == "ddsetex":
            self.quiet("AT^DDSETEX=2")
        self.modem.command(f"ATD{_dialable(number)};", timeout=ATD_TIMEOUT)

    def answer(self) -> None:
        """ATA (raises CommandRejected if the modem refuses), then the family's audio on."""
        self.modem.command("ATA", timeout=ATA_TIMEOUT)
        if self.voice.audio_enable == "ddsetex":
            self.quiet("AT^DDSETEX=2")

    def release(self, leg: CallLeg, legs: Iterable[CallLeg]) -> None:
        """Hang up ``leg``: alone (AT+CHLD=1x) beside other live ``legs``, else AT+CHUP; ATH
        if that is refused."""
        others = [x for x in legs if x.live and x is not leg]
        try:
            if others and leg.index is not None:
                self.modem.command(f"AT+CHLD=1{leg.index}")
            else:
                self.modem.command("AT+CHUP")
        except CommandRejected:
            self.quiet("ATH")

    def reject_ringing(self) -> None:
        """Reject a call that rings, unanswered (AT+CHUP, else ATH): the network tells the
        caller the line is busy."""
        try:
            self.modem.command("AT+CHUP")
        except CommandRejected:
            self.quiet("ATH")

    def reject_waiting(self) -> None:
        """Call waiting on a busy line: reject it as busy (UDUB); a refusal is logged."""
        try:
            self.modem.command("AT+CHLD=0")
        except CommandRejected as e:
            LOGGER.warning("%s: rejecting a waiting call failed: %s", self.modem.name, e)

    def chld(self, n: str) -> bool:
        try:
            self.modem.command(f"AT+CHLD={n}")
            return True
        except CommandRejected as e:
            LOGGER.info("%s: AT+CHLD=%s refused: %s", self.modem.name, n, e)
            return False

    def enable_audio(self) -> bool:
        """Start call audio where the family needs a command for it, once connected."""
        if self.voice.audio_enable != "cpcmreg":
            return True
        for attempt in range(CPCMREG_ATTEMPTS):
            try:
                self.modem.command("AT+CPCMREG=1")
                return True
            except CommandRejected as e:
                LOGGER.info("%s: AT+CPCMREG=1 attempt %d: %s", self.modem.name, attempt + 1, e)
                time.sleep(CPCMREG_RETRY_DELAY)
        return False

    def disable_audio(self) -> None:
        """Stop call audio where :meth:`enable_audio` started it with a command."""
        if self.voice.audio_enable == "cpcmreg":
            self.quiet("AT+CPCMREG=0")

    def quiet(self, cmd: str) -> None:
        """A command whose refusal changes nothing: logged at debug."""
        try:
            self.modem.command(cmd)
        except CommandRejected as e:
            LOGGER.debug("%s: %s failed: %s", self.modem.name, cmd, e)


def _dialable(number: str) -> str:
    """Only dial characters reach ATD: a number can never smuggle an AT command."""
    return "".join(ch for ch in number if ch in "+0123456789*#")
