"""The call URCs of each family's dialect: the lines a modem writes for call events.

The dialect (voice.md section 4) comes from the profile's ``[voice] dialect``:
``generic`` (RING/+CLIP, V.25 result codes), ``sim800`` (+CLCC with AT+CLCC=1),
``sim7600`` (+ ``VOICE CALL: BEGIN/END``), ``huawei`` (^ORIG/^CONF/^CONN/^CEND),
``quectel`` (+QIND: "ccinfo", no RING).  Every function here only formats: it takes the
family's :class:`~.profile.SimVoice`, the host's settings (:class:`~.state.ModemState`)
and the call; the modem (``voiceline.VoiceLine``) decides when to write the lines.
"""

from __future__ import annotations

from .call import (
    STAT_ACTIVE,
    STAT_ALERTING,
    STAT_DIALING,
    STAT_INCOMING,
    STAT_RELEASED,
    STAT_WAITING,
    SimCall,
)
from .profile import SimVoice
from .state import ModemState

# ^CEND cc_cause (Q.850) by release reason (voice.md 3.4, 4.1)
_CC_CAUSE = {
    "busy": 17,
    "no-answer": 19,
    "rejected": 21,
    "unreachable": 20,
    "network-lost": 31,
}


def who(call: SimCall) -> tuple[str, int]:
    """The far end's number and type of number as the modem shows it (withheld: ``"", 128``)."""
    if call.withheld and call.direction == "inbound":
        return "", 128
    return call.number, 145 if call.number.startswith("+") else 129


def clcc_line(v: SimVoice, call: SimCall, stat: int) -> str:
    number, ton = who(call)
    d = 0 if call.direction == "outbound" else 1
    line = f'+CLCC: {call.index},{d},{stat},0,{int(call.mpty)},"{number}",{ton}'
    return line + ',""' if v.clcc_alpha else line


def ccinfo_line(call: SimCall, stat: int) -> str:
    number, ton = who(call)
    d = 0 if call.direction == "outbound" else 1
    st = -1 if stat == STAT_RELEASED else stat
    return f'+QIND: "ccinfo",{call.index},{d},{st},0,{int(call.mpty)},"{number}",{ton}'


def report(v: SimVoice, state: ModemState, call: SimCall, stat: int) -> list[str]:
    """The state-change URCs the host asked for (AT+CLCC=1, AT+QINDCFG="ccinfo",1)."""
    out = []
    if v.clcc_urc and state.clcc:
        out.append(clcc_line(v, call, stat))
    if v.dialect == "quectel" and state.extra.get("ccinfo") == "1":
        out.append(ccinfo_line(call, stat))
    return out


def clip_line(v: SimVoice, call: SimCall) -> str:
    number, ton = who(call)
    validity = 1 if call.withheld else 0
    return v.clip.format(number=number, type=ton, validity=validity)


def ring_lines(v: SimVoice, state: ModemState, call: SimCall, first: bool) -> list[str]:
    out: list[str] = []
    if first and v.dialect == "sim800":
        out += report(v, state, call, STAT_INCOMING)  # SIM800: +CLCC before the first RING
    if state.crc:
        out.append("+CRING: VOICE")
    elif v.ring:
        out.append("RING")
    if state.clip:
        out.append(clip_line(v, call))
    if first and v.dialect != "sim800":
        out += report(v, state, call, STAT_INCOMING)
    return out


def waiting_lines(v: SimVoice, state: ModemState, call: SimCall) -> list[str]:
    """A second incoming call while one is in progress: +CCWA (if AT+CCWA=1) and reports."""
    lines = []
    if state.ccwa:
        number, ton = who(call)
        lines.append(f'+CCWA: "{number}",{ton},1')
    return lines + report(v, state, call, STAT_WAITING)


def dialing_lines(v: SimVoice, state: ModemState, call: SimCall) -> list[str]:
    return (
        [f"^ORIG:{call.index},0"] if v.dialect == "huawei" else report(v, state, call, STAT_DIALING)
    )


def alerting_lines(v: SimVoice, state: ModemState, call: SimCall) -> list[str]:
    huawei = v.dialect == "huawei"
    lines = [f"^CONF:{call.index}"] if huawei else report(v, state, call, STAT_ALERTING)
    if v.dialect == "sim800" and state.moring:
        lines.append("MO RING")
    return lines


def connected_lines(v: SimVoice, state: ModemState, call: SimCall) -> list[str]:
    if v.dialect == "huawei":
        return [f"^CONN:{call.index},0"]
    out = ["VOICE CALL: BEGIN"] if v.dialect == "sim7600" else []
    out += report(v, state, call, STAT_ACTIVE)
    if v.dialect == "sim800" and call.direction == "outbound" and state.moring:
        out.append("MO CONNECTED")
    return out


def result_code(v: SimVoice, call: SimCall, reason: str) -> str:
    if call.direction == "inbound":
        return "NO CARRIER"
    if reason == "busy":
        return "BUSY"
    if reason in ("no-answer", "rejected"):
        if v.dialect == "sim7600":
            return "NO CARRIER"  # rejected and unanswered look the same (voice.md 4.3)
        return "NO ANSWER" if reason == "no-answer" else "BUSY"
    return "NO CARRIER"


def end_lines(
    v: SimVoice,
    state: ModemState,
    call: SimCall,
    reason: str,
    *,
    local: bool,
    connected: bool,
    seconds: int,
    others: bool,
) -> list[str]:
    """``call`` was released; ``others``: the modem still carries other calls."""
    # a V.25 result code for a remote or network release, once no other call is left; the
    # outcome of a dial that never connected even beside a held call (dial_result_always)
    dial_outcome = v.dial_result_always and call.direction == "outbound" and not connected
    tail = [] if local or (others and not dial_outcome) else [result_code(v, call, reason)]
    if v.dialect == "huawei":
        status = 29 if local else 104  # 29 ended by the client, 104 released by the network
        cause = _CC_CAUSE.get(reason, 16)
        if call.direction == "inbound" and not local and reason != "network-lost":
            cause = 16
        return [f"^CEND:{call.index},{seconds},{status},{cause}"] + (
            tail if v.result_after_cend else []
        )
    released = report(v, state, call, STAT_RELEASED)
    if v.dialect == "sim7600":
        h, rest = divmod(seconds, 3600)
        end = f"VOICE CALL: END: {h:02d}{rest // 60:02d}{rest % 60:02d}"
        if not connected:
            end = "VOICE CALL: END"
            if call.direction == "inbound" and not local:
                return [end, *tail, *released]  # sim76xx README order for a missed call
        return [*released, end, *tail]
    return released + tail


def dtmf_line(v: SimVoice, extra: dict[str, str], digit: str, ms: int) -> str | None:
    """The family's URC for a key the far end pressed, if the host enabled it (else None)."""
    kind = v.dtmf
    if kind == "ddet" and extra.get("ddet") == "1":
        return f"+DTMF: {digit}" + (f",{ms}" if extra.get("ddet_report") == "1" else "")
    if kind == "rxdtmf" and extra.get("ddet") == "1":
        return f"+RXDTMF: {digit}"
    if kind == "qtonedet" and extra.get("qtonedet", "0").strip().startswith("1"):
        return f"+QTONEDET: {ord(digit)}"
    return None
