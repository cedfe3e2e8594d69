"""Shared fixtures: a simulated modem on a real pty, a real web app, a real daemon."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.rest import Client

from appliance import config
from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.system import tls
from tests.webapp import WebApp

# The `engine` fixture (SQLite and a real PostgreSQL) and its session server: tests/pg.py.
pytest_plugins = ["tests.pg"]

# Daemons started as processes from a test's own config file serve HTTPS on any free port,
# not the default 8443, which two test runs (or a real appliance) would share.
os.environ.setdefault("APPLIANCE_HTTPS_PORT", "0")

NUMBER = "+15005550006"
PHONE = "+14155550100"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorHost]:
    """A simulated SIM800 on a pty (in the test process), with a fast network."""
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    host.start()
    wait_for(lambda: host.modems["modem1"].booted, timeout=15)
    yield host
    host.stop()


@pytest.fixture
def webapp() -> Iterator[WebApp]:
    """A real HTTP app on 127.0.0.1 that records requests."""
    app = WebApp()
    yield app
    app.close()


def settings(
    tmp_path: Path, sim: SimulatorHost, *, modem: dict[str, Any] | None = None, **overrides: Any
) -> config.Config:
    """A test configuration: fast timings, the simulator's pty as the port."""
    m = {
        "name": "modem1",
        "number": NUMBER,
        "port": str(sim.modems["modem1"].port_path),
        "profile": sim.modems["modem1"].profile.family,
    }
    m.update(modem or {})
    values: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "http_port": 0,
        "https_port": 0,  # any free port: tests run side by side
        "outbound_rate": 0.0,
        "sweep_interval": 5.0,
        "health_interval": 30.0,
        "webhook_backoff": 0.2,
        "reconnect_delay": 0.2,
        "command_timeout": 2.0,
        "modems": [m],
    }
    values.update(overrides)
    return config.load(None, environ={}, overrides=values)


@pytest.fixture(scope="session")
def made_tls(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated HTTPS pair (data_dir/tls) for the session: making one takes a child
    process and about 0.2 s, which every daemon of the suite would otherwise spend."""
    data = tmp_path_factory.mktemp("tls-seed")
    cfg = config.load(None, environ={}, overrides={"data_dir": str(data), "modems": []})
    tls.generated(cfg)
    return tls.tls_dir(cfg)


@pytest.fixture
def make_daemon(
    tmp_path: Path, sim: SimulatorHost, made_tls: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Daemon]]:
    """Build and start daemons on the simulator; all are stopped at the end.

    A daemon's data_dir starts with the session's generated HTTPS pair (as a box restarted
    with its pair does: the same names, so it is reused), unless the test is marked
    ``fresh_tls`` (the daemon makes its own) or brings its own pair."""
    started: list[Daemon] = []
    fresh = request.node.get_closest_marker("fresh_tls") is not None

    def make(**kwargs: Any) -> Daemon:
        cfg = settings(tmp_path, sim, **kwargs)
        if not fresh and not (cfg.tls_cert or cfg.tls_key) and not tls.tls_dir(cfg).exists():
            shutil.copytree(made_tls, tls.tls_dir(cfg))
        d = Daemon(cfg)
        d.start()
        started.append(d)  # stopped at the end even when the checks below fail
        for m in d.modems.values():
            assert m.connected.wait(15), f"{m.name} did not connect: {m.last_error}"
        return d

    yield make
    for d in started:
        d.stop()


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy; return its value or fail."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(
                f"timed out waiting for {getattr(predicate, '__name__', predicate)}"
            )
        time.sleep(interval)


def client_for(d: Daemon) -> Client:
    """The official twilio library pointed at a running daemon (only the base URL changes)."""
    client = Client(d.account.sid, d.account.auth_token)
    assert d.server is not None
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    return client


_EXIT_STATUS: list[int] = []
FD_ALARM = 400  # open descriptors after a test that call for a look (pyserial fails past 1024)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Descriptors a test leaves open to the garbage collector would pile up across a run
    of 1,300 tests until pyserial's select() fails on every later modem: collect them when
    there are many, and warn, naming the test, if they are really held."""
    if len(os.listdir("/proc/self/fd")) <= FD_ALARM:
        return
    import gc
    import warnings

    gc.collect()
    held = len(os.listdir("/proc/self/fd"))
    if held > FD_ALARM:
        warnings.warn(f"{held} file descriptors open after {item.nodeid}", stacklevel=1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A daemon a failing test left running keeps non-daemon server threads alive, and the
    interpreter would wait for them for ever after the summary: name them and leave with
    the session's own status instead of hanging the run."""
    import sys
    import threading

    alive = [
        t.name
        for t in threading.enumerate()
        if t is not threading.main_thread() and not t.daemon and t.is_alive()
    ]
    if alive and _EXIT_STATUS:
        sys.stderr.write(
            f"\n{len(alive)} threads left running by the tests (a daemon not stopped):"
            f" {sorted(set(alive))[:10]}; exiting with the session's status\n"
        )
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(_EXIT_STATUS[0])
