"""The voice engine: places queued calls, answers inbound ones and runs their TwiML.

The REST API and the panel only write rows (``calls`` with status ``queued``, or a
``calls.control`` JSON for an update) and then tell the engine to look: they never
touch a modem.  The engine's per-modem call handling lives in the modem's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

LOGGER = logging.getLogger(__name__)


class VoiceEngine:
    """Entry points used by the REST API and the panel."""

    def __init__(self) -> None:
        self._wake: dict[str, Callable[[], None]] = {}
        self._control: list[Callable[[str], None]] = []

    def wake(self, modem: str) -> None:
        """A call was queued on ``modem`` (``calls.status = 'queued'``): place it when idle."""
        fn = self._wake.get(modem)
        if fn is not None:
            fn()

    def control(self, call_sid: str) -> None:
        """``calls.control`` of ``call_sid`` was written (redirect, or end the call)."""
        for fn in self._control:
            fn(call_sid)
