"""The voice engine: the registry of phones, and the entry points of the API and the panel.

The REST API and the panel only write rows (``calls`` with status ``queued``, or a
``calls.control`` JSON for an update) and then tell the engine to look: they never
touch a modem.  Each modem has a :class:`appliance.voice.phone.Phone` in its own
thread that places queued calls and answers inbound ones; each live call has a
:class:`appliance.voice.flow.CallFlow` thread that fetches and runs its TwiML.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from appliance.voice.call import CallLeg
from appliance.voice.phone import FlowHandle, Phone


class VoiceEngine:
    """Entry points used by the REST API and the panel; the registry of phones."""

    def __init__(self) -> None:
        self.phones: dict[str, Phone] = {}
        self.flow_factory: Callable[[Phone, CallLeg], FlowHandle] | None = None

    def wake(self, modem: str) -> None:
        """A call was queued on ``modem`` (``calls.status = 'queued'``): place it when idle."""
        phone = self.phones.get(modem)
        if phone is not None:
            phone.modem.wake()

    def stop(self, timeout: float = 15.0) -> None:
        """Shutting down: every live call is hung up and its flow thread ends."""
        flows = [flow for phone in self.phones.values() for flow in list(phone.flows.values())]
        for flow in flows:
            flow.stop()
        deadline = time.monotonic() + timeout
        for flow in flows:
            flow.join(max(0.1, deadline - time.monotonic()))

    def control(self, call_sid: str) -> None:
        """``calls.control`` of ``call_sid`` was written (redirect, or end the call)."""
        for phone in self.phones.values():
            flow = phone.flows.get(call_sid)
            if flow is not None:
                flow.control()
                return
