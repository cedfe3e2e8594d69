"""SMS leaving a modem: one part at a time from the outbox, paced by the outbound rate.

The modem thread sends at most one part per turn, so inbound traffic is never starved
by a long outbound queue.  A part the modem refuses, or whose fate is unknown (a
timeout after the PDU went out), is reported to the outbox, which decides on retries;
a part whose prompt never came is requeued whole.  Everything here runs on the modem's
thread.

What the modem did is recorded before anything else is sent: if the database is unreachable
when a part's outcome is to be written (:class:`~appliance.errors.StoreUnavailable`), the
outcome is kept (:meth:`Sender.flush`) and written first once it answers, so a part that went
out is never sent again because its ``sent`` was not stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from appliance import logs
from appliance.config import Config
from appliance.errors import CommandRejected, ModemGone, ModemTimeout, StoreUnavailable
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
        self._unrecorded: Callable[[], None] | None = None  # an outcome the store did not take

    def due(self) -> float:
        """Monotonic time of the next :meth:`send_part`."""
        return max(self._rate_ready, self._queue_check)

    def look_now(self) -> None:
        """Something may have been queued (or wake-ups were missed): look at once."""
        self._queue_check = 0.0

    @property
    def idle(self) -> bool:
        """No message is being sent and every outcome is recorded."""
        return self._current is None and self._unrecorded is None

    def flush(self) -> None:
        """Write the outcome the database could not take when it happened (it raises
        :class:`~appliance.errors.StoreUnavailable` again while the database is away)."""
        if self._unrecorded is not None:
            self._unrecorded()
            self._unrecorded = None

    def _record(self, outcome: Callable[[], None]) -> None:
        """Write ``outcome`` now, or keep it for :meth:`flush` if the database is away."""
        self._unrecorded = outcome
        self.flush()

    def requeue(self) -> None:
        """The connection dropped: the message being sent goes back to the queue.  With the
        database away it stays this sender's, and goes on after the reconnection."""
        try:
            self.flush()
            if self._current is not None:
                self.outbox.requeue(self._current.sid)
                self._current = None
        except StoreUnavailable:
            pass

    def send_part(self) -> None:
        now = time.monotonic()
        self.flush()  # what the modem did before comes first
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
            error, cms = str(e), e.error

            def refused() -> None:
                status = self.outbox.part_refused(
                    msg.sid, part, cms, self.settings.outbound_retry_limit
                )
                logs.event(
                    LOGGER,
                    logging.WARNING,
                    "message part refused",
                    sid=msg.sid,
                    modem=self.name,
                    part=part,
                    error=error,
                    then=status,  # queued (retried later) or failed
                )

            self._record(refused)
            return
        except (ModemTimeout, ModemGone) as e:
            self._current = None
            if getattr(e, "prompt_only", False):
                self._record(lambda: self.outbox.requeue(msg.sid))
            else:
                reason = str(e)
                self._record(lambda: self.outbox.part_unknown(msg.sid, part, reason))
            raise
        self._answered()

        def sent() -> None:
            self.outbox.part_sent(msg.sid, part, mr, len(msg.segments))
            if part == len(msg.segments):
                self._current = None  # the journal logged "message sent"
            else:
                self._current = Claimed(
                    msg.sid, msg.modem, msg.to_number, msg.body, msg.segments, part + 1
                )

        self._record(sent)
