"""The simulated modem's USSD, driven with plain pyserial: each family's way of writing requests
and answers, the menu, the network's idle timeout, cancel, and the balance switch."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.modem import ussd
from appliance.sim import SimulatorHost, request
from appliance.sim.ussd import MENUS
from tests.sim.test_sim import Port

NUMBER = "+447700900001"


@pytest.fixture
def host() -> Iterator[SimulatorHost]:
    base = Path(tempfile.mkdtemp(prefix="simussd-", dir="/tmp"))
    h = SimulatorHost(base, report_delay=0.05)
    yield h
    h.stop()


def port(host: SimulatorHost, family: str, **kw: object) -> Port:
    modem = host.add("modem1", family, NUMBER, latency=0.01, boot_delay=0.0, ussd_delay=0.05, **kw)
    host.start()
    deadline = time.monotonic() + 5
    while not modem.booted:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    p = Port(modem.port_path)
    p.drain(0.05)
    p.cmd("ATE0")
    p.cmd("AT+CMEE=1")
    return p


def answer(p: Port, timeout: float = 10.0, out: bytes = b"") -> ussd.Cusd:
    """The next +CUSD URC (``out``: what the last command's read already took in)."""
    data = out + p.buf
    p.buf = b""
    deadline = time.monotonic() + timeout
    while b"+CUSD:" not in data or b"\r\n" not in data[data.index(b"+CUSD:") :]:
        assert time.monotonic() < deadline, f"no +CUSD; got {data!r}"
        data += p.ser.read(4096)
    start = data.index(b"+CUSD:")
    end = data.index(b"\r\n", start)
    p.buf = data[end + 2 :]
    cusd = ussd.parse_cusd(data[start:end].decode())
    assert cusd is not None, data
    return cusd


def ask(p: Port, command: str) -> ussd.Cusd:
    """Send a request; its OK, then the network's answer (which may come in the same read)."""
    out = p.cmd(command)
    assert b"OK" in out, out
    return answer(p, out=out[out.index(b"OK") :])


def test_text_families_answer_in_the_te_character_set(host):
    p = port(host, "sim800")
    assert b"+CUSD: (0-2)" in p.cmd("AT+CUSD=?")
    got = ask(p, 'AT+CUSD=1,"*100#",15')
    assert got == ussd.Cusd(0, "Your balance is 10.00 GBP", 15)
    got = ask(p, 'AT+CUSD=1,"*101#",15')
    assert got.dcs == 72 and ussd.decode(got, ussd.UssdDialect()) == "Баланс: 10,00 руб."
    # With AT+CSCS="UCS2" the modem writes even GSM-7 answers as UCS-2 hex (27.007 7.15)
    p.cmd('AT+CSCS="UCS2"')
    got = ask(p, f'AT+CUSD=1,"{ussd.ucs2_hex("*100#")}",15')
    assert got.dcs == 15 and got.raw == ussd.ucs2_hex("Your balance is 10.00 GBP")


def test_huawei_wants_packed_hex_unless_ussdmode_1(host):
    p = port(host, "huawei_e173")
    assert b"ERROR" in p.cmd('AT+CUSD=1,"*100#",15')  # plain text to an E173: refused
    got = ask(p, 'AT+CUSD=1,"AA180C3602",15')
    assert got.dcs == 15 and re.fullmatch(r"[0-9A-F]+", got.raw or "")
    assert ussd.unpack_gsm7_hex(got.raw or "") == "Your balance is 10.00 GBP"
    p.cmd("AT^USSDMODE=1")
    assert ask(p, 'AT+CUSD=1,"*100#",15').raw == "Your balance is 10.00 GBP"


def test_menu_session_timeout_cancel_and_balance_switch(host):
    p = port(host, "quectel_ec25", ussd_timeout=0.4)
    modem = host.modems["modem1"]
    assert ask(p, 'AT+CUSD=1,"*123#",15') == ussd.Cusd(1, MENUS["main"], 15)
    assert modem.ussd_session() == "main"
    assert ask(p, 'AT+CUSD=1,"7",15').raw == "Invalid choice\n" + MENUS["main"]
    assert answer(p, timeout=10) == ussd.Cusd(2)  # idle: the network ends it
    assert modem.ussd_session() is None
    ask(p, 'AT+CUSD=1,"*123#",15')
    assert b"OK" in p.cmd("AT+CUSD=2") and modem.ussd_session() is None
    time.sleep(0.6)
    assert b"+CUSD" not in p.drain(0.1)  # cancelled: no timeout URC follows
    request(host.control_path, "fault", modem="modem1", name="balance", value=2.5)
    assert request(host.control_path, "status", modem="modem1")["status"]["balance"] == 2.5
    ask(p, 'AT+CUSD=1,"*123#",15')
    ask(p, 'AT+CUSD=1,"2",15')
    assert ask(p, 'AT+CUSD=1,"1",15').raw == "Not enough credit. Your balance is 2.50 GBP"
    assert ask(p, 'AT+CUSD=1,"*999#",15') == ussd.Cusd(4)


def test_no_network_no_ussd(host):
    p = port(host, "sim7600")
    host.fault(host.modems["modem1"], "network_loss", True)
    assert b"+CME ERROR: 30" in p.cmd('AT+CUSD=1,"*100#",15')
