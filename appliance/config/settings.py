"""The settings table (mostly data): every setting's name, default and help, and its TOML form.

:data:`SETTINGS` are the top-level settings, :data:`MODEM_SETTINGS` those of each
``[[modems]]`` table.  A default's type is the setting's type (the loader in
:mod:`appliance.config` coerces values to it); docs/configuration.md documents every
name (checked by tests/test_docs.py).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Setting(NamedTuple):
    """One setting: its name, its default (whose type is the setting's) and its help."""

    name: str
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", "var", "Directory for the database, recordings and simulator ports"),
    Setting(
        "database_url",
        "",
        "PostgreSQL database instead of data_dir's SQLite file (postgresql://user:password@host"
        "/db; needs the `fleet` extra); empty: SQLite",
    ),
    Setting(
        "node_name",
        "",
        "This appliance's name in a fleet (the panel's fleet page, /health); empty: the host name",
    ),
    Setting("http_host", "127.0.0.1", "Address the HTTP server (REST API, panel) listens on"),
    Setting("http_port", 8080, "Port of the HTTP server"),
    Setting(
        "http_threads",
        8,
        "Worker threads of the HTTP server (the panel's live streams get half as many again"
        " on top of these)",
    ),
    Setting(
        "https_port",
        8443,
        "Port of the HTTPS server (the same API and panel over TLS, for browser phones); 0: any"
        " free port",
    ),
    Setting(
        "tls_cert",
        "",
        "PEM certificate (chain) for HTTPS; empty: a certificate from the appliance's own CA,"
        " made on first start in data_dir/tls",
    ),
    Setting("tls_key", "", "PEM private key of tls_cert (both or neither)"),
    Setting(
        "client_connections",
        20,
        "Browser phones' signalling sockets (wss://host:https_port/signal) open at once; each"
        " holds an HTTPS worker thread, on top of http_threads; more are refused",
    ),
    Setting(
        "client_calls",
        4,
        "Browser phones' calls up at once on this appliance (placed, or rung and answered);"
        " a browser placing one more is refused with 31480. Each is a WebRTC leg (about 9 %"
        " of a core on the benchmark machine)",
    ),
    Setting(
        "webrtc_addresses",
        "",
        "Addresses (comma-separated IPs) the appliance offers browser phones as WebRTC host"
        " candidates; empty: every non-loopback address of the host",
    ),
    Setting(
        "client_reconnect_grace",
        30.0,
        "Seconds a browser phone's answered call outlives its dropped signalling socket"
        " (media keeps flowing) for the SDK to reconnect; then the call ends; 0: at once",
    ),
    Setting(
        "public_url", "", "Base URL apps use to reach this appliance (default http://host:port)"
    ),
    Setting(
        "log_level",
        "INFO",
        "Logging level: DEBUG, INFO, WARNING, ERROR (TRACE logs raw AT traffic)",
    ),
    Setting(
        "log_file",
        "",
        "Also write the log to this file, rotated by size (relative: in data_dir); empty: stderr"
        " only (journald under systemd)",
    ),
    Setting("log_max_bytes", 10_000_000, "Size at which log_file is rotated"),
    Setting("log_backups", 5, "Rotated log files kept (log_file.1 ... log_file.N)"),
    Setting("outbound_rate", 1.0, "SMS segments per second per modem (Twilio long code: 1)"),
    Setting(
        "outbound_retry_limit", 3, "Send attempts for a segment the modem refused before it fails"
    ),
    Setting(
        "webhook_attempts",
        5,
        "Tries in all of an inbound SMS webhook, the first included (each tries the URL, then its"
        " fallback); 1: no retry",
    ),
    Setting(
        "webhook_backoff", 30.0, "Seconds before the first webhook retry; doubles on each retry"
    ),
    Setting(
        "webhook_workers",
        8,
        "Threads posting webhooks and status callbacks (at most this many requests at once)",
    ),
    Setting(
        "webhook_workers_per_origin",
        2,
        "Of those, at most this many requests to one scheme://host:port at once (a hanging app"
        " cannot hold up the others); capped at webhook_workers - 1",
    ),
    Setting(
        "webhook_lease",
        0.0,
        "A fleet: seconds a node holds a webhook job it took before another node may take it"
        " over, should the node die (0: the URL and its fallback through every redirect, at"
        " most, plus 30 s; 6 min by default); shorter repeats slow requests (same token)",
    ),
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
    Setting(
        "ussd_timeout",
        25.0,
        "Seconds to wait for the network's answer to a USSD request (then the session is"
        " cancelled)",
    ),
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
        "panel_phone_identity",
        "panel",
        "Identity (client name) the panel's softphone registers under: <Dial><Client> with it"
        " rings the panel; no spaces, at most 256 characters",
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
    Setting(
        "retention_nodes_days",
        7,
        "Fleet nodes stopped or silent for longer than this are removed from the fleet's list,"
        " with their modem names (0: keep)",
    ),
    Setting(
        "metrics_enabled",
        True,
        "Serve Prometheus metrics at /metrics (loopback: no credential; elsewhere: metrics_token)",
    ),
    Setting(
        "metrics_token",
        "",
        "Bearer token a scraper beyond loopback sends to /metrics (read-only; never the"
        " AuthToken); empty: loopback only",
    ),
    Setting(
        "holdmusic_dir",
        "",
        "Folder of .wav/.mp3/.ul files the holdmusic twimlet plays (relative: in data_dir);"
        " empty: the tone shipped with the appliance",
    ),
    Setting(
        "smtp_relay",
        "",
        "host or host:port of an SMTP relay (plain SMTP, no login) the voicemail twimlet"
        " e-mails through; empty: no e-mail",
    ),
    Setting(
        "smtp_from",
        "",
        "From address of the voicemail twimlet's e-mails; empty: voicemail@<this host's name>",
    ),
    Setting(
        "stream_ca_file",
        "",
        "PEM file of CA certificates trusted for wss:// Media Streams, besides the system's"
        " (relative: in data_dir); empty: the system's CAs only",
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
        "outbound_budget_per_hour",
        0,
        "Messages this number may send per hour; more fail with 30001 (0: no budget)",
    ),
    Setting(
        "audio_port",
        "",
        "Call audio: a tty carrying PCM (/dev/serial/by-id/...), 'alsa:<device>', or '' (the simulator's)",
    ),
    Setting(
        "balance_ussd",
        "",
        "USSD code that answers with the SIM's prepaid balance, e.g. *100# (empty: no balance"
        " check)",
    ),
    Setting(
        "balance_interval", 21600.0, "Seconds between balance checks (restarts do not add any)"
    ),
    Setting(
        "balance_pattern",
        r"(-?[0-9]+[.,][0-9]{2})",
        "Regular expression whose first group is the amount in the balance answer",
    ),
    Setting(
        "balance_low",
        0.0,
        "An alert goes out once when the balance drops below this (again after a top-up)",
    ),
    Setting("balance_alert_to", "", "Number the low-balance SMS goes to (empty: no SMS)"),
    Setting(
        "balance_alert_url",
        "",
        "URL the low-balance webhook is posted to, signed like every webhook (empty: none)",
    ),
)


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
