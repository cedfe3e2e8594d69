"""Profile matching: which modem profile fits what a port said and where it sits on USB.

:func:`match` scores every profile's ``[usb]`` table against the port's
:class:`~appliance.modem.identity.Identity` and USB ids (USB ids 100, model 50,
manufacturer 20) and falls back to ``generic``.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appliance.modem import profiles
from appliance.modem.identity import Identity
from appliance.modem.ports import UsbInfo

SCORE_USB, SCORE_MODEL, SCORE_MANUFACTURER = 100, 50, 20
FALLBACK = "generic"


@dataclasses.dataclass(frozen=True)
class Match:
    family: str
    name: str
    score: int
    reasons: tuple[str, ...]
    role: str | None  # what the profile says this USB interface carries (at, audio, diag...)


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
