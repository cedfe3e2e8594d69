"""Settings that load but look wrong: what the daemon warns about at start-up.

:func:`review` only reads the :class:`~appliance.config.Config` (no I/O); the daemon writes
one WARNING line per :class:`Doubt`.  None of these stops the appliance: a value may be
meant (a lab, a benchmark), but a person should look at it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from urllib.parse import urlsplit

from appliance.config import Config
from appliance.logs import level_number
from appliance.twimlets import is_twimlet_url

__all__ = ["Doubt", "review"]

MIN_METRICS_TOKEN = 16  # characters: shorter bearer tokens can be guessed
WEBHOOK_SETTINGS = ("sms_url", "sms_fallback_url", "voice_url", "status_callback")


@dataclasses.dataclass(frozen=True)
class Doubt:
    """One setting that looks wrong: its name, its value (None for a secret), and why."""

    setting: str
    value: str | None
    why: str


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost (not "", which means every interface)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _not_http(url: str) -> bool:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return True
    return parts.scheme.lower() not in ("http", "https") or not parts.hostname


def review(cfg: Config) -> list[Doubt]:
    """Every doubtful setting of ``cfg``, in the order of the settings table."""
    doubts: list[Doubt] = []
    if cfg.public_url:
        if _not_http(cfg.public_url):
            doubts.append(
                Doubt(
                    "public_url",
                    cfg.public_url,
                    "not an http(s) URL: recording and action URLs given to apps would not work",
                )
            )
        elif is_loopback(urlsplit(cfg.public_url).hostname or "") and not is_loopback(
            cfg.http_host
        ):
            doubts.append(
                Doubt(
                    "public_url",
                    cfg.public_url,
                    f"points at loopback while the server listens on {cfg.http_host or '*'}:"
                    " apps on other machines get recording URLs that point at themselves",
                )
            )
    elif cfg.database_url.strip() and cfg.http_host.strip().strip("[]") in ("", "0.0.0.0", "::"):
        doubts.append(
            Doubt(
                "public_url",
                "",
                f"unset on a fleet node listening on every interface ({cfg.http_host or '*'}):"
                f" the other nodes would forward recordings and modem requests to {cfg.base_url},"
                " which is not this node from anywhere else; set public_url to the address they"
                " reach it at",
            )
        )
    if level_number(cfg.log_level) is None:
        doubts.append(
            Doubt("log_level", cfg.log_level, "not a level (DEBUG, INFO, WARNING, ERROR, TRACE)")
        )
    if cfg.log_file.strip() and (cfg.log_max_bytes <= 0 or cfg.log_backups <= 0):
        doubts.append(
            Doubt(
                "log_max_bytes" if cfg.log_max_bytes <= 0 else "log_backups",
                str(min(cfg.log_max_bytes, cfg.log_backups)),
                "log_file is never rotated and grows without bound",
            )
        )
    real = [m.name for m in cfg.modems if not m.simulated]
    if cfg.outbound_rate <= 0 and real:
        doubts.append(
            Doubt(
                "outbound_rate",
                f"{cfg.outbound_rate:g}",
                f"no rate limit on a real modem ({', '.join(real)}): an operator may bar a SIM"
                " that sends this fast (Twilio's long codes: 1 segment a second)",
            )
        )
    request = cfg.connect_timeout + cfg.read_timeout
    if 0 < cfg.webhook_lease < request:
        doubts.append(
            Doubt(
                "webhook_lease",
                f"{cfg.webhook_lease:g}",
                f"shorter than one webhook request may take ({request:g} s): on a fleet another"
                " node may make a request again while it is still in flight (same token)",
            )
        )
    for name in ("forecast_base_url", "geocoding_base_url"):
        url = str(getattr(cfg, name))
        if url and _not_http(url):
            doubts.append(Doubt(name, url, "not an http(s) URL: weather broadcasts would fail"))
    if not cfg.panel_secure_cookie and not is_loopback(cfg.http_host):
        doubts.append(
            Doubt(
                "panel_secure_cookie",
                "false",
                f"the server listens on {cfg.http_host or '*'}, beyond loopback: the panel's"
                " session cookie may travel unencrypted",
            )
        )
    if cfg.metrics_enabled and cfg.metrics_token and len(cfg.metrics_token) < MIN_METRICS_TOKEN:
        doubts.append(
            Doubt(
                "metrics_token",
                None,
                f"shorter than {MIN_METRICS_TOKEN} characters: it can be guessed"
                " (`openssl rand -hex 32` makes a good one)",
            )
        )
    for m in cfg.modems:
        for name in WEBHOOK_SETTINGS:
            url = str(getattr(m, name))
            if name == "voice_url" and is_twimlet_url(url):
                continue  # a built-in twimlet (/twimlets/…), on the appliance's own base URL
            if url and _not_http(url):
                doubts.append(
                    Doubt(
                        f"{m.name}.{name}",
                        url,
                        "not an http(s) URL with a host: every request to it would fail (11200)",
                    )
                )
    return doubts
