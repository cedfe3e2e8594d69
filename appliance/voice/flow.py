"""One call's TwiML: a thread per live call that answers or rejects it, runs its verbs, ends it.

A :class:`CallFlow` asks the voice URL (or the REST API's Url/Twiml) for TwiML,
answers or rejects, and runs the verbs (:mod:`appliance.voice.verbs`, and
:mod:`appliance.voice.dial`): Say (espeak-ng), Play, Pause, Gather (DTMF with
barge-in), Record, Dial, Hangup, Reject, Redirect, Sms/Message.  AT work (answer, hang
up, dial) runs on the modem thread through :meth:`appliance.voice.phone.Phone.run`;
audio goes through the call's :class:`appliance.voice.channel.CallChannel`.  Whatever
happens (the caller hangs up mid-verb, the webhook fails, the modem stops answering),
the flow ends the call and stops its media, so neither a call nor a thread nor the
audio port is left stuck.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance import logs
from appliance.errors import StoreClosed, StoreUnavailable
from appliance.voice import call, dial, restupdate, timeline
from appliance.voice.call import CallLeg, Step
from appliance.voice.callwatch import CONNECT_TIMEOUT
from appliance.voice.channel import CallEnded
from appliance.voice.documents import FAILED
from appliance.voice.session import CallSession
from appliance.voice.verbs import control, gather, message, prompts, record, stream

if TYPE_CHECKING:
    from appliance.twiml.stream import Stream
    from appliance.voice.context import Context
    from appliance.voice.line import Line
    from appliance.voice.mediastream import StreamState

LOGGER = logging.getLogger(__name__)

CALLER_ID_WAIT = 3.0  # seconds after RING to wait for the line carrying the caller ID
CONNECT_SLACK = 5.0  # beyond the phone's CONNECT_TIMEOUT before the flow gives up on ATA

VerbHandler = Callable[[CallSession, Any, Any], Any]

VERBS: dict[str, VerbHandler] = {  # by the lower-cased class name of the parsed verb
    "say": prompts.say,
    "play": prompts.play,
    "pause": prompts.pause,
    "plaintext": prompts.plain_text,
    "audiobody": prompts.audio_body,
    "gather": gather.gather,
    "record": record.record,
    "dial": dial.dial,
    "hangup": control.hangup,
    "reject": control.reject,
    "redirect": control.redirect,
    "sms": message.message,
    "message": message.message,
    "start": stream.start,
    "stop": stream.stop,
    "connect": stream.connect,
}


# Verbs that need the call's own modem (its SIM): a browser leg (appliance.clients.line)
# skips them with an error event.  <Dial> claims a modem of its own; streams carry the
# browser's WebRTC audio.
MODEM_VERBS = frozenset({"sms", "message"})


class CallFlow:
    """Runs one call's TwiML on its own thread."""

    def __init__(
        self,
        phone: Line,
        leg: CallLeg,
        ctx: Context,
        *,
        session: CallSession | None = None,
        adopted: bool = False,
    ) -> None:
        """``adopted``: the call is up and runs already, on ``session`` (a dialled leg a REST
        redirect took out of its ``<Dial>``, :meth:`appliance.voice.dialleg.DialLeg.hand_over`):
        the flow starts with the TwiML of the update in ``calls.control``."""
        self.phone = phone
        self.leg = leg
        self.ctx = ctx
        self.sid = leg.sid
        self.session = session if session is not None else CallSession(phone, leg, ctx)
        self.session.adopt = adopt_leg
        self._adopted = adopted
        self.channel = self.session.channel
        self.documents = self.session.documents
        self._thread = threading.Thread(target=self._main, name=f"call {leg.sid[:10]}", daemon=True)

    # -- any thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def notify(self, step: Step) -> None:
        """The modem thread applied an event to this call."""
        self.channel.notify(step)

    def digit(self, digit: str, source: str) -> None:
        """A key press, from the in-band detector or a modem URC (merged, never doubled)."""
        self.channel.digit(digit, source)

    def stop(self) -> None:
        """The appliance is stopping: end the call at the next step (it is hung up)."""
        self.channel.stop()

    def control(self) -> None:
        """The REST API wrote calls.control (redirect or end)."""
        self.channel.control()

    def start_stream(self, spec: Stream) -> StreamState | None:
        """The REST API starts a one-way stream, as ``<Start><Stream>`` would, whatever verb
        runs; None if the name is taken.  It runs on the caller's thread, not this call's,
        and returns at once (the stream connects on a thread of its own): the media's
        listeners and the channel's closers are locked, and a stream that cannot connect
        ends stopped (error recorded).  The state returned is the one Twilio answers with:
        ``in-progress`` while it connects, even if it fails before this returns; ``stopped``
        only if it was refused at once (no audio port, or the call ended)."""
        client = stream.new_client(self.session, spec, bidirectional=False)
        if client is None:
            return None
        connecting = client.state()
        if not stream.attach(self.session, client, background=True):
            return client.state()
        return connecting

    # -- the thread ----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._run()
        except (CallEnded, StoreClosed):
            pass
        except StoreUnavailable as e:
            # A step that needs the database (the row of a call that just rang, a recording's
            # row, a <Dial>'s leg): the call cannot go on, so it ends cleanly; its end is
            # kept and written once the database is back (appliance.voice.backlog).
            logs.event(
                LOGGER,
                logging.WARNING,
                "call ended: database unreachable",
                sid=self.sid,
                error=str(e),
            )
            self._store_gone()
        except Exception:  # noqa: BLE001 - a bug must still end the call and free the port
            logs.event(LOGGER, logging.ERROR, "call flow error", sid=self.sid, exc_info=True)
            self.documents.event("error", 0, "internal error in the call flow")
        finally:
            self._finish()

    def _store_gone(self) -> None:
        """The database went away under this call: an answered call hears the apology (it
        needs no store), one still ringing is rejected as busy; then it is hung up."""
        try:
            if self.leg.status == call.IN_PROGRESS:
                self.session.say_apology()
            elif self.leg.live:
                self.phone.run(lambda: self.phone.hangup(self.leg, call.BUSY), timeout=30)
        except Exception as e:  # noqa: BLE001 - the caller or the modem may be gone already
            LOGGER.debug("%s: ending after the outage: %s", self.sid, e)

    def _finish(self) -> None:
        if self.leg.live:
            try:
                self.phone.run(lambda: self.phone.hangup(self.leg), timeout=30)
            except Exception as e:  # noqa: BLE001 - the modem may be gone; the phone ends it then
                logs.event(
                    LOGGER, logging.WARNING, "call hang-up failed", sid=self.sid, error=str(e)
                )
        self.channel.stop_media()
        self.phone.flows.pop(self.sid, None)

    def _run(self) -> None:
        channel, documents = self.channel, self.documents
        if self._adopted:
            channel.control_pending.set()
            self._execute([], None)  # the update's TwiML first (_take_control)
            return
        row = documents.row()
        if self.leg.incoming:
            if not row["url"]:
                # No Voice URL: leave the call unanswered (it is logged; the caller gets
                # the network's no-answer handling) rather than answer with an error.
                logs.event(
                    LOGGER,
                    logging.WARNING,
                    "call not answered: no Voice URL",
                    sid=self.sid,
                    to=row["to_number"],
                )
                with channel.poke:
                    while self.leg.live:
                        channel.poke.wait(1.0)
                raise CallEnded()
            if not self.leg.caller_id_seen:
                # RING came first: give the +CLIP (or +CLCC) with the caller's number a moment,
                # so that the app's first request has From (empty only when it is withheld).
                end = time.monotonic() + CALLER_ID_WAIT
                while not self.leg.caller_id_seen and time.monotonic() < end:
                    channel.sleep(0.05, interruptible=False)
                row = documents.row()
            doc = documents.first(row, call.RINGING)
            if doc is None:
                self._answer()
                self.session.say_apology()
                return
            verbs = list(doc.verbs)
            first: Any = verbs[0] if verbs else None
            if type(first).__name__ == "Reject":
                self._reject(first)
                return
            if type(first).__name__ == "Pause":
                channel.sleep(float(first.length), interruptible=False)
                verbs.pop(0)
            if verbs and _keeps_ringing(verbs[0]):
                self.session.pending_answer = self._answer_and_listen
                if self.phone.early_media(self.leg):  # a browser hears the ringback
                    channel.start_media()
            else:
                self._answer()
        else:
            self._wait_answer()
            doc = documents.first(documents.row(), call.IN_PROGRESS)
            if doc is None:
                self.session.say_apology()
                return
            verbs = list(doc.verbs)
        if self.session.pending_answer is None:
            channel.start_media()
        self._execute(verbs, doc)

    def _answer_and_listen(self) -> None:
        """Answer a call left ringing for ``<Dial answerOnBridge>``, then start its audio
        (unless it started with early media)."""
        self._answer()
        if self.channel.media is None:
            self.channel.start_media()

    # -- answering -----------------------------------------------------------------------------

    def _answer(self) -> None:
        """ATA, then wait until the modem says the call is connected: before that no verb may
        run (an AT+CHLD=2 for <Dial> would answer the still-ringing call instead of holding it,
        and SIM7600 audio cannot start).  The phone settles it within CONNECT_TIMEOUT."""
        if not self.phone.run(lambda: self.phone.answer(self.leg), timeout=30):
            raise CallEnded()
        channel = self.channel
        end = time.monotonic() + CONNECT_TIMEOUT + CONNECT_SLACK
        with channel.poke:
            while not channel.answered.is_set():
                channel.check()
                if time.monotonic() >= end:
                    logs.event(LOGGER, logging.WARNING, "call never connected", sid=self.sid)
                    raise CallEnded()  # the modem thread is stuck: _finish hangs up
                channel.poke.wait(0.25)

    def _wait_answer(self) -> None:
        # calls.control is read every second, not only when poked: an update can land
        # between the claim of the queued call and this flow being registered.
        channel = self.channel
        cancel = False
        with channel.poke:
            while not channel.answered.is_set() and not channel.ended.is_set():
                cancel = self._cancel_requested()
                if cancel:
                    break
                channel.poke.wait(1.0)
        if cancel and not channel.answered.is_set():
            self.phone.run(lambda: self.phone.hangup(self.leg, call.CANCELED), timeout=30)
            raise CallEnded()
        if channel.ended.is_set() or not self.leg.live:
            raise CallEnded()

    def _cancel_requested(self) -> bool:
        """While our call rings: did the API ask to cancel or end it?"""
        raw = self.documents.row()["control"]
        try:
            update = json.loads(raw) if raw else {}
        except ValueError:
            return False
        return update.get("status") in (call.CANCELED, call.COMPLETED)

    def _reject(self, verb: Any) -> None:
        timeline.verb(self.ctx.store, self.sid, verb)
        status = call.BUSY if getattr(verb, "reason", "rejected") == "busy" else call.NO_ANSWER
        self.phone.run(lambda: self.phone.hangup(self.leg, status), timeout=30)
        raise CallEnded()

    # -- the verbs -----------------------------------------------------------------------------

    def _execute(self, verbs: list[Any], doc: Any) -> None:
        """Run verbs; a verb may hand back the next document (Redirect, actions)."""
        control_pending = self.channel.control_pending
        while True:
            nxt = None
            for verb in verbs:
                self.channel.check()
                if control_pending.is_set():
                    nxt = self._take_control()
                    break
                nxt = self._verb(verb, doc)
                if nxt is not None:
                    break
            if nxt is None and control_pending.is_set():
                nxt = self._take_control()
            if nxt is None:
                self.session.hangup()  # no more verbs: Twilio ends the call
            if nxt is FAILED:
                self.session.say_apology()
                self.session.hangup()
            doc = nxt
            verbs = list(doc.verbs)

    def _take_control(self) -> Any:
        self.channel.control_pending.clear()
        update = restupdate.take(self.ctx.store, self.sid)
        if update is None:
            raise CallEnded()
        if update.get("status") in (call.COMPLETED, call.CANCELED):
            # Twilio: a call never answered ends canceled (what the API answered), else completed
            answered = self.leg.answered_at is not None
            self.session.hangup(call.COMPLETED if answered else call.CANCELED)
        if update.get("twiml"):
            doc = self.documents.parse(str(update["twiml"]).encode(), self.ctx.base_url())
            return doc if doc is not None else FAILED
        if update.get("url"):
            doc = self.documents.fetch(str(update["url"]), str(update.get("method") or "POST"), {})
            return doc if doc is not None else FAILED
        return None

    def _verb(self, verb: Any, doc: Any) -> Any:
        if self.session.pending_answer is not None and not _keeps_ringing(verb):
            self.session.answer_now()
        name = type(verb).__name__
        handler = VERBS.get(name.lower())
        if name.lower() in MODEM_VERBS and self.session.modem is None:
            self.documents.event(
                "error",
                12200,
                "<Message> is not supported on a call from a browser (no SIM sends it,"
                " and the caller is a client); skipped",
            )
            return None
        if handler is None:
            self.documents.event(
                "error", 12200, f"<{name}> is not supported on this appliance; skipped"
            )
            return None
        timeline.verb(self.ctx.store, self.sid, verb)
        return handler(self.session, verb, doc)


def adopt_leg(session: CallSession) -> None:
    """A dialled leg a REST redirect took out of its ``<Dial>``
    (:meth:`appliance.voice.dialleg.DialLeg.hand_over`): a flow of its own runs the new
    TwiML on the leg's ``session`` (its audio included), then ends the call."""
    flow = CallFlow(session.phone, session.leg, session.ctx, session=session, adopted=True)
    session.phone.flows[session.sid] = flow
    flow.start()


def _keeps_ringing(verb: Any) -> bool:
    """``<Dial answerOnBridge="true">``: the caller's call is answered only when a callee
    answers (the network keeps ringing the caller meanwhile)."""
    return type(verb).__name__ == "Dial" and bool(getattr(verb, "answer_on_bridge", False))
