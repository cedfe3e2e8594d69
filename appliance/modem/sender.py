"""SMS leaving a modem: one part at a time from the outbox, paced by the outbound rate.

The modem thread sends at most one part per turn, so inbound traffic is never starved
by a long outbound queue.  A part the modem refuses, or whose fate is unknown (a
timeout after the PDU went out), is reported to the outbox, which decides on retries;
a part whose prompt never came is requeued whole.  Everything here runs on the modem's
thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from appliance import logs
from appliance.config import Config
from appliance.errors import CommandRejected, ModemGone, ModemTimeout
from appliance.modem.driver import Driver
from appliance.modem.profiles import Profile
from appliance.sms.outbox import Claimed, Outbox

LOGGER = logging.getLogger(__name__)


class Sender:
    """The outbound SMS side of one modem: the message being sent and the rate limit."""

    def __init__(
        self,
        name: str,
        profile: Profile,
        settings: Config,
        outbox: Outbox,
        driver: Callable[[], Driver],
        answered: Callable[[], None],
    ) -> None:
        """``driver`` is the connected driver; ``answered`` tells the modem thread that the
        modem answered (it is not hung)."""
        self.name = name
        self.profile = profile
        self.settings = settings
        self.outbox = outbox
        self._driver = driver
        self._answered = answered
        self._current: Claimed | None = None
        self._rate_ready = 0.0  # monotonic time the rate limit allows the next part
        self._queue_check = 0.0  # monotonic time to look at an empty queue again

    def due(self) -> float:
        """Monotonic time of the next :meth:`send_part`."""
        return max(self._rate_ready, self._queue_check)

    def look_now(self) -> None:
        """Something may have been queued (or wake-ups were missed): look at once."""
        self._queue_check = 0.0

    def requeue(self) -> None:
        """The connection dropped: the message being sent goes back to the queue."""
        if self._current is not None:
            self.outbox.requeue(self._current.sid)
            self._current = None

    def send_part(self) -> None:
        now = time.monotonic()
        if self._current is None:
            self._current = self.outbox.claim(self.name, time.time())
            if self._current is None:
                due = self.outbox.next_due(self.name, time.time())
                wait = self.settings.sweep_interval if due is None else max(0.05, due - time.time())
                self._queue_check = now + min(
                    wait, self.settings.sweep_interval
                )  # a scheduled send wakes us
                return
        from appliance.sms import pdu  # local: keeps start-up light

        msg = self._current
        part = msg.next_part
        segment = msg.segments[part - 1]
        pdu_hex, length = pdu.encode_submit(msg.to_number, segment)
        rate = self.settings.outbound_rate
        self._rate_ready = now + (1.0 / rate if rate > 0 else 0.0)
        self.outbox.part_started(msg.sid, part)
        try:
            mr = self._driver().send_pdu(
                pdu_hex,
                length,
                timeout=self.profile.send_timeout,
                prompt_timeout=self.settings.command_timeout,
            )
        except CommandRejected as e:
            self._current = None
            status = self.outbox.part_refused(
                msg.sid, part, e.error, self.settings.outbound_retry_limit
            )
            logs.event(
                LOGGER,
                logging.WARNING,
                "message part refused",
                sid=msg.sid,
                modem=self.name,
                part=part,
                error=str(e),
                then=status,  # queued (retried later) or failed
            )
            return
        except (ModemTimeout, ModemGone) as e:
            self._current = None
            if getattr(e, "prompt_only", False):
                self.outbox.requeue(msg.sid)
            else:
                self.outbox.part_unknown(msg.sid, part, str(e))
            raise
        self._answered()
        self.outbox.part_sent(msg.sid, part, mr, len(msg.segments))
        if part == len(msg.segments):
            self._current = None  # the journal logged "message sent"
        else:
            self._current = Claimed(
                msg.sid, msg.modem, msg.to_number, msg.body, msg.segments, part + 1
            )
