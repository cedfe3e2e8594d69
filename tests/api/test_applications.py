"""Applications (TwiML Apps) over real HTTP with the official twilio library: create, list
(paged), fetch, update, delete, Twilio's JSON shape, and Twilio-shaped refusals."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from appliance.store import apikeys
from tests.conftest import client_for

# Every field ApplicationInstance reads (twilio 9.x, rest/api/v2010/account/application).
FIELDS = (
    "account_sid api_version date_created date_updated friendly_name message_status_callback"
    " sid sms_fallback_method sms_fallback_url sms_method sms_status_callback sms_url"
    " status_callback status_callback_method uri voice_caller_id_lookup voice_fallback_method"
    " voice_fallback_url voice_method voice_url public_application_connect_enabled"
).split()


def test_create_fetch_update_delete_with_the_twilio_library(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    app = client.applications.create(
        friendly_name="Help desk",
        voice_url="https://example.com/voice",
        voice_method="GET",
        voice_fallback_url="https://example.com/fallback",
        status_callback="https://example.com/status",
        voice_caller_id_lookup=True,
        sms_url="https://example.com/sms",
        message_status_callback="https://example.com/msg-status",
        public_application_connect_enabled=False,
    )
    assert app.sid.startswith("AP") and len(app.sid) == 34
    assert app.account_sid == d.account.sid and app.friendly_name == "Help desk"
    assert app.voice_url == "https://example.com/voice" and app.voice_method == "GET"
    assert app.voice_fallback_method == "POST" and app.sms_method == "POST"
    assert app.voice_caller_id_lookup is True
    assert app.public_application_connect_enabled is False
    assert app.message_status_callback == "https://example.com/msg-status"
    assert app.sms_fallback_url is None and app.api_version == "2010-04-01"
    assert app.date_created is not None and app.date_updated is not None
    assert app.uri == f"/2010-04-01/Accounts/{d.account.sid}/Applications/{app.sid}.json"

    fetched = client.applications(app.sid).fetch()
    assert fetched.voice_url == app.voice_url and fetched.friendly_name == "Help desk"

    body = requests.get(
        f"http://127.0.0.1:{d.server.port}{app.uri}",
        auth=(d.account.sid, d.account.auth_token),
        timeout=10,
    ).json()
    assert set(FIELDS) == set(body), set(FIELDS) ^ set(body)

    updated = client.applications(app.sid).update(
        voice_url="https://example.org/v2", sms_url="", voice_caller_id_lookup=False
    )
    assert updated.voice_url == "https://example.org/v2" and updated.sms_url is None
    assert updated.voice_caller_id_lookup is False and updated.friendly_name == "Help desk"
    assert updated.status_callback == "https://example.com/status"  # not sent: kept
    # on disk, as a restart would read it
    row = d.store.read_one("SELECT voice_url, sms_url FROM applications WHERE sid = ?", (app.sid,))
    assert row is not None and tuple(row) == ("https://example.org/v2", "")

    assert client.applications(app.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        client.applications(app.sid).fetch()
    assert info.value.status == 404 and info.value.code == 20404
    with pytest.raises(TwilioRestException) as info:
        client.applications(app.sid).delete()
    assert info.value.status == 404


def test_list_pages_and_filter(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    made = [client.applications.create(friendly_name=f"app {i}").sid for i in range(5)]
    unnamed = client.applications.create()
    assert unnamed.friendly_name == unnamed.sid  # an App without a name is named by its SID
    listed = [a.sid for a in client.applications.list(page_size=2)]  # follows next_page_uri
    assert listed == [*made, unnamed.sid]
    assert [a.sid for a in client.applications.list(limit=3)] == made[:3]
    assert [a.sid for a in client.applications.list(friendly_name="app 3")] == [made[3]]
    page = requests.get(
        f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}/Applications.json",
        params={"PageSize": 4},
        auth=(d.account.sid, d.account.auth_token),
        timeout=10,
    ).json()
    assert len(page["applications"]) == 4 and page["next_page_uri"].startswith("/2010-04-01/")
    assert page["previous_page_uri"] is None and page["page_size"] == 4


def test_bad_input_gets_twilio_errors_and_changes_nothing(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    app = client.applications.create(friendly_name="desk", voice_url="https://example.com/v")
    cases = [
        ({"voice_url": "ftp://example.com/x"}, 21402),
        ({"sms_status_callback": "not a url"}, 21402),
        ({"voice_method": "PUT"}, 21403),
        ({"friendly_name": "x" * 65}, 20001),
        ({"api_version": "2099-01-01"}, 20001),
    ]
    for kwargs, code in cases:
        with pytest.raises(TwilioRestException) as info:
            client.applications.create(**kwargs)
        assert info.value.status == 400 and info.value.code == code, kwargs
        with pytest.raises(TwilioRestException) as info:
            client.applications(app.sid).update(**kwargs)
        assert info.value.code == code, kwargs
    base = f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}"
    auth = (d.account.sid, d.account.auth_token)
    rv = requests.post(
        f"{base}/Applications.json", data={"VoiceCallerIdLookup": "maybe"}, auth=auth, timeout=10
    )
    assert rv.status_code == 400 and rv.json()["code"] == 20001
    assert "VoiceCallerIdLookup" in rv.json()["message"]
    assert [a.sid for a in client.applications.list()] == [app.sid]  # nothing half-made
    assert client.applications(app.sid).fetch().voice_url == "https://example.com/v"
    # a built-in twimlet path is a Voice URL, as on the numbers
    twimlet = client.applications.create(voice_url="/twimlets/echo?Twiml=%3CResponse%2F%3E")
    assert twimlet.voice_url.startswith("/twimlets/echo")
    # unknown SIDs and other accounts' paths are 404s, no credentials 401
    rv = requests.get(f"{base}/Applications/AP{'0' * 32}.json", auth=auth, timeout=10)
    assert rv.status_code == 404 and rv.json()["code"] == 20404
    other = f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/AC{'1' * 32}/Applications.json"
    assert requests.get(other, auth=auth, timeout=10).status_code == 404
    assert requests.get(f"{base}/Applications.json", timeout=10).status_code == 401


def test_an_api_key_manages_applications(sim, make_daemon):
    d = make_daemon()
    key, secret = apikeys.create(d.store, "app server")
    client = Client(key.sid, secret, account_sid=d.account.sid)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    app = client.applications.create(friendly_name="by key")
    assert client.applications(app.sid).fetch().friendly_name == "by key"
    client = Client(key.sid, "wrong" * 6, account_sid=d.account.sid)
    client.api.base_url = f"http://127.0.0.1:{d.server.port}"
    with pytest.raises(TwilioRestException) as info:
        client.applications.create(friendly_name="refused")
    assert info.value.status == 401 and info.value.code == 20003
