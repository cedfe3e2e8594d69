"""smstools3 (Debian package ``smstools``), a second AT stack written by others, on a SIM800.

``smsd`` runs in the foreground (``-t``) with its own configuration, spool directories, log,
pid and info files in a temporary directory, so it neither needs nor disturbs the Debian
``smstools`` service (which uses /etc/smsd.conf and /var/spool/sms).  Its pre-init line
``AT+CMEE=1;+CREG=2`` is two extended commands concatenated after one ``AT`` (V.250 §5.4);
the modem must accept it.  Then a file dropped in ``outgoing/`` reaches the simulated
network, and a message the network delivers lands in ``incoming/``.

The test needs the ``smsd`` binary (``make deps`` installs it as root): without it, it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sim import SimulatedModem, SimulatorHost
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(120)
NUMBER = "+15005550006"
SENDER = "+15557654321"
PRE_INIT = "AT+CMEE=1;+CREG=2"
SPOOLS = ("outgoing", "checked", "failed", "incoming", "sent")


def smsd_binary() -> str:
    path = shutil.which("smsd") or (
        "/usr/sbin/smsd" if os.access("/usr/sbin/smsd", os.X_OK) else None
    )
    if path is None:
        pytest.fail(
            "smsd is not installed: run `make deps` as root (Debian package smstools)",
            pytrace=False,
        )
    return path


@pytest.fixture
def modem(tmp_path: Path) -> Iterator[SimulatedModem]:
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    m = host.add("modem1", "sim800", NUMBER, latency=0.01, boot_delay=0.0)
    host.start()
    wait_for(lambda: m.booted, timeout=15)
    yield m
    host.stop()


@pytest.fixture
def smsd(modem: SimulatedModem, tmp_path: Path) -> Iterator[Path]:
    """smsd in the foreground on the modem's pty; yields its work directory."""
    binary = smsd_binary()
    work = tmp_path / "smstools"
    for name in SPOOLS:
        (work / name).mkdir(parents=True)
    conf = work / "smsd.conf"
    spools = "".join(f"{name} = {work / name}\n" for name in SPOOLS)
    conf.write_text(
        "devices = GSM1\n"
        f"{spools}"
        f"logfile = {work / 'smsd.log'}\nloglevel = 7\n"
        f"infofile = {work / 'smsd.working'}\npidfile = {work / 'smsd.pid'}\n"
        "stats =\ndelaytime = 1\nerrorsleeptime = 1\nblocktime = 5\n"
        "\n[GSM1]\n"
        f"device = {modem.port_path}\nincoming = yes\nbaudrate = 115200\n"
    )
    proc = subprocess.Popen(
        [binary, "-t", "-c", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # smsd forks a handler per modem: stop the whole group
    )
    try:
        yield work
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def test_smsd_initialises_sends_and_receives(modem: SimulatedModem, smsd: Path) -> None:
    log = smsd / "smsd.log"
    (smsd / "outgoing" / "hello").write_text("To: 15551234567\n\nHello from smstools\n")
    assert modem.network.wait_outbox(1, timeout=60), log.read_text(errors="replace")[-3000:]
    sent = modem.network.outbox()[-1]
    assert (sent.destination, sent.text) == ("+15551234567", "Hello from smstools")
    wait_for(lambda: (smsd / "sent" / "hello").exists(), timeout=15)

    modem.deliver_sms(SENDER, "Hello smstools")
    deadline = time.monotonic() + 30
    while not list((smsd / "incoming").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    received = [p.read_text(errors="replace") for p in (smsd / "incoming").iterdir()]
    assert received and "Hello smstools" in received[0], log.read_text(errors="replace")[-3000:]
    assert f"From: {SENDER.lstrip('+')}" in received[0]

    text = log.read_text(errors="replace")
    assert f"-> {PRE_INIT}" in text  # smsd sent its pre-init line ...
    assert "Modem did not accept the pre-init string" not in text  # ... and the modem took it
