"""The Voicemail twimlet: a greeting, a recording, and a notice of it.  Pure.

First request: ``Message`` (played or spoken; default "Please leave a message after the
beep."), then ``<Record/>``, whose action comes back here with ``RecordingUrl``.  That
second request answers "Thanks. Good bye." and hangs up, and :func:`voicemail` also
returns the :class:`Notice` the HTTP layer sends: a text message to ``Sms`` and an e-mail
to ``Email`` (when an SMTP relay is configured), each with the recording's link.

Differences from the classic (docs/twimlets.md): it e-mailed only, and by default only
once Twilio's transcription was done.  The appliance does not transcribe: ``Transcribe``
is accepted and ignored, the ``<Record>`` asks for no transcription, and the notice goes
out as soon as the recording ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.twimlets.document import Answer, Document
from appliance.twimlets.php import Params

__all__ = ["Notice", "notifies", "phone_format", "voicemail"]

GREETING = "Please leave a message after the beep."
GOODBYE = "Thanks. Good bye."


def phone_format(number: str) -> str:
    """The classic's display of a number: ``(415) 555-1212`` for a North American one
    (10 digits, or 11 with a leading 1), ``555-1212`` for 7 digits, else the digits."""
    digits = re.sub(r"[^0-9]", "", number)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    if len(digits) == 7:
        return f"{digits[:3]}-{digits[3:]}"
    return digits


@dataclass(frozen=True)
class Notice:
    """A new voicemail: who left it, its link, and whom to tell (``""``: nobody)."""

    caller: str
    recording_url: str
    sms_to: str = ""
    email_to: str = ""

    @property
    def link(self) -> str:
        """The recording as MP3, as the classic linked it."""
        return f"{self.recording_url}.mp3"

    @property
    def sms_body(self) -> str:
        return f"New voicemail from {self.caller or 'an unknown number'}: {self.link}"

    @property
    def email_subject(self) -> str:
        return f"New Voicemail Message from {phone_format(self.caller)}"

    @property
    def email_body(self) -> str:
        return (
            f"You have a new voicemail from {phone_format(self.caller)}\n\n"
            f"Click this link to listen to the message:\n{self.link}"
        )


def notifies(p: Params) -> bool:
    """Whether this request is the notification step (it carries a ``RecordingUrl``)."""
    return Params.string(p.request("RecordingUrl")) != ""


def voicemail(p: Params) -> tuple[Answer, Notice | None]:
    """Voicemail: ``Message``, ``Sms``, ``Email`` (``Transcribe`` is ignored)."""
    doc = Document()
    if notifies(p):
        doc.add("Say", GOODBYE)
        doc.add("Hangup")
        notice = Notice(
            caller=p.first_of("From", "Caller"),
            recording_url=Params.string(p.request("RecordingUrl")),
            sms_to=Params.string(p.get("Sms")).strip(),
            email_to=Params.string(p.get("Email")).strip(),
        )
        return doc.answer(), notice
    if not doc.prompt(Params.string(p.get("Message"))):
        doc.add("Say", GREETING)
    doc.add("Record")
    return doc.answer(), None
