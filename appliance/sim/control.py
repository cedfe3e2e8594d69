"""Control socket: JSON lines over a Unix socket, one per SimulatorHost.

Request: one JSON object per line, ``{"op": "<op>", ...arguments}``.
Reply: one JSON object per line, ``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``.

Ops (see ``SimulatorHost.handle``): ``ping``, ``list``, ``sms``, ``outbox``, ``segments``,
``fault``, ``status``, ``clear_outbox``, ``set``; voice: ``call_in``, ``call_digits``,
``call_say``, ``call_play``, ``call_hangup``, ``call_status``, ``callee``.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_REQUEST = 1 << 20
MAX_SUN_PATH = 100  # sockaddr_un.sun_path is 108 bytes on Linux, incl. the NUL


class SimulatorNotRunning(ConnectionError):
    """No simulator answers on the control socket."""


class SimControlError(RuntimeError):
    """The simulator rejected a request."""


Dispatch = Callable[[str, dict[str, Any]], dict[str, Any]]


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            line = self.rfile.readline(MAX_REQUEST)
            if not line:
                return
            if not line.strip():
                continue
            try:
                req = json.loads(line)
                if not isinstance(req, dict) or not isinstance(req.get("op"), str):
                    raise ValueError('request must be a JSON object with an "op" string')
                op = req.pop("op")
                reply = {"ok": True, **self.server.dispatch(op, req)}
            except Exception as exc:  # report every failure to the client
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            try:
                self.wfile.write((json.dumps(reply, default=str) + "\n").encode())
                self.wfile.flush()
            except OSError:
                return


class _Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, path: str, dispatch: Dispatch) -> None:
        self.dispatch = dispatch
        super().__init__(path, _Handler)


class ControlServer:
    """Serves ``dispatch(op, args)`` on a Unix socket in a daemon thread."""

    def __init__(self, path: Path | str, dispatch: Dispatch) -> None:
        self.path = Path(path)
        self._dispatch = dispatch
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            # a stale socket from a killed process; refuse to steal a live one
            try:
                request(self.path, "ping", timeout=1.0)
            except SimulatorNotRunning:
                self.path.unlink()
            else:
                raise RuntimeError(f"a simulator is already serving {self.path}")
        bind_path = str(self.path)
        self._short: str | None = None
        if len(os.fsencode(bind_path)) > MAX_SUN_PATH:
            # too long for AF_UNIX: bind a short path and leave a symlink where asked
            self._short = tempfile.mktemp(prefix="simctl-", suffix=".sock", dir="/tmp")
            bind_path = self._short
            os.symlink(self._short, self.path)
        self._server = _Server(bind_path, self._dispatch)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="sim-control",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for p in (str(self.path), getattr(self, "_short", None)):
            if p:
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass


def request(
    socket_path: Path | str, op: str, *, timeout: float = 30.0, **kwargs: Any
) -> dict[str, Any]:
    """Send one request to a running simulator and return its reply.

    Raises :class:`SimulatorNotRunning` if nothing listens on ``socket_path`` and
    :class:`SimControlError` if the simulator answered ``ok: false``.
    """
    path = str(socket_path)
    if len(os.fsencode(path)) > MAX_SUN_PATH:
        path = os.path.realpath(path)  # a long path is a symlink to the real (short) socket
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise SimulatorNotRunning(
                f"the modem simulator is not running (no control socket at {path}): {exc.strerror}"
            ) from None
        sock.sendall((json.dumps({"op": op, **kwargs}) + "\n").encode())
        buf = bytearray()
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        sock.close()
    if not buf:
        raise SimulatorNotRunning(f"the modem simulator at {path} closed the connection")
    reply = json.loads(buf)
    if not isinstance(reply, dict):
        raise SimControlError(f"bad reply from simulator: {reply!r}")
    if not reply.get("ok"):
        raise SimControlError(str(reply.get("error", "unknown error")))
    return reply
