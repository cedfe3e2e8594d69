"""``appliance probe``: ask a serial port who answers, read its USB ids, name the matching profile.

Three layers, the first two without I/O:

* :func:`parse_identity` turns the lines of ``ATI``, ``AT+CGMI``, ``AT+CGMM`` and
  ``AT+CGMR`` into an :class:`Identity` (echoes, ``+CGMx:`` prefixes, URCs dropped);
* :func:`match` scores every profile's ``[usb]`` table against that identity and the
  port's USB ids (USB ids 100, model 50, manufacturer 20) and falls back to ``generic``;
* :func:`usb_info` reads ``idVendor``/``idProduct``/``bInterfaceNumber`` from sysfs
  (its root is a parameter, so tests use a fake tree), and :func:`ask` talks to the port.

The daemon must not hold the port while probing (``systemctl stop appliance`` first):
two programs reading one tty each get half of the bytes.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError
from appliance.modem import atcodec, profiles

LOGGER = logging.getLogger(__name__)

COMMANDS = ("ATI", "AT+CGMI", "AT+CGMM", "AT+CGMR")
COMMAND_TIMEOUT = 2.0  # seconds for one identification command (all are instant on real modems)
FINALS = ("OK", "ERROR", "COMMAND NOT SUPPORT", "+CME ERROR", "+CMS ERROR")
SCORE_USB, SCORE_MODEL, SCORE_MANUFACTURER = 100, 50, 20
FALLBACK = "generic"
SCAN_GLOBS = ("/dev/serial/by-id/*", "/dev/ttyUSB*", "/dev/ttyACM*", "/dev/serial0")


class ProbeError(ApplianceError):
    """The port could not be opened or nothing answered AT."""


@dataclasses.dataclass(frozen=True)
class UsbInfo:
    vendor: str  # four lowercase hex digits, as in idVendor
    product: str
    interface: int | None  # bInterfaceNumber of the tty's interface
    manufacturer: str = ""
    product_name: str = ""
    serial: str = ""

    @property
    def ids(self) -> str:
        return f"{self.vendor}:{self.product}"


@dataclasses.dataclass(frozen=True)
class Identity:
    ati: tuple[str, ...]
    manufacturer: str
    model: str
    revision: str


@dataclasses.dataclass(frozen=True)
class Match:
    family: str
    name: str
    score: int
    reasons: tuple[str, ...]
    role: str | None  # what the profile says this USB interface carries (at, audio, diag...)


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    port: str
    identity: Identity | None
    usb: UsbInfo | None
    best: Match
    candidates: tuple[Match, ...]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- pure: parsing and matching ------------------------------------------------------------


def _answer(command: str, lines: Sequence[str]) -> list[str]:
    """The information lines of one response: no echo, no final result, no URC."""
    out = []
    for raw in lines:
        line = raw.strip()
        if not line or line.upper() == command.upper() or line.startswith(FINALS):
            continue
        if atcodec.is_urc(line, None) or line.startswith("^"):
            continue  # ^RSSI, RDY, +CPIN: READY... printed while we asked
        out.append(line)
    return out


def _value(lines: list[str], prefix: str) -> str:
    for line in lines:
        if line.upper().startswith(prefix + ":"):
            return line[len(prefix) + 1 :].strip().strip('"')
    return lines[0].strip('"') if lines else ""


def parse_identity(responses: Mapping[str, Sequence[str]]) -> Identity:
    """Build an Identity from the raw response lines of :data:`COMMANDS`."""
    ati = _answer("ATI", responses.get("ATI", ()))
    cgmi = _answer("AT+CGMI", responses.get("AT+CGMI", ()))
    cgmm = _answer("AT+CGMM", responses.get("AT+CGMM", ()))
    cgmr = _answer("AT+CGMR", responses.get("AT+CGMR", ()))
    manufacturer = _value(cgmi, "+CGMI")
    model = _value(cgmm, "+CGMM")
    revision = _value(cgmr, "+CGMR")
    # Some firmwares refuse +CGMx but print "Manufacturer: ... Model: ..." for ATI.
    for line in ati:
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "manufacturer" and not manufacturer:
            manufacturer = value.strip()
        elif key == "model" and not model:
            model = value.strip()
        elif key == "revision" and not revision:
            revision = value.strip()
    return Identity(tuple(ati), manufacturer, model, revision)


def _globs(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value or ()]


def _matches(text: str, patterns: Iterable[str]) -> bool:
    text = text.strip().lower()
    return bool(text) and any(fnmatch.fnmatchcase(text, p.lower()) for p in patterns)


def _role(usb_table: dict[str, Any], usb: UsbInfo) -> str | None:
    for role, number in (usb_table.get("interfaces") or {}).items():
        if usb.interface is not None and int(number) == usb.interface:
            return str(role)
    return None


def score(
    family: str, data: dict[str, Any], identity: Identity | None, usb: UsbInfo | None
) -> Match:
    """How well one profile (its parsed TOML) fits what the port said and where it sits."""
    table = data.get("usb", {})
    points, reasons = 0, []
    role = None
    if usb is not None and usb.ids in {str(i).lower() for i in table.get("ids", ())}:
        points += SCORE_USB
        reasons.append(f"USB id {usb.ids}")
        role = _role(table, usb)
    if identity is not None:
        if _matches(identity.model, _globs(table.get("at_models"))):
            points += SCORE_MODEL
            reasons.append(f"model {identity.model!r}")
        if _matches(identity.manufacturer, _globs(table.get("at_manufacturers"))):
            points += SCORE_MANUFACTURER
            reasons.append(f"manufacturer {identity.manufacturer!r}")
    name = str(data.get("modem", {}).get("name", family))
    return Match(family, name, points, tuple(reasons), role)


def match(
    identity: Identity | None,
    usb: UsbInfo | None,
    directory: Path = profiles.PROFILE_DIR,
) -> tuple[Match, tuple[Match, ...]]:
    """The best profile and every profile that scored, best first (``generic`` if none did)."""
    import tomllib

    found = []
    for path in sorted(directory.glob("*.toml")):
        found.append(score(path.stem, tomllib.loads(path.read_text()), identity, usb))
    ranked = tuple(sorted((m for m in found if m.score), key=lambda m: (-m.score, m.family)))
    if ranked:
        return ranked[0], ranked
    fallback = next((m for m in found if m.family == FALLBACK), None)
    if fallback is None:
        fallback = Match(FALLBACK, "Generic GSM modem", 0, (), None)
    return dataclasses.replace(fallback, reasons=("nothing matched: generic 27.005 commands",)), ()


# -- sysfs ----------------------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def usb_info(port: str, sysfs: Path = Path("/sys")) -> UsbInfo | None:
    """USB ids of the device behind a tty (``/dev/ttyUSB2``, a by-id link), or None if not USB."""
    name = Path(os.path.realpath(port)).name
    device = sysfs / "class" / "tty" / name / "device"
    if not device.exists():
        return None
    node = Path(os.path.realpath(device))
    interface: int | None = None
    root = Path(os.path.realpath(sysfs))
    while node != root and node != node.parent:
        if interface is None and (node / "bInterfaceNumber").exists():
            try:
                interface = int(_read(node / "bInterfaceNumber"), 16)
            except ValueError:
                interface = None
        if (node / "idVendor").exists() and (node / "idProduct").exists():
            return UsbInfo(
                vendor=_read(node / "idVendor").lower(),
                product=_read(node / "idProduct").lower(),
                interface=interface,
                manufacturer=_read(node / "manufacturer"),
                product_name=_read(node / "product"),
                serial=_read(node / "serial"),
            )
        node = node.parent
    return None


# -- the port -------------------------------------------------------------------------------


def ask(
    port: str,
    commands: Sequence[str] = COMMANDS,
    baudrate: int = 115200,
    timeout: float = COMMAND_TIMEOUT,
) -> dict[str, list[str]]:
    """Send each command and collect its response lines (until a final result or ``timeout``)."""
    import serial

    try:
        ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.1)
    except (OSError, ValueError, serial.SerialException) as e:
        raise ProbeError(f"cannot open {port}: {e}") from None
    responses: dict[str, list[str]] = {}
    try:
        ser.reset_input_buffer()
        for command in commands:
            ser.write(command.encode() + b"\r")
            buffer = b""
            end = time.monotonic() + timeout
            lines: list[str] = []
            while time.monotonic() < end:
                buffer += ser.read(256)
                *complete, buffer = buffer.replace(b"\r", b"\n").split(b"\n")
                for raw in complete:
                    text = atcodec.clean(raw)
                    if text:
                        lines.append(text)
                if lines and lines[-1].startswith(FINALS):
                    break
            responses[command] = lines
    except (OSError, serial.SerialException) as e:
        raise ProbeError(f"{port}: {e}") from None
    finally:
        ser.close()
    if not any(lines and lines[-1].startswith(FINALS) for lines in responses.values()):
        raise ProbeError(f"{port}: no answer to AT commands (wrong port, speed, or in use?)")
    return responses


def probe(
    port: str,
    *,
    baudrate: int = 115200,
    timeout: float = COMMAND_TIMEOUT,
    sysfs: Path = Path("/sys"),
    directory: Path = profiles.PROFILE_DIR,
) -> ProbeResult:
    """Identify the modem on ``port`` and name the profile that matches."""
    usb = usb_info(port, sysfs)
    identity = parse_identity(ask(port, baudrate=baudrate, timeout=timeout))
    best, ranked = match(identity, usb, directory)
    return ProbeResult(port, identity, usb, best, ranked)


def candidates(globs: Iterable[str] = SCAN_GLOBS) -> list[str]:
    """Serial ports worth probing, stable by-id names first, each device once."""
    import glob

    seen, out = set(), []
    for pattern in globs:
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if real not in seen:
                seen.add(real)
                out.append(path)
    return out


def describe(result: ProbeResult) -> str:
    """A few lines for a human."""
    ident = result.identity
    lines = [f"{result.port}:"]
    if ident is not None:
        lines.append(f"  modem     {ident.manufacturer} {ident.model} ({ident.revision})")
    if result.usb is not None:
        usb = result.usb
        where = f"interface {usb.interface}" if usb.interface is not None else "no interface"
        lines.append(f"  USB       {usb.ids} {usb.manufacturer} {usb.product_name} ({where})")
        if result.best.role:
            lines.append(f"  carries   {result.best.role} (per the profile)")
    why = ", ".join(result.best.reasons)
    lines.append(f"  profile   {result.best.family} ({result.best.name}): {why}")
    if len(result.candidates) > 1:
        others = ", ".join(f"{m.family} {m.score}" for m in result.candidates[1:])
        lines.append(f"  also      {others}")
    return "\n".join(lines)


# -- udev rules, generated from the profiles ------------------------------------------------

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
        "# Generated from firmware_config/profiles/*.toml [usb] by appliance.probe.write_rules().",
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
        "# Generated from firmware_config/profiles/*.toml [usb] by appliance.probe.write_rules().",
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
