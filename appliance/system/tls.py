"""The HTTPS server's certificate: the user's own pair, or one from the appliance's local CA.

A browser gives a page the microphone only in a secure context, and the Voice SDK dials only
``wss://``, so the appliance serves HTTPS too (``https_port``).  Without ``tls_cert`` and
``tls_key`` it makes, on first start, a local certificate authority and a server certificate
signed by it, in ``data_dir/tls``: ``ca.crt`` (public: the panel serves it at ``/ca.crt`` for
laptops and phones to trust), ``ca.key`` (0600, never served), ``server.crt`` and ``server.key``
(0600).  The server certificate names the host (``hostname``, ``hostname.local``, ``localhost``,
the host's non-loopback IPv4 addresses, 127.0.0.1 and ::1, and ``public_url``'s host); it is
made again when it nears its expiry or when the names change (a new DHCP lease).  The CA stays,
so clients trust it once.

``cryptography`` (about 13 MB resident) is never imported by the daemon: a child process
(:mod:`appliance.system.certmaker`) makes the certificates, and a later start reads what it
needs from ``server.json``, written beside them.
"""

from __future__ import annotations

import array
import contextlib
import dataclasses
import datetime as dt
import fcntl
import ipaddress
import json
import re
import socket
import ssl
import struct
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.errors import ConfigError

if TYPE_CHECKING:
    from appliance.config import Config

TLS_DIR = "tls"
SERVER_DAYS = 397  # a server certificate's life (certmaker.SERVER_DAYS says why)
RENEW_BEFORE_DAYS = 30  # a server certificate (or CA) this close to its end is made again
SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
DNS_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")
MAKE_TIMEOUT = 120.0  # seconds for the child that makes the certificates (a slow Pi's first start)


@dataclasses.dataclass(frozen=True)
class Material:
    """What the HTTPS server loads: its certificate (chain) and key, and the local CA if any."""

    cert: Path
    key: Path
    ca: Path | None  # None with a user-supplied pair
    names: tuple[str, ...] = ()  # the generated certificate's DNS names and IPs


def tls_dir(config: Config) -> Path:
    return config.data_dir / TLS_DIR


def ca_path(config: Config) -> Path | None:
    """The local CA's public certificate, when the appliance made one (None with tls_cert)."""
    if config.tls_cert.strip():
        return None
    path = tls_dir(config) / "ca.crt"
    return path if path.is_file() else None


def _where(config: Config, setting: str) -> str:
    env = "APPLIANCE_" + setting.upper()
    return f"set {setting} in {config.source} or {env}" if config.source else f"set {env}"


def _path(config: Config, value: str) -> Path:
    path = Path(value.strip()).expanduser()
    return path if path.is_absolute() else config.data_dir / path


def user_pair(config: Config) -> Material:
    """The ``tls_cert``/``tls_key`` pair, checked now: a bad one is a one-line ConfigError."""
    cert, key = config.tls_cert.strip(), config.tls_key.strip()
    if not cert or not key:
        missing = "tls_key" if cert else "tls_cert"
        raise ConfigError(
            f"{missing} is empty but {'tls_cert' if cert else 'tls_key'} is set: HTTPS needs"
            f" both, a PEM certificate and its private key; {_where(config, missing)}, or empty"
            " both for a certificate from the appliance's own CA"
        )
    cert_path, key_path = _path(config, cert), _path(config, key)
    for setting, path in (("tls_cert", cert_path), ("tls_key", key_path)):
        try:
            path.read_bytes()
        except OSError as e:
            raise ConfigError(
                f"{setting} {path} cannot be read ({e.strerror or e});"
                f" {_where(config, setting)} to a PEM file the appliance's user can read"
            ) from None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # an encrypted key fails here rather than asking for its passphrase on the terminal
        context.load_cert_chain(cert_path, key_path, password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or str(e)
        mismatch = "KEY_VALUES_MISMATCH" in str(e) or reason == "KEY_VALUES_MISMATCH"
        why = (
            "the key does not belong to the certificate"
            if mismatch
            else f"not a PEM certificate and its unencrypted private key ({reason})"
        )
        raise ConfigError(
            f"tls_cert {cert_path} and tls_key {key_path} cannot be used for HTTPS: {why};"
            f" {_where(config, 'tls_cert')} and tls_key to a matching pair, or empty both"
        ) from None
    return Material(cert_path, key_path, None)


def host_names(config: Config) -> tuple[str, ...]:
    """The names and addresses the server certificate covers, sorted: DNS names, then IPs."""
    dns = {"localhost"}
    host = socket.gethostname().strip().rstrip(".")
    if host and host != "localhost":
        dns.add(host)
        short = host.split(".")[0]
        dns.add(f"{short}.local")
        dns.add(short)
    ips = {"127.0.0.1", "::1", *local_addresses()}
    for candidate in (config.http_host, urllib.parse.urlsplit(config.public_url).hostname or ""):
        candidate = candidate.strip().strip("[]")
        if not candidate or candidate in ("0.0.0.0", "::"):  # noqa: S104 - a name, not a bind
            continue
        try:
            ips.add(str(ipaddress.ip_address(candidate)))
        except ValueError:
            dns.add(candidate.lower())
    dns = {name for name in dns if DNS_NAME.fullmatch(name)}  # a certificate takes ASCII names
    ordered_ips = sorted(ips, key=lambda a: (ipaddress.ip_address(a).version, a))
    return (*sorted(dns), *ordered_ips)


def local_addresses() -> list[str]:
    """This host's non-loopback IPv4 addresses (one per interface, Linux's SIOCGIFADDR)."""
    found: list[str] = []
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _index, name in socket.if_nameindex():
            request = array.array("B", struct.pack("256s", name.encode()[:15]))
            try:
                fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
            except OSError:
                continue  # no IPv4 address on this interface
            address = socket.inet_ntoa(request.tobytes()[20:24])
            if not ipaddress.ip_address(address).is_loopback:
                found.append(address)
    return found


def generated(config: Config, now: dt.datetime | None = None) -> Material:
    """The appliance's own pair in data_dir/tls: reused, or (re)made when missing, near its
    end, or no longer naming this host."""
    now = now or dt.datetime.now(dt.UTC)
    folder = tls_dir(config)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = host_names(config)
    ca_cert = folder / "ca.crt"
    cert, key, info = folder / "server.crt", folder / "server.key", folder / "server.json"
    material = Material(cert, key, ca_cert, names)
    try:
        meta = json.loads(info.read_text())
        usable = (
            cert.is_file()
            and key.is_file()
            and ca_cert.is_file()
            and tuple(meta["names"]) == names
            and float(meta["not_after"]) - now.timestamp() > RENEW_BEFORE_DAYS * 86400
            and float(meta["ca_not_after"]) - now.timestamp() > RENEW_BEFORE_DAYS * 86400
        )
    except (OSError, ValueError, KeyError, TypeError):
        usable = False
    if usable:
        return material
    _make(folder, names, now)
    return material


def _make(folder: Path, names: tuple[str, ...], now: dt.datetime) -> None:
    """Run :mod:`appliance.system.certmaker` in a child process: ``cryptography`` costs about
    13 MB resident, which the daemon would keep for good after its first start."""
    command = [
        sys.executable,
        "-m",
        "appliance.system.certmaker",
        str(folder),
        str(now.timestamp()),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - our own module, no shell
            [*command, *names], capture_output=True, text=True, timeout=MAKE_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OSError(f"the certificate maker failed: {e}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout or "no output").strip().splitlines()
        raise OSError(f"the certificate maker failed: {lines[-1] if lines else done.returncode}")


def material(config: Config) -> Material:
    """The HTTPS server's pair: the user's (``tls_cert``, ``tls_key``) or the generated one."""
    if config.tls_cert.strip() or config.tls_key.strip():
        return user_pair(config)
    try:
        return generated(config)
    except OSError as e:
        raise ConfigError(
            f"cannot write the HTTPS certificate in {tls_dir(config)} ({e.strerror or e});"
            f" make data_dir writable, or {_where(config, 'tls_cert')} and tls_key to your own"
        ) from None
