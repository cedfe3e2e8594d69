"""Command lines as host AT stacks write them: several commands after one AT (V.250 §5.4),
the V.250 basics (S-parameters, ATX, AT&C, AT&D, +IFC, +IPR, +GCAP) and the 27.007
commands gammu, smstools3 and chan_dongle send at start-up, on every simulated family."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.sim import SimulatedModem, SimulatorHost
from appliance.sim.dispatcher import CommandDispatcher
from tests.sim.test_sim import Port, ready_port, wait_for

FAMILIES = ["sim800", "huawei_e173", "sim7600", "quectel_ec25", "generic"]
LTE = {"sim7600", "quectel_ec25"}
NUMBER = "+447700900001"
CALLER = "+447700900123"

# What host stacks send at start-up (gammu 1.42 atgen.c, smstools3 3.1.21 smsd.c,
# chan_dongle at_command.c, python-gsmmodem modem.py, wvdial's Init2): each must answer OK.
STARTUP = [
    "ATZ",
    "ATE0",
    "ATQ0 V1 E0 S0=0 &C1 &D2",  # wvdial's Init2 (without +FCLASS), spaces and all
    "AT+CMEE=1;+CREG=2",  # smstools3 pre_init
    "AT+CMEE=1",
    "AT+CGMI",
    "AT+CGMM",
    "AT+CGMR",
    "AT+CGSN",
    "AT+CIMI",
    "AT+GCAP",
    "AT+CPIN?",
    "AT+CSQ",
    "AT+CREG=2",
    "AT+CREG?",
    "AT+CGREG=2",
    "AT+CGREG?",
    "AT+CGATT?",
    "AT+CGATT=?",
    "AT+COPS=0,0",
    "AT+COPS=3,2",
    "AT+COPS?",
    "AT+COPS=3,0",
    "AT+COPS?",
    "AT+CNUM",
    "AT+CSCA?",
    "AT+CMGF=0",
    "AT+CPMS?",
    "AT+CNMI=2,1,0,2,0",
    "AT+CSCS=?",
    "ATS0?",
    "AT+IFC=0,0",
    "AT+IPR?",
]


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    yield h
    h.stop()


@pytest.fixture
def ports() -> Iterator[list[Port]]:
    opened: list[Port] = []
    yield opened
    for p in opened:
        p.close()


def start(
    host: SimulatorHost, ports: list[Port], family: str, **kw: Any
) -> tuple[SimulatedModem, Port]:
    modem = host.add("modem1", family, NUMBER, latency=0.01, boot_delay=0.0, **kw)
    host.start()
    wait_for(lambda: modem.booted)

    def make(m: SimulatedModem) -> Port:
        p = Port(m.port_path)
        ports.append(p)
        return p

    port = ready_port(modem, make)
    if family == "huawei_e173":
        port.cmd("AT^CURC=0")  # no ^RSSI/^BOOT in the middle of the answers
        port.drain(0.1)
    return modem, port


def test_split_follows_v250() -> None:
    split = CommandDispatcher.split
    # SIM800 manual §1.4.4's own example
    assert split("E1Q0S0=1S3=13V1X4;+IFC=0,0;+IPR=115200;&W") == [
        "E1", "Q0", "S0=1", "S3=13", "V1", "X4", "+IFC=0,0", "+IPR=115200", "&W",
    ]  # fmt: skip
    assert split("+CMEE=1;+CREG=2") == ["+CMEE=1", "+CREG=2"]
    assert split("+CGMI;+CGMM;") == ["+CGMI", "+CGMM"]
    assert split('+CUSD=1,"*100#;",15;+CSQ') == ['+CUSD=1,"*100#;",15', "+CSQ"]  # ; in a string
    assert split('+CSCA = "+44 77" , 145') == ['+CSCA="+44 77",145']  # spaces outside strings
    assert split("E0+CMEE=1") == ["E0", "+CMEE=1"]
    assert split("D+44 7700 900123;") == ["D+447700900123;"]  # D takes the rest of the line
    assert split("E0S7?S0=?") == ["E0", "S7?", "S0=?"]


def test_concatenated_commands_run_in_order_with_one_final_result(
    host: SimulatorHost, ports: list[Port]
) -> None:
    modem, p = start(host, ports, "sim800")
    assert p.cmd("AT+CMEE=0;+CREG=0") == b"\r\nOK\r\n"
    assert p.cmd("AT+CMEE=1;+CREG=2") == b"\r\nOK\r\n"  # smstools3's pre-init line
    assert (modem.state.cmee, modem.state.creg_n) == (1, 2)
    # each command's information text is framed on its own; one OK ends the line
    assert p.cmd("AT+CGMI;+CGMM") == b"\r\nSIMCOM_Ltd\r\n\r\nSIMCOM_SIM800\r\n\r\nOK\r\n"
    assert (
        p.cmd("AT+CSQ;+CREG?") == b'\r\n+CSQ: 20,99\r\n\r\n+CREG: 2,1,"1A2B","00C3"\r\n\r\nOK\r\n'
    )
    assert p.cmd('AT+CSCA="12;34",129;+CSCA?') == b'\r\n+CSCA: "12;34",129\r\n\r\nOK\r\n'
    # the first error ends the line: what came before it ran, what comes after it does not
    assert p.cmd("AT+CREG=0;+NOSUCH;+CMEE=0") == b"\r\nERROR\r\n"
    assert (modem.state.cmee, modem.state.creg_n) == (1, 0)
    assert p.cmd("AT+CGMI;+CMGR=99;+CGMM") == b"\r\nSIMCOM_Ltd\r\n\r\n+CMS ERROR: 321\r\n"
    # basic commands need no separator; S-parameters read back as three digits (V.250 §5.3.2)
    assert p.cmd("ATE0V1Q0X4&C1&D2") == b"\r\nOK\r\n"
    assert p.cmd("ATE1Q0S0=1S3=13V1X4;+IFC=0,0;+IPR=115200;&W") == b"\r\nOK\r\n"
    assert p.cmd("ATE0") == b"ATE0\r\r\nOK\r\n"  # ATE1 in the line above took effect
    assert p.cmd("ATS0?;S7?") == b"\r\n001\r\n\r\n060\r\n\r\nOK\r\n"
    assert p.cmd("ATS0=0") == b"\r\nOK\r\n"
    assert p.cmd("ATS0=300") == b"\r\nERROR\r\n"
    assert p.cmd("ATS99?") == b"\r\nERROR\r\n"
    assert p.cmd("AT+IFC?;+IPR?") == b"\r\n+IFC: 0,0\r\n\r\n+IPR: 115200\r\n\r\nOK\r\n"


def test_huawei_portsel_and_unknown_command_in_a_line(
    host: SimulatorHost, ports: list[Port]
) -> None:
    modem, p = start(host, ports, "huawei_e173")
    # gammu's Huawei set-up: it gives up when AT^PORTSEL=1 fails
    assert p.cmd("AT^CURC=0;+CFUN=1;^PORTSEL=1") == b"\r\nOK\r\n"
    assert p.cmd("AT^PORTSEL?") == b"\r\n^PORTSEL: 1\r\n\r\nOK\r\n"
    assert p.cmd("AT^PORTSEL=?") == b"\r\n^PORTSEL: (0,1)\r\n\r\nOK\r\n"
    assert p.cmd("AT+CGMI;+ZPAS?;+CGMM") == b"\r\nhuawei\r\n\r\nCOMMAND NOT SUPPORT\r\n"


@pytest.mark.parametrize("family", FAMILIES)
def test_startup_commands_of_host_stacks(
    host: SimulatorHost, ports: list[Port], family: str
) -> None:
    modem, p = start(host, ports, family)
    answers = {}
    for command in STARTUP:
        out = p.cmd(command)
        answers[command] = out
        assert out.endswith(b"\r\nOK\r\n"), f"{family}: {command} answered {out!r}"
    profile = modem.profile
    assert f"+GCAP: {profile.gcap}".encode() in answers["AT+GCAP"]
    assert answers["AT+CGATT?"] == b"\r\n+CGATT: 1\r\n\r\nOK\r\n"
    assert answers["AT+CGATT=?"] == b"\r\n+CGATT: (0,1)\r\n\r\nOK\r\n"
    assert answers["ATS0?"] == b"\r\n000\r\n\r\nOK\r\n"
    # AT+COPS=3,2: the operator as MCC+MNC, then AT+COPS=3,0: its long name
    assert p.cmd("AT+COPS=3,2;+COPS?") == (
        f'\r\n+COPS: 0,2,"{profile.plmn}",{profile.act}\r\n\r\nOK\r\n'.encode()
    )
    assert p.cmd("AT+COPS=3,0;+COPS?") == (
        f'\r\n+COPS: 0,0,"{profile.operator}",{profile.act}\r\n\r\nOK\r\n'.encode()
    )
    # detached from the packet domain, and the attach refused without coverage
    assert p.cmd("AT+CGATT=0;+CGATT?") == b"\r\n+CGATT: 0\r\n\r\nOK\r\n"
    modem.network_loss(True)
    p.drain(0.1)
    assert p.cmd("AT+CGATT=1") == b"\r\n+CME ERROR: 30\r\n"
    modem.network_loss(False)
    p.drain(0.1)
    assert p.cmd("AT+CGATT=1;+CGATT?") == b"\r\n+CGATT: 1\r\n\r\nOK\r\n"
    # EPS registration: LTE modules only
    cereg = p.cmd("AT+CEREG=2;+CEREG?")
    if family in LTE:
        assert cereg == b'\r\n+CEREG: 2,1,"1A2B","00C3"\r\n\r\nOK\r\n'
    else:
        assert cereg == f"\r\n{profile.unknown_command}\r\n".encode()


def test_ats0_answers_after_that_many_rings(host: SimulatorHost, ports: list[Port]) -> None:
    modem, p = start(host, ports, "sim800", voice={"ring_period": 0.2})
    assert p.cmd("ATS0=2") == b"\r\nOK\r\n"
    call = host.network.incoming_call("modem1", CALLER)
    assert call.wait_state("active", timeout=5)
    assert call.rings == 2
    out = p.drain(0.3)
    assert out.count(b"RING\r\n") == 2
    call.hangup()
