"""Modem profiles: firmware_config/profiles/<family>.toml as frozen data.

The ``[modem]`` and ``[driver]`` tables are read here; the ``[sim]`` table
belongs to the simulated modem (appliance.sim.profile).
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError

PROFILE_DIR = Path(__file__).resolve().parents[2] / "firmware_config" / "profiles"


@dataclasses.dataclass(frozen=True)
class VoiceProfile:
    """The ``[voice]`` table: how a family reports calls and carries their audio."""

    dialect: str = "generic"
    audio: str = "tty"  # "tty" (PCM on a serial port) or "alsa" (a sound card)
    audio_enable: str = "none"  # "ddsetex" | "cpcmreg" | "qpcmv" | "none"
    dtmf: str = "none"  # "ddet" | "rxdtmf" | "qtonedet" | "none"
    init: tuple[str, ...] = ()
    hold: bool = False
    mpty: bool = False
    ect: bool = False

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> VoiceProfile:
        return cls(
            dialect=str(table.get("dialect", "generic")),
            audio=str(table.get("audio", "tty")),
            audio_enable=str(table.get("audio_enable", "none")),
            dtmf=str(table.get("dtmf", "none")),
            init=tuple(str(c) for c in table.get("init", ())),
            hold=bool(table.get("hold", False)),
            mpty=bool(table.get("mpty", False)),
            ect=bool(table.get("ect", False)),
        )


@dataclasses.dataclass(frozen=True)
class Profile:
    family: str
    name: str
    manufacturer: str
    model: str
    flow_control: bool
    init: tuple[str, ...]
    storage: str
    send_timeout: float
    raw: dict[str, Any] = dataclasses.field(compare=False, repr=False)
    voice: VoiceProfile = VoiceProfile()


def available() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load(family: str, directory: Path = PROFILE_DIR) -> Profile:
    path = directory / f"{family}.toml"
    if not path.exists():
        raise ConfigError(f"unknown modem profile {family!r}; available: {', '.join(available())}")
    data = tomllib.loads(path.read_text())
    modem = data.get("modem", {})
    driver = data.get("driver", {})
    return Profile(
        family=family,
        name=str(modem.get("name", family)),
        manufacturer=str(modem.get("manufacturer", "")),
        model=str(modem.get("model", "")),
        flow_control=bool(driver.get("flow_control", False)),
        init=tuple(str(c) for c in driver.get("init", ())),
        storage=str(driver.get("storage", "SM")),
        send_timeout=float(driver.get("send_timeout", 60)),
        raw=data,
        voice=VoiceProfile.from_table(data.get("voice", {})),
    )
