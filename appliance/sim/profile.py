"""Load the ``[sim]`` part (plus ``[modem]`` identity and ``[[quirks]]``) of a profile file.

Profile files live in ``firmware_config/profiles/<family>.toml``.  The lead's
``appliance/profiles.py`` reads ``[modem]`` and ``[driver]``; this module owns the
``[sim]`` section, which describes how a *simulated* modem of that family behaves.
Every key is optional: the defaults below describe a plain 3GPP 27.005/27.007 modem.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.modem.ussd import UssdDialect

PROFILES_DIR = Path(__file__).resolve().parents[2] / "firmware_config" / "profiles"

CLAC_STYLES = ("error", "lines", "single")
EMPTY_SLOT_STYLES = ("ok", "error")
DIALECTS = ("generic", "sim800", "sim7600", "huawei", "quectel")
AUDIO_KINDS = ("tty", "alsa")
AUDIO_ENABLES = ("none", "ddsetex", "cpcmreg", "qpcmv")
DTMF_KINDS = ("none", "ddet", "rxdtmf", "qtonedet")


class ProfileError(ValueError):
    """A profile file is missing or has a value of the wrong type."""


@dataclass(frozen=True)
class PeriodicUrc:
    """A URC the modem emits every ``period`` seconds (``{rssi}`` is substituted)."""

    text: str
    period: float


@dataclass(frozen=True)
class Quirk:
    id: str
    description: str
    source: str


@dataclass(frozen=True)
class SimVoice:
    """How a family's calls look: ``[voice]`` (shared with the daemon) + ``[sim.voice]``."""

    # [voice]: the dialect of call URCs and how audio and DTMF reach software (voice.md 1, 4)
    dialect: str = "generic"
    audio: str = "tty"
    audio_enable: str = "none"
    dtmf: str = "none"
    init: tuple[str, ...] = ()
    hold: bool = True  # AT+CHLD=2 / 2x supported by the module
    mpty: bool = True  # AT+CHLD=3
    ect: bool = True  # AT+CHLD=4
    # [sim.voice]: simulator-only timing and line-format details
    ring_period: float = 5.0  # seconds between RING (+CLIP) repeats
    answer_delay: float = 0.3  # ATA -> connected URC (^CONN, VOICE CALL: BEGIN, ...)
    orig_delay: float = 0.2  # ATD -> dialing URC (^ORIG, +CLCC stat 2)
    alert_delay: float = 1.0  # ATD -> alerting (^CONF, +CLCC stat 3): the callee's phone rings
    ring: bool = True  # plain RING lines (Quectel EG25: only +CLIP and ccinfo, voice.md 1.4)
    clip: str = '+CLIP: "{number}",{type},"",0,"",{validity}'
    clcc_urc: bool = False  # AT+CLCC=1 makes the module report every call state change
    clcc_alpha: bool = False  # +CLCC lines end with an empty alpha field ,""
    first_call_id: int = 1
    phantom_data_call: bool = False  # AT+CLCC lists a data session as call 1 (EG25)
    atd_auto_hold: bool = False  # ATD during an active call holds it (SIM800 ATD note)
    result_after_cend: bool = False  # Huawei GSM modules: BUSY / NO CARRIER after ^CEND
    # the V.25 result code that ends a dial (BUSY, NO ANSWER, NO CARRIER for a call that never
    # connected) comes even while another call is held (one-modem <Dial>: hold, then ATD)
    dial_result_always: bool = False

    def replace(self, **changes: Any) -> SimVoice:
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class SimProfile:
    family: str = "generic"
    name: str = "Generic GSM modem"
    manufacturer: str = "Generic"
    model: str = "GSM-MODEM"
    revision: str = "1.0"
    # power-up state
    echo: bool = True
    cnmi_default: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    cnmi_test: str = "(0-2),(0-3),(0,2),(0-2),(0,1)"
    # message storage
    index_base: int = 1
    storages: dict[str, int] = field(default_factory=lambda: {"SM": 30, "ME": 50, "SR": 20})
    storage_unions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    cpms_test: tuple[tuple[str, ...], ...] = (("SM", "ME", "SR"), ("SM", "ME"), ("SM", "ME"))
    cpms_default: tuple[str, str, str] = ("SM", "SM", "SM")
    status_report_memory: str = "SR"  # "" = the receive memory (<mem3>)
    empty_slot: str = (
        "error"  # AT+CMGR / AT+CMGD on an empty slot: "ok" or "error" (+CMS ERROR: 321)
    )
    # command set
    clac: str = "lines"  # "error" | "lines" (one per line) | "single" ("+CLAC: a,b,c")
    clac_stray_cr: bool = False  # Huawei: each CLAC line ends in an extra "\r"
    clac_extra: tuple[str, ...] = ()
    unsupported: tuple[str, ...] = ()  # commands answered like unknown ones
    unknown_command: str = "ERROR"  # or "COMMAND NOT SUPPORT" (Huawei)
    cscs: tuple[str, ...] = ("IRA", "GSM", "UCS2")
    # unsolicited output
    boot_urcs: tuple[str, ...] = ()
    boot_delay: float = 0.5
    periodic_urcs: tuple[PeriodicUrc, ...] = ()
    # network / identity
    operator: str = "Simulated Network"
    plmn: str = "23415"  # MCC+MNC: AT+COPS? in numeric format (AT+COPS=3,2)
    act: int = 0
    gcap: str = "+CGSM"  # AT+GCAP: the command sets the module claims (V.250 §6.1.9)
    smsc: str = "+447785016005"
    imei: str = "867123456789012"
    imsi: str = "234150123456789"
    iccid: str = "8944110000000000001"
    signal: int = 20
    send_latency: float = 3.0
    # USSD: [ussd] (shared with the daemon) says how requests and answers are written;
    # [sim] balance is the SIM's prepaid credit, ussd_delay the network's answer time and
    # ussd_timeout how long it keeps an idle session open (then +CUSD: 2)
    ussd: UssdDialect = field(default_factory=UssdDialect)
    balance: float = 10.0
    ussd_delay: float = 0.2
    ussd_timeout: float = 30.0
    max_line: int = 2048
    quirks: tuple[Quirk, ...] = ()
    voice: SimVoice = field(default_factory=SimVoice)

    def replace(self, **changes: Any) -> SimProfile:
        from dataclasses import replace

        return replace(self, **changes)


def profiles_dir() -> Path:
    env = os.environ.get("APPLIANCE_PROFILES_DIR")
    return Path(env) if env else PROFILES_DIR


def profile_path(family: str) -> Path:
    return profiles_dir() / f"{family}.toml"


def _typed(section: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = section[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProfileError(f"{where}: {key} must be {kind}, got {value!r}")
    return value


def _str_list(value: Any, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{where}: {key} must be a list of strings")
    return tuple(value)


def parse_profile(data: dict[str, Any], where: str = "<profile>") -> SimProfile:
    """Build a :class:`SimProfile` from a parsed TOML document."""
    modem = data.get("modem", {})
    sim = data.get("sim", {})
    if not isinstance(modem, dict) or not isinstance(sim, dict):
        raise ProfileError(f"{where}: [modem] and [sim] must be tables")
    kw: dict[str, Any] = {}
    for key in ("family", "name", "manufacturer", "model", "revision"):
        if key in modem:
            kw[key] = _typed(modem, key, str, where)
    simple: dict[str, type] = {
        "echo": bool,
        "cnmi_test": str,
        "index_base": int,
        "status_report_memory": str,
        "empty_slot": str,
        "clac": str,
        "clac_stray_cr": bool,
        "unknown_command": str,
        "boot_delay": float,
        "operator": str,
        "plmn": str,
        "act": int,
        "gcap": str,
        "smsc": str,
        "imei": str,
        "imsi": str,
        "iccid": str,
        "signal": int,
        "send_latency": float,
        "balance": float,
        "ussd_delay": float,
        "ussd_timeout": float,
        "max_line": int,
    }
    for key, kind in simple.items():
        if key in sim:
            kw[key] = _typed(sim, key, kind, where)
    for key in ("clac_extra", "unsupported", "cscs", "boot_urcs"):
        if key in sim:
            kw[key] = _str_list(sim[key], key, where)
    if "cnmi_default" in sim:
        v = sim["cnmi_default"]
        if not isinstance(v, list) or len(v) != 5 or not all(isinstance(i, int) for i in v):
            raise ProfileError(f"{where}: cnmi_default must be 5 integers")
        kw["cnmi_default"] = tuple(v)
    if "storages" in sim:
        v = sim["storages"]
        if not isinstance(v, dict) or not all(isinstance(c, int) and c > 0 for c in v.values()):
            raise ProfileError(f"{where}: storages must map memory names to capacities")
        kw["storages"] = dict(v)
    if "storage_unions" in sim:
        v = sim["storage_unions"]
        if not isinstance(v, dict):
            raise ProfileError(f"{where}: storage_unions must be a table")
        kw["storage_unions"] = {k: _str_list(m, f"storage_unions.{k}", where) for k, m in v.items()}
    if "cpms_test" in sim:
        v = sim["cpms_test"]
        if not isinstance(v, list) or len(v) != 3:
            raise ProfileError(f"{where}: cpms_test must be 3 lists of memory names")
        kw["cpms_test"] = tuple(_str_list(g, "cpms_test", where) for g in v)
    if "cpms_default" in sim:
        v = _str_list(sim["cpms_default"], "cpms_default", where)
        if len(v) != 3:
            raise ProfileError(f"{where}: cpms_default must name 3 memories")
        kw["cpms_default"] = (v[0], v[1], v[2])
    if "periodic_urcs" in sim:
        v = sim["periodic_urcs"]
        if not isinstance(v, list):
            raise ProfileError(f"{where}: periodic_urcs must be an array of tables")
        items = []
        for item in v:
            if not isinstance(item, dict):
                raise ProfileError(f"{where}: periodic_urcs entries must be tables")
            period = _typed(item, "period", float, where + " periodic_urcs")
            if period <= 0:
                raise ProfileError(f"{where}: periodic_urcs period must be > 0")
            items.append(PeriodicUrc(_typed(item, "text", str, where), period))
        kw["periodic_urcs"] = tuple(items)
    kw["voice"] = parse_voice(data.get("voice", {}), sim.get("voice", {}), where)
    try:
        kw["ussd"] = UssdDialect.from_table(data.get("ussd", {}))
    except ValueError as e:
        raise ProfileError(f"{where}: {e}") from None
    quirks = []
    for q in data.get("quirks", []):
        if not isinstance(q, dict):
            raise ProfileError(f"{where}: [[quirks]] entries must be tables")
        quirks.append(
            Quirk(str(q.get("id", "")), str(q.get("description", "")), str(q.get("source", "")))
        )
    kw["quirks"] = tuple(quirks)
    prof = SimProfile(**kw)
    _validate(prof, where)
    return prof


def parse_voice(voice: Any, sim_voice: Any, where: str) -> SimVoice:
    """Build a :class:`SimVoice` from the ``[voice]`` and ``[sim.voice]`` tables."""
    if not isinstance(voice, dict) or not isinstance(sim_voice, dict):
        raise ProfileError(f"{where}: [voice] and [sim.voice] must be tables")
    kw: dict[str, Any] = {}
    shared: dict[str, type] = {
        "dialect": str,
        "audio": str,
        "audio_enable": str,
        "dtmf": str,
        "hold": bool,
        "mpty": bool,
        "ect": bool,
    }
    for key, kind in shared.items():
        if key in voice:
            kw[key] = _typed(voice, key, kind, where + " [voice]")
    if "init" in voice:
        kw["init"] = _str_list(voice["init"], "init", where + " [voice]")
    local: dict[str, type] = {
        "ring_period": float,
        "answer_delay": float,
        "orig_delay": float,
        "alert_delay": float,
        "ring": bool,
        "clip": str,
        "clcc_urc": bool,
        "clcc_alpha": bool,
        "first_call_id": int,
        "phantom_data_call": bool,
        "atd_auto_hold": bool,
        "result_after_cend": bool,
        "dial_result_always": bool,
    }
    for key, kind in local.items():
        if key in sim_voice:
            kw[key] = _typed(sim_voice, key, kind, where + " [sim.voice]")
    unknown = (set(voice) - set(shared) - {"init"}) | (set(sim_voice) - set(local))
    if unknown:
        raise ProfileError(f"{where}: unknown voice keys {sorted(unknown)}")
    v = SimVoice(**kw)
    for key, allowed in (
        ("dialect", DIALECTS),
        ("audio", AUDIO_KINDS),
        ("audio_enable", AUDIO_ENABLES),
        ("dtmf", DTMF_KINDS),
    ):
        if getattr(v, key) not in allowed:
            raise ProfileError(f"{where}: [voice] {key} must be one of {allowed}")
    if v.ring_period <= 0 or min(v.answer_delay, v.orig_delay, v.alert_delay) < 0:
        raise ProfileError(f"{where}: [sim.voice] delays must be >= 0 (ring_period > 0)")
    if not 1 <= v.first_call_id <= 7:
        raise ProfileError(f"{where}: [sim.voice] first_call_id must be 1..7")
    return v


def _validate(p: SimProfile, where: str) -> None:
    if p.clac not in CLAC_STYLES:
        raise ProfileError(f"{where}: clac must be one of {CLAC_STYLES}")
    if p.ussd_delay < 0 or p.ussd_timeout <= 0:
        raise ProfileError(f"{where}: ussd_delay must be >= 0 and ussd_timeout > 0")
    if p.empty_slot not in EMPTY_SLOT_STYLES:
        raise ProfileError(f"{where}: empty_slot must be one of {EMPTY_SLOT_STYLES}")
    known = set(p.storages) | set(p.storage_unions)
    for name, members in p.storage_unions.items():
        missing = [m for m in members if m not in p.storages]
        if missing:
            raise ProfileError(f"{where}: storage union {name} names unknown memories {missing}")
    for mem in p.cpms_default:
        if mem not in known:
            raise ProfileError(f"{where}: cpms_default names unknown memory {mem}")
    for group in p.cpms_test:
        for mem in group:
            if mem not in known:
                raise ProfileError(f"{where}: cpms_test names unknown memory {mem}")
    if p.status_report_memory and p.status_report_memory not in known:
        raise ProfileError(f"{where}: unknown status_report_memory {p.status_report_memory}")


def load_profile(family_or_path: str | Path) -> SimProfile:
    """Load a profile by family name (``"sim800"``) or by path to a TOML file."""
    path = Path(family_or_path)
    if path.suffix != ".toml":
        path = profile_path(str(family_or_path))
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ProfileError(f"no profile file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    prof = parse_profile(data, str(path))
    if "family" not in data.get("modem", {}):
        prof = prof.replace(family=path.stem)
    return prof


def available_families() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.toml"))
