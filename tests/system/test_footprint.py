"""What an idle appliance keeps in memory: the heavy libraries load only when used.

numpy (call audio, tones) loads when a call starts and cryptography only in the child that
makes certificates; the idle figure itself is measured in bench/ (docs/benchmarks.md).
"""

from __future__ import annotations

from pathlib import Path

from appliance.sim.host import SimulatorHost
from tests.conftest import NUMBER
from tests.daemonproc import DaemonProcess, free_port

# Shared objects of the libraries an idle appliance must not have loaded.
HEAVY = {"numpy": "_multiarray_umath", "cryptography": "cryptography"}


def test_an_idle_appliance_loads_neither_numpy_nor_cryptography(
    tmp_path: Path, sim: SimulatorHost
) -> None:
    """With the simulator outside it, as a real modem is (the in-process simulator has its
    own audio side, which uses numpy)."""
    port = free_port()
    cfg = tmp_path / "appliance.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhttp_port = {port}\nhttps_port = 0\n'
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\n'
        f'port = "{sim.modems["modem1"].port_path}"\n'
    )
    proc = DaemonProcess(cfg, port, log=tmp_path / "daemon.log")
    proc.start()
    try:
        proc.wait_ready(60)
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        loaded = [name for name, marker in HEAVY.items() if marker in maps]
        assert loaded == [], f"loaded at start-up: {loaded}"
    finally:
        assert proc.terminate() == 0
