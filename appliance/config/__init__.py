"""Configuration: one table of settings, loaded in layers.

Defaults -> a TOML file -> ``APPLIANCE_*`` environment variables, giving a
frozen :class:`Config`.  This module is the only reader of ``os.environ``; the
table itself (names, defaults, help) is :mod:`appliance.config.settings`.

Top-level settings are overridden by ``APPLIANCE_<NAME>`` (``APPLIANCE_HTTP_PORT=9000``);
a modem's settings by ``APPLIANCE_MODEM_<MODEM NAME>_<KEY>``
(``APPLIANCE_MODEM_MODEM1_SMS_URL=http://...``).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance.config.settings import MODEM_SETTINGS, SETTINGS, Setting, describe
from appliance.errors import ConfigError

__all__ = [
    "MODEM_SETTINGS",
    "SETTINGS",
    "Config",
    "ModemConfig",
    "Setting",
    "describe",
    "load",
]


@dataclasses.dataclass(frozen=True)
class ModemConfig:
    """One ``[[modems]]`` table, loaded."""

    name: str
    number: str
    port: str
    profile: str
    baudrate: int
    pin: str
    friendly_name: str
    sms_url: str
    sms_method: str
    sms_fallback_url: str
    sms_fallback_method: str
    voice_url: str
    status_callback: str
    outbound_budget_per_hour: int
    audio_port: str
    balance_ussd: str
    balance_interval: float
    balance_pattern: str
    balance_low: float
    balance_alert_to: str
    balance_alert_url: str

    @property
    def simulated(self) -> bool:
        return self.port == "sim"


@dataclasses.dataclass(frozen=True)
class Config:
    """Every setting, loaded and frozen."""

    data_dir: Path
    database_url: str
    node_name: str
    http_host: str
    http_port: int
    http_threads: int
    https_port: int
    tls_cert: str
    tls_key: str
    client_connections: int
    client_calls: int
    webrtc_addresses: str
    client_reconnect_grace: float
    public_url: str
    log_level: str
    log_file: str
    log_max_bytes: int
    log_backups: int
    outbound_rate: float
    outbound_retry_limit: int
    webhook_attempts: int
    webhook_backoff: float
    webhook_workers: int
    webhook_workers_per_origin: int
    webhook_lease: float
    connect_timeout: float
    read_timeout: float
    reassembly_timeout: float
    sweep_interval: float
    health_interval: float
    command_timeout: float
    ussd_timeout: float
    reconnect_delay: float
    sim_latency: float
    sim_report_delay: float
    api_rate_limit: float
    max_redirects: int
    max_call_documents: int
    recording_media_auth: bool
    opt_out_enabled: bool
    opt_out_keywords: str
    opt_in_keywords: str
    help_keywords: str
    help_text: str
    opt_out_text: str
    opt_in_text: str
    forecast_base_url: str
    geocoding_base_url: str
    broadcast_misfire_grace: float
    broadcast_retry_delay: float
    broadcast_attempts: int
    panel_secure_cookie: bool
    panel_login_attempts: int
    panel_phone_identity: str
    watchdog_grace: float
    retention_interval: float
    retention_messages_days: int
    retention_calls_days: int
    retention_recordings_days: int
    retention_webhook_log_days: int
    retention_call_events_days: int
    retention_quarantine_days: int
    retention_nodes_days: int
    metrics_enabled: bool
    metrics_token: str
    holdmusic_dir: str
    smtp_relay: str
    smtp_from: str
    stream_ca_file: str
    modems: tuple[ModemConfig, ...]
    source: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "appliance.sqlite3"

    @property
    def sim_dir(self) -> Path:
        return self.data_dir / "sim"

    @property
    def run_path(self) -> Path:
        """The running daemon's pid and bound port (written at start-up, removed at stop)."""
        return self.data_dir / "run.json"

    @property
    def log_path(self) -> Path | None:
        """Where ``log_file`` is (relative to data_dir), or None without one."""
        if not self.log_file.strip():
            return None
        return self.data_dir / Path(self.log_file.strip()).expanduser()

    @property
    def stream_ca_path(self) -> Path | None:
        """Where ``stream_ca_file`` is (relative to data_dir), or None without one."""
        if not self.stream_ca_file.strip():
            return None
        return self.data_dir / Path(self.stream_ca_file.strip()).expanduser()

    @property
    def webrtc_address_list(self) -> tuple[str, ...]:
        """``webrtc_addresses`` as IP addresses (checked by :func:`load`); empty: the host's."""
        return tuple(a for a in re.split(r"[,\s]+", self.webrtc_addresses) if a)

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.http_host}:{self.http_port}"

    def modem(self, name: str | None) -> ModemConfig:
        if name is None:
            return self.modems[0]
        for m in self.modems:
            if m.name == name:
                return m
        raise ConfigError(
            f"no modem named {name!r}; configured: {', '.join(m.name for m in self.modems)}"
        )


def _coerce(setting: Setting, value: Any, where: str) -> Any:
    """Convert ``value`` to the type of ``setting.default``; say where a bad value came from."""
    kind = type(setting.default)
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: {setting.name} must be a {kind.__name__}, got {value!r} ({setting.help})"
        ) from None


def load(
    path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Load the configuration.

    :param path: TOML file; default ``$APPLIANCE_CONFIG`` or ``appliance.toml`` if present.
    :param overrides: values that win over everything (used by tests).
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    source: Path | None = None
    if path is None:
        path = env.get("APPLIANCE_CONFIG") or None
        if path is None and Path("appliance.toml").exists():
            path = "appliance.toml"
    if path is not None:
        source = Path(path)
        try:
            raw = tomllib.loads(source.read_text())
        except FileNotFoundError:
            raise ConfigError(
                f"configuration file {source} does not exist; create it (see docs/configuration.md) "
                "or unset APPLIANCE_CONFIG"
            ) from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(_toml_error(source, e)) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"configuration file {source} cannot be read: {e}") from None
    raw.update(overrides or {})
    known = {s.name for s in SETTINGS} | {"modems"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{source or 'configuration'}: unknown settings {unknown}; see docs/configuration.md"
        )

    values: dict[str, Any] = {}
    for s in SETTINGS:
        value = raw.get(s.name, s.default)
        where = str(source or "defaults")
        envname = "APPLIANCE_" + s.name.upper()
        if envname in env and not (overrides and s.name in overrides):
            value, where = env[envname], envname
        values[s.name] = _coerce(s, value, where)
    values["data_dir"] = Path(values["data_dir"])
    _check_addresses(values["webrtc_addresses"])
    if values["client_calls"] < 1:
        raise ConfigError(
            f"client_calls must be at least 1, got {values['client_calls']}"
            " (browser phones' calls up at once)"
        )

    modem_tables = raw.get("modems") or [{}]
    if not isinstance(modem_tables, list):
        raise ConfigError("'modems' must be an array of tables: [[modems]]")
    modems = []
    number_from: dict[str, str] = {}
    for i, table in enumerate(modem_tables):
        if not isinstance(table, dict):
            raise ConfigError(f"modems[{i}] must be a table")
        bad = sorted(set(table) - {s.name for s in MODEM_SETTINGS})
        if bad:
            raise ConfigError(f"modems[{i}]: unknown keys {bad}")
        mv: dict[str, Any] = {}
        name = str(table.get("name", f"modem{i + 1}"))
        for s in MODEM_SETTINGS:
            default = s.default if s.name != "name" else name
            value = table.get(s.name, default)
            envname = f"APPLIANCE_MODEM_{name.upper()}_{s.name.upper()}"
            where = f"modems[{i}]"
            if envname in env:
                value, where = env[envname], envname
            mv[s.name] = _coerce(s, value, where)
        number_from[name] = _number_origin(source, i, name, env)
        modems.append(ModemConfig(**mv))
    names = [m.name for m in modems]
    if len(set(names)) != len(names):
        raise ConfigError(f"modem names must be unique: {names}")
    numbers = [m.number for m in modems]
    if len(set(numbers)) != len(numbers):
        raise ConfigError(f"modem numbers must be unique: {numbers}")
    from appliance.errors import InvalidNumber
    from appliance.numbers import normalize  # late import: numbers imports errors only

    for m in modems:
        try:
            normalize(m.number)
        except InvalidNumber:
            raise ConfigError(
                f"modem {m.name}: its number {m.number!r} is not a valid phone number: write it"
                " in E.164, + and the country code (e.g. +14155552671), in the modem's `number`"
                f" setting ({number_from[m.name]})"
            ) from None
        if m.sms_method.upper() not in ("GET", "POST"):
            raise ConfigError(f"modem {m.name}: sms_method must be GET or POST")
        _check_balance(m)
    return Config(**values, modems=tuple(modems), source=source)


def _check_addresses(text: str) -> None:
    for item in (a for a in re.split(r"[,\s]+", text) if a):
        try:
            ipaddress.ip_address(item)
        except ValueError:
            raise ConfigError(
                f"webrtc_addresses: {item!r} is not an IP address (write the host's LAN"
                " addresses, comma-separated, e.g. 192.168.1.20; empty: all of them)"
            ) from None


def _check_balance(m: ModemConfig) -> None:
    """The balance check's settings: a number to alert, a pattern that compiles."""
    from appliance.errors import InvalidNumber
    from appliance.numbers import normalize

    if m.balance_alert_to:
        try:
            normalize(m.balance_alert_to)
        except InvalidNumber:
            raise ConfigError(
                f"modem {m.name}: balance_alert_to {m.balance_alert_to!r} is not a valid phone"
                " number: write it in E.164 (+ and the country code)"
            ) from None
    try:
        pattern = re.compile(m.balance_pattern)
    except re.error as e:
        raise ConfigError(
            f"modem {m.name}: balance_pattern {m.balance_pattern!r} is not a regular expression"
            f" ({e})"
        ) from None
    if pattern.groups > 1:
        raise ConfigError(
            f"modem {m.name}: balance_pattern has {pattern.groups} groups; give it one, around"
            " the amount"
        )
    if m.balance_ussd and m.balance_interval < 60:
        raise ConfigError(f"modem {m.name}: balance_interval must be at least 60 seconds")


def _toml_error(source: Path, error: tomllib.TOMLDecodeError) -> str:
    """``file:line:column: not valid TOML: what``, the position as compilers give it."""
    text = str(error)
    at = re.search(r"\(at line (\d+), column (\d+)\)", text)
    if at is None:
        return f"{source}: not valid TOML: {text}"
    line, column = at.groups()
    what = text[: at.start()].strip()
    return f"{source}:{line}:{column}: not valid TOML: {what} (line {line}, column {column})"


def _number_origin(source: Path | None, index: int, name: str, env: Mapping[str, str]) -> str:
    """Where a modem's ``number`` came from, in words a person can go and fix."""
    envname = f"APPLIANCE_MODEM_{name.upper()}_NUMBER"
    if envname in env:
        return envname
    where = f"[[modems]] table {index + 1}" + (f" of {source}" if source else "")
    return f"{where}, or {envname}"
