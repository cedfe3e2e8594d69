"""The production WSGI server (cheroot), in the daemon's process.

cheroot is CherryPy's threaded HTTP/1.1 server: pure Python, keep-alive,
a bounded thread pool, no development-server caveats.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from typing import TYPE_CHECKING

from cheroot import wsgi

from appliance.api import create_app

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

LOGGER = logging.getLogger(__name__)
LOOPBACK_NAMES = ("localhost",)


def media_exposed(host: str, media_auth: bool) -> bool:
    """Whether recording media are public (``recording_media_auth`` off, Twilio's default)
    while the server listens beyond loopback (``host`` not 127.0.0.0/8, ::1 or localhost)."""
    if media_auth:
        return False
    if host.strip().lower() in LOOPBACK_NAMES:
        return False
    try:
        return not ipaddress.ip_address(host.strip("[] ")).is_loopback
    except ValueError:
        return True  # "" (every interface) or a host name


def warn_if_media_exposed(host: str, media_auth: bool) -> None:
    if media_exposed(host, media_auth):
        LOGGER.warning(
            "recording media are public (recording_media_auth = false, Twilio's default) and"
            " the HTTP server listens on %r, beyond loopback: anyone who can reach it and has"
            " a recording's URL can play it. Set recording_media_auth = true to require the"
            " API's Basic auth.",
            host,
        )


class Server:
    def __init__(self, daemon: Appliance, host: str, port: int, threads: int) -> None:
        self.daemon, self.host = daemon, host
        self.app = create_app(daemon)
        from web import create_app as create_panel
        from web.dispatch import combined

        self.panel = create_panel(daemon)  # the web panel takes every path the API does not
        self.httpd = wsgi.Server(
            (host, port),
            combined(self.app, self.panel),
            numthreads=threads,
            server_name="appliance",
        )
        self.httpd.shutdown_timeout = 2
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.httpd.prepare()  # binds now, so a busy port fails at start-up with a clear error
        warn_if_media_exposed(self.host, self.daemon.config.recording_media_auth)
        self._thread = threading.Thread(target=self.httpd.serve, name="http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.bind_addr[1])

    def stop(self) -> None:
        from web.live import stop_streams

        stop_streams(self.panel)  # the panel's event streams would hold worker threads
        self.httpd.stop()
        if self._thread is not None:
            self._thread.join(5)
