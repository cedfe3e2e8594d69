"""One ``<Client>`` ring and the ids of browser calls: pure state (no I/O, no clock).

:class:`Invitation` is the race between the devices registered under one identity when the
appliance rings it (``<Dial><Client>alice``).  Each event (a device answers, rejects or goes
away; the ring times out or is cancelled) returns a :class:`Step`: the messages owed to each
device and, once the ring is decided, its outcome.  The rules come from the SDK
(docs/design.md, "Browser phone calls"):

* a device whose socket carries a live call is not rung (the SDK ignores such an invite in
  silence); when every device is busy, the ring ends ``busy`` at once;
* the first ``answer`` wins: the winner gets ``answer`` (a confirmation carrying its reconnect
  token), the others still ringing get ``cancel`` (a ringing call heeds nothing else);
* an answer that comes after the ring was decided (another device won, or the ``cancel``
  crossed it) gets ``hangup``;
* a ``reject`` takes only that device out (``Device.destroy()`` rejects every pending call):
  the ring ends ``busy`` when no device is still ringing; a device that goes away (its socket
  closed) drops out the same way, and the last one ends it ``no-answer``;
* a timeout ends it ``no-answer`` and a cancel (the caller hung up, a REST update)
  ``canceled``, both with ``cancel`` to every device still ringing.

:class:`CallIds` maps a browser's temporary ``TJS…`` id to the call's ``CA…`` SID, and
:class:`Reconnects` keeps the reconnect tokens (values the caller makes from random bytes).
A legacy 1.x Device has no reconnect token: :func:`may_resume` says whether the
:class:`Holder` of a new socket may take over the call of a dropped one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from collections.abc import Hashable, Iterable

RINGING, ANSWERED, BUSY, NO_ANSWER, CANCELED = (
    "ringing",
    "answered",
    "busy",
    "no-answer",
    "canceled",
)


@dataclasses.dataclass(frozen=True)
class Send:
    """A message owed to one device: ``invite``, ``cancel``, ``answer`` or ``hangup``."""

    device: Hashable
    kind: str


@dataclasses.dataclass(frozen=True)
class Step:
    """What one event causes: the messages to send, and the ring's outcome once decided."""

    sends: tuple[Send, ...] = ()
    outcome: str | None = None  # ANSWERED, BUSY, NO_ANSWER or CANCELED, once, then None
    error: str | None = None  # an event the ring cannot take (the caller answers 31404)


class Invitation:
    """The ring of one ``<Client>`` noun across the devices of its identity."""

    def __init__(self, devices: Iterable[Hashable], busy: Iterable[Hashable] = ()) -> None:
        taken = set(busy)
        self.devices = tuple(dict.fromkeys(devices))
        self.ringing: list[Hashable] = [d for d in self.devices if d not in taken]
        self.rung = tuple(self.ringing)  # the devices invited
        self.winner: Hashable | None = None
        self.state = RINGING

    @property
    def decided(self) -> bool:
        return self.state != RINGING

    def start(self) -> Step:
        """The invites to send; a ring with no device free ends ``busy`` at once."""
        if not self.ringing:
            return self._end(BUSY)
        return Step(tuple(Send(d, "invite") for d in self.ringing))

    def answer(self, device: Hashable) -> Step:
        if device == self.winner:
            return Step()  # a repeated answer: already confirmed
        if device not in self.ringing:
            if self.decided and device in self.rung:
                # answered too late: another won, or the cancel crossed this answer
                return Step((Send(device, "hangup"),))
            return Step(error=f"this device is not ringing for this call ({self.state})")
        self.ringing.remove(device)
        self.winner = device
        others = tuple(Send(d, "cancel") for d in self.ringing)
        self.ringing.clear()
        self.state = ANSWERED
        return Step((Send(device, "answer"), *others), ANSWERED)

    def reject(self, device: Hashable) -> Step:
        """The device declined (or its page closed): only it drops out."""
        return self._drop(device, BUSY)

    def gone(self, device: Hashable) -> Step:
        """The device's socket closed while it rang."""
        return self._drop(device, NO_ANSWER)

    def timeout(self) -> Step:
        return self._stop(NO_ANSWER)

    def cancel(self) -> Step:
        """The caller hung up, or a REST update ended the call."""
        return self._stop(CANCELED)

    def _drop(self, device: Hashable, last: str) -> Step:
        if device not in self.ringing:
            if device in self.rung:
                return Step()  # already out: a reject after a cancel is harmless
            return Step(error="this device is not ringing for this call")
        self.ringing.remove(device)
        if self.ringing or self.decided:
            return Step()
        return self._end(last)

    def _stop(self, outcome: str) -> Step:
        if self.decided:
            return Step()
        sends = tuple(Send(d, "cancel") for d in self.ringing)
        self.ringing.clear()
        return dataclasses.replace(self._end(outcome), sends=sends)

    def _end(self, outcome: str) -> Step:
        self.state = outcome
        return Step(outcome=outcome)


class CallIds:
    """Browser calls' ids: the ``CA…`` SID, and the ``TJS…`` id an outgoing call had until
    the SDK adopted the SID (its ``hangup`` may carry either)."""

    def __init__(self) -> None:
        self._sid_of: dict[str, str] = {}

    def add(self, sid: str, temporary: str | None = None) -> None:
        self._sid_of[sid] = sid
        if temporary is not None and temporary != sid:
            self._sid_of[temporary] = sid

    def sid(self, callsid: str) -> str | None:
        """The call SID for either id, or None for an unknown call."""
        return self._sid_of.get(callsid)

    def remove(self, sid: str) -> None:
        for key in [k for k, v in self._sid_of.items() if v == sid]:
            del self._sid_of[key]

    def __len__(self) -> int:
        return len(set(self._sid_of.values()))


class Reconnects:
    """Reconnect tokens: each names one call and the identity it was given to; a token is
    good for that identity only, and until the call ends."""

    def __init__(self) -> None:
        self._calls: dict[str, tuple[str, str]] = {}

    def issue(self, token: str, sid: str, identity: str) -> str:
        """Keeps ``token`` (made by the caller from random bytes) for ``sid``."""
        self.forget(sid)
        self._calls[token] = (sid, identity)
        return token

    def claim(self, token: str, sid: str, identity: str | None) -> bool:
        """Whether ``token`` re-attaches call ``sid`` for a socket of ``identity``."""
        return identity is not None and self._calls.get(token) == (sid, identity)

    def forget(self, sid: str) -> None:
        for key in [k for k, v in self._calls.items() if v[0] == sid]:
            del self._calls[key]

    def __len__(self) -> int:
        return len(self._calls)


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who a socket's last good ``listen`` says it is: the token's account and identity (None:
    a token without one), a digest of the token itself, and whether the Device is a legacy 1.x
    one (``pstream.Message.legacy``)."""

    account_sid: str
    identity: str | None
    token_digest: str
    legacy: bool

    @classmethod
    def of(cls, account_sid: str, identity: str | None, token: str, legacy: bool) -> Holder:
        digest = hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
        return cls(account_sid, identity, digest, legacy)

    def same_token(self, other: Holder) -> bool:
        return hmac.compare_digest(self.token_digest, other.token_digest)


def may_resume(dropped: Holder, new: Holder) -> bool:
    """Whether a new socket that listened as ``new`` may take over a call whose socket, held as
    ``dropped``, closed (the caller checks that the call waits in its grace).  A 1.x Device
    sends nothing but its token again, so both must be legacy, of the same account, and of the
    same identity (a capability token's client name); a call of a token without an identity
    goes only to the very same token.  A 2.x Device proves itself with its reconnect token
    instead (:class:`Reconnects`)."""
    if not (dropped.legacy and new.legacy) or dropped.account_sid != new.account_sid:
        return False
    if dropped.identity is not None:
        return new.identity == dropped.identity
    return new.identity is None and dropped.same_token(new)
