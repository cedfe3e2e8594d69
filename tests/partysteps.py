"""A step for the simulator's scripted remote parties that waits for an event of the test.

A scripted party's fixed pauses (``Silence(3.5)``) count from the moment its call is
answered; what they wait for -- a webhook fetched, a second call dialled, a bridge set up --
may take longer on a busy machine.  ``Until(condition)`` makes the party wait for that
event itself, so the step after it comes at the right moment however slow the setup was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.sim.call import SimCall


@dataclass(frozen=True)
class Until:
    """Wait until ``condition()`` is truthy (or ``timeout`` seconds, or the call ended)."""

    condition: Callable[[], object]
    timeout: float = 20.0

    def perform(self, call: SimCall) -> None:
        end = time.monotonic() + self.timeout
        while not self.condition() and time.monotonic() < end:
            if call.wait_state("ended", timeout=0.05):
                return
