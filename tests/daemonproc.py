"""`appliance run` as a separate process, for tests and benchmarks that need one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DaemonProcess:
    """Start, wait for, kill or stop a daemon; its output goes to ``log`` (or nowhere)."""

    def __init__(
        self,
        config_path: Path,
        port: int,
        log: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        """``env`` is added to this process's environment for the daemon."""
        self.config_path, self.port, self.log = config_path, port, log
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "appliance", "--config", str(self.config_path), "run"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env} if self.env else None,
            )
        finally:
            if self.log:
                out.close()  # type: ignore[union-attr]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def ready(self) -> bool:
        """The HTTP server answers and every modem is connected.

        ``/health`` says 503 while a modem is degraded (not connected, and also no network or
        no SIM), with the same body: its ``ready`` is the daemon's readiness.
        """
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as rv:
                body = json.loads(rv.read())
        except urllib.error.HTTPError as e:
            try:
                body = json.loads(e.read())
            except (OSError, ValueError):
                return False
        except (OSError, ValueError):
            return False
        return bool(body.get("ready", body.get("ok")))

    def wait_ready(self, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > end:
                raise TimeoutError(
                    f"the daemon on port {self.port} did not become ready in {timeout} s"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self) -> int:
        """SIGTERM; returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)
