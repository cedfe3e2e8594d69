"""Fixtures of the voice tests: a daemon whose modem has a Voice URL and an audio port."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
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
