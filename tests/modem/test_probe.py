"""`appliance probe`: simulated modems of every family on real ptys, USB ids from a fake sysfs tree."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.modem import identity, ports, probe, profilematch, profiles, udevrules
from appliance.sim.host import SimulatorHost
from tests.conftest import wait_for

FAMILIES = ("sim800", "sim7600", "quectel_ec25", "huawei_e173", "generic")
FIRMWARE = profiles.PROFILE_DIR.parent


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """One simulated modem of each family, each on its own pty."""
    h = SimulatorHost(tmp_path_factory.mktemp("sim"), report_delay=0.05)
    for i, family in enumerate(FAMILIES):
        h.add(family, family, f"+1500555000{i}", latency=0.005, boot_delay=0.0)
    h.start()
    wait_for(lambda: all(m.booted for m in h.modems.values()), timeout=10)
    yield h
    h.stop()


@pytest.mark.parametrize("family", FAMILIES)
def test_probe_names_the_profile_of_each_simulated_family(host, family):
    modem = host.modems[family]
    result = probe.probe(str(modem.port_path), timeout=3.0)
    p = profiles.load(family)
    assert result.identity is not None
    assert result.identity.manufacturer == p.manufacturer
    assert result.identity.model == p.model
    assert result.identity.revision == p.raw["modem"]["revision"]
    assert result.identity.ati  # ATI answered something
    assert result.usb is None  # a pty is not a USB device
    assert result.best.family == family, result
    if family != "generic":
        assert any("model" in r for r in result.best.reasons)


def test_cli_probe_prints_the_profile_and_json(host, capsys):
    port = str(host.modems["sim7600"].port_path)
    assert main(["probe", "--port", port]) == 0
    out = capsys.readouterr().out
    assert "profile   sim7600 (SIMCom SIM7600)" in out and "SIMCOM_SIM7600E-H" in out
    assert main(["probe", "--port", port, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["best"]["family"] == "sim7600" and data[0]["port"] == port


def test_cli_probe_of_a_missing_port_fails_clearly(tmp_path, capsys):
    assert main(["probe", "--port", str(tmp_path / "ttyUSB9")]) == 1
    assert "cannot open" in capsys.readouterr().err


def test_a_silent_port_is_no_answer_not_a_crash(tmp_path):
    import os
    import pty

    master, slave = pty.openpty()
    try:
        with pytest.raises(probe.ProbeError, match="no answer"):
            probe.probe(os.ttyname(slave), timeout=0.3)
    finally:
        os.close(master)
        os.close(slave)


def _fake_usb_tty(
    sysfs: Path, tty: str, vendor: str, product: str, interface: int, *, acm: bool = False
) -> None:
    """Lay out sysfs as the kernel does for a usb-serial (option) or a cdc-acm tty."""
    usbdev = sysfs / "devices/platform/soc/fe980000.usb/usb1/1-1/1-1.3"
    iface = usbdev / f"1-1.3:1.{interface}"
    iface.mkdir(parents=True)
    (usbdev / "idVendor").write_text(vendor + "\n")
    (usbdev / "idProduct").write_text(product + "\n")
    (usbdev / "manufacturer").write_text("SimTech, Incorporated\n")
    (usbdev / "product").write_text("SimTech SIM7600\n")
    (usbdev / "serial").write_text("0123456789ABCDEF\n")
    (iface / "bInterfaceNumber").write_text(f"{interface:02x}\n")
    # usb-serial: .../1-1.3:1.2/ttyUSB2/tty/ttyUSB2, device -> .../1-1.3:1.2/ttyUSB2
    # cdc-acm:    .../1-1.3:1.0/tty/ttyACM0,          device -> .../1-1.3:1.0
    port_dev = iface if acm else iface / tty
    node = port_dev / "tty" / tty
    node.mkdir(parents=True)
    (node / "dev").write_text("188:2\n")
    klass = sysfs / "class/tty"
    klass.mkdir(parents=True, exist_ok=True)
    (klass / tty).symlink_to(node)
    (node / "device").symlink_to(port_dev)


def test_usb_ids_and_interface_come_from_sysfs(tmp_path):
    sysfs = tmp_path / "sys"
    _fake_usb_tty(sysfs, "ttyUSB2", "1e0e", "9001", 2)
    dev = tmp_path / "dev"
    (dev / "serial/by-id").mkdir(parents=True)
    (dev / "ttyUSB2").touch()
    link = dev / "serial/by-id/usb-SimTech_SIM7600_0123456789ABCDEF-if02-port0"
    link.symlink_to(dev / "ttyUSB2")
    for port in (str(dev / "ttyUSB2"), str(link)):
        usb = ports.usb_info(port, sysfs)
        assert usb == ports.UsbInfo(
            "1e0e", "9001", 2, "SimTech, Incorporated", "SimTech SIM7600", "0123456789ABCDEF"
        )
    best, ranked = profilematch.match(None, usb)
    assert best.family == "sim7600" and best.role == "at" and best.score == profilematch.SCORE_USB
    # The audio interface of the same modem is named as such.
    audio = ports.UsbInfo("1e0e", "9001", 4)
    assert profilematch.match(None, audio)[0].role == "audio"


def test_cdc_acm_tty_and_non_usb_ports(tmp_path):
    sysfs = tmp_path / "sys"
    _fake_usb_tty(sysfs, "ttyACM0", "2c7c", "0125", 2, acm=True)
    usb = ports.usb_info("/dev/ttyACM0", sysfs)
    assert usb is not None and usb.ids == "2c7c:0125" and usb.interface == 2
    assert profilematch.match(None, usb)[0].family == "quectel_ec25"
    assert ports.usb_info("/dev/ttyAMA0", sysfs) is None  # GPIO UART: no USB parent
    assert ports.usb_info("/dev/pts/3", sysfs) is None


def test_identity_parsing_tolerates_echo_prefixes_and_urcs():
    ident = identity.parse_identity(
        {
            "ATI": ["ATI", "Manufacturer: huawei", "Model: E1550", "Revision: 11.608", "OK"],
            "AT+CGMI": ["AT+CGMI", "^RSSI:17", "COMMAND NOT SUPPORT"],
            "AT+CGMM": ["+CGMM: E1550", "OK"],
            "AT+CGMR": ["RING", '+CGMR: "11.608.12.02.143"', "OK"],
        }
    )
    assert ident.manufacturer == "huawei"  # from ATI when +CGMI is refused
    assert ident.model == "E1550" and ident.revision == "11.608.12.02.143"
    best, _ = profilematch.match(ident, None)
    assert best.family == "huawei_e173"
    # A real SIM7600G-H (not the E-H the profile was written for) still matches by pattern.
    g = identity.Identity((), "SIMCOM INCORPORATED", "SIMCOM_SIM7600G-H", "LE20B04")
    assert profilematch.match(g, None)[0].family == "sim7600"
    # USB ids outrank the answers; an unknown modem falls back to generic.
    unknown = identity.Identity((), "Telit", "LE910C1", "1")
    assert profilematch.match(unknown, None)[0].family == "generic"
    assert profilematch.match(unknown, ports.UsbInfo("2c7c", "0125", 2))[0].family == "quectel_ec25"
    # Garbage in, no crash.
    junk = identity.parse_identity({"ATI": ["\x00\xff", "", "ERROR"], "AT+CGMM": []})
    assert profilematch.match(junk, None)[0].family == "generic"


def test_every_profile_has_a_usb_table():
    for family in profiles.available():
        data = tomllib.loads((profiles.PROFILE_DIR / f"{family}.toml").read_text())
        usb = data["usb"]
        for key in ("ids", "bridge_ids", "modeswitch", "interfaces", "gpio_uart", "at_models"):
            assert key in usb, (family, key)
        switch = usb["modeswitch"]
        for ids in [*usb["ids"], *usb["bridge_ids"], *switch.get("target", ())]:
            assert re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{4}", ids), (family, ids)
        assert set(switch.get("target", ())) <= set(usb["ids"]), family  # switched-to ids match
        if switch:
            assert switch["storage"] not in usb["ids"] and switch["message"], family
        for quirk in data.get("quirks", ()):
            assert quirk["source"], (family, quirk["id"])  # every quirk names its source


UDEV_KEY = re.compile(
    r"^(ACTION|SUBSYSTEM|SUBSYSTEMS|KERNEL|ATTRS\{\w+\}|ENV\{\w+\}|IMPORT\{builtin\}|SYMLINK|"
    r'GROUP|MODE|GOTO|LABEL)(==|!=|\+=|=)"[^"]*"$'
)


@pytest.mark.parametrize("rel", [udevrules.UDEV_RULES, udevrules.MM_RULES])
def test_rules_files_are_generated_from_the_profiles_and_well_formed(rel):
    text = (FIRMWARE / rel).read_text()
    expected = (
        udevrules.render_udev_rules()
        if rel == udevrules.UDEV_RULES
        else udevrules.render_mm_rules()
    )
    assert text == expected, (
        "regenerate with: .venv/bin/python -c 'from appliance.modem import udevrules; udevrules.write_rules()'"
    )
    labels, gotos = set(), set()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        for pair in line.split(", "):
            assert UDEV_KEY.match(pair), (line, pair)
            if pair.startswith("LABEL="):
                labels.add(pair.split('"')[1])
            if pair.startswith("GOTO="):
                gotos.add(pair.split('"')[1])
    assert gotos <= labels
    if rel == udevrules.UDEV_RULES:
        assert 'ENV{ID_USB_INTERFACE_NUM}=="02", SYMLINK+="gsm/sim7600-at"' in text
    else:
        assert (
            'ATTRS{idVendor}=="1e0e", ATTRS{idProduct}=="9001", ENV{ID_MM_DEVICE_IGNORE}="1"'
            in text
        )
