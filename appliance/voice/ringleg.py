"""What a ``<Dial>`` needs of a callee it rings, so that a browser can be one (Protocols only).

* :class:`RingLeg`: one callee being rung by a ``<Dial>`` (``Ringer``): a ``<Number>`` on a
  modem (:class:`~appliance.voice.dialleg.DialLeg`), or a ``<Client>``'s browsers
  (``appliance.clients.ringing``).
* :class:`ClientDirectory`: how a ``<Dial>`` makes the ring leg of a ``<Client>``
  (:attr:`VoiceEngine.clients <appliance.voice.engine.VoiceEngine.clients>`).

Apart from :mod:`appliance.voice.line`, since these name the callee's ``CallSession``, which
is itself made on a ``Line``: one module would make an import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from appliance.voice.call import CallLeg
    from appliance.voice.session import CallSession


class RingLeg(Protocol):
    """One callee a ``<Dial>`` rings, as :class:`appliance.voice.ringing.Ringer` drives it."""

    noun: object  # the TwiML noun (<Number>, <Client>)
    leg: CallLeg
    session: CallSession  # the callee's: its whisper runs there, its media is bridged
    ended_by_rest: bool

    @property
    def sid(self) -> str: ...

    @property
    def answered(self) -> bool: ...

    def dial(self) -> bool: ...

    def wait_answer(self, stop: Callable[[], bool]) -> bool: ...

    def start_media(self) -> None: ...

    def send_digits(self, digits: str) -> None: ...

    def hangup(self, status: str | None = None) -> None: ...

    def close(self) -> None: ...

    def dial_status(self) -> str: ...

    # the bridge (appliance.voice.dial): a REST redirect of the bridged leg may take it out
    def bridge_started(self) -> None: ...

    def leaving(self) -> bool: ...

    def unbridge(self) -> bool: ...

    def bridged_seconds(self) -> int: ...

    def hand_over(self) -> None: ...


class ClientDirectory(Protocol):
    """The browser phones a ``<Dial><Client>`` rings (``appliance.clients`` provides it)."""

    def leg(
        self, parent: CallSession, noun: object, timeout: float, wake: Callable[[], None]
    ) -> RingLeg:
        """The ring leg of one ``<Client>`` noun for ``parent``'s caller (its row written)."""
        ...
