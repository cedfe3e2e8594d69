"""The whole path on every modem family, on several modems at once, with a SIM PIN."""

from __future__ import annotations

import pytest

from appliance import config
from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from tests.conftest import PHONE, wait_for
from tests.webapp import twiml

FAMILIES = ["sim800", "huawei_e173", "sim7600", "quectel_ec25", "generic"]


def start(tmp_path, host: SimulatorHost, modems: list[dict], **overrides) -> Daemon:
    values = {
        "data_dir": str(tmp_path / "data"),
        "http_port": 0,
        "https_port": 0,
        "outbound_rate": 0.0,
        "reconnect_delay": 0.2,
        "command_timeout": 2.0,
        "modems": modems,
    }
    values.update(overrides)
    d = Daemon(config.load(None, environ={}, overrides=values))
    d.start()
    return d


@pytest.mark.parametrize("family", FAMILIES)
def test_sms_round_trip_on_each_family(tmp_path, webapp, family):
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    modem = host.add("modem1", family, "+15005550006", latency=0.005, boot_delay=0.0)
    host.start()
    webapp.routes["/sms"] = twiml("<Response><Message>Réponse 👍</Message></Response>")
    d = start(
        tmp_path,
        host,
        [
            {
                "name": "modem1",
                "number": "+15005550006",
                "port": str(modem.port_path),
                "profile": family,
                "sms_url": webapp.url("/sms"),
            }
        ],
    )
    try:
        assert d.modems["modem1"].connected.wait(20), d.modems["modem1"].last_error
        host.network.deliver_sms(
            modem, PHONE, "Long enough to need two parts on any modem: " + "abc " * 40
        )
        req = webapp.wait(path="/sms", timeout=20)
        assert req.flat["Body"].startswith("Long enough") and req.flat["NumSegments"] == "2"
        assert host.network.wait_outbox(1, timeout=20)
        assert host.network.outbox("modem1")[0].text == "Réponse 👍"
        wait_for(lambda: modem.receive_memory().used == 0)
        wait_for(
            lambda: (
                d.store.read_one("SELECT status FROM messages WHERE direction = 'outbound-reply'")[
                    "status"
                ]
                == "delivered"
            )
        )
        flash = host.network.deliver_sms(
            modem, PHONE, "flash!", message_class=0
        )  # direct +CMT delivery
        assert flash is not None
        assert webapp.wait(path="/sms", timeout=20).flat["Body"] == "flash!"
    finally:
        d.stop()
        host.stop()


def test_two_modems_each_with_its_number(tmp_path, webapp):
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    a = host.add("a", "sim800", "+15005550006", latency=0.005, boot_delay=0.0)
    b = host.add("b", "quectel_ec25", "+447700900123", latency=0.005, boot_delay=0.0)
    host.start()
    webapp.routes["/a"] = twiml("<Response><Message>from A</Message></Response>")
    webapp.routes["/b"] = twiml("<Response><Message>from B</Message></Response>")
    d = start(
        tmp_path,
        host,
        [
            {
                "name": "a",
                "number": "+15005550006",
                "port": str(a.port_path),
                "sms_url": webapp.url("/a"),
            },
            {
                "name": "b",
                "number": "+447700900123",
                "port": str(b.port_path),
                "profile": "quectel_ec25",
                "sms_url": webapp.url("/b"),
            },
        ],
    )
    try:
        assert d.modems["a"].connected.wait(20) and d.modems["b"].connected.wait(20)
        host.network.deliver_sms(b, "+447700900999", "to B")
        req = webapp.wait(path="/b", timeout=20)
        assert req.flat["To"] == "+447700900123" and req.flat["ToCountry"] == "GB"
        assert host.network.wait_outbox(1, timeout=20)
        [out] = host.network.outbox()
        assert (out.modem, out.from_number, out.text) == ("b", "+447700900123", "from B")
        assert webapp.to("/a") == []
    finally:
        d.stop()
        host.stop()


def test_sim_pin(tmp_path):
    host = SimulatorHost(tmp_path / "sim")
    modem = host.add("modem1", "sim800", "+15005550006", latency=0.005, pin="4321", boot_delay=0.0)
    host.start()
    d = start(
        tmp_path, host, [{"name": "modem1", "number": "+15005550006", "port": str(modem.port_path)}]
    )
    try:
        wait_for(
            lambda: (d.store.read_one("SELECT last_error FROM modem_health") or {"last_error": ""})[
                "last_error"
            ]
        )
        assert "PIN" in d.store.read_one("SELECT last_error FROM modem_health")["last_error"]
        assert not d.modems["modem1"].connected.is_set()
    finally:
        d.stop()
    d = start(
        tmp_path,
        host,
        [{"name": "modem1", "number": "+15005550006", "port": str(modem.port_path), "pin": "4321"}],
    )
    try:
        assert d.modems["modem1"].connected.wait(20), d.modems["modem1"].last_error
    finally:
        d.stop()
        host.stop()
