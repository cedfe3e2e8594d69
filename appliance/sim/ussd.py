"""USSD on the simulated modem: ``AT+CUSD`` and the operator's USSD services behind it.

The modem side (:class:`UssdCommands`) takes ``AT+CUSD=<n>[,<str>[,<dcs>]]`` (3GPP TS 27.007
§7.15), answers ``OK`` at once and the network's answer ``ussd_delay`` seconds later as a
``+CUSD: <m>[,<str>,<dcs>]`` URC, written the way the family writes it (its profile's
``[ussd]`` table, :class:`appliance.modem.ussd.UssdDialect`): text in the ``+CSCS`` character
set, or, on a Huawei E1xx in its default mode, packed GSM-7 as hex, for the request too (a
request that is not hex answers ``ERROR``; ``AT^USSDMODE=1`` switches to text).  UCS-2
answers are hex of UTF-16BE with ``<dcs>`` 72 on every family.

The operator's services (:data:`SERVICES`, :data:`MENUS`):

==========  =================================================================================
``*100#``   the balance, in English (GSM-7): ``Your balance is 10.00 GBP``
``*101#``   the balance, in Russian (UCS-2): ``Баланс: 10,00 руб.``
``*123#``   a menu (``+CUSD: 1``): ``1`` the balance, ``2`` data bundles (``1`` buys 1 GB for
            3.00 off the balance, ``0`` goes back)
other       ``+CUSD: 4`` (not supported)
==========  =================================================================================

A session the network left open (``+CUSD: 1``) takes the next request as its answer; left idle
``ussd_timeout`` seconds, the network ends it with ``+CUSD: 2``; ``AT+CUSD=2`` cancels it.
The balance is the SIM's (``balance`` in the profile, the ``balance`` fault switch sets it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.modem import ussd as codec

from .dispatcher import CommandDispatcher
from .errors import AtError, cme

CURRENCY = "GBP"
DATA_PRICE = 3.00  # what "1 GB" costs in the data menu
NO_NETWORK = 30  # +CME ERROR: no network service
MENUS = {
    "main": "Menu\n1 Balance\n2 Data",
    "data": "Data bundles\n1 Buy 1 GB for 3.00\n0 Back",
}
SERVICES = ("*100#", "*101#", "*123#")
_REQUEST = re.compile(r'\s*(\d)\s*(?:,\s*"([^"]*)"\s*(?:,\s*(\d+))?)?\s*')


@dataclass(frozen=True)
class Answer:
    """What the network answers: ``+CUSD: <status>`` with ``text`` (UCS-2 if it is not GSM-7)."""

    status: int
    text: str | None = None
    menu: str | None = None  # the menu the session waits in (status 1)


def balance_text(balance: float) -> str:
    return f"Your balance is {balance:.2f} {CURRENCY}"


def service(code: str, balance: float) -> Answer:
    """The network's answer to a code that opens no session yet."""
    if code == "*100#":
        return Answer(0, balance_text(balance))
    if code == "*101#":
        return Answer(0, f"Баланс: {balance:.2f} руб.".replace(".", ",", 1))
    if code == "*123#":
        return Answer(1, MENUS["main"], "main")
    return Answer(4)


def menu_answer(menu: str, choice: str, balance: float) -> tuple[Answer, float]:
    """The network's answer to ``choice`` in ``menu``, and the balance after it."""
    choice = choice.strip()
    if menu == "main":
        if choice == "1":
            return Answer(0, balance_text(balance)), balance
        if choice == "2":
            return Answer(1, MENUS["data"], "data"), balance
    elif menu == "data":
        if choice == "1":
            if balance < DATA_PRICE:
                return Answer(0, f"Not enough credit. {balance_text(balance)}"), balance
            balance = round(balance - DATA_PRICE, 2)
            return Answer(0, f"1 GB added. {balance_text(balance)}"), balance
        if choice == "0":
            return Answer(1, MENUS["main"], "main"), balance
    return Answer(1, "Invalid choice\n" + MENUS[menu], menu), balance


class UssdCommands(CommandDispatcher):
    """``AT+CUSD`` and the network's USSD session of this SIM."""

    def _ussd_setup(self) -> None:
        self.balance = self.profile.balance
        self._ussd_menu: str | None = None  # the menu an open session waits in
        self._ussd_gen = 0  # bumped at every step: stale timers and answers see it changed
        self._ussd_boot = -1  # the power-up the session belongs to (a replug ends it)

    def set_balance(self, amount: float) -> None:
        """The SIM's prepaid balance (what ``*100#`` answers)."""
        with self._lock:
            self.balance = round(float(amount), 2)

    def ussd_session(self) -> str | None:
        """The menu an open session waits in, or None."""
        with self._lock:
            return self._ussd_menu if self._ussd_boot == self._boot_gen else None

    def at_CUSD(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"+CUSD: {self.state.extra.get('cusd', '0')}"]
        if kind == "test":
            return ["+CUSD: (0-2)"]
        if kind != "set":
            return []
        m = _REQUEST.fullmatch(arg)
        if m is None or m.group(1) not in "012":
            raise cme(4)
        n, text = m.group(1), m.group(2)
        if n == "2":
            with self._lock:
                self._ussd_menu = None
                self._ussd_gen += 1
            return []
        self.state.extra["cusd"] = n
        if text is None:
            return []
        if not self.registered():
            raise cme(NO_NETWORK)
        request = self._ussd_request_text(text)
        with self._lock:
            self._ussd_gen += 1
            gen = self._ussd_gen
            menu = self.ussd_session()
            if menu is None:
                answer, balance = service(request.strip(), self.balance), self.balance
            else:
                answer, balance = menu_answer(menu, request, self.balance)
            self.balance = balance
            self._ussd_menu = answer.menu
            self._ussd_boot = self._boot_gen
        delay = self.profile.ussd_delay
        self.network.scheduler.call_later(delay, lambda: self._ussd_answer(gen, answer))
        return []

    def _packed(self) -> bool:
        """Packed GSM-7 hex requests and answers (Huawei unless AT^USSDMODE=1)."""
        return self.profile.ussd.request == "packed" and self.state.extra.get("ussdmode") != "1"

    def _ussd_request_text(self, text: str) -> str:
        if self._packed():
            if not re.fullmatch(r"(?:[0-9A-Fa-f]{2})+", text):
                raise AtError("plain")  # plain text to a Huawei in its default mode
            return codec.unpack_gsm7_hex(text)
        if self.state.cscs == "UCS2" and re.fullmatch(r"(?:[0-9A-Fa-f]{4})+", text):
            return bytes.fromhex(text).decode("utf-16-be", errors="replace")
        return text

    def _ussd_answer(self, gen: int, answer: Answer) -> None:
        with self._lock:
            if gen != self._ussd_gen or not self.plugged:
                return  # cancelled, or another request came first
            if answer.status == 1:
                timeout = self.profile.ussd_timeout
                self.network.scheduler.call_later(timeout, lambda: self._ussd_expire(gen))
        if self.state.extra.get("cusd", "1") != "0":
            self._urc([self.cusd_line(answer)])

    def _ussd_expire(self, gen: int) -> None:
        """The session sat idle: the network ends it."""
        with self._lock:
            if gen != self._ussd_gen or self._ussd_menu is None:
                return
            self._ussd_menu = None
            self._ussd_gen += 1
        self._urc(["+CUSD: 2"])

    def cusd_line(self, answer: Answer) -> str:
        """``+CUSD: <m>[,<str>,<dcs>]`` as this family writes it."""
        text = answer.text
        if text is None:
            return f"+CUSD: {answer.status}"
        try:
            codec.pack_gsm7_hex(text)
        except ValueError:  # not GSM-7: the network sends UCS-2
            return f'+CUSD: {answer.status},"{codec.ucs2_hex(text)}",{codec.DCS_UCS2}'
        if self._packed():
            shown = codec.pack_gsm7_hex(text)
        elif self.state.cscs == "UCS2":
            shown = codec.ucs2_hex(text)
        else:
            shown = text.replace('"', "'")
        return f'+CUSD: {answer.status},"{shown}",{codec.DCS_GSM7}'
