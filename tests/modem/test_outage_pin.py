"""A wrong SIM PIN refused while the database is away (issue 16, slice 2's leftover): the
driver is closed first, the PIN is not sent again meanwhile, and the refusal is written once
the database is back (so a restart does not try the PIN again either).

The outage is injected on SQLite (a file has no server to lose): the store's ``read`` and
``write`` raise :class:`StoreUnavailable` while ``store.outage`` is down, as PostgreSQL's do.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from appliance.daemon import Daemon
from appliance.modem import connection
from appliance.sim.host import SimulatorHost
from appliance.store.database import Store
from tests.conftest import NUMBER, settings, wait_for


def injectable_outage(store: Store) -> None:
    """``store.read``/``store.write`` fail as PostgreSQL's do while ``store.outage`` is down."""
    read, write = store.read, store.write

    def guarded(original: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            store.outage.check()
            return original(*args, **kwargs)

        return call

    store.read = guarded(read)  # type: ignore[method-assign]
    store.write = guarded(write)  # type: ignore[method-assign]


def test_a_pin_refused_during_an_outage_closes_the_driver_and_is_recorded_after(
    tmp_path: Path, monkeypatch, caplog
):
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0, pin="1234")
    host.start()
    sim_modem = host.modems["modem1"]
    drivers: list[Any] = []
    real_driver, real_handshake = connection.Driver, connection.handshake

    def driver(*args: Any, **kwargs: Any) -> Any:
        drivers.append(real_driver(*args, **kwargs))
        return drivers[-1]

    def handshake(*args: Any, **kwargs: Any) -> None:
        try:
            real_handshake(*args, **kwargs)
        except Exception:
            # the database goes away as the SIM refuses the PIN: the refusal cannot be written
            store.outage.begin("test: the server stopped")
            threading.Timer(1.5, store.outage.end).start()
            raise

    monkeypatch.setattr(connection, "Driver", driver)
    monkeypatch.setattr(connection, "handshake", handshake)
    try:
        wait_for(lambda: sim_modem.booted, timeout=15)
        d = Daemon(settings(tmp_path, host, modem={"pin": "9999"}, reconnect_delay=0.05))
        store = d.store
        injectable_outage(store)
        d.start()
        try:
            wait_for(lambda: store.outage.count == 1, timeout=10)
            assert drivers and not drivers[0].alive  # closed before anything else
            assert "SIM PIN refused" in caplog.text
            wait_for(lambda: store.available, timeout=10)
            key = "sim_pin_refused:modem1"
            wait_for(lambda: store.setting(key) is not None, timeout=10)
            wait_for(lambda: "not sent again" in (d.modems["modem1"].last_error or ""))
            time.sleep(1.0)  # several more reconnection attempts
            assert sim_modem.pin_attempts_left == 2 and sim_modem.pin_locked
            assert all(not drv.alive for drv in drivers)
            assert "modem loop error" not in caplog.text
        finally:
            d.stop()
        d = Daemon(settings(tmp_path, host, modem={"pin": "9999"}, reconnect_delay=0.05))
        d.start()  # a restart remembers the refusal the outage had kept in memory
        try:
            wait_for(lambda: "not sent again" in (d.modems["modem1"].last_error or ""))
            assert sim_modem.pin_attempts_left == 2
        finally:
            d.stop()
    finally:
        host.stop()
