"""The production WSGI server (cheroot), in the daemon's process.

cheroot is CherryPy's threaded HTTP/1.1 server: pure Python, keep-alive,
a bounded thread pool, no development-server caveats.
Two of them serve the same app: plain HTTP on ``http_port`` and HTTPS on ``https_port``,
with the certificate of :mod:`appliance.system.tls`.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import threading
from typing import TYPE_CHECKING, Any

from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter

from appliance import signalgateway
from appliance.api import create_app
from appliance.clients.hub import Hub
from appliance.errors import ApplianceError
from appliance.system import tls

if TYPE_CHECKING:
    from appliance.config import Config
    from appliance.system.runtime import Appliance

LOGGER = logging.getLogger(__name__)
LOOPBACK_NAMES = ("localhost",)
# cheroot's selector timeout (its default is 0.5 s): how long a stop waits for the loop to
# notice, and how often an idle server wakes (5 times a second: no measurable idle CPU).
SELECT_INTERVAL = 0.2


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


def https_port_error(config: Config, error: OSError) -> ApplianceError:
    """The one-line failure when the HTTPS address cannot be bound, naming https_port."""
    where = (
        f"set https_port in {config.source} or APPLIANCE_HTTPS_PORT"
        if config.source
        else "set APPLIANCE_HTTPS_PORT"
    )
    port = config.https_port
    if error.errno == errno.EADDRINUSE or "Address already in use" in str(error):
        why = f"the port is in use (`ss -ltnp 'sport = :{port}'` shows which)"
    elif error.errno == errno.EACCES:
        why = "ports below 1024 need root"
    else:
        why = error.strerror or str(error)
    return ApplianceError(
        f"cannot listen on {config.http_host or '*'}:{port} for HTTPS: {why}; {where} to a"
        " free port"
    )


def check_https(config: Config) -> None:
    """Fail before anything starts, in one line naming the setting: a bad ``tls_cert`` /
    ``tls_key`` pair (else the local CA's pair is made or reused), or a taken ``https_port``
    (bound for a moment, as cheroot will; 0 picks a free port at start)."""
    tls.material(config)
    if config.https_port == 0:
        return
    try:
        infos = socket.getaddrinfo(
            config.http_host or None,
            config.https_port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )
    except socket.gaierror:
        return  # http_host's own check names it
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as e:
            raise https_port_error(config, e) from None


def route_errors(server: wsgi.Server, name: str) -> None:
    """Send cheroot's own messages to the ``appliance.server`` logger, so that they take the
    log's key=value format (journald, ``log_file``) instead of bare lines on stderr.

    cheroot writes per-connection noise (a client that drops its TLS handshake, plain HTTP
    into the HTTPS port) at its default level, INFO: that goes to DEBUG, so a port scanner
    does not fill the journal. Its warnings and errors keep their level and traceback."""

    def error_log(msg: str = "", level: int = logging.INFO, traceback: bool = False) -> None:
        level = logging.DEBUG if level <= logging.INFO else level
        LOGGER.log(level, "%s server: %s", name, msg, exc_info=traceback)

    server.error_log = error_log  # type: ignore[method-assign]


class LazySSLAdapter(BuiltinSSLAdapter):
    """cheroot's TLS adapter, set up at the first HTTPS connection rather than at start.

    Setting it up initialises OpenSSL and parses the certificate over a loopback handshake
    (a client context with the system's CA bundle): about 1.5 MB that an appliance nobody
    opens over HTTPS would carry for months (docs/benchmarks.md, idle memory).  The pair
    itself was checked before start (:func:`appliance.system.tls.material`)."""

    def __init__(self, certificate: str, private_key: str) -> None:  # noqa: D107
        self.certificate, self.private_key = certificate, private_key
        self.certificate_chain = self.ciphers = self.private_key_password = None
        self._ready = False
        self._setup = threading.Lock()

    def wrap(self, sock: Any) -> Any:
        if not self._ready:
            with self._setup:
                if not self._ready:
                    BuiltinSSLAdapter.__init__(self, self.certificate, self.private_key)
                    self._ready = True
        return super().wrap(sock)  # type: ignore[no-untyped-call]


class Server:
    def __init__(self, daemon: Appliance, host: str, port: int, threads: int) -> None:
        self.daemon, self.host = daemon, host
        self.app = create_app(daemon)
        from web import create_app as create_panel
        from web.dispatch import combined
        from web.live import limit as stream_limit

        # Each of the panel's event streams holds a worker thread while open: they get threads
        # of their own on top of http_threads, so open pages never starve the API (web/live.py).
        threads += stream_limit(threads)
        self.panel = create_panel(daemon)  # the web panel takes every path the API does not
        self.httpd = wsgi.Server(
            (host, port),
            combined(self.app, self.panel),
            numthreads=threads,
            server_name="appliance",
        )
        self.httpd.shutdown_timeout = 2
        self.httpd.expiration_interval = SELECT_INTERVAL
        route_errors(self.httpd, "http")
        self._thread: threading.Thread | None = None
        # The same app over TLS on https_port (browser phones need a secure context); a bad
        # tls_cert/tls_key pair fails here, before the banner, in one line naming the setting.
        self.tls = tls.material(daemon.config)
        # Browser phones' signalling sockets (wss://…/signal) each hold an HTTPS worker thread:
        # client_connections threads of their own, beyond which the hub refuses sockets.
        self.hub = Hub(daemon.store, daemon.account, daemon.config.client_connections)
        self.hub.calls = getattr(daemon, "client_calls", None)  # calls from browsers
        self.https = wsgi.Server(
            (host, daemon.config.https_port),
            self.httpd.wsgi_app,
            numthreads=threads + self.hub.limit,
            server_name="appliance",
        )
        self.https.gateway = signalgateway.gateway(self.hub)
        self.https.ssl_adapter = LazySSLAdapter(str(self.tls.cert), str(self.tls.key))
        self.https.shutdown_timeout = 2
        self.https.expiration_interval = SELECT_INTERVAL
        route_errors(self.https, "https")
        self._https_thread: threading.Thread | None = None

    def start(self) -> None:
        self.httpd.prepare()  # binds now, so a busy port fails at start-up with a clear error
        try:
            self.https.prepare()
        except OSError as e:
            raise https_port_error(self.daemon.config, e) from None
        warn_if_media_exposed(self.host, self.daemon.config.recording_media_auth)
        self._thread = threading.Thread(target=self.httpd.serve, name="http", daemon=True)
        self._thread.start()
        self._https_thread = threading.Thread(target=self.https.serve, name="https", daemon=True)
        self._https_thread.start()

    @property
    def port(self) -> int:
        return int(self.httpd.bind_addr[1])

    @property
    def https_port(self) -> int:
        return int(self.https.bind_addr[1])

    def stop(self) -> None:
        from web.live import stop_streams

        stop_streams(self.panel)  # the panel's event streams would hold worker threads
        self.hub.stop()  # so would browser phones' signalling sockets
        # Each server's stop waits for its selector loop to come round (SELECT_INTERVAL):
        # both at once, so a stop (and each test's daemon) waits for one turn, not two.
        https = threading.Thread(target=self.https.stop, name="https-stop", daemon=True)
        https.start()
        self.httpd.stop()
        https.join()
        for thread in (self._thread, self._https_thread):
            if thread is not None:
                thread.join(5)
