"""Paging end to end: a real daemon on the simulated modem, real HTTP, real SQLite.

Alerts by form and by Alertmanager's JSON page the person on call (the text reaches the
simulated network); an ACK by SMS stops the escalation, no ACK escalates (a call, then the
next person); a repeat is not paged again; RESOLVE closes; bad bodies get clear 400s;
credentials are enforced; the handover text goes out once."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import requests

from appliance.oncall import handover
from appliance.store import apikeys
from appliance.webhooks.client import WebhookClient
from tests.conftest import wait_for

ALICE = "+14155550111"
BOB = "+14155550122"


def base(d) -> str:
    return f"http://127.0.0.1:{d.server.port}/appliance"


def admin(d) -> tuple[str, str]:
    return (d.account.sid, d.account.auth_token)


def texts_to(sim, to: str) -> list[str]:
    return [m.text for m in sim.network.outbox("modem1") if m.destination == to]


def rota(d, ack_timeout: float = 600.0, clients: dict[str, str] | None = None) -> tuple[int, int]:
    """Alice and Bob, a weekly rotation that started today with Alice, and the policy
    (``clients``: a browser phone identity by name)."""
    auth = admin(d)
    ids = []
    for name, phone in (("Alice", ALICE), ("Bob", BOB)):
        person = {"name": name, "phone": phone, "client": (clients or {}).get(name, "")}
        rv = requests.post(f"{base(d)}/oncall/people", data=person, auth=auth, timeout=10)
        assert rv.status_code == 201, rv.text
        ids.append(rv.json()["id"])
    today = datetime.now(UTC).date()
    rv = requests.post(
        f"{base(d)}/oncall/schedules",
        data={"name": "ops", "timezone": "UTC", "rotation": "weekly", "handover_time": "00:00",
              "start": today.isoformat(), "people": [str(i) for i in ids]},
        auth=auth, timeout=10,
    )  # fmt: skip
    assert rv.status_code == 201, rv.text
    rv = requests.post(f"{base(d)}/oncall/policy", data={"ack_timeout": str(ack_timeout),
                       "repeat": "1"}, auth=auth, timeout=10)  # fmt: skip
    assert rv.status_code == 200, rv.text
    now = requests.get(f"{base(d)}/oncall/now", auth=auth, timeout=10).json()
    assert now["now"]["person"]["phone"] == ALICE and now["next"]["person"]["phone"] == BOB
    return ids[0], ids[1]


def post_alert(d, **kw):
    return requests.post(f"{base(d)}/alerts", auth=admin(d), timeout=10, **kw)


def alert(d, alert_id: int) -> dict:
    return requests.get(f"{base(d)}/alerts/{alert_id}", auth=admin(d), timeout=10).json()


def test_form_alert_pages_ack_stops_escalation_and_repeats_are_not_paged(sim, make_daemon):
    d = make_daemon()
    rota(d, ack_timeout=3.0)
    rv = post_alert(d, data={"Body": "disk full on db1", "Severity": "warning"})
    assert rv.status_code == 201, rv.text
    (outcome,) = rv.json()["alerts"]
    assert outcome["outcome"] == "paged"
    code = outcome["id"]
    # On disk, and paged, before the reply.
    assert d.store.read_one("SELECT status FROM oncall_alerts WHERE id = ?", (code,))[0] == "open"
    wait_for(lambda: any(f"#{code}" in t and "disk full" in t for t in texts_to(sim, ALICE)))
    # The same alert again while open: counted, not paged.
    again = post_alert(d, data={"Body": "disk full on db1"}).json()["alerts"][0]
    assert again == {**outcome, "outcome": "repeat"}
    # Alice acknowledges with a bare ACK: the reply comes back, the escalation stops.
    sim.network.deliver_sms(sim.modems["modem1"], ALICE, "ack")
    wait_for(lambda: any(t.startswith(f"ACK #{code}") for t in texts_to(sim, ALICE)))
    assert alert(d, code)["status"] == "acked"
    time.sleep(4.0)  # past the ACK timeout
    assert d.store.read_one("SELECT COUNT(*) FROM calls")[0] == 0
    assert texts_to(sim, BOB) == []
    assert len([t for t in texts_to(sim, ALICE) if t.startswith("ALERT")]) == 1
    # The ACK went neither to opt-out handling nor to a webhook.
    assert d.store.read_one("SELECT COUNT(*) FROM webhook_jobs")[0] == 0
    # RESOLVE by SMS closes it.
    sim.network.deliver_sms(sim.modems["modem1"], ALICE, f"RESOLVE {code}")
    wait_for(lambda: alert(d, code)["status"] == "resolved")
    wait_for(lambda: any(t.startswith(f"RESOLVED #{code}") for t in texts_to(sim, ALICE)))


def test_alertmanager_json_escalates_without_ack_and_resolves(sim, make_daemon):
    d = make_daemon()
    rota(d, ack_timeout=1.5)
    sim.network.set_callee(ALICE, outcome="no-answer")
    sim.network.set_callee(BOB, outcome="no-answer")
    payload = {
        "version": "4",
        "status": "firing",
        "receiver": "appliance",
        "groupLabels": {},
        "commonLabels": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {"status": "firing", "labels": {"alertname": "Down", "instance": "web1",
             "severity": "critical"}, "annotations": {"summary": "web1 unreachable"},
             "startsAt": "2026-12-07T01:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
             "fingerprint": "f00d"},
            {"status": "firing", "labels": {"alertname": "Load", "instance": "web2"},
             "annotations": {}, "fingerprint": "beef"},
        ],
    }  # fmt: skip
    rv = post_alert(d, json=payload)
    assert rv.status_code == 201, rv.text
    outcomes = rv.json()["alerts"]
    assert [o["outcome"] for o in outcomes] == ["paged", "paged"]
    first = outcomes[0]["id"]
    wait_for(lambda: any("web1 unreachable" in t for t in texts_to(sim, ALICE)))
    # No ACK: Alice is called (the call reads the alert), then Bob is texted and called.
    wait_for(
        lambda: (
            d.store.read_one(
                "SELECT COUNT(*) FROM calls WHERE to_number = ? AND twiml LIKE '%web1 unreachable%'",
                (ALICE,),
            )[0]
            >= 1
        ),
        timeout=15,
    )
    wait_for(lambda: any("web1 unreachable" in t for t in texts_to(sim, BOB)), timeout=15)
    assert "escalated" in next(t for t in texts_to(sim, BOB) if "web1" in t)
    # Alertmanager re-posts (repeat_interval): not paged again.
    before = len(texts_to(sim, ALICE))
    rv = post_alert(d, json=payload)
    assert [o["outcome"] for o in rv.json()["alerts"]] == ["repeat", "repeat"]
    # Then resolves one: closed, and the people paged are told.
    payload["alerts"][0]["status"] = "resolved"
    payload["alerts"] = payload["alerts"][:1]
    rv = post_alert(d, json=payload)
    assert rv.json()["alerts"][0]["outcome"] == "resolved"
    assert alert(d, first)["status"] == "resolved"
    wait_for(lambda: any(t.startswith(f"RESOLVED #{first}") for t in texts_to(sim, BOB)))
    assert len([t for t in texts_to(sim, ALICE) if t.startswith("ALERT")]) >= 1
    assert len(texts_to(sim, ALICE)) >= before


def test_bad_bodies_and_credentials(sim, make_daemon):
    d = make_daemon()
    rota(d)
    rv = requests.post(f"{base(d)}/alerts", data="{not json", auth=admin(d), timeout=10,
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert rv.status_code == 400 and "not valid JSON" in rv.json()["message"]
    rv = post_alert(d, json={"alerts": "none"})
    assert rv.status_code == 400 and "alerts must be" in rv.json()["message"]
    rv = post_alert(d, data={"Severity": "critical"})
    assert rv.status_code == 400 and "Body is required" in rv.json()["message"]
    rv = post_alert(d, data={"Body": "x", "Severity": "apocalyptic"})
    assert rv.status_code == 400 and "Severity" in rv.json()["message"]
    rv = post_alert(d, data=b"x", headers={"Content-Type": "text/plain"})
    assert rv.status_code == 400 and "Content-Type" in rv.json()["message"]
    assert d.store.read_one("SELECT COUNT(*) FROM oncall_alerts")[0] == 0
    # Unauthenticated: refused everywhere.
    assert requests.post(f"{base(d)}/alerts", data={"Body": "x"}, timeout=10).status_code == 401
    assert requests.get(f"{base(d)}/oncall/people", timeout=10).status_code == 401
    # An API key may post alerts (Alertmanager's basic_auth) but not administer the rotation.
    key, secret = apikeys.create(d.store, "alertmanager")
    rv = requests.post(f"{base(d)}/alerts", data={"Body": "from a key"}, auth=(key.sid, secret),
                       timeout=10)  # fmt: skip
    assert rv.status_code == 201, rv.text
    rv = requests.get(f"{base(d)}/oncall/people", auth=(key.sid, secret), timeout=10)
    assert rv.status_code == 403
    # Bad schedules and overrides: 400 naming the problem.
    for data, words in (
        ({"name": "x", "timezone": "Mars/Base"}, "Unknown time zone"),
        ({"name": "y", "people": "99"}, "No person with id"),
        ({"name": "z", "handover_time": "9am"}, "not HH:MM"),
    ):
        rv = requests.post(f"{base(d)}/oncall/schedules", data=data, auth=admin(d), timeout=10)
        assert rv.status_code == 400 and words in rv.json()["message"], rv.text
    rv = requests.post(f"{base(d)}/oncall/overrides", auth=admin(d), timeout=10,
                       data={"person": "1", "starts": "2026-12-10T10:00", "ends": "2026-12-09"})  # fmt: skip
    assert rv.status_code == 400 and "end after it starts" in rv.json()["message"]
    rv = requests.post(f"{base(d)}/oncall/overrides", auth=admin(d), timeout=10,
                       data={"person": "42", "starts": "2026-12-10", "ends": "2026-12-11"})  # fmt: skip
    assert rv.status_code == 400 and "No person" in rv.json()["message"]


def test_an_override_changes_who_is_paged(sim, make_daemon):
    d = make_daemon()
    _alice, bob = rota(d)
    now = datetime.now(UTC)
    rv = requests.post(
        f"{base(d)}/oncall/overrides", auth=admin(d), timeout=10,
        data={"person": str(bob), "starts": (now - timedelta(hours=1)).isoformat(),
              "ends": (now + timedelta(hours=1)).isoformat()},
    )  # fmt: skip
    assert rv.status_code == 201, rv.text
    now_json = requests.get(f"{base(d)}/oncall/now", auth=admin(d), timeout=10).json()
    assert now_json["now"]["person"]["phone"] == BOB and now_json["now"]["source"] == "override"
    post_alert(d, data={"Body": "cpu hot"})
    wait_for(lambda: any("cpu hot" in t for t in texts_to(sim, BOB)))
    assert not any("cpu hot" in t for t in texts_to(sim, ALICE))
    cal = requests.get(f"{base(d)}/oncall/calendar", auth=admin(d), timeout=10).json()
    assert cal["shifts"][0]["person"]["phone"] == BOB
    assert {s["person"]["phone"] for s in cal["shifts"]} == {ALICE, BOB}


def test_the_handover_text_goes_out_once(sim, make_daemon):
    d = make_daemon()
    auth = admin(d)
    for name, phone in (("Alice", ALICE), ("Bob", BOB)):
        requests.post(f"{base(d)}/oncall/people", data={"name": name, "phone": phone},
                      auth=auth, timeout=10)  # fmt: skip
    soon = datetime.now(UTC) + timedelta(seconds=3)
    if soon.date() != datetime.now(UTC).date():  # about midnight: start tomorrow
        time.sleep(4)
        soon = datetime.now(UTC) + timedelta(seconds=3)
    yesterday = soon.date() - timedelta(days=1)
    rv = requests.post(
        f"{base(d)}/oncall/schedules", auth=auth, timeout=10,
        data={"name": "daily", "timezone": "UTC", "rotation": "daily", "start": yesterday.isoformat(),
              "handover_time": soon.strftime("%H:%M:%S"), "people": ["1", "2"]},
    )  # fmt: skip
    assert rv.status_code == 201, rv.text
    # Yesterday's handover (before the schedule existed) is not texted; today's is, to Bob.
    wait_for(lambda: any(t.startswith("You are on call now") for t in texts_to(sim, BOB)), 15)
    assert texts_to(sim, ALICE) == []
    # A second look (and the thread's own) claims nothing more.
    assert d.oncall.handovers.send_due(time.time()) == 0
    assert d.oncall.handovers.send_due(soon.timestamp() + handover.GRACE / 2) == 0
    time.sleep(1.0)
    assert len(texts_to(sim, BOB)) == 1
    assert (
        d.store.read_one("SELECT COUNT(*) FROM oncall_handovers WHERE message_sid IS NOT NULL")[0]
        == 1
    )


def test_an_overrides_start_and_end_are_handovers_texted_once(sim, make_daemon):
    """Bob's override starts in 2 s and ends 3 s later: he is texted as it starts, Alice
    (back on the rotation) as it ends; each once, across a second look."""
    d = make_daemon()
    rota(d)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    end = start + timedelta(seconds=3)
    rv = requests.post(
        f"{base(d)}/oncall/overrides", auth=admin(d), timeout=10,
        data={"person": "2", "starts": start.strftime("%Y-%m-%dT%H:%M:%S"),
              "ends": end.strftime("%Y-%m-%dT%H:%M:%S"), "timezone": "UTC"},
    )  # fmt: skip
    assert rv.status_code == 201, rv.text
    assert texts_to(sim, BOB) == []
    bob = wait_for(lambda: [t for t in texts_to(sim, BOB) if t.startswith("You are on call")], 15)
    assert bob == [f"You are on call now (override) until {end.strftime('%a %d %b %H:%M')} UTC."
                   " Reply ACK to pages to stop escalation."]  # fmt: skip
    assert datetime.now(UTC) >= start
    alice = wait_for(
        lambda: [t for t in texts_to(sim, ALICE) if t.startswith("You are on call")], 15
    )
    assert alice[0].startswith("You are on call now (ops) until ")
    assert datetime.now(UTC) >= end
    # Claimed: a second look (the thread's, or this one) texts nobody again.
    assert d.oncall.handovers.send_due(end.timestamp() + 1) == 0
    time.sleep(1.0)
    assert len([t for t in texts_to(sim, BOB) if t.startswith("You are on call")]) == 1
    assert len([t for t in texts_to(sim, ALICE) if t.startswith("You are on call")]) == 1
    claims = d.store.read("SELECT schedule_id, person_id FROM oncall_handovers ORDER BY at")
    assert [tuple(r) for r in claims] == [(-1, 2), (-1, 1)]


def test_the_support_number_rings_a_persons_browser_phones_beside_their_phone(sim, make_daemon):
    """A person with a client identity is rung on their phone and in their browsers at once,
    each leg with the whisper; someone without one only on the phone."""
    d = make_daemon()
    rota(d, clients={"Bob": "bob-desk"})
    origin = f"http://127.0.0.1:{d.server.port}"
    params = {"CallSid": "CA2", "From": "+14155550199", "To": "+15005550006"}
    result, _ = d.client.request(f"{origin}/twimlets/oncall", "POST", params)
    doc = ElementTree.fromstring(result.body)
    assert [n.tag for n in doc.find("Dial")] == ["Number"]  # Alice: no browser phone
    action = doc.find("Dial").get("action")
    result, _ = d.client.request(origin + action, "POST", {**params, "DialCallStatus": "no-answer"})
    dial = ElementTree.fromstring(result.body).find("Dial")
    assert [(n.tag, n.text) for n in dial] == [("Number", BOB), ("Client", "bob-desk")]
    assert dial.find("Client").get("url") == dial.find("Number").get("url")  # the whisper
    action = dial.get("action")
    result, _ = d.client.request(origin + action, "POST", {**params, "DialCallStatus": "no-answer"})
    everyone = ElementTree.fromstring(result.body).find("Dial")
    assert [n.text for n in everyone] == [ALICE, BOB, "bob-desk"]


def test_the_support_number_dials_whoever_is_on_call_then_the_next_then_pages(sim, make_daemon):
    """``/twimlets/oncall`` as the call engine fetches it (signed): Alice with a whisper for
    the policy's ring time, then Bob, then both at once, then a page by SMS; each step texts
    the people it rings, once; unsigned or forged requests get 403 (it names phones)."""
    d = make_daemon()
    rota(d)
    auth = admin(d)
    rv = requests.post(f"{base(d)}/oncall/policy", data={"ring_timeout": "15"}, auth=auth,
                       timeout=10)  # fmt: skip
    assert rv.status_code == 200 and rv.json()["ring_timeout"] == 15, rv.text
    origin = f"http://127.0.0.1:{d.server.port}"
    url = f"{origin}/twimlets/oncall"
    params = {"CallSid": "CA1", "From": "+14155550199", "To": "+15005550006"}
    assert requests.post(url, data=params, timeout=10).status_code == 403
    forged, _ = WebhookClient("not-the-auth-token").request(url, "POST", params)
    assert forged.status == 403
    result, _ = d.client.request(url, "POST", params)
    assert result.status == 200, result.error_message
    doc = ElementTree.fromstring(result.body)
    (number,) = doc.findall("Dial/Number")
    assert number.text == ALICE
    assert number.get("url", "").startswith("/twimlets/whisper?")
    assert "HumanCheck=1" in number.get("url", "")
    dial = doc.find("Dial")
    assert dial.get("timeout") == "15"
    action = dial.get("action")
    assert action == "/twimlets/oncall?Step=1&Chain=1%2C2"
    assert doc.find("Say") is not None  # the greeting
    wait_for(lambda: any("Support line: call from +14155550199" in t for t in texts_to(sim, ALICE)))
    # The same step fetched again (a retry) rings again but does not text again.
    d.client.request(url, "POST", params)
    result, _ = d.client.request(origin + action, "POST", {**params, "DialCallStatus": "no-answer"})
    doc = ElementTree.fromstring(result.body)
    assert [n.text for n in doc.findall("Dial/Number")] == [BOB] and doc.find("Say") is None
    action = doc.find("Dial").get("action")
    result, _ = d.client.request(origin + action, "POST", {**params, "DialCallStatus": "busy"})
    doc = ElementTree.fromstring(result.body)
    assert [n.text for n in doc.findall("Dial/Number")] == [ALICE, BOB]  # everyone at once
    wait_for(lambda: any("you and 1 other" in t for t in texts_to(sim, BOB)))
    for ended in ("completed", "canceled"):  # taken, or the caller gave up: no more steps
        result, _ = d.client.request(url + "?Step=1", "POST", {**params, "DialCallStatus": ended})
        assert ElementTree.fromstring(result.body).find("Hangup") is not None
    action = doc.find("Dial").get("action")
    result, _ = d.client.request(origin + action, "POST", {**params, "DialCallStatus": "no-answer"})
    assert b"has been paged" in result.body
    wait_for(lambda: any("Missed call" in t and "+14155550199" in t for t in texts_to(sim, ALICE)))
    steps = [t for t in texts_to(sim, ALICE) if t.startswith("Support line")]
    assert len(steps) == 2  # step 1 (alone) and step 3 (with Bob), not the retried step 1
    assert d.store.read_one("SELECT COUNT(*) FROM oncall_support_steps")[0] == 3
    # Bad policy values get a 400 naming the field; nothing changes.
    rv = requests.post(f"{base(d)}/oncall/policy", data={"ring_timeout": "2"}, auth=auth,
                       timeout=10)  # fmt: skip
    assert rv.status_code == 400 and "ring_timeout" in rv.json()["message"]
    rv = requests.post(f"{base(d)}/oncall/policy", data={"repeat": "x"}, auth=auth, timeout=10)
    assert rv.status_code == 400 and "repeat" in rv.json()["message"]
    assert (
        requests.get(f"{base(d)}/oncall/policy", auth=auth, timeout=10).json()["ring_timeout"] == 15
    )
