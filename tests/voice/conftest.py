"""Fixtures of the voice tests: a daemon whose modem has a Voice URL and an audio port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance import config
from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from tests.conftest import NUMBER, wait_for
from tests.webapp import WebApp


@pytest.fixture
def voice_daemon(
    make_daemon: Callable[..., Daemon], webapp: WebApp, sim: SimulatorHost
) -> Callable[..., Daemon]:
    """Start a daemon on the simulated modem; ``modem={...}`` overrides its settings."""

    def make(**kwargs: object) -> Daemon:
        modem = {
            "voice_url": webapp.url("/voice"),
            "audio_port": str(sim.modems["modem1"].audio_path),
        }
        modem.update(kwargs.pop("modem", {}))  # type: ignore[arg-type]
        return make_daemon(modem=modem, **kwargs)

    return make


FAMILIES = ["sim800", "huawei_e173", "sim7600", "quectel_ec25", "generic"]


def start_daemon(tmp_path: Path, modems: list[dict[str, str]], **settings: object) -> Daemon:
    """A started daemon on ``modems`` with the voice tests' quick timings (and ``settings``,
    e.g. a ``database_url``), every modem connected; stopped again (and the test failed)
    when one does not connect."""
    cfg = config.load(
        None,
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "http_port": 0,
            "https_port": 0,
            "outbound_rate": 0.0,
            "webhook_backoff": 0.2,
            "reconnect_delay": 0.2,
            "command_timeout": 3.0,
            "modems": modems,
            **settings,
        },
    )
    d = Daemon(cfg)
    d.start()
    for m in d.modems.values():
        if not m.connected.wait(15):
            d.stop()  # a daemon left running would load every later test
            raise AssertionError(f"{m.name} did not connect: {m.last_error}")
    return d


@contextmanager
def daemon_on_family(
    tmp_path: Path, webapp: WebApp, family: str, **modem: str
) -> Iterator[tuple[SimulatorHost, Daemon]]:
    """A daemon on one simulated modem of ``family``, its Voice URL the web app's /voice;
    ``modem`` adds to the modem's settings.  Stopped on the way out, connected or not."""
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    sim_modem = host.add("modem1", family, NUMBER, latency=0.005, boot_delay=0.0)
    host.start()
    wait_for(lambda: sim_modem.booted, timeout=15)
    try:
        d = start_daemon(
            tmp_path,
            [
                {
                    "name": "modem1",
                    "number": NUMBER,
                    "port": str(sim_modem.port_path),
                    "profile": family,
                    "audio_port": str(sim_modem.audio_path),
                    "voice_url": webapp.url("/voice"),
                    **modem,
                }
            ],
        )
    except BaseException:
        host.stop()
        raise
    try:
        yield host, d
    finally:
        d.stop()
        host.stop()


@pytest.fixture(params=FAMILIES)
def one_modem(
    request: pytest.FixtureRequest, tmp_path: Path, webapp: WebApp
) -> Iterator[tuple[SimulatorHost, Daemon]]:
    """A daemon on one simulated modem of each family, its Voice URL the web app's /voice."""
    with daemon_on_family(tmp_path, webapp, request.param) as pair:
        yield pair
