"""``<Number url>``: the whisper, TwiML run on the callee's leg after the answer, before the bridge.

Twilio runs the document at ``url`` on the called party's end while the caller keeps
hearing ringing: it can ``<Say>`` or ``<Play>`` something privately, and a ``<Gather>``
with ``<Hangup>`` lets the callee accept or decline.  The whisper *accepts* the call
when its TwiML runs out without hanging up; it *declines* when it hangs up (``<Hangup>``,
``<Reject>``), when the callee hangs up, or when its document cannot be had (the
callee hears Twilio's application-error message).  ``<Dial>`` is not allowed there
(Twilio's rule): it is skipped with a warning, as are verbs that need a caller
(``<Record>``, ``<Connect>``, ...).  The request carries the child call's parameters
(its CallSid, ``ParentCallSid``, ``Direction=outbound-dial``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from appliance.voice.channel import CallEnded
from appliance.voice.documents import FAILED
from appliance.voice.session import CallSession
from appliance.voice.verbs import control, gather, prompts

WhisperVerb = Callable[[CallSession, Any, Any], Any]

VERBS: dict[str, WhisperVerb] = {  # by the lower-cased class name of the parsed verb
    "say": prompts.say,
    "play": prompts.play,
    "pause": prompts.pause,
    "plaintext": prompts.plain_text,
    "audiobody": prompts.audio_body,
    "gather": gather.gather,
    "hangup": control.hangup,
    "reject": control.hangup,
    "redirect": control.redirect,
}


def whisper(session: CallSession, url: str, method: str) -> bool:
    """Run the whisper on the callee's ``session`` (its media started); True if it accepted
    the call (its TwiML ended with the callee still there), False if it declined."""
    try:
        doc = session.documents.fetch(url, method or "POST", {})
        if doc is None:
            session.say_apology()
            return False
        while True:
            nxt = None
            for verb in doc.verbs:
                session.channel.check()
                nxt = _verb(session, verb, doc)
                if nxt is not None:
                    break
            if nxt is None:
                return session.leg.live  # the TwiML ran out: the callee accepted
            if nxt is FAILED:
                session.say_apology()
                return False
            doc = nxt
    except CallEnded:
        return False


def _verb(session: CallSession, verb: Any, doc: Any) -> Any:
    name = type(verb).__name__
    handler = VERBS.get(name.lower())
    if handler is None:
        session.documents.event(
            "warning", 12200, f"<{name}> cannot run in a <Number url> whisper; skipped"
        )
        return None
    return handler(session, verb, doc)
