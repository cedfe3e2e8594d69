"""Start-up checks: what would otherwise fail later, or with a traceback, fails first in one
line naming the setting to change (data_dir, every modem's profile, the HTTP and HTTPS ports,
another daemon on the same data_dir).  The composition root (:mod:`appliance.daemon`) runs
:func:`preflight` before it builds anything.
"""

from __future__ import annotations

import errno
import json
import os
import socket

from appliance.clients import identity
from appliance.config import Config
from appliance.errors import ApplianceError, ConfigError
from appliance.modem import profiles


class StartupError(ApplianceError):
    """The appliance cannot start here and now (a port taken, a directory not writable)."""


def _where(config: Config, setting: str) -> str:
    """How to change a top-level setting: the file it is in, or its variable."""
    env = "APPLIANCE_" + setting.upper()
    return f"set {setting} in {config.source} or {env}" if config.source else f"set {env}"


def _check_profiles(config: Config) -> None:
    known = profiles.available()
    for i, m in enumerate(config.modems):
        if m.profile not in known:
            raise ConfigError(
                f"modem {m.name}: unknown profile {m.profile!r}; known profiles:"
                f" {', '.join(known)} (the modem's `profile` setting, [[modems]] table {i + 1}"
                f" or APPLIANCE_MODEM_{m.name.upper()}_PROFILE; `appliance probe` names the one"
                " that matches a modem)"
            )


def _check_data_dir(config: Config) -> None:
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(config.data_dir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as e:
        raise StartupError(
            f"data_dir {config.data_dir} is not a writable directory ({e.strerror});"
            f" {_where(config, 'data_dir')} to one the appliance's user can write"
        ) from None


def _check_not_running(config: Config) -> None:
    """Refuse a second daemon on one data_dir: both would drive the same modems and store."""
    try:
        run = json.loads(config.run_path.read_text())
        pid = int(run["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if pid == os.getpid():
        return  # this process (tests build daemons one after another)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return  # a stale file: that daemon was killed
    except PermissionError:
        pass
    raise StartupError(
        f"an appliance is already running on data_dir {config.data_dir} (pid {pid}, port"
        f" {run.get('port')}; {config.run_path}): stop it first (`systemctl stop appliance`,"
        f" or Ctrl-C where it runs), or {_where(config, 'data_dir')} to another directory"
    )


def busy_port(config: Config, port: int | None = None) -> StartupError:
    port = config.http_port if port is None else port
    return StartupError(
        f"cannot listen on {config.http_host or '*'}:{port}: the port is in use (another"
        f" program, or another appliance: `ss -ltnp 'sport = :{port}'` shows which);"
        f" {_where(config, 'http_port')} to a free port"
    )


def _check_http_port(config: Config) -> None:
    """Bind the HTTP address for a moment, as the server will (SO_REUSEADDR, like cheroot)."""
    try:
        infos = socket.getaddrinfo(
            config.http_host or None,
            config.http_port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
    except socket.gaierror as e:
        raise StartupError(
            f"http_host {config.http_host!r} is not an address of this machine ({e.strerror});"
            f" {_where(config, 'http_host')}"
        ) from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except PermissionError:
            raise StartupError(
                f"cannot listen on port {config.http_port}: ports below 1024 need root;"
                f" {_where(config, 'http_port')} to 1024 or above"
            ) from None
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise busy_port(config) from None
            raise StartupError(
                f"cannot listen on {config.http_host}:{config.http_port} ({e.strerror});"
                f" {_where(config, 'http_host')} or http_port"
            ) from None


def _check_panel_phone(config: Config) -> None:
    why = identity.problem(config.panel_phone_identity)
    if why is not None:
        raise ConfigError(
            f"panel_phone_identity {config.panel_phone_identity!r} is not a valid browser phone"
            f" identity: {why}; {_where(config, 'panel_phone_identity')} to a name such as"
            " panel or front-desk (no spaces, at most 256 characters)"
        )


def preflight(config: Config, *, http: bool = True) -> None:
    """Fail now, in one line naming the setting to change, rather than later or with a traceback."""
    _check_profiles(config)
    _check_panel_phone(config)
    _check_data_dir(config)
    _check_not_running(config)
    if http:
        _check_http_port(config)
        from appliance.server import check_https  # tls_cert/tls_key, https_port

        check_https(config)
