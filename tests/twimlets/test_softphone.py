"""The Softphone twimlet (the panel phone's TwiML App): ``To`` a number dials it through the SIM
with the SIM's number as caller ID, a name rings that browser, anything else is said and hung
up.  The pure function's TwiML is compared as XML; over HTTP only the appliance's own signed
requests get it."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
import requests

from appliance.clients.identity import problem
from appliance.twimlets.softphone import softphone, target
from appliance.webhooks.client import WebhookClient
from tests.conftest import NUMBER
from tests.twimlets.test_twimlets import assert_twiml

SIM = "+15005550006"


@pytest.mark.parametrize(
    "to, number",
    [
        ("+447700900123", "+447700900123"),
        (" +44 7700 900123 ", "+447700900123"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("+1.415.555.0100", "+14155550100"),
    ],
)
def test_a_number_is_dialled_through_the_sim_with_its_caller_id(to, number):
    assert_twiml(
        softphone(to, SIM, problem),
        f'<Response><Dial callerId="{SIM}"><Number>{number}</Number></Dial></Response>',
    )


def test_without_a_known_sim_number_the_dial_has_no_caller_id():
    assert_twiml(
        softphone("+447700900123", "", problem),
        "<Response><Dial><Number>+447700900123</Number></Dial></Response>",
    )


@pytest.mark.parametrize(
    "to, name",
    [
        ("client:alice", "alice"),
        ("CLIENT:desk-2", "desk-2"),
        ("alice", "alice"),
        ("bob.smith@shop", "bob.smith@shop"),
    ],
)
def test_a_client_or_a_bare_identity_rings_that_browser(to, name):
    assert_twiml(
        softphone(to, SIM, problem),
        f"<Response><Dial><Client>{name}</Client></Dial></Response>",
    )


@pytest.mark.parametrize(
    "to, said",
    [
        ("", "No number or name was dialled."),
        ("   ", "No number or name was dialled."),
        ("07700900123", "Dial the number with a plus and its country code"),
        ("+12", "That is not a valid phone number."),
        ("client:", "That is not a browser phone's name: the identity is empty."),
        ("client:bad name", "That is not a browser phone's name: the identity contains a space."),
        ("a<b", "That is neither a phone number nor a browser phone's name"),
        ("x" * 400, "What was dialled is too long"),
    ],
)
def test_a_bad_to_is_said_then_hung_up(to, said):
    answer = softphone(to, SIM, problem)
    where = target(to, problem)
    assert where.kind == "bad" and where.problem.startswith(said), where
    assert_twiml(answer, f"<Response><Say>{escape(where.problem)}</Say><Hangup/></Response>")


def test_the_twimlet_serves_only_the_appliances_own_signed_requests(make_daemon):
    d = make_daemon()
    url = f"http://127.0.0.1:{d.server.port}/twimlets/softphone"
    params = {"CallSid": "CA0", "From": "client:panel", "To": "+447700900123"}
    refused = requests.post(url, data=params, timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == 20003
    assert requests.get(url, params=params, timeout=10).status_code == 403
    forged, _ = WebhookClient("not-the-auth-token").request(url, "POST", params)
    assert forged.status == 403
    for method in ("POST", "GET"):
        result, _ = d.client.request(url, method, params)  # what the call engine sends
        assert result.status == 200, result.error_message
        assert_twiml(
            result.body,
            f'<Response><Dial callerId="{NUMBER}"><Number>+447700900123</Number></Dial></Response>',
        )
    result, _ = d.client.request(url, "POST", {**params, "To": "client:desk"})
    assert_twiml(result.body, "<Response><Dial><Client>desk</Client></Dial></Response>")
