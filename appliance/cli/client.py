"""The daemon client of the commands: the account's credentials and calls to the REST API.

The running daemon is found through its run file (:mod:`appliance.runfile`), so a daemon
started with another ``APPLIANCE_HTTP_PORT`` is still found; without one, the configured
``http_host:http_port``.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from appliance import runfile
from appliance.cli.failures import NotRunning, UsageError
from appliance.config import Config
from appliance.errors import ApplianceError

API_TIMEOUT = 30.0  # seconds the daemon has to answer one REST call


def credentials(cfg: Config) -> tuple[str, str]:
    """The AccountSid and AuthToken, read from the store."""
    from appliance.store.account import Account
    from appliance.store.engines import open_store

    store = open_store(cfg)
    try:
        account = Account(store)
        return account.sid, account.auth_token
    finally:
        store.close()


def local_host(host: str) -> str:
    """Where a client on this machine reaches a server bound to ``host``."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - every interface: loopback is one of them
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def running_daemon(cfg: Config) -> dict[str, Any] | None:
    """The run file of a live daemon on this data_dir, or None (none, or its process is gone)."""
    return runfile.live(cfg.run_path)


def daemon_url(cfg: Config) -> tuple[str, str]:
    """The running daemon's local URL, and where that came from (for messages)."""
    run = running_daemon(cfg)
    if run is not None:
        host = local_host(str(run.get("host", cfg.http_host)))
        return f"http://{host}:{run['port']}", f"pid {run['pid']}, from {cfg.run_path}"
    url = f"http://{local_host(cfg.http_host)}:{cfg.http_port}"
    return url, f"http_port {cfg.http_port}; no running daemon in {cfg.run_path}"


def not_running(cfg: Config) -> NotRunning:
    """The error of a command that needs the daemon: which URL it tried, how to start one."""
    url, source = daemon_url(cfg)
    return NotRunning(
        f"the appliance is not running: nothing answers on {url} ({source}); start it with"
        " `appliance run` (or `systemctl start appliance`), or give this command the daemon's"
        " --config (its data_dir holds run.json)"
    )


def api(cfg: Config, method: str, path: str, data: dict[str, str] | None = None) -> Any:
    """Call the running daemon's REST API (``{AccountSid}`` in ``path`` is filled in).

    Raises :class:`NotRunning` when nothing listens, :class:`UsageError` for a 4xx answer.
    """
    # here: `appliance run` imports this module, and the daemon does not need urllib.request
    import urllib.error
    import urllib.parse
    import urllib.request

    sid, token = credentials(cfg)
    base, _source = daemon_url(cfg)
    url = base + path.replace("{AccountSid}", sid)
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{sid}:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=API_TIMEOUT) as rv:  # noqa: S310 - our own daemon
            return json.loads(rv.read() or b"{}")
    except urllib.error.HTTPError as e:
        try:
            payload = json.loads(e.read() or b"{}")
        except ValueError:
            payload = {}
        text = f"{payload.get('message', e.reason)} (error {payload.get('code', e.code)})"
        if 400 <= e.code < 500:
            raise UsageError(text) from None
        raise ApplianceError(f"the appliance at {base} failed: {text}") from None
    except (urllib.error.URLError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        if isinstance(reason, ConnectionRefusedError | FileNotFoundError):
            raise not_running(cfg) from None
        raise ApplianceError(f"the appliance at {base} did not answer: {reason}") from None
    except TimeoutError:
        raise ApplianceError(
            f"the appliance at {base} did not answer in {API_TIMEOUT:.0f} s"
        ) from None
