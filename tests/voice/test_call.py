"""The call state core: URC lines of every dialect, and one call's transitions."""

from __future__ import annotations

import pytest

from appliance.voice import call
from appliance.voice.call import CallEvent, CallLeg, parse


@pytest.mark.parametrize(
    ("line", "kind", "number", "index", "reason"),
    [
        ("RING", "ring", None, None, None),
        ("+CRING: VOICE", "ring", None, None, None),
        ('+CLIP: "+447700900123",145,"",0,"",0', "ring", "+447700900123", None, None),
        ('+CLIP: "",128,,,,1', "ring", None, None, None),  # withheld
        ('+CLIP: "+38970349147",145,,,,0', "ring", "+38970349147", None, None),
        ('+CLCC: 1,1,4,0,0,"+447700900123",145,""', "ring", "+447700900123", 1, None),
        ('+CLCC: 1,1,4,0,0,"+447700900123",145', "ring", "+447700900123", 1, None),
        ('+CLCC: 1,0,2,0,0,"+447700900456",145,""', "dialing", "+447700900456", 1, None),
        ('+CLCC: 1,0,3,0,0,"+447700900456",145,""', "alerting", "+447700900456", 1, None),
        ('+CLCC: 1,0,0,0,0,"+447700900456",145,""', "active", "+447700900456", 1, None),
        ('+CLCC: 2,1,5,0,0,"+447700900999",145,""', "waiting", "+447700900999", 2, None),
        ('+CLCC: 1,1,6,0,0,"13320984483",129,""', "released", "13320984483", 1, None),
        ("^ORIG:1,0", "dialing", None, 1, None),
        ("^CONF:1", "alerting", None, 1, None),
        ("^CONN:1,0", "active", None, 1, None),
        ("^CEND:1,37,104,16", "released", None, 1, None),
        ("^CEND:1,0,104,17", "released", None, 1, "busy"),
        ("^CEND:1,0,104,19", "released", None, 1, "no-answer"),
        ("^CEND: 1,0, 67, 17", "released", None, 1, "busy"),
        ("VOICE CALL: BEGIN", "active", None, None, None),
        ("VOICE CALL: END: 000008", "released", None, None, None),
        ("VOICE CALL: END", "released", None, None, None),
        ("NO CARRIER", "released", None, None, None),
        ("BUSY", "released", None, None, "busy"),
        ("NO ANSWER", "released", None, None, "no-answer"),
        ("NO DIALTONE", "released", None, None, "failed"),
        ("MO RING", "alerting", None, None, None),
        ("MO CONNECTED", "active", None, None, None),
        ('+QIND: "ccinfo",2,1,4,0,0,"+38970349147",145', "ring", "+38970349147", 2, None),
        ('+QIND: "ccinfo",2,0,3,0,0,"+4812345",129', "alerting", "+4812345", 2, None),
        ('+QIND: "ccinfo",2,0,-1,0,0,"+4812345",129', "released", "+4812345", 2, None),
        ("^DSCI: 2,1,4,0,+48123456789,145", "ring", "+48123456789", 2, None),
        ('+CCWA: "+447700900999",145,1', "waiting", "+447700900999", None, None),
    ],
)
def test_lines_of_every_dialect(
    line: str, kind: str, number: str | None, index: int | None, reason: str | None
) -> None:
    event = parse(line)
    assert event is not None
    assert (event.kind, event.number, event.index, event.reason) == (kind, number, index, reason)


@pytest.mark.parametrize(
    ("line", "digit"),
    [
        ("+DTMF: 5", "5"),
        ("+DTMF: #,160", "#"),
        ("+RXDTMF: *", "*"),
        ("+QTONEDET: 56", "8"),
        ("+QTONEDET: 35", "#"),
        ("+QTONEDET: 65", "A"),
    ],
)
def test_dtmf_urcs(line: str, digit: str) -> None:
    assert parse(line) == CallEvent("dtmf", digit=digit, source=parse(line).source)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "line",
    [
        "OK",
        '+CMTI: "SM",3',
        "+CRING: REL ASYNC",
        '+CLCC: 1,1,0,1,0,"",128',
        "+QTONEDET: 999",
        "+QTONEDET: 48x",
        "garbage \ufffd",
        "",
    ],
)
def test_other_lines_are_not_call_events(line: str) -> None:
    event = parse(line)
    assert event is None or event.kind == "dtmf" and event.digit in "0123456789"


def test_inbound_answered_then_remote_hangup() -> None:
    leg = CallLeg("CA1", incoming=True, status=call.RINGING)
    step = leg.apply(CallEvent("active", 1), now=10.0)
    assert step.answered_now and leg.status == call.IN_PROGRESS
    step = leg.apply(CallEvent("released"), now=47.4)
    assert step.ended_now and leg.status == call.COMPLETED and leg.duration() == 37
    # The NO CARRIER that follows ^CEND changes nothing.
    assert not leg.apply(CallEvent("released"), now=48).changed


def test_inbound_caller_gives_up_while_ringing() -> None:
    leg = CallLeg("CA1", incoming=True, status=call.RINGING)
    assert leg.apply(CallEvent("released"), now=5).status == call.NO_ANSWER


@pytest.mark.parametrize(
    ("events", "status"),
    [
        (
            [CallEvent("dialing"), CallEvent("alerting"), CallEvent("released", reason="busy")],
            "busy",
        ),
        ([CallEvent("dialing"), CallEvent("alerting"), CallEvent("released")], "no-answer"),
        ([CallEvent("dialing"), CallEvent("released")], "failed"),
        ([CallEvent("dialing"), CallEvent("released", reason="failed")], "failed"),
        ([CallEvent("dialing"), CallEvent("active"), CallEvent("released")], "completed"),
    ],
)
def test_outbound_outcomes(events: list[CallEvent], status: str) -> None:
    leg = CallLeg("CA1", incoming=False)
    for i, event in enumerate(events):
        leg.apply(event, now=float(i))
    assert leg.status == status and not leg.live


def test_ending_it_ourselves_and_the_index() -> None:
    leg = CallLeg("CA1", incoming=False)
    leg.apply(CallEvent("dialing", 3), now=0)
    assert leg.index == 3 and leg.status == call.RINGING
    step = leg.end(call.NO_ANSWER, now=60)
    assert step.ended_now and leg.status == call.NO_ANSWER and leg.duration() == 0
    assert not leg.end(call.COMPLETED, now=61).changed
