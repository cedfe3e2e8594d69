"""Who may call what outside the Twilio resources (issue 11): the admin surface (the raw
AT console, the Account with its AuthToken) needs the AccountSid and AuthToken, never an
API key; the public endpoints stay public; docs/api.md lists every such route."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from appliance import twimlets
from appliance.store import apikeys

DOCS = Path(__file__).resolve().parents[2] / "docs"

# Every route outside the Twilio resources, and who may call it.
PUBLIC = "anyone"
TOKEN = "AuthToken"
# GET /metrics: from loopback anyone; from elsewhere a bearer token of its own, never the AuthToken.
METRICS = "metrics_token"
KEYS = "AuthToken or an API key"  # and not anonymous
SIGNED = "own valid `X-Twilio-Signature`"  # the call engine's requests only
NON_TWILIO = {
    "/": PUBLIC,
    "/health": PUBLIC,
    "/metrics": METRICS,
    "/2010-04-01/openapi.json": PUBLIC,
    "/appliance/modems/<name>/at": TOKEN,
    "/appliance/modems/<name>/ussd": TOKEN,
    "/appliance/status": TOKEN,
    # The built-in twimlets, public like twimlets.com (voicemail's notification step: signed).
    **{f"/twimlets/{name}": PUBLIC for name in twimlets.NAMES},
    "/twimlets/holdmusic/<name>": PUBLIC,
    # The on-call rotation (docs/oncall.md): administration, but alerts also take an API key,
    # and the support number's TwiML only the appliance's own signed requests.
    **{
        f"/appliance/oncall/{path}": TOKEN
        for path in (
            "people",
            "people/<name>",
            "schedules",
            "schedules/<name>",
            "overrides",
            "overrides/<name>",
            "policy",
            "policies",
            "policies/<name>",
            "now",
            "calendar",
        )
    },  # fmt: skip
    "/appliance/alerts": KEYS,
    "/appliance/alerts/<name>": TOKEN,
    "/appliance/alerts/<name>/resolve": TOKEN,
    "/twimlets/oncall": SIGNED,
    "/twimlets/softphone": SIGNED,  # the panel phone's TwiML App (docs/clients.md)
}


def url(d, path: str) -> str:
    return f"http://127.0.0.1:{d.server.port}{path}"


def assert_key_refused(rv: requests.Response) -> None:
    assert rv.status_code == 403, rv.text
    body = rv.json()
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == 20003 and body["status"] == 403
    assert "API key" in body["message"] and "AuthToken" in body["message"]


def test_api_keys_cannot_use_the_at_console(sim, make_daemon):
    d = make_daemon()
    key, secret = apikeys.create(d.store, "bot")
    at = url(d, "/appliance/modems/modem1/at")
    assert_key_refused(
        requests.post(at, data={"command": "AT"}, auth=(key.sid, secret), timeout=10)
    )
    # Refused before anything about the modem is looked at: no probing of modem names.
    rv = requests.post(
        url(d, "/appliance/modems/nosuch/at"),
        data={"command": "AT"},
        auth=(key.sid, secret),
        timeout=10,
    )
    assert_key_refused(rv)
    # The AccountSid and AuthToken still work, and no credentials at all get 401.
    rv = requests.post(
        at, data={"command": "AT"}, auth=(d.account.sid, d.account.auth_token), timeout=10
    )
    assert rv.status_code == 200 and "lines" in rv.json(), rv.text
    rv = requests.post(at, data={"command": "AT"}, timeout=10)
    assert rv.status_code == 401 and rv.json()["code"] == 20003
    # The key works where it should (a Twilio resource).
    rv = requests.get(
        url(d, f"/2010-04-01/Accounts/{d.account.sid}/Messages.json"),
        auth=(key.sid, secret),
        timeout=10,
    )
    assert rv.status_code == 200


def test_api_keys_cannot_read_the_account_and_its_auth_token(sim, make_daemon):
    """Twilio's standard API keys cannot use the Accounts resource either; here it would
    hand the key the AuthToken, and with it the admin surface."""
    d = make_daemon()
    key, secret = apikeys.create(d.store, "bot")
    path = url(d, f"/2010-04-01/Accounts/{d.account.sid}.json")
    rv = requests.get(path, auth=(key.sid, secret), timeout=10)
    assert_key_refused(rv)
    assert d.account.auth_token not in rv.text
    rv = requests.get(path, auth=(d.account.sid, d.account.auth_token), timeout=10)
    assert rv.status_code == 200 and rv.json()["auth_token"] == d.account.auth_token


def test_every_non_twilio_route_is_classified_documented_and_enforced(sim, make_daemon):
    d = make_daemon()
    key, secret = apikeys.create(d.store, "bot")
    routes = {
        rule.rule: rule
        for rule in d.server.app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.rule.startswith("/2010-04-01/Accounts")
    }
    assert set(routes) == set(NON_TWILIO), "classify the new route in NON_TWILIO and docs/api.md"
    doc = (DOCS / "api.md").read_text()
    section = doc[doc.index("## Who may call what") :]
    for path, who in NON_TWILIO.items():
        shown = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
        line = next(
            (
                ln
                for ln in section.splitlines()
                if re.search(f"`(GET|POST) {re.escape(shown)}`", ln)
            ),
            None,
        )
        assert line is not None, f"{shown} is not listed in docs/api.md"
        assert who in line, (shown, line)
    for path, who in NON_TWILIO.items():
        concrete = path.replace("<name>", "chimes.wav" if "/twimlets/" in path else "modem1")
        method = "POST" if "POST" in routes[path].methods else "GET"
        send = {"data": {"command": "AT"}} if method == "POST" else {}
        anonymous = requests.request(method, url(d, concrete), timeout=10, **send)
        keyed = requests.request(
            method, url(d, concrete), auth=(key.sid, secret), timeout=10, **send
        )
        if who == PUBLIC:
            assert anonymous.status_code in (200, 503), (path, anonymous.text)
        elif who == METRICS:  # these requests come from loopback (tests/system/test_metrics.py)
            assert anonymous.status_code == 200, (path, anonymous.text)
            remote = d.server.app.test_client().get(
                concrete,
                headers={"Authorization": f"Bearer {d.account.auth_token}"},
                environ_base={"REMOTE_ADDR": "192.0.2.1"},
            )
            assert remote.status_code == 403, (path, remote.get_data(as_text=True))
        elif who == KEYS:  # a POST (its GET, another rule on the same path, is TOKEN's)
            anonymous = requests.post(url(d, concrete), data={"Body": "x"}, timeout=10)
            assert anonymous.status_code == 401, (path, anonymous.text)
            keyed = requests.post(
                url(d, concrete), data={"Body": "x"}, auth=(key.sid, secret), timeout=10
            )
            assert keyed.status_code == 201, (path, keyed.text)
            assert_key_refused(requests.get(url(d, concrete), auth=(key.sid, secret), timeout=10))
        elif who == SIGNED:
            assert anonymous.status_code == 403, (path, anonymous.text)
            assert keyed.status_code == 403, (path, keyed.text)
        else:
            assert anonymous.status_code == 401, (path, anonymous.text)
            assert_key_refused(keyed)
