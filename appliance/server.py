"""The production WSGI server (cheroot), in the daemon's process.

cheroot is CherryPy's threaded HTTP/1.1 server: pure Python, keep-alive,
a bounded thread pool, no development-server caveats.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from cheroot import wsgi

from appliance.api import create_app

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

LOGGER = logging.getLogger(__name__)


class Server:
    def __init__(self, daemon: Appliance, host: str, port: int, threads: int) -> None:
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
        self._thread = threading.Thread(target=self.httpd.serve, name="http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.bind_addr[1])

    def stop(self) -> None:
        self.httpd.stop()
        if self._thread is not None:
            self._thread.join(5)
