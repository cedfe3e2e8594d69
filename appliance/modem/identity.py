"""Who answers on a serial port: the AT identification commands, sent and parsed.

:func:`ask` sends ``ATI``, ``AT+CGMI``, ``AT+CGMM`` and ``AT+CGMR`` and collects the
response lines; :func:`parse_identity` (pure) turns them into an :class:`Identity`
(echoes, ``+CGMx:`` prefixes, URCs dropped).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence

from appliance.errors import ApplianceError
from appliance.modem import atcodec

COMMANDS = ("ATI", "AT+CGMI", "AT+CGMM", "AT+CGMR")
COMMAND_TIMEOUT = 2.0  # seconds for one identification command (all are instant on real modems)
FINALS = ("OK", "ERROR", "COMMAND NOT SUPPORT", "+CME ERROR", "+CMS ERROR")


class ProbeError(ApplianceError):
    """The port could not be opened or nothing answered AT."""


@dataclasses.dataclass(frozen=True)
class Identity:
    ati: tuple[str, ...]
    manufacturer: str
    model: str
    revision: str


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
