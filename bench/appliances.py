"""A running appliance for a benchmark: ``appliance run`` in its own process, on a simulated modem.

The one start-up the benches share (REST create on SQLite and on PostgreSQL, the browser
phone, the fleet): a :class:`~appliance.sim.host.SimulatorHost` with one modem, a config file
naming it, the daemon started and ready, its AccountSid and AuthToken read from the store it
uses; everything stopped on leaving.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.sim.host import SimulatorHost
from tests.daemonproc import DaemonProcess, free_port

NUMBER = "+15005550006"


def sim_host(
    tmp: Path, latency: float, name: str = "modem1", number: str = NUMBER
) -> SimulatorHost:
    """One simulated SIM800 (``latency``: seconds per ``AT+CMGS``), booted."""
    host = SimulatorHost(tmp / "sim", report_status=None)
    host.add(name, "sim800", number, latency=latency, boot_delay=0.0)
    host.start()
    while not host.modems[name].booted:
        time.sleep(0.01)
    return host


@dataclass
class Running:
    """A started appliance: its simulator, process, HTTP port, config and credentials."""

    sim: SimulatorHost
    daemon: DaemonProcess
    port: int
    tmp: Path  # a scratch folder that lives as long as the appliance
    config: Path
    data: Path
    account: str
    auth_token: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/2010-04-01/Accounts/{self.account}/{path}"


def _settings(data: Path, database_url: str) -> dict[str, str]:
    if database_url:
        import psycopg

        with psycopg.connect(database_url) as conn:
            return dict(conn.execute("SELECT key, value FROM settings").fetchall())
    with sqlite3.connect(data / "appliance.sqlite3") as db:
        return dict(db.execute("SELECT key, value FROM settings").fetchall())


@contextmanager
def appliance(
    *,
    latency: float,
    settings: str = "",
    modem_settings: str | Callable[[Any], str] = "",
    database_url: str = "",
    name: str = "modem1",
    number: str = NUMBER,
) -> Iterator[Running]:
    """``appliance run`` on a fresh ``data_dir`` and simulator (``latency`` per send).

    ``settings``: more top-level TOML lines; ``modem_settings``: more lines of the modem's
    table (or a function of the simulated modem making them); ``database_url``: PostgreSQL instead of the data folder's SQLite file."""
    with tempfile.TemporaryDirectory() as tdir:
        tmp = Path(tdir)
        sim = sim_host(tmp, latency, name, number)
        port = free_port()
        cfg = tmp / "appliance.toml"
        data = tmp / "data"
        modem = sim.modems[name]
        more = modem_settings(modem) if callable(modem_settings) else modem_settings
        url = f'database_url = "{database_url}"\n' if database_url else ""
        cfg.write_text(
            f'data_dir = "{data}"\n{url}http_port = {port}\nhttps_port = 0\n'
            f'log_level = "WARNING"\n{settings}'
            f'[[modems]]\nname = "{name}"\nnumber = "{number}"\n'
            f'port = "{modem.port_path}"\n{more}'
        )
        daemon = DaemonProcess(cfg, port)
        daemon.start()
        try:
            daemon.wait_ready()
            found = _settings(data, database_url)
            yield Running(
                sim, daemon, port, tmp, cfg, data, found["account_sid"], found["auth_token"]
            )
        finally:
            daemon.terminate()
            sim.stop()
