"""IncomingPhoneNumbers over real HTTP with the twilio library: list, fetch, update,
and the new SmsUrl is where the next inbound SMS goes."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from tests.conftest import NUMBER, PHONE, client_for, wait_for

# Every field IncomingPhoneNumberInstance reads (twilio-compat.md A3).
FIELDS = (
    "account_sid address_sid address_requirements api_version beta capabilities date_created"
    " date_updated friendly_name identity_sid phone_number origin sid sms_application_sid"
    " sms_fallback_method sms_fallback_url sms_method sms_url status_callback"
    " status_callback_method trunk_sid uri voice_receive_mode voice_application_sid"
    " voice_caller_id_lookup voice_fallback_method voice_fallback_url voice_method voice_url"
    " emergency_status emergency_address_sid emergency_address_status bundle_sid status type"
).split()


def test_list_fetch_and_full_shape(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    [pn] = client.incoming_phone_numbers.list()
    assert pn.phone_number == NUMBER and pn.sid.startswith("PN") and len(pn.sid) == 34
    assert pn.capabilities == {"voice": True, "sms": True, "mms": False, "fax": False}
    assert pn.date_created is not None and pn.account_sid == d.account.sid
    fetched = client.incoming_phone_numbers(pn.sid).fetch()
    assert fetched.sid == pn.sid and fetched.sms_method == "POST"
    body = requests.get(
        f"http://127.0.0.1:{d.server.port}{pn.uri}",
        auth=(d.account.sid, d.account.auth_token),
        timeout=10,
    ).json()
    assert set(FIELDS) <= set(body), set(FIELDS) - set(body)
    assert body["uri"] == f"/2010-04-01/Accounts/{d.account.sid}/IncomingPhoneNumbers/{pn.sid}.json"
    assert [n.sid for n in client.incoming_phone_numbers.list(phone_number="555000")] == [pn.sid]
    assert [n.sid for n in client.incoming_phone_numbers.list(phone_number="+1500*55")] == [pn.sid]
    assert client.incoming_phone_numbers.list(phone_number="+44") == []
    assert client.incoming_phone_numbers.list(friendly_name="nope") == []
    assert len(client.incoming_phone_numbers.list(friendly_name=pn.friendly_name)) == 1
    with pytest.raises(TwilioRestException) as e:
        client.incoming_phone_numbers("PN" + "0" * 32).fetch()
    assert e.value.status == 404 and e.value.code == 20404


def test_update_sms_url_routes_the_next_inbound_sms(sim, webapp, make_daemon):
    d = make_daemon()
    client = client_for(d)
    [pn] = client.incoming_phone_numbers.list()
    updated = client.incoming_phone_numbers(pn.sid).update(
        sms_url=webapp.url("/incoming"),
        sms_method="get",
        sms_fallback_url=webapp.url("/fallback"),
        voice_url=webapp.url("/voice"),
        status_callback=webapp.url("/numberstatus"),
        friendly_name="Front desk",
    )
    assert updated.sms_url == webapp.url("/incoming") and updated.sms_method == "GET"
    assert updated.friendly_name == "Front desk" and updated.voice_url == webapp.url("/voice")
    again = client.incoming_phone_numbers(pn.sid).fetch()
    assert again.sms_fallback_url == webapp.url("/fallback") and again.voice_method == "POST"
    modem = sim.modems["modem1"]
    modem.network.deliver_sms(modem, PHONE, "hello front desk")
    req = webapp.wait(timeout=15, path="/incoming")
    assert req.method == "GET" and req.param("Body") == "hello front desk"
    assert req.param("To") == NUMBER and req.param("From") == PHONE
    # Clearing the URL stops the webhooks.
    assert client.incoming_phone_numbers(pn.sid).update(sms_url="").sms_url == ""
    modem.network.deliver_sms(modem, PHONE, "nobody listens")
    wait_for(
        lambda: d.store.read_one("SELECT 1 FROM messages WHERE body = 'nobody listens'"),
        timeout=15,
    )
    assert len(webapp.to("/incoming")) == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"sms_url": "ftp://example.com/sms"}, 21402),
        ({"voice_fallback_url": "not a url"}, 21402),
        ({"status_callback": "javascript:alert(1)"}, 21402),
        ({"sms_method": "PUT"}, 21403),
        ({"status_callback_method": "DELETE"}, 21403),
        ({"friendly_name": "x" * 65}, 20001),
    ],
)
def test_update_validation(sim, make_daemon, fields, code):
    d = make_daemon()
    client = client_for(d)
    [pn] = client.incoming_phone_numbers.list()
    with pytest.raises(TwilioRestException) as e:
        client.incoming_phone_numbers(pn.sid).update(**fields)
    assert e.value.status == 400 and e.value.code == code
    after = client.incoming_phone_numbers(pn.sid).fetch()
    assert after.sms_url == "" and after.sms_method == "POST" and after.friendly_name != "x" * 65
