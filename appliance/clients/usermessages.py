"""User-defined messages of browser calls (Twilio's Call Message Events), both ways.

* **Browser → app.**  The SDK's ``call.sendMessage()`` sends ``message``
  (:mod:`~appliance.clients.callmessage` checks it).  For a live call of that socket, the
  message becomes one webhook job per UserDefinedMessageSubscription of the call, queued in
  one transaction (:func:`appliance.store.usermessages.queue`): the dispatcher posts it to the
  subscription's Callback with its Method, signed (``X-Twilio-Signature``), retried and in
  order, with Twilio's parameters (:meth:`UserMessages.params`).  Then ``ack``, and the Call
  fires ``messageSent``.  A call without a subscription drops the message, as Twilio does, and
  still gets its ``ack``.  A message the SDK sends again with the same ``voiceeventsid`` (its
  queue after a dropped socket) is acked and not queued twice.
* **App → browser.**  ``POST …/Calls/{CallSid}/UserDefinedMessages.json``
  (:mod:`appliance.api.usermessages`) ends in :meth:`UserMessages.send`: a ``message`` to the
  socket of the call's browser, and the Call fires ``messageReceived``.

Refusals are ``error`` messages carrying the ``voiceeventsid`` (so the SDK's Call raises
them): 31210 for a ``messagetype`` other than ``user-defined-message``, 31212 for a content
over 10 KB, 31100 for another content type or no content, 31404 for a call that is not on
the socket; 31000 when the store does not take the message (an outage, said in one
WARNING line without a traceback, as for the other signalling messages; a bug logs an ERROR
with its traceback).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance import logs
from appliance.clients import callmessage, pstream
from appliance.clients.callmessage import CallMessage, MessageRefused
from appliance.errors import StoreUnavailable
from appliance.store import usermessages as rows
from appliance.voice.callbacks import rfc2822

if TYPE_CHECKING:
    from appliance.clients.line import ClientLine, Device
    from appliance.store.database import Store

LOGGER = logging.getLogger(__name__)

SEEN = 256  # voiceeventsids remembered per call (the SDK may send a message again)


class UserMessages:
    """The user-defined messages of the client line's calls."""

    def __init__(
        self,
        line: ClientLine,
        store: Store,
        account_sid: Callable[[], str],
        on_job: Callable[[], None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.line, self.store = line, store
        self.account_sid, self.on_job = account_sid, on_job
        self.clock = clock or time.time
        self._lock = threading.Lock()
        self._sequence: dict[str, int] = {}  # CA sid -> the last SequenceNumber
        self._seen: dict[str, collections.OrderedDict[str, None]] = {}

    # -- browser -> app

    def receive(self, device: Device, message: pstream.Message) -> None:
        """A ``message`` from ``device``'s socket: queued for the call's subscriptions,
        then ``ack``; or an ``error`` with the SDK's code."""
        try:
            parsed = callmessage.parse(message.payload)
        except MessageRefused as e:
            self._refuse(device, e)
            return
        found = self.line.find(parsed.callsid, device)
        if found is None or not found.leg.live:
            self._refuse(
                device,
                MessageRefused(
                    f"No call {parsed.callsid} on this connection",
                    pstream.NOT_FOUND,
                    parsed.callsid,
                    parsed.sid,
                ),
            )
            return
        sequence = self._take(found.sid, parsed.sid)
        queued = 0
        if sequence is not None:
            try:
                queued = rows.queue(self.store, found.sid, self.params(found.sid, parsed, sequence))
            except StoreUnavailable as e:  # the database is away: one line, no traceback
                self._not_queued(
                    device,
                    parsed,
                    found.sid,
                    "The appliance cannot handle the message now: its database is"
                    " unreachable. Try again in a few seconds",
                )
                logs.event(
                    LOGGER,
                    logging.WARNING,
                    "user message refused: database unreachable",
                    sid=found.sid,
                    message=parsed.sid,
                    error=str(e),
                )
                return
            except Exception:  # noqa: BLE001 - a bug costs this message, said so
                self._not_queued(
                    device,
                    parsed,
                    found.sid,
                    "The appliance could not queue the message; see its log",
                )
                logs.event(
                    LOGGER,
                    logging.ERROR,
                    "user message not queued",
                    exc_info=True,
                    sid=found.sid,
                    message=parsed.sid,
                )
                return
            if queued:
                self.on_job()
        device.push(callmessage.ack(parsed.callsid, parsed.sid))
        logs.event(
            LOGGER,
            logging.INFO,
            "user message received",
            sid=found.sid,
            message=parsed.sid,
            subscriptions=queued,
            again=sequence is None,
        )

    def params(self, call_sid: str, parsed: CallMessage, sequence: int) -> dict[str, str]:
        """The Callback's parameters: those Twilio's own SDK tests read (``ContentType``,
        ``Content`` as the page's ``JSON.stringify``, ``SequenceNumber`` from 1 per call,
        ``CallSid``, ``Sid`` the SDK's voiceEventSid), ``AccountSid`` and ``Timestamp``."""
        return {
            "AccountSid": self.account_sid(),
            "CallSid": call_sid,
            "Sid": parsed.sid,
            "ContentType": callmessage.CONTENT_TYPE,
            "Content": parsed.content,
            "SequenceNumber": str(sequence),
            "Timestamp": rfc2822(self.clock()),
        }

    def _take(self, call_sid: str, sid: str) -> int | None:
        """The message's SequenceNumber; None if this call had it already."""
        with self._lock:
            seen = self._seen.setdefault(call_sid, collections.OrderedDict())
            if sid in seen:
                return None
            seen[sid] = None
            if len(seen) > SEEN:
                seen.popitem(last=False)
            number = self._sequence.get(call_sid, 0) + 1
            self._sequence[call_sid] = number
            if len(self._sequence) > 4 * max(1, self.line.count()) + 16:
                self._prune()
            return number

    def _not_queued(self, device: Device, parsed: CallMessage, call_sid: str, why: str) -> None:
        """A message the store did not take: the SDK's Call raises 31000 with ``why``, and
        the message may come again (the number it took stays used)."""
        self._forget(call_sid, parsed.sid)
        device.push(
            callmessage.refusal(
                MessageRefused(
                    why,
                    pstream.GENERIC,
                    parsed.callsid,
                    parsed.sid,
                )
            )
        )

    def _forget(self, call_sid: str, sid: str) -> None:
        """A message that was not queued may come again (the number it took stays used)."""
        with self._lock:
            self._seen.get(call_sid, collections.OrderedDict()).pop(sid, None)

    def _prune(self) -> None:
        """Forget the calls that ended (under the lock)."""
        live = set(self.line.calls)
        for sid in [s for s in self._sequence if s not in live]:
            self._sequence.pop(sid, None)
            self._seen.pop(sid, None)

    def _refuse(self, device: Device, e: MessageRefused) -> None:
        logs.event(
            LOGGER,
            logging.INFO,
            "user message refused",
            connection=device.number,
            code=e.code,
            why=e.message,
        )
        device.push(callmessage.refusal(e))

    # -- app -> browser

    def live(self, call_sid: str) -> bool:
        """Whether ``call_sid`` is a browser call in progress on this node."""
        found = self.line.calls.get(call_sid)
        return found is not None and found.leg.live and found.leg.answered_at is not None

    def send(self, call_sid: str, value: Any, sid: str) -> bool:
        """``message`` with ``value`` to the browser of call ``call_sid``; False if it is not
        a browser call in progress here (it ended meanwhile)."""
        found = self.line.calls.get(call_sid)
        if found is None or not found.leg.live or found.browser_gone:
            return False
        found.device.push(callmessage.message(found.sid, value, sid))
        logs.event(LOGGER, logging.INFO, "user message sent", sid=call_sid, message=sid)
        return True
