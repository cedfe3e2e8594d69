"""The panel's softphone: the token route, the panel-owned key and App, the page.

Over HTTP on a running daemon: only an administrator's session gets a token (no session is
sent to sign in, an API key's Basic auth is nothing to the panel), and the token verifies with
the appliance's own checker (:mod:`appliance.clients.tokens`): identity ``panel_phone_identity``,
incoming allowed, outgoing through the panel's App, whose VoiceUrl is ``/twimlets/softphone``.
The key and App are made once and kept; the key's secret is in no page, reply or log line.
The browser half (Chromium with the official SDK) is tests/web/test_softphone_browser.py.
"""

from __future__ import annotations

import logging

import pytest
import requests

from appliance import config as configuration
from appliance.clients.tokens import Tokens
from appliance.errors import ConfigError
from appliance.preflight import preflight
from appliance.store import apikeys
from tests.web.test_panel import PASSWORD, Panel
from web import panelphone
from web.auth import set_password


def signed_in(d) -> Panel:
    set_password(d.store, PASSWORD)
    p = Panel(d)
    assert p.login().status_code == 302
    return p


def csrf(p: Panel) -> str:
    return p.token("/softphone/")


def test_no_session_and_an_api_key_get_no_token(make_daemon):
    d = make_daemon()
    set_password(d.store, PASSWORD)
    url = f"http://127.0.0.1:{d.server.port}/softphone/token"
    # no session: the page sends to sign-in, the token route is refused (no CSRF token either)
    page = requests.get(url.replace("/token", "/"), allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    assert requests.post(url, allow_redirects=False, timeout=10).status_code in (302, 400)
    # an API key is for the REST API; the panel knows only its own session
    key, secret = apikeys.create(d.store, "bot")
    for auth in ((key.sid, secret), (d.account.sid, d.account.auth_token)):
        rv = requests.post(url, auth=auth, allow_redirects=False, timeout=10)
        assert rv.status_code in (302, 400) and "token" not in rv.text.lower().replace(
            "csrf", ""
        ), rv.text
    # nothing was made for a refused caller
    assert d.store.setting(panelphone.KEY_SETTING) is None
    assert d.store.setting(panelphone.APP_SETTING) is None


def test_a_session_that_is_not_the_administrators_gets_403(make_daemon):
    d = make_daemon()
    p = signed_in(d)
    token = csrf(p)
    with p.client.session_transaction() as session:
        session["user"] = "viewer"
    rv = p.client.post("/softphone/token", headers={"X-CSRF-Token": token})
    assert rv.status_code == 403 and "administrator" in rv.get_json()["error"]
    assert d.store.setting(panelphone.KEY_SETTING) is None


def test_the_administrator_gets_a_token_that_verifies(make_daemon, caplog):
    caplog.set_level(logging.DEBUG)
    d = make_daemon(panel_phone_identity="front-desk")
    p = signed_in(d)
    html = p.client.get("/softphone/").get_data(as_text=True)
    assert 'aria-current="page">Softphone' in html
    rv = p.client.post("/softphone/token", headers={"X-CSRF-Token": csrf(p)})
    assert rv.status_code == 200, rv.get_data(as_text=True)
    body = rv.get_json()
    assert body["identity"] == "front-desk" and body["ttl"] == panelphone.TTL
    assert body["chunderw"] == f"localhost:{d.server.https_port}"
    grant = Tokens(d.store, d.account).verify(body["token"])
    key_sid = d.store.setting(panelphone.KEY_SETTING)
    app_sid = d.store.setting(panelphone.APP_SETTING)
    assert grant.kind == "access" and grant.identity == "front-desk" and grant.incoming
    assert grant.key_sid == key_sid and grant.application_sid == app_sid
    assert grant.require_outgoing() == app_sid
    app = d.store.read_one("SELECT * FROM applications WHERE sid = ?", (app_sid,))
    assert app["voice_url"] == "/twimlets/softphone" and app["friendly_name"] == "Panel phone"
    # kept: a second token uses the same key and App
    again = p.client.post("/softphone/token", headers={"X-CSRF-Token": csrf(p)}).get_json()
    assert Tokens(d.store, d.account).verify(again["token"]).key_sid == key_sid
    assert d.store.read_one("SELECT COUNT(*) FROM api_keys")[0] == 1
    assert d.store.read_one("SELECT COUNT(*) FROM applications")[0] == 1
    # the key's secret is in no page, reply or log line
    secret = apikeys.signing_secret(d.store, key_sid)
    assert secret and secret not in html and secret not in str(body)
    assert secret not in caplog.text and body["token"] not in caplog.text
    assert "softphone token minted" in caplog.text
    # a revoked key and a deleted App are made again
    apikeys.revoke(d.store, key_sid)
    d.store.write(lambda conn: conn.execute("DELETE FROM applications WHERE sid = ?", (app_sid,)))
    fresh = p.client.post("/softphone/token", headers={"X-CSRF-Token": csrf(p)}).get_json()
    grant = Tokens(d.store, d.account).verify(fresh["token"])
    assert grant.key_sid != key_sid and grant.application_sid != app_sid


def test_the_page_carries_the_sdk_its_sounds_and_chunderw(make_daemon):
    d = make_daemon()
    p = signed_in(d)
    rv = p.client.get("/softphone/", base_url="https://localhost")
    html = rv.get_data(as_text=True)
    assert rv.status_code == 200
    assert 'src="/sdk/twilio.min.js"' in html and 'src="/static/softphone.js"' in html
    assert f'data-chunderw="localhost:{d.server.https_port}"' in html
    assert "/sdk/sounds/incoming.wav" in html and "/sdk/sounds/dtmf-hash.wav" in html
    assert "twilio.com" not in html
    # over plain HTTP elsewhere than localhost the page links to itself on the HTTPS port
    assert f'href="https://localhost:{d.server.https_port}/softphone/"' in html
    assert 'id="phone-insecure" hidden' in html


@pytest.mark.parametrize("bad", ["front desk", "a<b", "x" * 257, ""])
def test_a_bad_identity_is_refused_at_start_up(tmp_path, bad):
    cfg = configuration.load(
        environ={}, overrides={"data_dir": str(tmp_path), "panel_phone_identity": bad}
    )
    with pytest.raises(ConfigError, match="panel_phone_identity"):
        preflight(cfg, http=False)
    with pytest.raises(ValueError, match="not a valid identity"):
        panelphone.identity(bad)
