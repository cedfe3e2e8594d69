"""The callee side of a ``<Dial><Client>`` leg (``appliance.clients.ringing.ClientDialLeg``).

* :func:`insert_row`: the child call's ``calls`` row (queued, ``outbound-dial``, From the
  caller's number, To ``client:<identity>``, the noun's status callback), kept for later
  while the database is away.
* :class:`CalleeLine`: the :class:`~appliance.voice.line.Line` the leg's own session runs on
  (its ``<Client url>`` whisper, its media): hanging up ends the ring or the answered call, and
  the audio is the winner's WebRTC port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from appliance.clients.line import NAME
from appliance.errors import StoreUnavailable
from appliance.voice import call
from appliance.voice.backlog import Backlog

if TYPE_CHECKING:
    from appliance.clients.line import ClientCall, ClientLine
    from appliance.store.database import Store
    from appliance.voice.call import CallLeg
    from appliance.voice.phone import Switchboard
    from appliance.voice.ports import AudioPort
    from appliance.voice.session import CallSession

T = TypeVar("T")


class Ring(Protocol):
    """What the callee's line needs of its ring (a ``ClientDialLeg``; a Protocol, since
    ``appliance.clients.ringing`` imports this module)."""

    line: ClientLine
    call: ClientCall | None  # the winner's, once a device answered

    def hangup(self, status: str | None = None) -> None: ...


def insert_row(
    store: Store, parent: CallSession, leg: CallLeg, noun: Any, timeout: float, node: str | None
) -> tuple[str, bool]:
    """Write the child row (queued), held by ``node`` (a fleet's node id, or None); return its
    From (the caller's number, as the browser will show it) and whether the row is written:
    False while the database is away (PostgreSQL), when the row is kept and written once it
    is back (:class:`~appliance.voice.backlog.Backlog`; the ring is turned away)."""
    row = parent.documents.row()
    caller = str(row["from_number"] or "") if row else ""
    now = time.time()
    values = (
        leg.sid,
        NAME,
        "outbound-dial",
        caller,
        str(leg.number),
        call.QUEUED,
        now,
        now,
        parent.sid,
        int(timeout),
        getattr(noun, "status_callback", None) or "",
        getattr(noun, "status_callback_method", "POST"),
        " ".join(getattr(noun, "status_callback_events", ("completed",))),
        node or None,
    )

    def fn(conn: Any) -> None:
        if conn.execute("SELECT 1 FROM calls WHERE sid = ?", (leg.sid,)).fetchone():
            return  # kept during an outage, and a write the outage cut had landed
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated, parent_call_sid, timeout, status_callback,"
            " status_callback_method, status_callback_events, node_id)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            values,
        )

    try:
        store.write(fn)
    except StoreUnavailable:
        Backlog.of(store).write(f"dialled leg {leg.sid}", fn)
        return caller, False
    return caller, True


class CalleeLine:
    """The line a ``<Client>`` leg's own session runs on (its whisper, its media): hanging up
    ends the ring or the answered call, and the audio is the winner's WebRTC port."""

    name = NAME
    can_conference = False

    def __init__(self, ring: Ring) -> None:
        self.ring = ring
        self.legs = ring.line.legs
        self.flows = ring.line.flows

    def run(self, fn: Callable[[], T], timeout: float = 60.0) -> T:
        return fn()

    @property
    def engine(self) -> Switchboard:
        return self.ring.line.engine

    def answer(self, leg: CallLeg) -> bool:
        return leg.answered_at is not None  # a browser answers by itself

    def early_media(self, leg: CallLeg) -> bool:
        return False  # the callee's leg: a <Dial answerOnBridge> is the caller's

    def hangup(self, leg: CallLeg, status: str = call.COMPLETED) -> None:
        self.ring.hangup(status)

    def enable_audio(self) -> bool:
        return True

    def open_audio(self) -> AudioPort | None:
        found = self.ring.call
        return found.peer.port if found is not None else None


if TYPE_CHECKING:  # mypy checks that the callee's line keeps the Line Protocol
    from appliance.voice.line import Line

    def _a_callee_line_is_a_line(line: CalleeLine) -> Line:
        return line
