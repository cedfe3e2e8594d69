"""The support number's escalation (pure): who rings at each step of a call to the "forward to
on-call" number (``/twimlets/oncall``), and the TwiML and texts of each step.

For the escalation chain ``[first, second, …]`` (who is on call, then the rotation's next
people), the plan rings the first person for the policy's ``ring_timeout`` seconds, then
each next person in turn, then everyone at once (one ``<Dial>`` with a ``<Number>`` each:
parallel ringing, each leg on its own free modem, the first to accept wins), and runs the
whole plan ``repeat`` times.  Each step is one ``<Dial>`` whose ``action`` is the next step.

Every ``<Number>`` carries the whisper twimlet with ``HumanCheck``: the callee hears "Support
line call. Press any key to accept." and the leg hangs up when no key is pressed, so a
voicemail that picks up does not take the call (Twilio's documented screening pattern).
A person with a client identity is also rung in their browser phones (a ``<Client>`` with the
same whisper, in the same ``<Dial>``): phones first, then browsers, ten nouns at most.
No I/O here.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence

GREETING = "Please hold while we connect you to the person on call."
WHISPER = "Support line call. Press any key to accept."
MISSED = "Sorry, nobody could take your call. The person on call has been paged."
NOBODY = "Sorry, nobody is on call right now. Please try again later."
MAX_STEPS = 100  # steps of one call's plan (a long rotation repeated is cut here)
MAX_PARALLEL = 10  # numbers in the everyone-at-once <Dial> (Twilio's limit for <Number>s)
MAX_CHAIN = 200  # people an action URL may carry


def plan(people: Sequence[int], repeat: int) -> list[tuple[int, ...]]:
    """The people rung at each step: each in turn, then all at once; ``repeat`` times."""
    if not people:
        return []
    once: list[tuple[int, ...]] = [(p,) for p in people]
    if len(people) > 1:
        once.append(tuple(people[:MAX_PARALLEL]))
    return (once * max(1, repeat))[:MAX_STEPS]


def whisper_url() -> str:
    """The relative whisper twimlet URL every callee's leg runs before the bridge."""
    query = urllib.parse.urlencode({"Message": WHISPER, "HumanCheck": "1"})
    return f"/twimlets/whisper?{query}"


def action_url(path: str, step: int, chain: Sequence[int], policy: str = "") -> str:
    """The URL of step ``step``: the chain (and the policy named, if any) ride along, so a
    handover mid-call changes nothing for a call already escalating."""
    params = {"Step": str(step), "Chain": ",".join(map(str, chain))}
    if policy:
        params["Policy"] = policy
    query = urllib.parse.urlencode(params)
    return f"{path}?{query}"


def parse_chain(text: str) -> list[int] | None:
    """The ``Chain`` parameter (``1,2,3``), or None when absent or malformed."""
    parts = [p for p in text.split(",") if p]
    if not parts or len(parts) > MAX_CHAIN:
        return None
    if not all(p.isascii() and p.isdigit() and len(p) < 12 for p in parts):
        return None
    return [int(p) for p in parts]


def document(body: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>'


def dial(
    phones: Sequence[str], ring: int, action: str, greet: bool, clients: Sequence[str] = ()
) -> str:
    """One step's TwiML: the greeting on the first step, then a ``<Dial>`` of ``phones`` and
    the browser phones of ``clients`` (identities), :data:`MAX_PARALLEL` nouns at most."""
    from xml.sax.saxutils import (
        escape,
        quoteattr,
    )  # here: it imports urllib.request, which an idle appliance does not load

    whisper = quoteattr(whisper_url())
    nouns = [f"<Number url={whisper}>{escape(p)}</Number>" for p in phones]
    nouns += [f"<Client url={whisper}>{escape(c)}</Client>" for c in clients]
    numbers = "".join(nouns[:MAX_PARALLEL])
    greeting = f"<Say>{escape(GREETING)}</Say>" if greet else ""
    return document(f'{greeting}<Dial timeout="{ring}" action={quoteattr(action)}>{numbers}</Dial>')


def hangup() -> str:
    return document("<Hangup/>")


def missed(paged: bool = True) -> str:
    """The end of the plan: the caller is told someone was paged (or that nobody is on call)."""
    from xml.sax.saxutils import escape  # here: see dial

    return document(f"<Say>{escape(MISSED if paged else NOBODY)}</Say><Hangup/>")


def step_text(caller: str, step: int, total: int, together: int) -> str:
    """The text a callee gets as their phone starts ringing (``together``: how many ring)."""
    others = together - 1
    who = f"you and {others} other{'s' if others > 1 else ''}" if others else "you"
    return (
        f"Support line: call from {caller} ringing {who} now (step {step + 1} of {total})."
        " Answer and press any key to take it."
    )
