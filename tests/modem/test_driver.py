"""python-gsmmodem-new's known defects (twilio-compat.md B5), bare library versus the project.

Each test runs twice against the same simulated modem: once with the bare
``GsmModem`` (marked ``xfail(strict=True)``: the defect must show, or the suite
fails and the workaround can go) and once through the project's driver or daemon.
"""

from __future__ import annotations

import queue
import threading
import time

import pytest
from gsmmodem.modem import GsmModem

from appliance.modem.atcodec import Urc
from appliance.modem.driver import Driver
from appliance.sms import codec as sms
from appliance.sms import pdu
from tests.conftest import NUMBER, PHONE, wait_for

# The bare library's reader thread dies with an exception: that is the defect under test.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

BARE = pytest.param(
    "bare", marks=pytest.mark.xfail(strict=True, reason="defect of python-gsmmodem-new")
)
KINDS = [BARE, "project"]


class Harness:
    """One connection to the simulated modem, bare library or project driver."""

    def __init__(self, kind: str, port: str, cnmi: str = "2,1,0,2,0") -> None:
        self.kind = kind
        self.received: queue.Queue[str] = queue.Queue()
        if kind == "bare":
            self.modem = GsmModem(
                port, smsReceivedCallbackFunc=lambda s: self.received.put(s.text), AT_CNMI=cnmi
            )
            self.modem.connect()
        else:
            self.urcs: queue.Queue[Urc] = queue.Queue()
            self.modem = Driver(port, urc_sink=self.urcs.put, cnmi=cnmi)
            self.modem.open()

    def sms_reported(self, timeout: float = 3.0) -> bool:
        """Did the arrival of an SMS reach the application?"""
        if self.kind == "bare":
            try:
                self.received.get(timeout=timeout)
                return True
            except queue.Empty:
                return False
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                urc = self.urcs.get(timeout=0.1)
            except queue.Empty:
                continue
            if urc.line.startswith(("+CMTI", "+CMT:")):
                return True
        return False

    def close(self) -> None:
        self.modem.close()


@pytest.fixture
def harness(sim):
    made = []

    def make(kind: str, **kw) -> Harness:
        h = Harness(kind, str(sim.modems["modem1"].port_path), **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


@pytest.mark.parametrize("kind", KINDS)
def test_non_utf8_byte_does_not_kill_the_reader(sim, harness, kind):
    h = harness(kind)
    sim.modems["modem1"].garbage(64)
    sim.modems["modem1"]._write(b"\xff\xfe\x80 caf\xe9\r\n")
    time.sleep(0.2)
    assert h.modem.signalStrength >= 0  # a command still gets its answer
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "after the noise")
    assert h.sms_reported()


@pytest.mark.parametrize("kind", KINDS)
def test_urc_during_a_command_is_not_lost(sim, harness, kind):
    h = harness(kind)
    modem = sim.modems["modem1"]
    modem.urc_before_ok(True)
    sim.network.deliver_sms(modem, PHONE, "arrives mid-command")
    time.sleep(0.2)
    assert h.modem.signalStrength >= 0  # the +CMTI lands inside this command's response
    assert h.sms_reported()


@pytest.mark.parametrize("kind", KINDS)
def test_cmt_direct_delivery_is_handled(sim, harness, kind):
    h = harness(kind, cnmi="2,2,0,0,0")
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "routed straight to the host")
    assert h.sms_reported()


@pytest.mark.parametrize("kind", KINDS)
def test_emoji_can_be_sent(sim, harness, kind):
    h = harness(kind)
    text = "Rain today 🌧️ take an umbrella ☂"
    if kind == "bare":
        h.modem.sendSms(PHONE, text)
    else:
        for seg in sms.split(text):
            hex_, length = pdu.encode_submit(PHONE, seg)
            h.modem.send_pdu(hex_, length, timeout=10)
    assert sim.network.wait_outbox(1, timeout=5)
    assert sim.network.outbox("modem1")[0].text == text


def test_bare_library_keeps_a_call_active_after_no_carrier(sim, harness):
    """Defect B5.9 on the bare library; the project's side is the next test."""
    h = harness("bare")
    calls = []
    h.modem.incomingCallCallback = calls.append
    modem = sim.modems["modem1"]
    modem._urc(["RING", f'+CLIP: "{PHONE}",145,"",0,"",0'])
    wait_for(lambda: calls, timeout=10)
    modem._urc(["NO CARRIER"])
    time.sleep(0.5)
    assert calls[0].active  # still "active": the caller hung up, the library never noticed


def test_project_notices_no_carrier(sim, make_daemon):
    d = make_daemon()
    call = sim.network.incoming_call("modem1", PHONE)  # RING +CLIP, and a call AT+CLCC lists
    wait_for(lambda: d.store.read_one("SELECT status FROM calls"))
    row = d.store.read_one("SELECT * FROM calls")
    assert row["status"] == "ringing" and row["from_number"] == PHONE and row["to_number"] == NUMBER
    call.hangup()  # the caller gives up: +CLCC ...,6,... then NO CARRIER
    wait_for(lambda: d.store.read_one("SELECT status FROM calls")["status"] == "no-answer")
    assert d.store.read_one("SELECT end_time FROM calls")["end_time"] is not None


def _concurrent_sends(send, n: int = 8) -> list[BaseException]:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        for j in range(n):
            try:
                send(f"thread {i} message {j}")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                return  # one failure is proof enough; don't sit through more timeouts

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


@pytest.fixture
def slow_host(monkeypatch):
    """A loaded Pi: the host takes 50 ms to act on the ``> `` prompt.

    It widens the window between the prompt and the PDU, where another thread's
    command can slip in, so the race shows on every run instead of now and then.
    Both variants run with it.
    """
    from gsmmodem.serial_comms import SerialComms

    original = SerialComms.write

    def write(self, data, waitForResponse=True, timeout=5, expectedResponseTermSeq=None):  # noqa: N803
        rv = original(self, data, waitForResponse, timeout, expectedResponseTermSeq)
        if expectedResponseTermSeq == "> ":
            time.sleep(0.05)
        return rv

    monkeypatch.setattr(SerialComms, "write", write)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", KINDS)
def test_commands_from_several_threads_never_interleave(sim, harness, make_daemon, slow_host, kind):
    """Three threads send at once; every message must arrive intact and exactly once."""
    sim.modems["modem1"].set_latency(0.0)
    if kind == "bare":
        h = harness(kind)

        def send(text: str) -> None:
            h.modem.sendSms(PHONE, text)
    else:
        d = make_daemon()

        def send(text: str) -> None:
            d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body=text)

    errors = _concurrent_sends(send)
    assert not errors, errors
    sim.network.wait_outbox(24, timeout=30)
    texts = sorted(m.text for m in sim.network.outbox("modem1"))
    assert texts == sorted(f"thread {i} message {j}" for i in range(3) for j in range(8))
