"""SMS arriving on a modem: storage and delivery URCs, read/store/delete, the storage sweep.

``+CMTI``/``+CDSI`` name a storage slot: it is read (``AT+CMGR``), handed to the inbox
and deleted (``AT+CMGD``), in that order, so a crash in between leaves the message in
the modem for the next sweep rather than losing it.  ``+CMT``/``+CDS`` carry the PDU
itself.  The periodic sweep (``AT+CMGL``) catches URCs lost to line noise or a restart.
Everything here runs on the modem's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from appliance.config import Config
from appliance.modem import atcodec
from appliance.modem.driver import Driver
from appliance.modem.profiles import Profile
from appliance.sms.inbox import Inbox

LOGGER = logging.getLogger(__name__)


class Receiver:
    """The inbound SMS side of one modem."""

    def __init__(
        self,
        name: str,
        profile: Profile,
        settings: Config,
        inbox: Inbox,
        command: Callable[[str], list[str]],
        driver: Callable[[], Driver],
        answered: Callable[[], None],
    ) -> None:
        """``command`` runs an AT command; ``driver`` is the connected driver; ``answered``
        tells the modem thread that the modem answered (it is not hung)."""
        self.name = name
        self.profile = profile
        self.settings = settings
        self.inbox = inbox
        self._command = command
        self._driver = driver
        self._answered = answered

    def on_urc(self, urc: atcodec.Urc) -> bool:
        """An SMS URC is taken care of (True); anything else is left to the caller (False)."""
        line = urc.line
        slot = atcodec.parse_storage_urc(line)
        if slot is not None:
            memory, index = slot
            self.take(memory, index, None, "CDSI" if line.startswith("+CDSI") else "CMTI")
            return True
        if line.startswith(("+CMT:", "+CDS:")):
            if urc.data:
                self.inbox.ingest(self.name, None, None, urc.data, line[1:4])
            return True
        return False

    @staticmethod
    def is_sms(urc: atcodec.Urc) -> bool:
        """Whether ``urc`` is one :meth:`on_urc` takes (an SMS or a status report)."""
        line = urc.line
        return atcodec.parse_storage_urc(line) is not None or line.startswith(("+CMT:", "+CDS:"))

    def take(self, memory: str, index: int, pdu_hex: str | None, source: str) -> None:
        """Read (unless given), store, then delete one SMS from modem storage."""
        switched = memory != self.profile.storage
        if switched:
            self._command(f'AT+CPMS="{memory}"')
        try:
            if pdu_hex is None:
                pdu_hex = self._driver().read_slot(index)
                self._answered()
            if pdu_hex is None:
                return  # empty slot: already taken by a sweep
            if not self.inbox.known_slot(self.name, memory, index, pdu_hex):
                self.inbox.ingest(self.name, memory, index, pdu_hex, source)
            self._command(f"AT+CMGD={index},0")
            self.inbox.slot_deleted(self.name, memory, index)
        finally:
            if switched:
                self._command(f'AT+CPMS="{self.profile.storage}"')

    def sweep(self) -> None:
        """Take every message left in the preferred storage."""
        entries = self._driver().list_slots(timeout=self.settings.command_timeout * 3)
        self._answered()
        for index, _stat, pdu_hex in entries:
            if pdu_hex:
                self.take(self.profile.storage, index, pdu_hex, "sweep")
        self.inbox.forget_slots(self.name, self.profile.storage, set())
