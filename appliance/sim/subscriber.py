"""The simulated modems as the network sees them: Protocols the modems satisfy.

The network (``network.py``, ``smsnetwork.py``, ``voicenetwork.py``) sits below the modem
classes (``device.py``): it knows a modem only as a :class:`Subscriber`, a line that can
take SMS and calls, and what sent an SMS only as a :class:`Line`.
"""

from __future__ import annotations

from typing import Protocol

from .call import CallEndpoint


class Line(Protocol):
    """A modem's line on the network: its name (on this host) and its phone number."""

    @property
    def name(self) -> str: ...

    @property
    def number(self) -> str: ...


class Subscriber(CallEndpoint, Protocol):
    """An attached modem: it carries calls (:class:`~.call.CallEndpoint`) and takes SMS."""

    def accept_deliver(self, pdu_hex: str, *, flash: bool = False) -> bool: ...

    def accept_status_report(self, pdu_hex: str) -> bool: ...
