"""``appliance probe``: ask a serial port who answers, read its USB ids, name the matching profile.

:func:`probe` puts together :mod:`~appliance.modem.ports` (the USB ids from sysfs),
:mod:`~appliance.modem.identity` (the AT identification) and
:mod:`~appliance.modem.profilematch` (the scoring of every profile);
:func:`describe` prints the outcome for a human.

The daemon must not hold the port while probing (``systemctl stop appliance`` first):
two programs reading one tty each get half of the bytes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from appliance.modem import profiles
from appliance.modem.identity import COMMAND_TIMEOUT, Identity, ProbeError, ask, parse_identity
from appliance.modem.ports import UsbInfo, candidates, usb_info
from appliance.modem.profilematch import Match, match

__all__ = [
    "Identity",
    "Match",
    "ProbeError",
    "ProbeResult",
    "UsbInfo",
    "candidates",
    "describe",
    "probe",
]


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    port: str
    identity: Identity | None
    usb: UsbInfo | None
    best: Match
    candidates: tuple[Match, ...]

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
