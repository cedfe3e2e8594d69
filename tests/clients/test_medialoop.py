"""The webrtc extra's probe and the media loop: a browser's invite without the extra is refused
with 31480 saying so, and probing never imports aiortc (idle memory)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from appliance.clients import medialoop
from tests.clients.conftest import receive, send

pytestmark = pytest.mark.timeout(60)


def test_an_invite_without_the_webrtc_extra_is_hung_up_with_31480_naming_it(phones, monkeypatch):
    p = phones()
    with p.open() as ws:
        send(ws, "listen", token=p.token())
        assert receive(ws)["type"] == "connected"
        # as on a box without the extra: `import aiortc` fails and find_spec finds nothing
        monkeypatch.setitem(sys.modules, "aiortc", None)
        send(ws, "invite", callsid="TJS1", sdp="v=0\r\n", twilio={"params": "To=bob"})
        msg = receive(ws)
        assert msg["type"] == "error" and msg["payload"]["callsid"] == "TJS1"
        error = msg["payload"]["error"]
        assert error["code"] == 31480 and "webrtc extra" in error["message"]
        assert receive(ws) == {"type": "hangup", "version": "1.6", "payload": {"callsid": "TJS1"}}
        # with the extra installed the next check is the token's Application (none here)
        monkeypatch.delitem(sys.modules, "aiortc")
        send(ws, "invite", callsid="TJS2", sdp="v=0\r\n", twilio={"params": "To=bob"})
        error = receive(ws)["payload"]["error"]
        assert error["code"] == 31001 and "webrtc extra" not in error["message"]
        assert receive(ws)["type"] == "hangup"
    assert not p.daemon.media.running  # refused invites never start the media loop


def test_the_probe_and_a_daemon_with_a_registered_phone_import_no_aiortc_nor_av():
    """In a fresh interpreter (this test process may have imported aiortc for other tests):
    the probe answers from the installed packages alone."""
    code = (
        "import sys\n"
        "from appliance.clients import medialoop, session, hub\n"
        "import appliance.daemon, appliance.server\n"
        "assert medialoop.missing() is None, medialoop.missing()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('aiortc', 'av', 'aioice', 'pylibsrtp')))\n"
    )
    rv = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert rv.returncode == 0, rv.stderr
    assert rv.stdout.strip() == "[]"


def test_the_probe_names_the_extra_when_a_package_is_missing(monkeypatch):
    assert medialoop.missing() is None  # the test extra brings it (Makefile)
    monkeypatch.setitem(sys.modules, "av", None)
    assert medialoop.missing() == medialoop.EXTRA_NEEDED
    loop = medialoop.MediaLoop()
    with pytest.raises(RuntimeError, match="webrtc extra"):
        loop.start()
    assert not loop.running


def test_host_addresses_replace_aiortcs_gathering_by_family():
    get = medialoop.host_addresses(["127.0.0.1", "192.168.1.9", "fe80::1"])
    assert get(True, False) == ["127.0.0.1", "192.168.1.9"]
    assert get(True, True) == ["127.0.0.1", "192.168.1.9", "fe80::1"]
    assert get(False, True) == ["fe80::1"]


def test_webrtc_addresses_are_checked_ip_addresses():
    from appliance import config
    from appliance.errors import ConfigError

    assert config.load(None, environ={}).webrtc_address_list == ()
    cfg = config.load(None, environ={"APPLIANCE_WEBRTC_ADDRESSES": "192.168.1.20, fd00::5"})
    assert cfg.webrtc_address_list == ("192.168.1.20", "fd00::5")
    with pytest.raises(ConfigError, match="'pi.local' is not an IP address"):
        config.load(None, environ={"APPLIANCE_WEBRTC_ADDRESSES": "192.168.1.20,pi.local"})
