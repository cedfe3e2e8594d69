"""The simulated modem's voice side, over its real ptys with plain pyserial.

Each test plays the daemon: AT commands on the modem's pty, raw 320-byte frames on its
audio pty.  The line formats checked here are the ones voice.md section 4 shows.
"""

from __future__ import annotations

import math
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import serial

from appliance.sim import SimulatorHost, request
from appliance.sim.voice import (
    FRAME_BYTES,
    Digits,
    Hangup,
    RemoteParty,
    Say,
    Silence,
    SimCall,
    WaitHeard,
)
from appliance.voice import tones

NUMBER = "+447700900001"
NUMBER2 = "+447700900002"
CALLER = "+447700900123"
TARGET = "+447700900456"
FAMILIES = ["generic", "sim800", "sim7600", "huawei_e173", "quectel_ec25"]
FAST = {"ring_period": 0.4, "answer_delay": 0.05, "orig_delay": 0.05, "alert_delay": 0.15}
BEEP_FRAME = tones.beep(20, 1000, -12.0)  # one 20 ms frame of a 1 kHz tone


# ---------------------------------------------------------------- fixtures / helpers
@pytest.fixture
def host() -> Iterator[SimulatorHost]:
    d = Path(tempfile.mkdtemp(prefix="simv-", dir="/tmp"))
    h = SimulatorHost(d)
    yield h
    h.stop()
    for p in sorted(d.rglob("*"), reverse=True):
        try:
            p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
        except OSError:
            pass
    try:
        d.rmdir()
    except OSError:
        pass


class Port:
    """Plain pyserial on the modem's AT pty, reading whole lines."""

    def __init__(self, path: Path) -> None:
        self.ser = serial.Serial(str(path), 115200, timeout=0.05)
        self.buf = b""

    def close(self) -> None:
        self.ser.close()

    def cmd(self, command: str, timeout: float = 10.0) -> list[str]:
        """Send a command; return its lines up to and including the final result."""
        self.ser.write(command.encode() + b"\r")
        lines: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(0.01, deadline - time.monotonic()))
            lines.append(line)
            if line == "OK" or "ERROR" in line:
                return lines

    def line(self, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            while b"\r\n" in self.buf:
                raw, self.buf = self.buf.split(b"\r\n", 1)
                if raw.strip():
                    return raw.decode("latin-1").strip()
            if time.monotonic() > deadline:
                raise AssertionError(f"no line in {timeout:.1f} s; buffer {self.buf!r}")
            self.buf += self.ser.read(4096)

    def expect(self, *lines: str, timeout: float = 10.0) -> list[str]:
        """The next lines are exactly these (a regex where a line starts with ``re:``)."""
        got = [self.line(timeout) for _ in lines]
        for want, line in zip(lines, got, strict=True):
            if want.startswith("re:"):
                assert re.fullmatch(want[3:], line), (want, got)
            else:
                assert line == want, (lines, got)
        return got

    def until(self, want: str, timeout: float = 10.0) -> list[str]:
        """Skip lines until ``want``; return the skipped ones."""
        skipped = []
        deadline = time.monotonic() + timeout
        while (line := self.line(max(0.01, deadline - time.monotonic()))) != want:
            skipped.append(line)
        return skipped

    def quiet(self, wait: float = 0.3) -> None:
        time.sleep(wait)
        self.buf += self.ser.read(65536)
        assert self.buf.strip() == b"", self.buf


def start(host: SimulatorHost, family: str, name: str = "modem1", number: str = NUMBER) -> Port:
    """A booted modem with echo off, CMEE=1 and its family's [voice] init commands sent."""
    modem = host.add(name, family, number, latency=0.01, boot_delay=0.01, voice=dict(FAST))
    if not host._started:
        host.start()
    deadline = time.monotonic() + 5
    while not modem.booted:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    port = Port(modem.port_path)
    time.sleep(0.05)
    port.ser.read(65536)
    assert port.cmd("ATE0")[-1] == "OK"
    assert port.cmd("AT+CMEE=1") == ["OK"]
    for command in modem.profile.voice.init:
        assert port.cmd(command)[-1] == "OK", command
    return port


class Audio:
    """The daemon's side of the audio pty: reads frames, optionally sends uplink frames."""

    def __init__(self, path: Path) -> None:
        self.ser = serial.Serial(str(path), timeout=0.02)
        self.data = bytearray()
        self.times: list[tuple[float, int]] = []  # (monotonic, total bytes so far)
        self.uplink: bytes | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            try:
                chunk = self.ser.read(4096)
                if self.uplink is not None and time.monotonic() >= next_t:
                    self.ser.write(self.uplink)
                    next_t += 0.02
            except (serial.SerialException, OSError):
                return
            if chunk:
                self.data += chunk
                self.times.append((time.monotonic(), len(self.data)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.ser.close()

    def rate(self, skip: float = 0.2, span: float = 1.0) -> float:
        """Frames per second over ``span`` seconds, ``skip`` seconds after the first byte."""
        t0 = self.times[0][0] + skip
        start = next(n for t, n in self.times if t >= t0)
        end = next(n for t, n in self.times if t >= t0 + span)
        return (end - start) / FRAME_BYTES / span


DTMF_FREQS = (697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0)


def power(pcm: bytes, hz: float) -> float:
    """Power of ``hz`` in S16LE ``pcm`` (8 kHz): one DFT bin."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n = np.arange(len(x))
    return float(abs(np.dot(x, np.exp(-2j * math.pi * hz * n / 8000))) ** 2)


def has_dtmf(pcm: bytes, low: float, high: float) -> bool:
    """Some 40 ms window holds both tones, each 10x stronger than any other DTMF tone."""
    win = 640
    for off in range(0, len(pcm) - win, win // 2):
        w = pcm[off : off + win]
        p = {f: power(w, f) for f in DTMF_FREQS}
        weakest = min(p[low], p[high])
        others = max(v for f, v in p.items() if f not in (low, high))
        if weakest > 1e9 and weakest > 10 * others:
            return True
    return False


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


# per family: the first ring, the answer, DTMF "1" and "#", and the remote hang-up
CLCC_IN = '+CLCC: 1,1,{},0,0,"+447700900123",145,""'
INBOUND: dict[str, dict[str, list[str]]] = {
    "generic": {
        "ring": ["RING", '+CLIP: "+447700900123",145'],
        "answer": [],
        "dtmf": [],
        "end": ["NO CARRIER"],
    },
    "sim800": {
        "ring": [CLCC_IN.format(4), "RING", '+CLIP: "+447700900123",145,"",0,"",0'],
        "answer": [CLCC_IN.format(0)],
        "dtmf": ["+DTMF: 1", "+DTMF: #"],
        "end": [CLCC_IN.format(6), "NO CARRIER"],
    },
    "sim7600": {
        "ring": ["RING", '+CLIP: "+447700900123",145,,,,0', CLCC_IN.format(4)],
        "answer": ["VOICE CALL: BEGIN", CLCC_IN.format(0)],
        "dtmf": ["+RXDTMF: 1", "+RXDTMF: #"],
        "end": [CLCC_IN.format(6), r"re:VOICE CALL: END: 0000\d\d", "NO CARRIER"],
    },
    "huawei_e173": {
        "ring": ["RING", '+CLIP: "+447700900123",145,,,,0'],
        "answer": ["^CONN:1,0"],
        "dtmf": [],
        "end": [r"re:\^CEND:1,\d+,104,16"],
    },
    "quectel_ec25": {
        "ring": [
            '+CLIP: "+447700900123",145,,,,0',
            '+QIND: "ccinfo",2,1,4,0,0,"+447700900123",145',
        ],
        "answer": ['+QIND: "ccinfo",2,1,0,0,0,"+447700900123",145'],
        "dtmf": ["+QTONEDET: 49", "+QTONEDET: 35"],
        "end": ['+QIND: "ccinfo",2,1,-1,0,0,"+447700900123",145', "NO CARRIER"],
    },
}
AUDIO_ON = {"sim7600": "AT+CPCMREG=1", "huawei_e173": "AT^DDSETEX=2"}


# ---------------------------------------------------------------- inbound, per family
@pytest.mark.parametrize("family", FAMILIES)
def test_inbound_call_audio_digits_and_remote_hangup(host: SimulatorHost, family: str) -> None:
    port = start(host, family)
    modem = host.modems["modem1"]
    audio = Audio(modem.audio_path)
    try:
        audio.uplink = BEEP_FRAME * 1  # the appliance "speaks" from the start
        party = RemoteParty(
            [WaitHeard(0.3, timeout=5), Digits("1#", 80, 80), Silence(0.4), Hangup()]
        )
        call = host.network.incoming_call("modem1", CALLER, party=party)
        exp = INBOUND[family]
        port.expect(*exp["ring"])
        assert call.state == "ringing"
        time.sleep(0.2)
        assert not audio.data  # nothing on the audio pty while it rings
        assert port.cmd("ATA") == ["OK"]
        if exp["answer"]:
            port.expect(*exp["answer"])
        assert call.wait_state("active", 10)
        if family in AUDIO_ON:
            assert port.cmd(AUDIO_ON[family]) == ["OK"]
        if exp["dtmf"]:
            port.expect(*exp["dtmf"], timeout=6)
        port.expect(*exp["end"], timeout=6)
        assert call.wait_state("ended", 10) and call.end_reason == "remote-hangup"
        time.sleep(0.1)
        # 20 ms pacing, the remote party's keys in-band, what the "appliance" said heard
        assert 45 <= audio.rate(skip=0.1, span=0.5) <= 55
        pcm = bytes(audio.data)
        assert has_dtmf(pcm, 697, 1209) and has_dtmf(pcm, 941, 1477)  # "1" and "#"
        heard = call.heard()
        assert len(heard) >= 15 * FRAME_BYTES and heard.count(BEEP_FRAME) >= 15
        times = call.frame_times()
        assert len(times) == len(heard) // FRAME_BYTES
        assert all(b >= a for a, b in zip(times, times[1:], strict=False))
        # the call is over: the audio pty goes quiet again
        n = len(audio.data)
        time.sleep(0.3)
        assert len(audio.data) == n
    finally:
        audio.close()
        port.close()


def test_audio_pty_is_silent_with_no_call_and_before_audio_is_enabled(host: SimulatorHost) -> None:
    port = start(host, "sim7600")
    modem = host.modems["modem1"]
    assert modem.audio_path == modem.port_path.with_suffix(".audio")
    audio = Audio(modem.audio_path)
    try:
        audio.uplink = BEEP_FRAME
        time.sleep(0.3)
        assert not audio.data  # no call: the uplink is read and dropped, nothing is sent
        assert port.cmd("AT+CPCMREG=1") == ["ERROR"]  # ERROR unless a call is connected
        call = host.network.incoming_call("modem1", CALLER)
        port.expect("RING", '+CLIP: "+447700900123",145,,,,0', CLCC_IN.format(4))
        port.cmd("ATA")
        port.expect("VOICE CALL: BEGIN", CLCC_IN.format(0))
        time.sleep(0.3)
        assert not audio.data and not call.heard()  # connected, but CPCMREG=1 not sent yet
        modem.cpcmreg_fail(1)
        assert port.cmd("AT+CPCMREG=1") == ["ERROR"]  # the first-try failure switch
        assert port.cmd("AT+CPCMREG=1") == ["OK"]
        wait_for(lambda: len(audio.data) >= 10 * FRAME_BYTES)
        assert set(audio.data) == {0}  # a silent remote party: silence frames, still paced
        assert port.cmd("AT+CHUP") == ["OK"]
        port.expect(CLCC_IN.format(6), r"re:VOICE CALL: END: 0000\d\d")
        assert call.wait_state("ended", 10) and call.end_reason == "local-hangup"
        assert call.heard().count(BEEP_FRAME) >= 5
    finally:
        audio.close()
        port.close()


@pytest.mark.parametrize(
    ("family", "lines"),
    [
        ("sim800", [CLCC_IN.format(6)]),
        ("huawei_e173", ["^CEND:1,0,29,21"]),
        ("quectel_ec25", ['+QIND: "ccinfo",2,1,-1,0,0,"+447700900123",145']),
    ],
)
def test_reject_while_ringing(host: SimulatorHost, family: str, lines: list[str]) -> None:
    port = start(host, family)
    call = host.network.incoming_call("modem1", CALLER)
    port.expect(*INBOUND[family]["ring"])
    assert port.cmd("AT+CHUP") == ["OK"]
    port.expect(*lines)
    assert call.wait_state("ended", 10) and call.end_reason == "rejected"
    port.quiet(0.5)  # no more RING once rejected
    port.close()


def test_caller_gives_up_and_withheld_number(host: SimulatorHost) -> None:
    port = start(host, "huawei_e173")
    call = host.network.incoming_call("modem1", CALLER, withheld=True, ring_timeout=0.6)
    port.expect("RING", '+CLIP: "",128,,,,1', "RING", '+CLIP: "",128,,,,1')
    port.expect("^CEND:1,0,104,16")
    assert call.end_reason == "no-answer"
    assert port.cmd("ATA") == ["ERROR"]  # nothing left to answer
    port.close()


# ---------------------------------------------------------------- outbound, per family
CLCC_OUT = '+CLCC: 1,0,{},0,0,"+447700900456",145,""'
QIND_OUT = '+QIND: "ccinfo",2,0,{},0,0,"+447700900456",145'
OUTBOUND: dict[str, dict[str, list[str]]] = {
    "generic": {
        "answer": ["NO CARRIER"],
        "busy": ["BUSY"],
        "no-answer": ["NO ANSWER"],
        "unreachable": ["NO CARRIER"],
    },
    "sim800": {
        "answer": [CLCC_OUT.format(s) for s in (2, 3, 0, 6)] + ["NO CARRIER"],
        "busy": [CLCC_OUT.format(s) for s in (2, 3, 6)] + ["BUSY"],
        "no-answer": [CLCC_OUT.format(s) for s in (2, 3, 6)] + ["NO ANSWER"],
        "unreachable": [CLCC_OUT.format(s) for s in (2, 6)] + ["NO CARRIER"],
    },
    "sim7600": {
        "answer": [CLCC_OUT.format(2), CLCC_OUT.format(3), "VOICE CALL: BEGIN", CLCC_OUT.format(0)]
        + [CLCC_OUT.format(6), "VOICE CALL: END: 000000", "NO CARRIER"],
        "busy": [CLCC_OUT.format(s) for s in (2, 3, 6)] + ["VOICE CALL: END", "BUSY"],
        "no-answer": [CLCC_OUT.format(s) for s in (2, 3, 6)] + ["VOICE CALL: END", "NO CARRIER"],
        "unreachable": [CLCC_OUT.format(s) for s in (2, 6)] + ["VOICE CALL: END", "NO CARRIER"],
    },
    "huawei_e173": {
        "answer": ["^ORIG:1,0", "^CONF:1", "^CONN:1,0", "^CEND:1,0,104,16"],
        "busy": ["^ORIG:1,0", "^CONF:1", "^CEND:1,0,104,17"],
        "no-answer": ["^ORIG:1,0", "^CONF:1", "^CEND:1,0,104,19"],
        "unreachable": ["^ORIG:1,0", "^CEND:1,0,104,20"],
    },
    "quectel_ec25": {
        "answer": [QIND_OUT.format(s) for s in (2, 3, 0, -1)] + ["NO CARRIER"],
        "busy": [QIND_OUT.format(s) for s in (2, 3, -1)] + ["BUSY"],
        "no-answer": [QIND_OUT.format(s) for s in (2, 3, -1)] + ["NO ANSWER"],
        "unreachable": [QIND_OUT.format(s) for s in (2, -1)] + ["NO CARRIER"],
    },
}


@pytest.mark.parametrize("family", FAMILIES)
def test_outbound_answer_busy_no_answer_unreachable(host: SimulatorHost, family: str) -> None:
    port = start(host, family)
    host.network.ring_timeout = 0.5  # the network gives up on an unanswered call
    for outcome in ("answer", "busy", "no-answer", "unreachable"):
        party = RemoteParty([Silence(0.2), Hangup()])
        host.network.set_callee(TARGET, outcome, answer_after=0.1, party=party)
        assert port.cmd(f"ATD{TARGET};") == ["OK"], outcome
        port.expect(*OUTBOUND[family][outcome], timeout=10)
        call = host.network.calls[-1]
        assert call.number == TARGET and call.direction == "outbound"
        want = "remote-hangup" if outcome == "answer" else outcome
        assert call.wait_state("ended", 10) and call.end_reason == want, outcome
        port.quiet(0.1)
    port.close()


def test_outbound_local_hangup_while_ringing_and_dial_errors(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    host.network.set_callee(TARGET, "no-answer")
    assert port.cmd(f"ATD{TARGET};") == ["OK"]
    port.expect(CLCC_OUT.format(2), CLCC_OUT.format(3))
    call = host.network.calls[-1]
    assert call.state == "ringing"
    assert port.cmd("ATH") == ["OK"]
    port.expect(CLCC_OUT.format(6))
    assert call.end_reason == "local-hangup"
    assert port.cmd("ATDnot-a-number;") == ["ERROR"]
    assert port.cmd(f"ATD{TARGET}") == ["ERROR"]  # no ";": a data call
    host.modems["modem1"].network_loss(True)
    assert port.cmd(f"ATD{TARGET};") == ["+CME ERROR: 30"]
    port.close()


# ---------------------------------------------------------------- hold, mpty, ect
def _answered_inbound(host: SimulatorHost, port: Port) -> SimCall:
    call = host.network.incoming_call("modem1", CALLER)
    port.expect(*INBOUND["sim800"]["ring"])
    port.cmd("ATA")
    port.expect(CLCC_IN.format(0))
    return call


def test_hold_dial_conference_then_split(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    caller = _answered_inbound(host, port)
    host.network.set_callee(TARGET, "answer", answer_after=0.1)
    assert port.cmd("AT+CHLD=2") == ["OK"]
    port.expect(CLCC_IN.format(1))
    assert caller.state == "held"
    assert port.cmd(f"ATD{TARGET};") == ["OK"]
    port.expect(
        '+CLCC: 2,0,2,0,0,"+447700900456",145,""',
        '+CLCC: 2,0,3,0,0,"+447700900456",145,""',
        '+CLCC: 2,0,0,0,0,"+447700900456",145,""',
    )
    target = host.network.calls[-1]
    assert port.cmd("AT+CHLD=3") == ["OK"]
    port.expect(
        '+CLCC: 1,1,0,0,1,"+447700900123",145,""', '+CLCC: 2,0,0,0,1,"+447700900456",145,""'
    )
    assert port.cmd("AT+CLCC") == [
        '+CLCC: 1,1,0,0,1,"+447700900123",145,""',
        '+CLCC: 2,0,0,0,1,"+447700900456",145,""',
        "OK",
    ]
    assert caller.state == target.state == "active" and caller.mpty and target.mpty
    # the target leaves the conference: the caller stays, alone
    target.hangup()
    port.expect('+CLCC: 2,0,6,0,1,"+447700900456",145,""')
    assert caller.state == "active" and target.end_reason == "remote-hangup"
    assert port.cmd("AT+CHLD=11") == ["OK"]
    port.expect('+CLCC: 1,1,6,0,0,"+447700900123",145,""')  # a conference of one: mpty 0
    assert caller.end_reason == "local-hangup"
    port.close()


def test_explicit_call_transfer(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    caller = _answered_inbound(host, port)
    host.network.set_callee(TARGET, "answer", answer_after=0.1)
    # SIM800: ATD during an active call holds it first
    assert port.cmd(f"ATD{TARGET};") == ["OK"]
    port.expect(CLCC_IN.format(1), '+CLCC: 2,0,2,0,0,"+447700900456",145,""')
    port.expect('+CLCC: 2,0,3,0,0,"+447700900456",145,""')
    port.expect('+CLCC: 2,0,0,0,0,"+447700900456",145,""')
    target = host.network.calls[-1]
    assert port.cmd("AT+CHLD=4") == ["OK"]
    port.expect(CLCC_IN.format(6), '+CLCC: 2,0,6,0,0,"+447700900456",145,""')
    assert caller.end_reason == target.end_reason == "transferred"
    assert caller.transferred_to is target and target.transferred_to is caller
    assert port.cmd("AT+CLCC") == ["OK"]
    port.close()


def test_operator_refuses_hold_mpty_ect(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    caller = _answered_inbound(host, port)
    host.network.refuse("hold", "mpty", "ect")
    assert port.cmd("AT+CHLD=2") == ["+CME ERROR: 3"]
    assert port.cmd(f"ATD{TARGET};") == ["+CME ERROR: 3"]  # auto-hold refused too
    assert caller.state == "active"
    # only MPTY refused: hold and dial work, the conference does not; fall back cleanly
    host.network.refuse("mpty")
    host.network.set_callee(TARGET, "answer", answer_after=0.1)
    assert port.cmd("AT+CHLD=2") == ["OK"]
    port.expect(CLCC_IN.format(1))
    assert port.cmd(f"ATD{TARGET};") == ["OK"]
    port.expect(*[f'+CLCC: 2,0,{s},0,0,"+447700900456",145,""' for s in (2, 3, 0)])
    assert port.cmd("AT+CHLD=3") == ["+CME ERROR: 3"]
    assert port.cmd("AT+CHLD=12") == ["OK"]  # release the target ...
    port.expect('+CLCC: 2,0,6,0,0,"+447700900456",145,""')
    assert port.cmd("AT+CHLD=1") == ["OK"]  # ... and take the caller back
    port.expect(CLCC_IN.format(0))
    assert caller.state == "active"
    port.close()


def test_call_waiting_is_presented_and_rejected_as_busy(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    first = _answered_inbound(host, port)
    assert port.cmd("AT+CCWA=1,1") == ["OK"]
    second = host.network.incoming_call("modem1", "+447700900777")
    port.expect('+CCWA: "+447700900777",145,1', '+CLCC: 2,1,5,0,0,"+447700900777",145,""')
    assert second.state == "ringing"
    assert port.cmd("AT+CHLD=0") == ["OK"]  # UDUB: the second caller hears busy
    port.expect('+CLCC: 2,1,6,0,0,"+447700900777",145,""')
    assert second.end_reason == "busy" and first.state == "active"
    # without +CCWA presentation the waiting call shows only in +CLCC
    assert port.cmd("AT+CCWA=0") == ["OK"]
    third = host.network.incoming_call("modem1", "+447700900778")
    port.expect('+CLCC: 2,1,5,0,0,"+447700900778",145,""')
    # the first caller hangs up: the waiting call now rings like a new one
    first.hangup()
    port.expect(CLCC_IN.format(6))
    port.expect('+CLCC: 2,1,4,0,0,"+447700900778",145,""', "RING")
    third.hangup()
    port.until('+CLCC: 2,1,6,0,0,"+447700900778",145,""')
    port.expect("NO CARRIER")
    # with the network's call waiting off, a second caller gets busy at once
    call = _answered_inbound(host, port)
    assert port.cmd("AT+CCWA=1,0") == ["OK"]
    assert port.cmd("AT+CCWA=1,2") == ["+CCWA: 0,1", "OK"]
    fourth = host.network.incoming_call("modem1", "+447700900779")
    assert fourth.end_reason == "busy" and call.state == "active"
    port.close()


# ---------------------------------------------------------------- two modems
def test_modem_to_modem_call_bridges_audio(host: SimulatorHost) -> None:
    a = start(host, "sim800", "modem1", NUMBER)
    b = start(host, "huawei_e173", "modem2", NUMBER2)
    audio_a = Audio(host.modems["modem1"].audio_path)
    audio_b = Audio(host.modems["modem2"].audio_path)
    try:
        assert a.cmd(f"ATD{NUMBER2};") == ["OK"]
        a.expect('+CLCC: 1,0,2,0,0,"+447700900002",145,""')
        b.expect("RING", '+CLIP: "+447700900001",145,,,,0')
        a.expect('+CLCC: 1,0,3,0,0,"+447700900002",145,""')
        assert b.cmd("ATA") == ["OK"]
        b.expect("^CONN:1,0")
        a.expect('+CLCC: 1,0,0,0,0,"+447700900002",145,""')
        assert b.cmd("AT^DDSETEX=2") == ["OK"]
        audio_b.uplink = BEEP_FRAME  # modem2's side speaks; modem1's side hears it
        wait_for(lambda: BEEP_FRAME in bytes(audio_a.data), timeout=10)
        assert set(audio_b.data) <= {0}  # modem1's side says nothing
        assert b.cmd("AT+CHUP") == ["OK"]
        b.expect(r"re:\^CEND:1,\d+,29,16")
        a.expect('+CLCC: 1,0,6,0,0,"+447700900002",145,""', "NO CARRIER")
        legs = host.network.calls
        assert [c.end_reason for c in legs] == ["remote-hangup", "local-hangup"]
    finally:
        audio_a.close()
        audio_b.close()
        a.close()
        b.close()


def test_dialling_a_busy_modem_gives_busy(host: SimulatorHost) -> None:
    a = start(host, "sim7600", "modem1", NUMBER)
    b = start(host, "quectel_ec25", "modem2", NUMBER2)
    host.network.incoming_call("modem2", CALLER)
    b.expect('+CLIP: "+447700900123",145,,,,0')
    assert a.cmd(f"ATD{NUMBER2};") == ["OK"]
    a.expect('+CLCC: 1,0,2,0,0,"+447700900002",145,""')
    a.expect('+CLCC: 1,0,6,0,0,"+447700900002",145,""', "VOICE CALL: END", "BUSY")
    a.close()
    b.close()


# ---------------------------------------------------------------- faults, speech, control
def test_unplug_closes_the_audio_pty_and_drops_the_call(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    modem = host.modems["modem1"]
    audio = Audio(modem.audio_path)
    call = _answered_inbound(host, port)
    wait_for(lambda: len(audio.data) >= 5 * FRAME_BYTES)
    modem.stop_answering(True)  # a hung modem: the audio stops too
    time.sleep(0.1)
    n = len(audio.data)
    time.sleep(0.3)
    assert len(audio.data) == n and call.state == "active"
    modem.stop_answering(False)
    wait_for(lambda: len(audio.data) > n)
    modem.unplug()
    assert not modem.audio_path.exists() and not modem.port_path.exists()
    assert call.end_reason == "modem-gone"
    audio._thread.join(3)
    assert not audio._thread.is_alive()  # its reads failed: the pty is gone
    audio.close()
    modem.replug()
    assert modem.audio_path.is_symlink()
    port.close()


def test_say_plays_speech(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    audio = Audio(host.modems["modem1"].audio_path)
    try:
        party = RemoteParty([Say("Hello, this is a test call."), Hangup()])
        call = host.network.incoming_call("modem1", CALLER, party=party)
        port.expect(*INBOUND["sim800"]["ring"])
        port.cmd("ATA")
        port.expect(CLCC_IN.format(0))
        port.expect(CLCC_IN.format(6), "NO CARRIER", timeout=10)
        pcm = bytes(audio.data)
        loud = sum(
            1
            for i in range(0, len(pcm) - FRAME_BYTES, FRAME_BYTES)
            if max(abs(x) for x in memoryview(pcm[i : i + FRAME_BYTES]).cast("h")) > 1000
        )
        assert loud >= 40  # at least 0.8 s of speech
        assert call.end_reason == "remote-hangup"
    finally:
        audio.close()
        port.close()


def test_control_socket_call_ops_and_vts(host: SimulatorHost) -> None:
    port = start(host, "sim800")
    sock = host.control_path
    rv = request(sock, "call_in", modem="modem1", **{"from": CALLER}, party=[])
    call_id = rv["call"]["id"]
    port.expect(*INBOUND["sim800"]["ring"])
    port.cmd("ATA")
    port.expect(CLCC_IN.format(0))
    assert port.cmd('AT+VTS="1,2,3"') == ["OK"]
    assert port.cmd("AT+VTS=#") == ["OK"]
    status = request(sock, "call_status")["calls"]
    assert status[0]["id"] == call_id and status[0]["state"] == "active"
    assert status[0]["received_digits"] == "123#"
    request(sock, "call_digits", digits="9")
    port.expect("+DTMF: 9")
    request(sock, "callee", number=TARGET, outcome="busy")
    request(sock, "call_hangup", call=call_id)
    port.expect(CLCC_IN.format(6), "NO CARRIER")
    with pytest.raises(Exception, match="no call"):
        request(sock, "call_hangup", call="C999")
    with pytest.raises(Exception, match="outcome"):
        request(sock, "callee", number=TARGET, outcome="maybe")
    st = request(sock, "status", modem="modem1")["status"]
    assert st["audio"]["port"].endswith("modem1.audio")
    port.close()


def test_remote_party_from_spec_rejects_bad_steps() -> None:
    party = RemoteParty.from_spec([{"say": "hi"}, {"digits": "12#"}, {"silence": 1}, {"hangup": 1}])
    assert [type(s).__name__ for s in party.steps] == ["Say", "Digits", "Silence", "Hangup"]
    for bad in ([{"digits": "12x"}], [{"dance": 1}], ["say"]):
        with pytest.raises(ValueError):
            RemoteParty.from_spec(bad)
