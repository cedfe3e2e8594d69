"""The official Voice JavaScript SDK (@twilio/voice-sdk 2.18.5 from npm, unchanged) in headless
Chromium registers against the appliance: ``new Twilio.Device(token, {chunderw:
'127.0.0.1:<https_port>', publishEvents: false})``.

The test page is served over plain HTTP from 127.0.0.1 (a secure context for Chromium) and
loads the SDK's own browser bundle.  Chromium trusts the appliance's certificate through
``--ignore-certificate-errors-spki-list`` with the SHA-256 of the served certificate's public
key (a pin on that key, not a blanket ``ignore_https_errors``).  Tokens are minted by the
official twilio Python library with an API key made through the store.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Page, sync_playwright
from twilio.jwt.access_token.grants import VoiceGrant

from appliance import sids
from tests.clients.conftest import WAIT, static_site
from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "tests/node/node_modules/@twilio/voice-sdk/dist/twilio.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.timeout(240)

PAGE = b"""<!doctype html><meta charset="utf-8"><title>phone</title>
<script src="/twilio.min.js"></script>
<script>
window.events = [];
window.devices = [];
window.makeDevice = (token, chunderw) => {
  const device = new Twilio.Device(token, { chunderw, publishEvents: false, logLevel: 'warn' });
  const n = window.devices.push(device) - 1;
  for (const name of ['registered', 'unregistered', 'registering']) {
    device.on(name, () => window.events.push(`${n}:${name}`));
  }
  device.on('error', (e) => window.events.push(
    `${n}:error:${e.code}:${e.originalError ? e.originalError.code : ''}:` +
    `${e.originalError ? e.originalError.message : e.message}`));
  return n;
};
window.register = async (n) => {
  try { await window.devices[n].register(); return 'ok'; } catch (e) { return 'failed'; }
};
</script>"""


def spki_pin(pem: bytes) -> str:
    cert = x509.load_pem_x509_certificate(pem)
    der = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    assert SDK.exists(), "the SDK comes from npm: `make test` runs npm ci in tests/node"
    files = {"/": (PAGE, "text/html"), "/twilio.min.js": (SDK.read_bytes(), "text/javascript")}
    with static_site(files) as url:
        yield url


def browser_page(playwright: Any, https_port: int, *extra_args: str) -> Page:
    pin = spki_pin(ssl.get_server_certificate(("127.0.0.1", https_port)).encode())
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--autoplay-policy=no-user-gesture-required",
            f"--ignore-certificate-errors-spki-list={pin}",
            *extra_args,
        ],
    )
    page: Page = browser.new_page()
    return page


def events(page: Page) -> list[str]:
    return list(page.evaluate("window.events"))


def state(page: Page, n: int) -> str:
    return str(page.evaluate(f"window.devices[{n}].state"))


def test_the_official_sdk_registers_refreshes_and_reconnects(phones, site):
    p = phones()
    hub = p.daemon.server.hub
    chunderw = f"127.0.0.1:{p.daemon.server.https_port}"
    with sync_playwright() as pw:
        page = browser_page(pw, p.daemon.server.https_port)
        page.goto(site)
        assert page.evaluate("window.isSecureContext")
        laptop = page.evaluate("([t, c]) => makeDevice(t, c)", [p.token(ttl=600), chunderw])
        assert page.evaluate(f"register({laptop})") == "ok"
        assert state(page, laptop) == "registered"
        assert page.evaluate(f"window.devices[{laptop}].identity") == "alice"
        assert hub.identities() == {"alice": 1}

        # a second device under the same identity: both registered
        desk = page.evaluate("([t, c]) => makeDevice(t, c)", [p.token(), chunderw])
        assert page.evaluate(f"register({desk})") == "ok"
        assert hub.identities() == {"alice": 2}

        # updateToken keeps the registration (no unregistered event, still on the hub)
        before = events(page)
        page.evaluate("([n, t]) => window.devices[n].updateToken(t)", [laptop, p.token(ttl=3600)])
        conn = hub.devices("alice")[0]
        wait_for(
            lambda: conn.grant is not None and conn.grant.expires > time.time() + 3000,
            timeout=WAIT,
        )
        assert state(page, laptop) == "registered" and hub.identities() == {"alice": 2}
        assert events(page) == before

        # a dropped socket: the SDK reconnects and registers again by itself
        for c in hub.devices("alice"):
            if c is conn:
                c.link.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
        wait_for(lambda: f"{laptop}:unregistered" in events(page), timeout=WAIT)
        wait_for(lambda: events(page).count(f"{laptop}:registered") == 2, timeout=WAIT)
        wait_for(lambda: hub.identities() == {"alice": 2}, timeout=WAIT)
        assert conn not in hub.devices("alice")  # a new socket

        # unregister
        page.evaluate(f"window.devices[{desk}].unregister()")
        wait_for(lambda: state(page, desk) == "unregistered", timeout=WAIT)
        wait_for(lambda: hub.identities() == {"alice": 1}, timeout=WAIT)
        page.close()


@pytest.mark.parametrize(
    ("case", "code", "signalled"),
    [
        ("expired", 20104, 31205),  # AccessTokenExpired
        ("bad signature", 20101, 31204),  # AccessTokenInvalid
        ("another account", 20101, 31204),
        ("no incoming grant", 20151, 31201),  # AuthenticationFailed
    ],
)
def test_refused_tokens_raise_the_sdks_documented_errors(phones, site, case, code, signalled):
    p = phones()
    token = {
        "expired": lambda: p.token(nbf=int(time.time()) - 7200, valid_until=int(time.time()) - 5),
        "bad signature": lambda: p.token(secret="y" * 32),
        "another account": lambda: p.token(account_sid=sids.new("AC")),
        "no incoming grant": lambda: p.token(
            grant=VoiceGrant(outgoing_application_sid="AP" + "1" * 32)
        ),
    }[case]()
    with sync_playwright() as pw:
        page = browser_page(pw, p.daemon.server.https_port)
        page.goto(site)
        n = page.evaluate(
            "([t, c]) => makeDevice(t, c)", [token, f"127.0.0.1:{p.daemon.server.https_port}"]
        )
        assert page.evaluate(f"register({n})") == "failed"
        errors = [e for e in events(page) if e.startswith(f"{n}:error:")]
        assert errors, events(page)
        _, _, sdk_code, original, message = errors[0].split(":", 4)
        assert (int(sdk_code), int(original)) == (code, signalled), errors
        assert message  # the appliance's reason reaches the page
        assert state(page, n) == "unregistered"
        assert p.daemon.server.hub.identities() == {}
        page.close()
