"""udev and ModemManager rules for the modems, generated from the profiles' ``[usb]`` tables.

Regenerate the files under ``firmware_config/`` after editing a profile::

    .venv/bin/python -c 'from appliance.modem import udevrules; udevrules.write_rules()'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.modem import profiles

UDEV_RULES = "udev/90-appliance-modems.rules"
MM_RULES = "modemmanager/77-appliance-mm-ignore.rules"
GPIO_UARTS = "ttyAMA0|ttyAMA1|ttyS0"  # the Pi's GPIO serial port (/dev/serial0 points at one)


def _usb_tables(directory: Path) -> list[tuple[str, str, dict[str, Any]]]:
    import tomllib

    out = []
    for path in sorted(directory.glob("*.toml")):
        data = tomllib.loads(path.read_text())
        out.append(
            (path.stem, str(data.get("modem", {}).get("name", path.stem)), data.get("usb", {}))
        )
    return out


def _vid_pid(ids: str) -> tuple[str, str]:
    vendor, _, product = ids.lower().partition(":")
    return vendor, product


def render_udev_rules(directory: Path = profiles.PROFILE_DIR) -> str:
    """Stable names /dev/gsm/<family>-<role> for every tty a profile's [usb] table describes."""
    lines = [
        "# Stable names for the appliance's modems: /dev/gsm/<family>-<role> (at, audio, diag, ...),",
        "# whichever USB port the modem is in and whatever ttyUSBn number it gets.  Two modems of",
        "# one model: use their /dev/serial/by-id/ names instead (they carry the serial number).",
        "# Generated from firmware_config/profiles/*.toml [usb] by appliance.modem.udevrules.write_rules().",
        'ACTION=="remove", GOTO="appliance_modems_end"',
        'SUBSYSTEM!="tty", GOTO="appliance_modems_end"',
        'SUBSYSTEMS=="usb", IMPORT{builtin}="usb_id"',
        "",
    ]
    for family, name, usb in _usb_tables(directory):
        rules = []
        for ids in usb.get("ids", ()):
            vendor, product = _vid_pid(str(ids))
            for role, number in sorted((usb.get("interfaces") or {}).items(), key=lambda x: x[1]):
                rules.append(
                    f'SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}",'
                    f' ENV{{ID_USB_INTERFACE_NUM}}=="{int(number):02x}",'
                    f' SYMLINK+="gsm/{family}-{role}", GROUP="dialout", MODE="0660"'
                )
        for ids in usb.get("bridge_ids", ()):
            vendor, product = _vid_pid(str(ids))
            rules.append(
                f'SUBSYSTEMS=="usb", ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}",'
                f' SYMLINK+="gsm/{family}-usbserial", GROUP="dialout", MODE="0660"'
            )
        if rules:
            lines += [f"# {family}: {name}", *rules, ""]
    lines.append('LABEL="appliance_modems_end"')
    return "\n".join(lines) + "\n"


def render_mm_rules(directory: Path = profiles.PROFILE_DIR) -> str:
    """ModemManager leaves every modem (and USB-serial bridge) the profiles know alone."""
    lines = [
        "# ModemManager must not open the appliance's modems: it would send its own AT commands,",
        "# read and delete SMS, and hold the port.  ID_MM_DEVICE_IGNORE is honoured by every",
        "# ModemManager filter policy.  The GPIO UART of SIM800/SIM7600 HATs is ignored too.",
        "# Generated from firmware_config/profiles/*.toml [usb] by appliance.modem.udevrules.write_rules().",
        'ACTION!="add|change|move|bind", GOTO="appliance_mm_end"',
        "",
    ]
    seen = set()
    for family, _name, usb in _usb_tables(directory):
        storage = (usb.get("modeswitch") or {}).get("storage", "")
        for ids in [*usb.get("ids", ()), *usb.get("bridge_ids", ()), storage]:
            if not ids or ids in seen:
                continue
            seen.add(ids)
            vendor, product = _vid_pid(str(ids))
            lines.append(f"# {family} {ids}")
            lines.append(
                f'ATTRS{{idVendor}}=="{vendor}", ATTRS{{idProduct}}=="{product}",'
                f' ENV{{ID_MM_DEVICE_IGNORE}}="1"'
            )
    lines += [
        "# the Pi's GPIO UART (HATs)",
        f'SUBSYSTEM=="tty", KERNEL=="{GPIO_UARTS}", ENV{{ID_MM_DEVICE_IGNORE}}="1"',
        "",
        'LABEL="appliance_mm_end"',
    ]
    return "\n".join(lines) + "\n"


def write_rules(root: Path = profiles.PROFILE_DIR.parent) -> list[Path]:
    """Regenerate the udev and ModemManager rules under firmware_config/ from the profiles."""
    written = []
    for rel, text in (
        (UDEV_RULES, render_udev_rules(root / "profiles")),
        (MM_RULES, render_mm_rules(root / "profiles")),
    ):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
