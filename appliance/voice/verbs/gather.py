"""``<Gather>``: play the nested prompts (a key press cuts them short), then collect digits."""

from __future__ import annotations

import logging
from typing import Any, Protocol

from appliance import logs
from appliance.voice import timeline
from appliance.voice.session import CallSession
from appliance.voice.verbs import prompts

LOGGER = logging.getLogger(__name__)


class Prompt(Protocol):
    def __call__(
        self, session: CallSession, verb: Any, doc: Any, *, barge_in: bool = False
    ) -> Any: ...


PROMPTS: dict[str, Prompt] = {  # what TwiML allows inside <Gather>
    "say": prompts.say,
    "play": prompts.play,
    "pause": prompts.pause,
}


def gather(session: CallSession, verb: Any, doc: Any) -> Any:
    channel = session.channel
    channel.clear_digits()
    finish = verb.finish_on_key or ""
    wanted = verb.num_digits
    for child in getattr(verb, "children", ()):
        handler = PROMPTS.get(type(child).__name__.lower())
        if handler is None:
            continue
        handler(session, child, doc, barge_in=True)
        if not channel.digits.empty() or channel.control_pending.is_set():
            break
    if channel.control_pending.is_set():
        return None
    entered = ""
    timeout = float(verb.timeout)
    why = "timeout"
    while True:
        d = channel.next_digit(timeout)
        if d is None:
            break
        if finish and d in finish:
            why = f"finishOnKey {d}"
            break
        entered += d
        if wanted and len(entered) >= int(wanted):
            why = "numDigits"
            break
    # The keys may be a PIN or a card number: DEBUG only (the panel's timeline shows them).
    logs.event(LOGGER, logging.DEBUG, "call gathered", sid=session.sid, digits=entered)
    timeline.gathered(session.ctx.store, session.sid, entered, why)
    if not entered and not getattr(verb, "action_on_empty_result", False):
        return None
    return session.documents.action(verb.action, verb.method, {"Digits": entered})
