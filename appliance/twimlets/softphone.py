"""The Softphone twimlet: the panel's phone dials a number or a browser.  Pure.

The VoiceUrl of the panel's own TwiML App (docs/clients.md, "The panel's phone"): the page's
``device.connect({params: {To}})`` comes here with ``To`` as the person typed it.

* a phone number (digits, with ``+``, spaces, dashes, dots or brackets) in E.164 with its
  country code → ``<Dial callerId="the SIM's number"><Number>+…</Number></Dial>``;
* ``client:alice``, or a bare name that is a valid client identity →
  ``<Dial><Client>alice</Client></Dial>``;
* anything else (empty, a national number, a bad identity) → a ``<Say>`` naming the problem,
  then ``<Hangup/>``: the person hears why, and the call ends cleanly.

It is not a classic twimlet: the HTTP layer serves it only to the appliance's own signed
requests (it dials through the SIM).  The caller ID and the identity rule are the HTTP layer's
to give: ``client_problem`` is :func:`appliance.clients.identity.problem` (``twimlets`` may
not import ``clients``, which sits above ``voice``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from appliance.errors import InvalidNumber
from appliance.numbers import normalize
from appliance.twimlets.document import Answer, Document

__all__ = ["Target", "softphone", "target"]

CLIENT_PREFIX = "client:"
MAX_TO = 300  # characters of To read (an identity is at most 256, "client:" on top)
# What a person may type in a number besides its digits (a leading + is required).
_NUMBERISH = re.compile(r"[+0-9][0-9 ()./-]*")
NO_TARGET = "No number or name was dialled. Type a number with its country code, or a name."


@dataclass(frozen=True)
class Target:
    """Where ``To`` leads: ``kind`` is ``number``, ``client`` or ``bad`` (``problem`` says why)."""

    kind: str
    value: str = ""
    problem: str = ""


def target(to: str, client_problem: Callable[[str], str | None]) -> Target:
    """Read ``To``: an E.164 number, a client identity, or a problem to say."""
    text = to.strip()
    if not text:
        return Target("bad", problem=NO_TARGET)
    if len(text) > MAX_TO:
        return Target("bad", problem="What was dialled is too long to be a number or a name.")
    if text.lower().startswith(CLIENT_PREFIX):
        name = text[len(CLIENT_PREFIX) :]
        why = client_problem(name)
        if why is not None:
            return Target("bad", problem=f"That is not a browser phone's name: {why}.")
        return Target("client", name)
    if _NUMBERISH.fullmatch(text):
        if not text.startswith("+"):
            return Target(
                "bad",
                problem="Dial the number with a plus and its country code, such as"
                " plus 4 4 7 7 0 0 9 0 0 1 2 3.",
            )
        try:
            return Target("number", normalize(text))
        except InvalidNumber:
            return Target("bad", problem="That is not a valid phone number.")
    why = client_problem(text)
    if why is not None:
        return Target(
            "bad", problem=f"That is neither a phone number nor a browser phone's name: {why}."
        )
    return Target("client", text)


def softphone(to: str, caller_id: str, client_problem: Callable[[str], str | None]) -> Answer:
    """The TwiML for a call the panel's phone places to ``to``; ``caller_id`` is the SIM's
    number (empty: no ``callerId``, the modem's own is used)."""
    doc = Document()
    where = target(to, client_problem)
    if where.kind == "number":
        attrs = {"callerId": caller_id} if caller_id else {}
        dial = doc.add("Dial", **attrs)
        doc.add("Number", where.value, dial)
    elif where.kind == "client":
        dial = doc.add("Dial")
        doc.add("Client", where.value, dial)
    else:
        doc.add("Say", where.problem)
        doc.add("Hangup")
    return doc.answer()
