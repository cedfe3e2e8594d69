"""The simulated modem: a real pty, driven with plain pyserial and with the real,
unmodified python-gsmmodem-new GsmModem."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from gsmmodem.modem import GsmModem
from gsmmodem.pdu import encodeSmsSubmitPdu

from appliance.sim import (
    PeriodicUrc,
    SimControlError,
    SimulatedModem,
    SimulatorHost,
    SimulatorNotRunning,
    request,
)
from appliance.sms import pdu

NUMBER = "+447700900001"
PEER = "+447700900123"
FAMILIES = ["sim800", "huawei_e173", "sim7600", "quectel_ec25"]


# ---------------------------------------------------------------- fixtures / helpers
@pytest.fixture
def base_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="simt-", dir="/tmp"))
    yield d
    for p in sorted(d.rglob("*"), reverse=True):
        try:
            p.unlink() if not p.is_dir() or p.is_symlink() else p.rmdir()
        except OSError:
            pass
    try:
        d.rmdir()
    except OSError:
        pass


@pytest.fixture
def host(base_dir: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(base_dir, report_delay=0.05)
    yield h
    h.stop()


def start(host: SimulatorHost, family: str = "sim800", **kw: Any) -> SimulatedModem:
    kw.setdefault("latency", 0.01)
    kw.setdefault("boot_delay", 0.05)
    modem = host.add(kw.pop("name", "modem1"), family, kw.pop("number", NUMBER), **kw)
    if not host._started:
        host.start()
    return modem


class Port:
    """Plain pyserial on the simulator's symlink, with line helpers."""

    def __init__(self, path: Path) -> None:
        self.ser = serial.Serial(str(path), 115200, timeout=0.05, rtscts=True, dsrdtr=True)
        self.buf = b""

    def close(self) -> None:
        self.ser.close()

    def read_until(self, token: bytes, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while token not in self.buf:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {token!r}; got {self.buf!r}")
            self.buf += self.ser.read(4096)
        idx = self.buf.index(token) + len(token)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def drain(self, wait: float = 0.15) -> bytes:
        time.sleep(wait)
        out: bytes = self.buf + self.ser.read(65536)
        self.buf = b""
        return out

    def cmd(self, command: str, final: bytes | None = None, timeout: float = 10.0) -> bytes:
        self.ser.write(command.encode() + b"\r")
        if final is not None:
            return self.read_until(final, timeout)
        deadline = time.monotonic() + timeout
        while True:
            for f in (b"\r\nOK\r\n", b"ERROR", b"COMMAND NOT SUPPORT\r\n"):
                if f in self.buf and self.buf.endswith(b"\r\n"):
                    out, self.buf = self.buf, b""
                    return out
            if time.monotonic() > deadline:
                raise AssertionError(f"no final result for {command!r}; got {self.buf!r}")
            self.buf += self.ser.read(4096)


@pytest.fixture
def port_factory() -> Iterator[Any]:
    ports: list[Port] = []

    def make(modem: SimulatedModem) -> Port:
        p = Port(modem.port_path)
        ports.append(p)
        return p

    yield make
    for p in ports:
        try:
            p.close()
        except Exception:
            pass


def ready_port(modem: SimulatedModem, make: Any, cmee: bool = True) -> Port:
    """A port after the boot URCs, echo off, (optionally) CMEE=1."""
    p: Port = make(modem)
    wait_for(lambda: modem.booted)
    p.drain(0.05)
    p.cmd("ATE0")
    if cmee:
        p.cmd("AT+CMEE=1")
    return p


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def submit_pdu(text: str, dest: str = PEER, srr: bool = False) -> tuple[str, int]:
    """An SMS-SUBMIT from the library's own (independent) encoder: (hex, tpdu length)."""
    p = encodeSmsSubmitPdu(dest, text, reference=1, requestStatusReport=srr)[0]
    return str(p), p.tpduLength


# ---------------------------------------------------------------- plain pyserial
def test_pty_symlink_echo_and_ate0(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    assert modem.port_path.is_symlink()
    assert os.readlink(modem.port_path).startswith("/dev/pts/")
    p = port_factory(modem)
    boot = p.read_until(b"SMS Ready\r\n")
    assert b"\r\nRDY\r\n" in boot and b"Call Ready" in boot
    assert p.cmd("AT") == b"AT\r\r\nOK\r\n"  # echo on at power-up
    assert p.cmd("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert p.cmd("AT") == b"\r\nOK\r\n"
    assert p.cmd("at+cgmi") == b"\r\nSIMCOM_Ltd\r\n\r\nOK\r\n"
    assert p.cmd("AT+NOSUCH") == b"\r\nERROR\r\n"
    assert p.cmd("AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    assert p.cmd("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    modem.set_signal(7)
    assert p.cmd("AT+CSQ") == b"\r\n+CSQ: 7,99\r\n\r\nOK\r\n"
    assert b'+COPS: 0,0,"Simulated Network",0' in p.cmd("AT+COPS?")
    # \r\n terminated commands are tolerated
    p.ser.write(b"AT\r\n")
    assert p.read_until(b"OK\r\n") == b"\r\nOK\r\n"


def test_cme_errors_need_cmee(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "generic")
    p = ready_port(modem, port_factory, cmee=False)
    assert p.cmd("AT+CMGR=99") == b"\r\nERROR\r\n"
    p.cmd("AT+CMEE=1")
    assert p.cmd("AT+CMGR=99") == b"\r\n+CMS ERROR: 321\r\n"
    assert p.cmd("AT+CMGR=1") == b"\r\n+CMS ERROR: 321\r\n"  # generic: empty slot is an error
    assert p.cmd('AT+CPIN="1111"') == b"\r\n+CME ERROR: 3\r\n"


def test_storage_cpms_cmgl_cmgr_cmgd(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    for i in range(3):
        host.network.deliver_sms(modem, PEER, f"message {i}")
    for i in range(1, 4):
        assert p.read_until(f'+CMTI: "SM",{i}\r\n'.encode())
    assert p.cmd("AT+CPMS?") == b'\r\n+CPMS: "SM",3,30,"SM",3,30,"SM",3,30\r\n\r\nOK\r\n'
    listing = p.cmd("AT+CMGL=0").decode()
    lines = [x for x in listing.split("\r\n") if x]
    assert lines[0].startswith("+CMGL: 1,0,,") and lines[-1] == "OK"
    assert len(lines) == 7
    decoded = pdu.decode(lines[1])
    assert isinstance(decoded, pdu.Deliver) and decoded.text == "message 0"
    assert decoded.sender == PEER
    # listing unread marks them read
    assert p.cmd("AT+CMGL=0") == b"\r\nOK\r\n"
    assert p.cmd("AT+CMGL=1").count(b"+CMGL:") == 3
    r = p.cmd("AT+CMGR=2").decode().split("\r\n")
    assert r[1].startswith("+CMGR: 1,,") and int(r[1].rsplit(",", 1)[1]) == pdu.tpdu_length(r[2])
    assert p.cmd("AT+CMGD=2") == b"\r\nOK\r\n"
    assert p.cmd("AT+CMGR=2") == b"\r\nOK\r\n"  # SIM800: empty slot → plain OK
    assert p.cmd("AT+CMGR=31") == b"\r\n+CMS ERROR: 321\r\n"
    assert p.cmd('AT+CPMS="SM"') == b"\r\n+CPMS: 2,30,2,30,2,30\r\n\r\nOK\r\n"
    assert p.cmd('AT+CPMS="XX"') == b"\r\n+CMS ERROR: 302\r\n"
    assert p.cmd("AT+CMGD=1,4") == b"\r\nOK\r\n"
    assert p.cmd("AT+CMGL=4") == b"\r\nOK\r\n"
    assert b"+CPMS: (" in p.cmd("AT+CPMS=?")


def test_cmgd_flags(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "generic")
    p = ready_port(modem, port_factory)
    for i in range(3):
        modem.store_raw(host.network.encode(PEER, f"m{i}")[1][0])
    p.cmd("AT+CMGR=1")  # → read; 2 and 3 stay unread
    assert p.cmd("AT+CMGD=1,1") == b"\r\nOK\r\n"  # delete all read
    assert p.cmd("AT+CMGL=4").count(b"+CMGL:") == 2
    assert p.cmd("AT+CMGD=0,4") == b"\r\nOK\r\n"
    assert modem.memories["SM"].used == 0


def test_cmgs_prompt_ctrl_z_and_esc(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    hexpdu, length = submit_pdu("hello network")
    p.ser.write(f"AT+CMGS={length}\r".encode())
    assert p.read_until(b"> ") == b"\r\n> "
    time.sleep(0.05)
    assert p.drain(0.05) == b""  # nothing after the prompt
    p.ser.write(hexpdu.encode() + b"\x1a")
    assert p.read_until(b"OK\r\n") == b"\r\n+CMGS: 0\r\n\r\nOK\r\n"
    out = host.network.outbox()
    assert [(m.destination, m.text, m.from_number) for m in out] == [
        (PEER, "hello network", NUMBER)
    ]
    # ESC cancels: OK and nothing sent
    p.ser.write(f"AT+CMGS={length}\r".encode())
    p.read_until(b"> ")
    p.ser.write(hexpdu[:10].encode() + b"\x1b")
    assert p.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    assert len(host.network.outbox()) == 1
    # the MR increments per accepted send
    p.ser.write(f"AT+CMGS={length}\r".encode())
    p.read_until(b"> ")
    p.ser.write(hexpdu.encode() + b"\x1a")
    assert b"+CMGS: 1\r\n" in p.read_until(b"OK\r\n")


def test_cmgs_rejects_bad_pdus(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    hexpdu, length = submit_pdu("length check")
    for declared, body in [
        (length + 1, hexpdu),
        (length, "ZZ" + hexpdu[2:]),
        (length, hexpdu[:-1]),
    ]:
        p.ser.write(f"AT+CMGS={declared}\r".encode())
        p.read_until(b"> ")
        p.ser.write(body.encode() + b"\x1a")
        assert p.read_until(b"\r\n+CMS ERROR: 304\r\n")
    # an SMS-DELIVER is not something a phone can submit
    bad = host.network.encode(PEER, "x")[1][0]
    p.ser.write(f"AT+CMGS={pdu.tpdu_length(bad)}\r".encode())
    p.read_until(b"> ")
    p.ser.write(bad.encode() + b"\x1a")
    assert p.read_until(b"+CMS ERROR: 304\r\n")
    assert host.network.outbox() == []
    assert p.cmd("AT") == b"\r\nOK\r\n"


def test_cnmi_routes_cmt_and_flash(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    p.cmd("AT+CNMI=2,2,0,0,0")
    host.network.deliver_sms(modem, PEER, "direct")
    data = p.read_until(b"\r\n", 3) + p.read_until(b"\r\n") + p.read_until(b"\r\n")
    lines = data.decode().split("\r\n")
    assert lines[1].startswith("+CMT: ,")
    assert int(lines[1].split(",")[1]) == pdu.tpdu_length(lines[2])
    d = pdu.decode(lines[2])
    assert isinstance(d, pdu.Deliver) and d.text == "direct"
    assert modem.memories["SM"].used == 0
    # class 0 (flash) always comes as +CMT, even with mt=1
    p.cmd("AT+CNMI=2,1,0,0,0")
    host.network.deliver_sms(modem, PEER, "flash!", message_class=0)
    assert b"+CMT: ," in p.read_until(b"\r\n", 3) + p.read_until(b"\r\n")
    assert modem.memories["SM"].used == 0


def test_status_reports_cdsi_and_cds(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "generic")
    p = ready_port(modem, port_factory)
    p.cmd("AT+CNMI=2,1,0,2,0")
    hexpdu, length = submit_pdu("report me", srr=True)
    p.ser.write(f"AT+CMGS={length}\r".encode())
    p.read_until(b"> ")
    p.ser.write(hexpdu.encode() + b"\x1a")
    assert b"+CMGS: 0" in p.read_until(b"OK\r\n")
    assert p.read_until(b'+CDSI: "SR",1\r\n')
    p.cmd('AT+CPMS="SR"')
    lines = p.cmd("AT+CMGR=1").decode().split("\r\n")
    rep = pdu.decode(lines[2])
    assert isinstance(rep, pdu.StatusReport)
    assert (rep.mr, rep.status, rep.recipient) == (0, 0, PEER)
    # ds=1: +CDS direct, with a permanent failure status
    host.network.report_status = 0x45
    p.cmd("AT+CNMI=2,1,0,1,0")
    p.ser.write(f"AT+CMGS={length}\r".encode())
    p.read_until(b"> ")
    p.ser.write(hexpdu.encode() + b"\x1a")
    p.read_until(b"OK\r\n")
    p.read_until(b"+CDS: ")
    pdu_line = p.read_until(b"\r\n") + p.read_until(b"\r\n")
    rep2 = pdu.decode(pdu_line.decode().split("\r\n")[1])
    assert isinstance(rep2, pdu.StatusReport) and (rep2.mr, rep2.status) == (1, 0x45)
    # report_status None: no report at all
    host.network.report_status = None
    p.ser.write(f"AT+CMGS={length}\r".encode())
    p.read_until(b"> ")
    p.ser.write(hexpdu.encode() + b"\x1a")
    p.read_until(b"OK\r\n")
    assert b"+CDS" not in p.drain(0.3)


def test_urc_forced_before_ok(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    modem.urc_before_ok()
    host.network.deliver_sms(modem, PEER, "swallowed")
    wait_for(lambda: modem.memories["SM"].used == 1)
    assert p.drain(0.1) == b""  # held back for the next command
    assert p.cmd("AT+CSQ") == b'\r\n+CSQ: 20,99\r\n\r\n+CMTI: "SM",1\r\n\r\nOK\r\n'
    # normally URCs never land inside a response
    host.network.deliver_sms(modem, PEER, "normal")
    assert p.read_until(b'+CMTI: "SM",2\r\n') == b'\r\n+CMTI: "SM",2\r\n'


def test_fault_stop_answering(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    modem.stop_answering(True)
    p.ser.write(b"AT\r")
    assert p.drain(0.3) == b""
    modem.stop_answering(False)
    assert p.cmd("AT") == b"\r\nOK\r\n"


def test_fault_unplug_replug(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim7600")
    p = ready_port(modem, port_factory)
    modem.store_raw(host.network.encode(PEER, "kept on the SIM")[1][0])
    modem.unplug()
    assert not modem.port_path.exists() and not modem.port_path.is_symlink()
    with pytest.raises(serial.SerialException):
        for _ in range(20):
            p.ser.read(10)
            p.ser.write(b"AT\r")
    p.close()
    host.network.deliver_sms(modem, PEER, "while unplugged")
    time.sleep(0.1)
    assert host.network.pending(modem) == 1
    modem.replug()
    assert modem.port_path.is_symlink()
    p2 = port_factory(modem)
    boot = p2.read_until(b"PB DONE\r\n")
    assert b"RDY" in boot and b"SMS DONE" in boot
    # the queued SMS arrives after boot; state is fresh (echo on), storage persisted
    assert p2.read_until(b'+CMTI: "SM",1\r\n')
    assert p2.cmd("AT") == b"AT\r\r\nOK\r\n"
    p2.cmd("ATE0")
    assert p2.cmd("AT+CMGL=4").count(b"+CMGL:") == 2
    assert host.network.pending(modem) == 0


def test_fault_storage_full_holds_messages(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    modem.storage_full(True)
    assert b'"SM",30,30' in p.cmd("AT+CPMS?")
    host.network.deliver_sms(modem, PEER, "wait for space")
    assert b"+CMTI" not in p.drain(0.2)
    assert host.network.pending(modem) == 1
    modem.storage_full(False)
    assert p.read_until(b'+CMTI: "SM",1\r\n')
    # real capacity: fill SM, then CMGD frees a slot and the queue drains
    for i in range(29):
        modem.store_raw(host.network.encode(PEER, f"f{i}")[1][0])
    host.network.deliver_sms(modem, PEER, "after delete")
    time.sleep(0.1)
    assert host.network.pending(modem) == 1
    p.drain(0.05)
    p.ser.write(b"AT+CMGD=5\r")
    assert p.read_until(b"OK\r\n") == b"\r\nOK\r\n"
    assert p.read_until(b'+CMTI: "SM",5\r\n') == b'\r\n+CMTI: "SM",5\r\n'


def test_fault_network_loss_and_cms_error(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    modem.network_loss(True)
    assert p.cmd("AT+CREG?") == b"\r\n+CREG: 0,2\r\n\r\nOK\r\n"
    assert p.cmd("AT+CSQ") == b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    hexpdu, length = submit_pdu("no coverage")
    p.ser.write(f"AT+CMGS={length}\r".encode())
    p.read_until(b"> ")
    p.ser.write(hexpdu.encode() + b"\x1a")
    assert p.read_until(b"\r\n+CMS ERROR: 331\r\n")
    host.network.deliver_sms(modem, PEER, "queued in the network")
    assert b"+CMTI" not in p.drain(0.2)
    modem.network_loss(False)
    assert p.read_until(b'+CMTI: "SM",1\r\n')
    modem.cms_error(500, count=2)
    for expected in (b"+CMS ERROR: 500", b"+CMS ERROR: 500", b"+CMGS: "):
        p.ser.write(f"AT+CMGS={length}\r".encode())
        p.read_until(b"> ")
        p.ser.write(hexpdu.encode() + b"\x1a")
        assert expected in p.read_until(b"\r\n", 3) + p.read_until(b"\r\n")
        p.drain(0.05)
    assert len(host.network.outbox()) == 1


def test_garbage_and_junk_input(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    modem.garbage(64)
    junk = p.drain(0.1)
    assert len(junk) >= 64
    with pytest.raises(UnicodeDecodeError):
        junk.decode()
    # the modem survives any bytes, including an over-long line
    p.ser.write(bytes(range(256)) + b"\r")
    p.ser.write(b"A" * 10000 + b"\r")
    p.drain(0.2)
    assert p.cmd("AT") == b"\r\nOK\r\n"
    modem.garbage_mode(True)
    p.ser.write(b"AT+CSQ\r")
    out = p.read_until(b"OK\r\n") + p.drain(0.1)
    assert out.startswith(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert len(out) > len(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n") + 3
    modem.garbage_mode(False)


def test_malformed_pdu_is_stored(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    for i, kind in enumerate(("truncated", "bad_udh", "bad_length", "junk"), 1):
        bad = modem.malformed_pdu(kind)
        assert p.read_until(f'+CMTI: "SM",{i}\r\n'.encode())
        lines = p.cmd(f"AT+CMGR={i}").decode().split("\r\n")
        assert lines[2] == bad.upper()
        with pytest.raises(pdu.PduError):
            pdu.decode(lines[2])


def test_sim_pin(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800", pin="1234")
    p = ready_port(modem, port_factory)
    assert p.cmd("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert p.cmd("AT+CREG?") == b"\r\n+CREG: 0,0\r\n\r\nOK\r\n"
    assert p.cmd('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert p.cmd('AT+CPIN="1234"') == b"\r\nOK\r\n"
    assert p.cmd("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert p.cmd("AT+CREG?") == b"\r\n+CREG: 0,1\r\n\r\nOK\r\n"


def test_huawei_quirks(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "huawei_e173", periodic_urcs=(PeriodicUrc("^RSSI:{rssi}", 0.1),))
    p = ready_port(modem, port_factory)
    assert p.read_until(b"^RSSI:18\r\n", 2)
    # the final result, though a ^RSSI report (every 0.1 s) may come right after it
    assert p.cmd("AT+ZPAS?").startswith(b"\r\nCOMMAND NOT SUPPORT\r\n")
    clac = p.cmd("AT+CLAC")
    assert b"AT+CSCS\r\r\n" in clac and b"AT^CURC\r\r\n" in clac
    p.cmd("AT^CURC=0")
    p.drain(0.15)
    assert b"^RSSI" not in p.drain(0.4)
    host.network.deliver_sms(modem, PEER, "index zero")  # CNMI 0,0: stored silently
    wait_for(lambda: 0 in modem.memories["SM"].slots)
    assert b"+CMTI" not in p.drain(0.1)
    p.cmd("AT+CNMI=2,1,0,0,0")
    host.network.deliver_sms(modem, PEER, "second")
    assert p.read_until(b'+CMTI: "SM",1\r\n')


def test_quectel_mt_storage(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "quectel_ec25")
    p = ready_port(modem, port_factory)
    assert p.cmd("AT+CPMS?") == b'\r\n+CPMS: "ME",0,255,"ME",0,255,"ME",0,255\r\n\r\nOK\r\n'
    host.network.deliver_sms(modem, PEER, "to ME")
    assert p.read_until(b'+CMTI: "ME",0\r\n')
    assert p.cmd('AT+CPMS="MT","MT","MT"') == b"\r\n+CPMS: 1,285,1,285,1,285\r\n\r\nOK\r\n"
    assert p.cmd("AT+CMGL=4").count(b"+CMGL: 0,") == 1


def test_deliver_drop_and_shuffle(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    port_factory(modem)
    wait_for(lambda: modem.booted)
    body = "x" * 400  # 3 GSM-7 parts
    d = host.network.deliver_sms(modem, PEER, body, drop_parts={2}, shuffle=True)
    assert d.total == 3 and d.dropped == [2] and d.ref is not None
    wait_for(lambda: modem.memories["SM"].used == 2)
    seqs = set()
    for _, stored in modem.memories["SM"].items():
        dec = pdu.decode(stored.pdu)
        assert isinstance(dec, pdu.Deliver) and dec.concat is not None
        assert dec.concat.ref == d.ref and dec.concat.total == 3
        seqs.add(dec.concat.seq)
    assert seqs == {1, 3}
    host.network.deliver_sms(modem, PEER, "y" * 200, interleave_with=[("+447700900777", "z" * 200)])
    wait_for(lambda: modem.memories["SM"].used == 6)
    senders = [pdu.decode(s.pdu).sender for _, s in list(modem.memories["SM"].items())[2:]]  # type: ignore[union-attr]
    assert senders == [PEER, "+447700900777", PEER, "+447700900777"]


# ---------------------------------------------------------------- the real library
@pytest.mark.parametrize("family", FAMILIES)
def test_real_gsmmodem_driver(host: SimulatorHost, family: str) -> None:
    modem = start(host, family)
    host.network.report_status = None  # reports: see test_real_gsmmodem_delivery_report
    wait_for(lambda: modem.booted)
    received: list[Any] = []
    got = threading.Event()

    def on_sms(sms: Any) -> None:
        received.append(sms)
        got.set()

    g = GsmModem(str(modem.port_path), 115200, smsReceivedCallbackFunc=on_sms)
    try:
        g.connect()
        assert modem.state.echo is False and modem.state.cmee == 1
        assert modem.state.cnmi[:4] == (2, 1, 0, 2)
        assert g.signalStrength == modem.profile.signal
        assert g.manufacturer == modem.profile.manufacturer
        texts = ["hello from the appliance", "g" * 200, "Привет, мир", "Привет мир " * 10]
        for text in texts:
            sent = g.sendSms(PEER, text)
            assert sent.reference is not None
        out = host.network.outbox(modem.name)
        assert [(m.text, m.segments) for m in out] == [
            (texts[0], 1),
            (texts[1], 2),
            (texts[2], 1),
            (texts[3], 2),
        ]
        assert all(m.destination == PEER and m.from_number == NUMBER for m in out)
        segs = host.network.outbox_segments(modem.name)
        assert [s.mr for s in segs] == list(range(6))
        host.network.deliver_sms(modem, "+447700900555", "inbound via +CMTI")
        assert got.wait(5)
        assert received[0].number == "+447700900555"
        assert received[0].text == "inbound via +CMTI"
        wait_for(lambda: modem.receive_memory().used == 0)  # the library deleted it
        time.sleep(0.2)  # let the library's notification thread read the CMGD's OK
    finally:
        g.close()


def test_real_gsmmodem_delivery_report(host: SimulatorHost) -> None:
    modem = start(host, "sim800")
    wait_for(lambda: modem.booted)
    g = GsmModem(str(modem.port_path), 115200, smsReceivedCallbackFunc=lambda s: None)
    try:
        g.connect()
        sent = g.sendSms(PEER, "tell me when", waitForDeliveryReport=True, deliveryTimeout=5)
        assert sent.report is not None and sent.status == sent.DELIVERED
    finally:
        g.close()


def test_real_gsmmodem_swallows_forced_urc(host: SimulatorHost) -> None:
    """python-gsmmodem defect #2: a URC before OK becomes part of the response."""
    modem = start(host, "sim800")
    wait_for(lambda: modem.booted)
    got = threading.Event()
    g = GsmModem(str(modem.port_path), 115200, smsReceivedCallbackFunc=lambda s: got.set())
    try:
        g.connect()
        modem.urc_before_ok()
        host.network.deliver_sms(modem, PEER, "lost")
        wait_for(lambda: modem.receive_memory().used == 1)
        response = g.write("AT+CSQ")
        assert response == ["+CSQ: 20,99", '+CMTI: "ME",1', "OK"]  # swallowed
        assert not got.wait(0.3)
        assert modem.receive_memory().used == 1
    finally:
        g.close()


# ---------------------------------------------------------------- control socket / process
def test_control_socket_round_trip(host: SimulatorHost, port_factory: Any) -> None:
    modem = start(host, "sim800")
    p = ready_port(modem, port_factory)
    sock = host.control_path
    assert request(sock, "ping")["pid"] == os.getpid()
    assert request(sock, "list")["modems"][0]["port"] == str(modem.port_path)
    args: dict[str, Any] = {"modem": "modem1", "from": PEER, "body": "via control"}
    r = request(sock, "sms", **args)
    assert r["parts"] == 1
    assert p.read_until(b'+CMTI: "SM",1\r\n')
    hexpdu, length = submit_pdu("out via pty")
    p.ser.write(f"AT+CMGS={length}\r".encode())
    p.read_until(b"> ")
    p.ser.write(hexpdu.encode() + b"\x1a")
    p.read_until(b"OK\r\n")
    msgs = request(sock, "outbox", modem="modem1")["messages"]
    assert [(m["destination"], m["text"]) for m in msgs] == [(PEER, "out via pty")]
    assert request(sock, "segments")["segments"][0]["mr"] == 0
    st = request(sock, "fault", modem="modem1", name="network_loss", value=True)["status"]
    assert st["faults"]["network_loss"] is True and st["registered"] is False
    request(sock, "fault", modem="modem1", name="network_loss", value=False)
    status = request(sock, "status", modem="modem1")["status"]
    assert status["storage"]["SM"] == {"used": 1, "total": 30} and status["echo"] is False
    request(sock, "set", latency=0.2, report_status=None)
    assert modem.latency == 0.2 and host.network.report_status is None
    request(sock, "clear_outbox")
    assert request(sock, "outbox")["messages"] == []
    with pytest.raises(SimControlError, match="unknown fault"):
        request(sock, "fault", modem="modem1", name="explode")
    with pytest.raises(SimulatorNotRunning, match="not running"):
        request(sock.parent / "nothing.sock", "ping")


def test_standalone_process_survives_client_restart(base_dir: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appliance.sim.host",
            "--dir",
            str(base_dir),
            "--modem",
            f"m1:sim800:{NUMBER}",
            "--latency",
            "0.01",
            "--boot-delay",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY ")
        sock = line.split(" ", 1)[1].strip()
        link = base_dir / "m1.tty"
        for _ in range(2):  # the "daemon" opens, dies, reopens
            p = Port(link)
            p.drain(0.1)
            p.cmd("ATE0")
            assert p.cmd("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
            p.close()
        assert request(sock, "status", modem="m1")["status"]["plugged"] is True
    finally:
        proc.terminate()
        proc.wait(10)
    assert proc.returncode == 0
    assert not (base_dir / "control.sock").exists()
