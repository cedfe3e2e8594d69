"""What an idle appliance keeps in memory: the heavy libraries load only when used.

numpy (call audio, tones) loads when a call starts, cryptography only in the child that
makes certificates, and aiortc (the webrtc extra: av, pylibsrtp, FFmpeg) when a browser call
starts; requests (and its charset_normalizer, certifi) not at all: the appliance's HTTP
client is urllib3 (appliance/webhooks/transport.py).  Nor what serves only a first use
(docs/design.md, "What an idle appliance loads"): lxml (the first TwiML parsed or twimlet
built), prometheus-client (the first scrape), http.cookiejar and urllib.request (the first
webhook), xml.sax (the first escalation TwiML), tarfile (the first backup), smtplib (the first
voicemail e-mail).  The idle figure itself is measured in bench/ (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import ssl
import time
from pathlib import Path

import pytest
from twilio.jwt.access_token import AccessToken
from twilio.jwt.access_token.grants import VoiceGrant
from websockets.sync.client import connect

from appliance import config
from appliance.cli.client import credentials
from appliance.sim.host import SimulatorHost
from appliance.store import apikeys
from appliance.store.database import SqliteStore as Store
from tests.conftest import NUMBER
from tests.daemonproc import DaemonProcess, free_port

# Shared objects of the libraries an idle appliance must not have loaded.  aiortc itself is
# pure Python, but importing it loads av's and pylibsrtp's extensions (and FFmpeg's libraries).
WEBRTC = {"av": "/av/", "aiortc (pylibsrtp)": "pylibsrtp"}
HEAVY = {
    "numpy": "_multiarray_umath",
    "cryptography": "cryptography",
    "lxml": "/lxml/etree",
    **WEBRTC,
}
# Modules (with their submodules) an idle appliance must not have imported (requests is a
# test tool only).
ABSENT = {
    *("numpy", "cryptography", "requests", "charset_normalizer", "certifi", "aiortc", "av"),
    *("lxml", "prometheus_client", "http.cookiejar", "urllib.request", "xml.sax", "tarfile"),
    "smtplib",
}


def imported(log: str) -> set[str]:
    """The modules in the ``-X importtime`` lines of ``log``."""
    names = set()
    for line in log.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names


def absent(names: set[str]) -> list[str]:
    """Those of ``names`` that are in :data:`ABSENT` or a submodule of one there."""
    return sorted(n for n in names if any(n == a or n.startswith(a + ".") for a in ABSENT))


def _register_a_phone(cfg: config.Config) -> None:
    """A browser phone's listen and register over wss://, as the SDK sends them."""
    store = Store(cfg.db_path)
    try:
        key, secret = apikeys.create(store, "footprint")
    finally:
        store.close()
    account_sid, _ = credentials(cfg)
    token = AccessToken(account_sid, key.sid, secret, identity="alice")
    token.add_grant(VoiceGrant(incoming_allow=True))
    tls = ssl.create_default_context(cafile=str(cfg.data_dir / "tls" / "ca.crt"))
    with connect(f"wss://127.0.0.1:{cfg.https_port}/signal", ssl=tls, open_timeout=10) as ws:
        for kind, payload in (
            ("listen", {"token": str(token.to_jwt())}),
            ("register", {"media": {"audio": True}}),
        ):
            ws.send(json.dumps({"type": kind, "version": "1.6", "payload": payload}))
            while (text := ws.recv(timeout=10)) == "\n":
                pass
            assert json.loads(text)["type"] == {"listen": "connected", "register": "ready"}[kind]


def test_an_idle_appliance_loads_no_numpy_cryptography_aiortc_requests_or_first_use_modules(
    tmp_path: Path, sim: SimulatorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the simulator outside it, as a real modem is (the in-process simulator has its
    own audio side, which uses numpy), and a browser phone registered.  Every import the
    daemon makes is in its log (``PYTHONPROFILEIMPORTTIME``)."""
    monkeypatch.delenv("APPLIANCE_HTTPS_PORT", raising=False)  # the file's https_port rules
    port = free_port()
    path = tmp_path / "appliance.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\nhttp_port = {port}\nhttps_port = {free_port()}\n'
        f'[[modems]]\nname = "modem1"\nnumber = "{NUMBER}"\n'
        f'port = "{sim.modems["modem1"].port_path}"\n'
    )
    log = tmp_path / "daemon.log"
    proc = DaemonProcess(path, port, log=log, env={"PYTHONPROFILEIMPORTTIME": "1"})
    proc.start()
    try:
        proc.wait_ready(60)
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        loaded = [name for name, marker in HEAVY.items() if marker in maps]
        assert loaded == [], f"loaded at start-up: {loaded}"
        time.sleep(2)  # the first sweep and health poll
        names = imported(log.read_text(errors="replace"))
        assert "urllib3" in names and "flask" in names  # the log does list imports
        assert absent(names) == [], f"imported while idle: {absent(names)}"
        # a registered phone that makes no call needs no media stack (its token check may
        # load cryptography: PyJWT imports it when installed)
        _register_a_phone(config.load(path, environ={}))
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        loaded = [name for name, marker in WEBRTC.items() if marker in maps]
        assert loaded == [], f"loaded by a registration: {loaded}"
    finally:
        assert proc.terminate() == 0
