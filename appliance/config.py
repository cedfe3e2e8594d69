"""Configuration: one table of settings, loaded in layers.

Defaults -> a TOML file -> ``APPLIANCE_*`` environment variables, giving a
frozen :class:`Config`.  This module is the only reader of ``os.environ``.

Top-level settings are overridden by ``APPLIANCE_<NAME>`` (``APPLIANCE_HTTP_PORT=9000``);
a modem's settings by ``APPLIANCE_MODEM_<MODEM NAME>_<KEY>``
(``APPLIANCE_MODEM_MODEM1_SMS_URL=http://...``).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from appliance.errors import ConfigError


class Setting(NamedTuple):
    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "var", "Directory for the database, recordings and simulator ports"),
    Setting("http_host", "127.0.0.1", "Address the HTTP server (REST API, panel) listens on"),
    Setting("http_port", 8080, "Port of the HTTP server"),
    Setting("http_threads", 8, "Worker threads of the HTTP server"),
    Setting(
        "public_url", "", "Base URL apps use to reach this appliance (default http://host:port)"
    ),
    Setting(
        "log_level",
        "INFO",
        "Logging level: DEBUG, INFO, WARNING, ERROR (TRACE logs raw AT traffic)",
    ),
    Setting("outbound_rate", 1.0, "SMS segments per second per modem (Twilio long code: 1)"),
    Setting(
        "outbound_retry_limit", 3, "Send attempts for a segment the modem refused before it fails"
    ),
    Setting(
        "webhook_attempts",
        5,
        "Delivery attempts of an inbound webhook (each tries the URL, then its fallback)",
    ),
    Setting(
        "webhook_backoff", 30.0, "Seconds before the first webhook retry; doubles on each retry"
    ),
    Setting("webhook_workers", 4, "Threads posting webhooks and status callbacks"),
    Setting("connect_timeout", 5.0, "Webhook connect timeout in seconds (Twilio: 5)"),
    Setting("read_timeout", 15.0, "Webhook read timeout in seconds (Twilio: 15)"),
    Setting(
        "reassembly_timeout",
        600.0,
        "Seconds to wait for missing parts of a multipart SMS (then 30009)",
    ),
    Setting(
        "sweep_interval",
        60.0,
        "Seconds between sweeps of modem storage for messages whose URC was lost",
    ),
    Setting("health_interval", 30.0, "Seconds between modem health polls (signal, registration)"),
    Setting("command_timeout", 10.0, "Seconds to wait for an ordinary AT command"),
    Setting("reconnect_delay", 2.0, "Seconds before the first reconnect attempt; doubles up to 60"),
    Setting("sim_latency", 3.0, "Simulated modem: seconds the network takes to accept a sent SMS"),
    Setting("sim_report_delay", 2.0, "Simulated modem: seconds until the delivery report arrives"),
    Setting(
        "api_rate_limit",
        100.0,
        "REST requests per second per credential, bursts of twice that (0: no limit; 20429)",
    ),
    Setting("max_redirects", 10, "Bound on chained TwiML <Redirect> for one message"),
    Setting(
        "recording_media_auth",
        False,
        "Require the API's Basic auth to fetch recording media (Twilio's default: public URLs)",
    ),
    Setting(
        "max_call_documents",
        50,
        "Bound on TwiML documents fetched for one call (Redirect/Gather/Record loops end the call)",
    ),
    Setting(
        "opt_out_enabled",
        True,
        "Handle STOP/START/HELP keywords like Twilio's Advanced Opt-Out (block sends, auto-reply)",
    ),
    Setting(
        "opt_out_keywords",
        "STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT",
        "Inbound bodies that opt the sender out of the number (comma-separated, any case)",
    ),
    Setting(
        "opt_in_keywords",
        "START, YES, UNSTOP",
        "Inbound bodies that opt the sender back in (comma-separated, any case)",
    ),
    Setting(
        "help_keywords", "HELP, INFO", "Inbound bodies answered with help_text (comma-separated)"
    ),
    Setting(
        "help_text",
        "Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
        "Automatic reply to a help keyword",
    ),
    Setting(
        "opt_out_text",
        "You have successfully been unsubscribed. You will not receive any more messages"
        " from this number. Reply START to resubscribe.",
        "Automatic reply confirming an opt-out keyword",
    ),
    Setting(
        "opt_in_text",
        "You have successfully been re-subscribed to messages from this number."
        " Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply.",
        "Automatic reply confirming an opt-in keyword",
    ),
    Setting(
        "forecast_base_url",
        "https://api.open-meteo.com",
        "Open-Meteo-compatible forecast API for weather broadcasts ({base}/v1/forecast; no key)",
    ),
    Setting(
        "geocoding_base_url",
        "https://geocoding-api.open-meteo.com",
        "Open-Meteo-compatible geocoding API that resolves subscribers' towns ({base}/v1/search)",
    ),
    Setting(
        "broadcast_misfire_grace",
        3600.0,
        "Seconds a scheduled broadcast missed (e.g. power cut) may still run late, once",
    ),
    Setting("broadcast_retry_delay", 300.0, "Seconds before retrying a failed broadcast run"),
    Setting("broadcast_attempts", 3, "Attempts of a broadcast run whose source failed"),
    Setting(
        "panel_secure_cookie",
        True,
        "Mark the panel's session cookie Secure (browsers still send it to http://localhost)",
    ),
    Setting(
        "panel_login_attempts",
        5,
        "Failed panel sign-ins allowed per client address in 5 minutes before it must wait",
    ),
    Setting(
        "watchdog_grace",
        120.0,
        "Seconds a modem loop or the store writer may leave the watchdog probe unanswered before"
        " systemd's watchdog stops being pinged (only under systemd with WatchdogSec)",
    ),
    Setting("retention_interval", 3600.0, "Seconds between retention purges (0: never purge)"),
    Setting(
        "retention_messages_days",
        365,
        "Finished messages (and their segments and webhook jobs) older than this are deleted (0: keep)",
    ),
    Setting(
        "retention_calls_days",
        365,
        "Finished calls (and their call events) older than this are deleted (0: keep)",
    ),
    Setting(
        "retention_recordings_days",
        90,
        "Recordings older than this are deleted, file and row (0: keep)",
    ),
    Setting(
        "retention_webhook_log_days",
        30,
        "Webhook request/response log entries older than this are deleted (0: keep)",
    ),
    Setting(
        "retention_call_events_days",
        30,
        "Call event log entries older than this are deleted (0: keep)",
    ),
    Setting(
        "retention_quarantine_days",
        90,
        "Quarantined undecodable PDUs older than this are deleted (0: keep)",
    ),
)

MODEM_SETTINGS: tuple[Setting, ...] = (
    Setting("name", "modem1", "Short name of the modem, used in logs and commands"),
    Setting("number", "+15005550006", "The SIM's phone number in E.164 (+ and digits)"),
    Setting(
        "port", "sim", "Serial device (/dev/serial/by-id/...), or 'sim' for the simulated modem"
    ),
    Setting(
        "profile",
        "sim800",
        "Modem profile in firmware_config/profiles (sim800, huawei_e173, sim7600, quectel_ec25, generic)",
    ),
    Setting("baudrate", 115200, "Serial speed"),
    Setting("pin", "", "SIM PIN, if the SIM asks for one"),
    Setting("friendly_name", "", "Display name of the number"),
    Setting("sms_url", "", "Webhook for inbound SMS (Twilio SmsUrl)"),
    Setting("sms_method", "POST", "POST or GET"),
    Setting("sms_fallback_url", "", "Requested when the SMS URL fails (Twilio SmsFallbackUrl)"),
    Setting("sms_fallback_method", "POST", "POST or GET"),
    Setting("voice_url", "", "Webhook for inbound calls (Twilio VoiceUrl)"),
    Setting("status_callback", "", "Default StatusCallback for this number"),
    Setting(
        "audio_port",
        "",
        "Call audio: a tty carrying PCM (/dev/serial/by-id/...), 'alsa:<device>', or '' (the simulator's)",
    ),
)


@dataclasses.dataclass(frozen=True)
class ModemConfig:
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
    audio_port: str

    @property
    def simulated(self) -> bool:
        return self.port == "sim"


@dataclasses.dataclass(frozen=True)
class Config:
    data_dir: Path
    http_host: str
    http_port: int
    http_threads: int
    public_url: str
    log_level: str
    outbound_rate: float
    outbound_retry_limit: int
    webhook_attempts: int
    webhook_backoff: float
    webhook_workers: int
    connect_timeout: float
    read_timeout: float
    reassembly_timeout: float
    sweep_interval: float
    health_interval: float
    command_timeout: float
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
    watchdog_grace: float
    retention_interval: float
    retention_messages_days: int
    retention_calls_days: int
    retention_recordings_days: int
    retention_webhook_log_days: int
    retention_call_events_days: int
    retention_quarantine_days: int
    modems: tuple[ModemConfig, ...]
    source: Path | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "appliance.sqlite3"

    @property
    def sim_dir(self) -> Path:
        return self.data_dir / "sim"

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
            raise ConfigError(f"{source}: not valid TOML: {e}") from None
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

    modem_tables = raw.get("modems") or [{}]
    if not isinstance(modem_tables, list):
        raise ConfigError("'modems' must be an array of tables: [[modems]]")
    modems = []
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
        modems.append(ModemConfig(**mv))
    names = [m.name for m in modems]
    if len(set(names)) != len(names):
        raise ConfigError(f"modem names must be unique: {names}")
    numbers = [m.number for m in modems]
    if len(set(numbers)) != len(numbers):
        raise ConfigError(f"modem numbers must be unique: {numbers}")
    from appliance.numbers import normalize  # late import: numbers imports errors only

    for m in modems:
        normalize(m.number)  # raises InvalidNumber with a clear message
        if m.sms_method.upper() not in ("GET", "POST"):
            raise ConfigError(f"modem {m.name}: sms_method must be GET or POST")
    return Config(**values, modems=tuple(modems), source=source)


def describe() -> str:
    """All settings with their defaults and help, as a commented TOML file."""
    lines = ["# appliance.toml: every setting, with its default", ""]
    for s in SETTINGS:
        lines += [f"# {s.help}", f"{s.name} = {_toml(s.default)}", ""]
    lines.append("[[modems]]")
    for s in MODEM_SETTINGS:
        lines += [f"# {s.help}", f"{s.name} = {_toml(s.default)}"]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
