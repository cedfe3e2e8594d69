"""A busy second call while the first is held, as each simulated family reports it.

The one-modem ``<Dial>`` holds the caller (AT+CHLD=2) and dials (ATD): when the callee is
busy, SIMCom, Quectel and a generic modem still end the dial with its V.25 result code
``BUSY`` after their own call-state URCs (profile ``dial_result_always``, quirk
``busy-while-held``); the Huawei E173 says it with ``^CEND:<idx>,0,104,17`` (Q.850 cause 17,
user busy).  The held call stays held.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sim import SimulatorHost
from appliance.sim.voice import RemoteParty, Silence
from tests.sim.test_voice import CALLER, TARGET, start

CLCC = '+CLCC: {},{},{},0,0,"{}",145,""'
QIND = '+QIND: "ccinfo",{},{},{},0,0,"{}",145'
# What ends the busy second call, per family; then nothing more (the caller is still held).
BUSY_END = {
    "generic": ["BUSY"],
    "sim800": [CLCC.format(2, 0, 6, TARGET), "BUSY"],
    "sim7600": [CLCC.format(2, 0, 6, TARGET), "VOICE CALL: END", "BUSY"],
    "quectel_ec25": [QIND.format(3, 0, -1, TARGET), "BUSY"],
    "huawei_e173": ["^CEND:2,0,104,17"],
}
HELD = {  # the caller's line in AT+CLCC afterwards
    "generic": '+CLCC: 1,1,1,0,0,"+447700900123",145',
    "sim800": CLCC.format(1, 1, 1, CALLER),
    "sim7600": CLCC.format(1, 1, 1, CALLER),
    "quectel_ec25": '+CLCC: 2,1,1,0,0,"+447700900123",145',
    "huawei_e173": '+CLCC: 1,1,1,0,0,"+447700900123",145',
}


@pytest.fixture
def host() -> Iterator[SimulatorHost]:
    h = SimulatorHost(Path(tempfile.mkdtemp(prefix="simb-", dir="/tmp")))
    yield h
    h.stop()


@pytest.mark.parametrize("family", sorted(BUSY_END))
def test_busy_callee_while_the_caller_is_held(host: SimulatorHost, family: str) -> None:
    port = start(host, family)
    host.network.set_callee(TARGET, "busy")
    caller = host.network.incoming_call("modem1", CALLER, party=RemoteParty([Silence(30)]))
    assert port.cmd("ATA")[-1] == "OK"  # after the ring URCs
    assert caller.wait_state("active", timeout=10)
    assert port.cmd("AT+CHLD=2")[-1] == "OK"
    assert caller.wait_state("held", timeout=10)
    assert port.cmd(f"ATD{TARGET};")[-1] == "OK"
    end = BUSY_END[family]
    port.until(end[0], timeout=5)
    if end[1:]:
        port.expect(*end[1:])
    port.quiet(0.3)
    dialled = [c for c in host.network.calls if c.number == TARGET][-1]
    assert dialled.end_reason == "busy"
    assert caller.state == "held"
    assert HELD[family] in port.cmd("AT+CLCC")
    port.close()
