"""One live call as its verbs see it: the phone, the leg, its channel and its documents."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from appliance.voice.call import CallLeg
from appliance.voice.channel import CallChannel, CallEnded
from appliance.voice.documents import Documents

if TYPE_CHECKING:
    from appliance.voice.context import Context
    from appliance.voice.phone import Phone

APOLOGY = "We're sorry, an application error has occurred. Goodbye."


class CallSession:
    """What a verb runs on: AT work through ``phone``, audio and keys through ``channel``,
    next documents, the call's row and its events through ``documents``."""

    def __init__(self, phone: Phone, leg: CallLeg, ctx: Context) -> None:
        self.phone = phone
        self.leg = leg
        self.ctx = ctx
        self.sid = leg.sid
        self.channel = CallChannel(phone, leg)
        self.documents = Documents(ctx, leg)
        # An inbound call left ringing for <Dial answerOnBridge>: how to answer it (and
        # start its audio) once a callee answers, or before any other verb runs.
        self.pending_answer: Callable[[], None] | None = None
        # How a flow of its own takes over a leg this call dialled when a REST redirect takes
        # it out of the <Dial> (set by the call's flow: appliance.voice.flow.adopt_leg).
        self.adopt: Callable[[CallSession], None] | None = None

    def answer_now(self) -> None:
        """Answer the call if it was left ringing (``answerOnBridge``); else nothing."""
        pending, self.pending_answer = self.pending_answer, None
        if pending is not None:
            pending()

    def hangup(self) -> NoReturn:
        """End the call (on the modem thread); the flow stops here."""
        self.phone.run(lambda: self.phone.hangup(self.leg), timeout=30)
        raise CallEnded()

    def say_apology(self) -> None:
        """Twilio's application-error message, starting the audio if need be."""
        if not self.leg.live:
            return
        if self.channel.media is None:
            self.channel.start_media()
        from appliance.voice import tts

        self.channel.play(tts.speak(APOLOGY), barge_in=False)
