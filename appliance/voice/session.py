"""One live call as its verbs see it: its line, the leg, its channel and its documents.

The line (``phone``, for its history) is a :class:`~appliance.voice.line.Line`: a modem's
:class:`~appliance.voice.phone.Phone`, or a browser call.  Verbs that need a modem narrow it
with :func:`modem_of`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from appliance.voice.call import CallLeg
from appliance.voice.channel import CallChannel, CallEnded
from appliance.voice.documents import Documents

if TYPE_CHECKING:
    from appliance.voice.context import Context
    from appliance.voice.line import Line
    from appliance.voice.phone import Phone

APOLOGY = "We're sorry, an application error has occurred. Goodbye."


class CallSession:
    """What a verb runs on: the line's work (AT commands on a modem) through ``phone``, audio
    and keys through ``channel``, next documents, the call's row and its events through
    ``documents``."""

    def __init__(self, phone: Line, leg: CallLeg, ctx: Context) -> None:
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

    @property
    def modem(self) -> Phone | None:
        """The call's modem, or None for a call on another line (a browser's)."""
        return modem_of(self.phone)

    def hangup(self, status: str | None = None) -> NoReturn:
        """End the call (on the modem thread), ``status`` or completed; the flow stops here."""
        if status is None:
            self.phone.run(lambda: self.phone.hangup(self.leg), timeout=30)
        else:
            self.phone.run(lambda: self.phone.hangup(self.leg, status), timeout=30)
        raise CallEnded()

    def say_apology(self) -> None:
        """Twilio's application-error message, starting the audio if need be."""
        if not self.leg.live:
            return
        if self.channel.media is None:
            self.channel.start_media()
        from appliance.voice import tts

        self.channel.play(tts.speak(APOLOGY), barge_in=False)


def modem_of(line: Line) -> Phone | None:
    """``line`` as a modem's phone, or None when it is another line (a browser call)."""
    from appliance.voice.phone import Phone  # late: a modem's machinery

    return line if isinstance(line, Phone) else None
