"""The phone network side of the simulator: the modems attached to it, by name and number.

Each simulated modem has a phone number.  :class:`Network` is what they are attached
to; it carries

* SMS (``smsnetwork.SmsNetwork``): delivery to the modems, the outbox of what the
  appliance sent, status reports;
* calls (``voicenetwork.VoiceNetwork``): ``incoming_call`` rings a modem,
  ``set_callee`` decides how a dialled number answers, dialling another simulated
  modem's number rings that modem, and ``refuse`` makes the operator refuse
  HOLD/MPTY/ECT.

A single :class:`~.scheduler.Scheduler` thread runs all timed work (deliveries, reports,
periodic URCs, call timers).  The network knows the modems only as
:class:`~.subscriber.Subscriber` (it sits below the modem classes).
"""

from __future__ import annotations

import threading

from .scheduler import Scheduler
from .smsnetwork import SmsNetwork
from .subscriber import Subscriber
from .voicenetwork import VoiceNetwork


class Network(SmsNetwork, VoiceNetwork):
    """The mobile network all simulated modems of one host are attached to."""

    def __init__(
        self,
        *,
        report_status: int | None = 0,
        report_delay: float = 1.0,
        smsc: str | None = "+447785016005",
        seed: int | None = None,
    ) -> None:
        self.scheduler = Scheduler()
        self.modems: dict[str, Subscriber] = {}
        self._lock = threading.RLock()
        self._sms_init(report_status, report_delay, smsc, seed)
        self._voice_init()

    # ------------------------------------------------------------------ modems
    def attach(self, modem: Subscriber) -> None:
        with self._lock:
            self.modems[modem.name] = modem
            super().attach(modem)  # its SMS delivery queue

    def modem(self, which: str | Subscriber) -> Subscriber:
        if not isinstance(which, str):
            return which
        with self._lock:
            if which in self.modems:
                return self.modems[which]
            for m in self.modems.values():
                if m.number == which:
                    return m
        raise KeyError(f"no simulated modem {which!r}")

    def stop(self) -> None:
        self.scheduler.stop()
