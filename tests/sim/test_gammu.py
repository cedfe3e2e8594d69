"""gammu, a mature AT stack written by others, against every simulated family.

gammu 1.42 (Debian package ``gammu``) talks to the simulator's pty with ``connection = at``
exactly as it would to a modem: ``identify``, ``networkinfo`` (AT+CREG/CGREG=2, AT+CGATT?,
AT+COPS=3,2 and the numeric operator), ``getallsms`` (two messages the network delivered,
one of them a two-part UCS-2 message) and ``sendsms`` (GSM-7, then multipart Unicode), which
the simulated network must receive.  The five commands run in one ``gammu batch`` session
(one connection, as a user's script would), so gammu's start-up is paid once per family.  On the Huawei E173 gammu's own set-up sends
``AT^CURC=0``, ``AT+CFUN=1`` and ``AT^PORTSEL=1`` and gives up if one fails.

The tests need the ``gammu`` binary (``make deps`` installs it as root): without it they fail.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sim import SimulatedModem, SimulatorHost
from tests.conftest import wait_for

pytestmark = pytest.mark.timeout(180)
FAMILIES = ["sim800", "huawei_e173", "sim7600", "quectel_ec25", "generic"]
NUMBER = "+15005550006"
SENDER = "+15557654321"
RECIPIENT = "+15551234567"
UNICODE = "Привет, мир! " * 9  # 117 UCS-2 characters: two parts of at most 67
GAMMU_TIMEOUT = 90.0  # seconds for one gammu run (its own start-up takes about 4 s)


def gammu_binary() -> str:
    path = shutil.which("gammu")
    if path is None:
        pytest.fail(
            "gammu is not installed: run `make deps` as root (Debian package gammu)",
            pytrace=False,
        )
    return path


class Gammu:
    """gammu with its own configuration file pointing at one simulated modem's pty."""

    def __init__(self, modem: SimulatedModem, workdir: Path) -> None:
        self.binary = gammu_binary()
        self.log = workdir / "gammu.log"
        self.rc = workdir / "gammurc"
        self.rc.write_text(
            f"[gammu]\ndevice = {modem.port_path}\nconnection = at\n"
            f"logfile = {self.log}\nlogformat = textall\n"
        )

    def __call__(self, *args: str) -> str:
        proc = subprocess.run(
            [self.binary, "-c", str(self.rc), *args],
            capture_output=True,
            text=True,
            timeout=GAMMU_TIMEOUT,
            check=False,
        )
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            pytest.fail(
                f"gammu {' '.join(args)} exited {proc.returncode}: {proc.stdout}{proc.stderr}\n"
                f"--- end of gammu's log ---\n{tail}",
                pytrace=False,
            )
        return proc.stdout


@pytest.fixture(params=FAMILIES)
def modem(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SimulatedModem]:
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    m = host.add("modem1", request.param, NUMBER, latency=0.01, boot_delay=0.0)
    host.start()
    wait_for(lambda: m.booted, timeout=15)
    yield m
    host.stop()


def test_gammu_identify_networkinfo_getallsms_sendsms(
    modem: SimulatedModem, tmp_path: Path
) -> None:
    # One gammu session in batch mode runs the five commands on one connection, as a user's
    # script would: gammu's own start-up (about 4 s) is paid once per family, not five times.
    gammu = Gammu(modem, tmp_path)
    profile = modem.profile
    modem.deliver_sms(SENDER, "Hello from the network")
    modem.deliver_sms(SENDER, UNICODE)
    wait_for(lambda: modem.receive_memory().used == 3, timeout=5)
    commands = [
        "identify",
        "networkinfo",
        "getallsms",
        f'sendsms TEXT {RECIPIENT} -text "Hello from gammu"',
        f'sendsms TEXT {RECIPIENT} -unicode -autolen 300 -textutf8 "{UNICODE}"',
    ]
    batch = tmp_path / "commands"
    batch.write_text("\n".join(commands) + "\n")
    sections = gammu("batch", str(batch)).split("Executing batch ")[1:]
    assert len(sections) == len(commands), sections
    for command, section in zip(commands, sections, strict=True):
        assert f"command {commands.index(command) + 1}: {command}" in section

    out = sections[0]  # identify
    assert profile.manufacturer.lower() in out.lower()
    assert profile.model in out
    assert f"IMEI                 : {profile.imei}" in out
    assert f"SIM IMSI             : {profile.imsi}" in out

    out = sections[1]  # networkinfo
    assert "Network state        : home network" in out
    assert "Packet network state : home network" in out
    assert "GPRS                 : attached" in out  # AT+CGATT?
    assert "234 15" in out  # AT+COPS=3,2: the numeric MCC MNC
    assert f'"{profile.operator}"' in out  # AT+COPS=3,0: the long name

    out = sections[2]  # getallsms
    assert "3 SMS parts in 3 SMS sequences" in out
    assert "Hello from the network" in out
    assert out.count(f'Remote number        : "{SENDER}"') == 3
    assert "part 1 of 2" in out and "part 2 of 2" in out
    assert UNICODE[:60] in out and UNICODE[-30:].strip() in out

    assert "OK, message reference=" in sections[3]
    assert "Sending SMS 2/2" in sections[4] and sections[4].count("OK, message reference=") == 2
    network = modem.network
    assert network.wait_outbox(2, timeout=10)  # the network joins the two parts into one
    first, sent = network.outbox()[-2:]
    assert (first.destination, first.text, first.segments) == (RECIPIENT, "Hello from gammu", 1)
    assert (sent.destination, sent.text, sent.segments) == (RECIPIENT, UNICODE, 2)
