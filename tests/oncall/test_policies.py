"""Named escalation policies end to end: a real daemon on the simulated modem, real HTTP,
real SQLite.

Two teams (the shop's support rota and the IT person) each have a policy with its own
schedules and timings: an alert naming a policy pages that policy's people with its ACK
and ring times; the support line with ``?Policy=`` rings that policy's person for its ring
time; the policies' REST resource refuses bad input, changing nothing; the migration 0016
keeps an existing box's policy."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import requests

from appliance.oncall.directory import Directory
from appliance.store import migrations
from appliance.store.database import SqliteStore
from tests.conftest import wait_for
from tests.oncall.test_paging import ALICE, BOB, admin, base, texts_to
from tests.pg import Engine, make_store

CAROL = "+14155550133"


def two_teams(d: Any) -> dict[str, Any]:
    """Alice and Bob on the shop's weekly rota, Carol on IT's; the policies ``shop`` (ACK 600
    s, ring 15 s) and ``it`` (ACK 1.5 s, ring 30 s), each with its own schedule."""
    auth = admin(d)
    ids = {}
    for name, phone in (("Alice", ALICE), ("Bob", BOB), ("Carol", CAROL)):
        rv = requests.post(f"{base(d)}/oncall/people", data={"name": name, "phone": phone},
                           auth=auth, timeout=10)  # fmt: skip
        assert rv.status_code == 201, rv.text
        ids[name] = rv.json()["id"]
    schedules = {}
    for name, people in (("shop", ["Alice", "Bob"]), ("it", ["Carol"])):
        rv = requests.post(
            f"{base(d)}/oncall/schedules",
            data={"name": name, "timezone": "UTC", "rotation": "weekly", "handover_time": "00:00",
                  "start": datetime.now(UTC).date().isoformat(),
                  "people": [str(ids[p]) for p in people]},
            auth=auth, timeout=10,
        )  # fmt: skip
        assert rv.status_code == 201, rv.text
        schedules[name] = rv.json()["id"]
    policies = {}
    for name, ack, ring in (("shop", "600", "15"), ("it", "1.5", "30")):
        rv = requests.post(
            f"{base(d)}/oncall/policies",
            data={"name": name, "ack_timeout": ack, "ring_timeout": ring, "repeat": "1",
                  "schedules": [str(schedules[name])]},
            auth=auth, timeout=10,
        )  # fmt: skip
        assert rv.status_code == 201, rv.text
        policies[name] = rv.json()
        assert policies[name]["schedules"] == [schedules[name]]
    return {"people": ids, "schedules": schedules, "policies": policies}


def now_for(d: Any, policy: str) -> str:
    rv = requests.get(f"{base(d)}/oncall/now", params={"policy": policy}, auth=admin(d), timeout=10)
    assert rv.status_code == 200, rv.text
    return str(rv.json()["now"]["person"]["name"])


def test_each_policy_pages_its_own_people_with_its_own_timings(sim, make_daemon):
    d = make_daemon()
    team = two_teams(d)
    auth = admin(d)
    sim.network.set_callee(CAROL, outcome="no-answer")
    assert now_for(d, "shop") == "Alice" and now_for(d, "it") == "Carol"
    assert now_for(d, "default") == "Alice"  # every schedule: the first layer 0 rota
    rv = requests.get(f"{base(d)}/oncall/now", params={"policy": "nope"}, auth=auth, timeout=10)
    assert rv.status_code == 400 and "nope" in rv.json()["message"]
    # IT's alert: Carol is texted, not Alice; no ACK in 1.5 s: Carol is called, ringing 30 s.
    rv = requests.post(f"{base(d)}/alerts", data={"Body": "backup failed", "Policy": "it"},
                       auth=auth, timeout=10)  # fmt: skip
    assert rv.status_code == 201, rv.text
    (it_alert,) = rv.json()["alerts"]
    assert it_alert["outcome"] == "paged" and it_alert["policy"] == "it"
    wait_for(lambda: any("backup failed" in t for t in texts_to(sim, CAROL)))
    call = wait_for(
        lambda: d.store.read_one("SELECT timeout FROM calls WHERE to_number = ?", (CAROL,)), 10
    )
    assert call["timeout"] == 30
    # The shop's alert: Alice, and no escalation after IT's ACK time (the shop waits 600 s).
    rv = requests.post(f"{base(d)}/alerts", data={"Body": "till offline", "Policy": "shop"},
                       auth=auth, timeout=10)  # fmt: skip
    shop_alert = rv.json()["alerts"][0]
    assert shop_alert["policy"] == "shop"
    wait_for(lambda: any("till offline" in t for t in texts_to(sim, ALICE)))
    time.sleep(2.5)
    assert d.store.read_one("SELECT COUNT(*) FROM calls WHERE to_number = ?", (ALICE,))[0] == 0
    assert not any("till offline" in t for t in texts_to(sim, CAROL) + texts_to(sim, BOB))
    assert not any("backup failed" in t for t in texts_to(sim, ALICE) + texts_to(sim, BOB))
    fetched = requests.get(f"{base(d)}/alerts/{shop_alert['id']}", auth=auth, timeout=10).json()
    assert fetched["policy"] == "shop" and fetched["step"] == 1
    # Alertmanager: ?policy= on the receiver URL, overridden by an alert's policy label.
    payload = {"status": "firing", "alerts": [
        {"labels": {"alertname": "DiskFull", "instance": "nas"}, "fingerprint": "a1"},
        {"labels": {"alertname": "PrinterJam", "policy": "shop"}, "fingerprint": "a2"},
    ]}  # fmt: skip
    rv = requests.post(f"{base(d)}/alerts?policy=it", json=payload, auth=auth, timeout=10)
    assert rv.status_code == 201, rv.text
    assert [a["policy"] for a in rv.json()["alerts"]] == ["it", "shop"]
    wait_for(lambda: any("DiskFull" in t for t in texts_to(sim, CAROL)))
    wait_for(lambda: any("PrinterJam" in t for t in texts_to(sim, ALICE)))
    # One alert routed to two receivers (two teams): each team's is its own alert, paged,
    # not a repeat of the other's; resolving one leaves the other open.
    disk = {"labels": {"alertname": "DiskFull", "instance": "nas"}, "fingerprint": "a1"}
    rv = requests.post(f"{base(d)}/alerts?policy=shop", json={"status": "firing", "alerts": [disk]},
                       auth=auth, timeout=10)  # fmt: skip
    assert rv.status_code == 201 and rv.json()["alerts"][0]["outcome"] == "paged", rv.text
    wait_for(lambda: any("DiskFull" in t for t in texts_to(sim, ALICE)))
    rv = requests.post(f"{base(d)}/alerts?policy=it", json={"status": "firing", "alerts": [disk]},
                       auth=auth, timeout=10)  # fmt: skip
    assert rv.json()["alerts"][0]["outcome"] == "repeat"  # IT's own, posted again
    resolved = {"status": "resolved", "alerts": [dict(disk, status="resolved")]}
    rv = requests.post(f"{base(d)}/alerts?policy=it", json=resolved, auth=auth, timeout=10)
    assert rv.json()["alerts"][0]["outcome"] == "resolved"
    still = d.store.read(
        "SELECT p.name FROM oncall_alerts a JOIN oncall_policies p ON p.id = a.policy_id"
        " WHERE a.fingerprint = 'a1' AND a.status <> 'resolved'"
    )
    assert [r["name"] for r in still] == ["shop"]
    # An unknown policy, by form, label or query: 400, nothing opened.
    count = d.store.read_one("SELECT COUNT(*) FROM oncall_alerts")[0]
    for kw in (
        {"data": {"Body": "x", "Policy": "nobody-team"}},
        {"json": {"alerts": [{"labels": {"alertname": "Y", "policy": "nobody-team"}}]}},
        {"json": {"alerts": [{"labels": {"alertname": "Z"}}]}, "params": {"policy": "nobody-team"}},
    ):
        rv = requests.post(f"{base(d)}/alerts", auth=auth, timeout=10, **kw)
        assert rv.status_code == 400 and "nobody-team" in rv.json()["message"], rv.text
    assert d.store.read_one("SELECT COUNT(*) FROM oncall_alerts")[0] == count
    assert team["policies"]["it"]["id"] != 1


def test_the_support_line_with_a_policy_rings_its_person_for_its_ring_time(sim, make_daemon):
    d = make_daemon()
    two_teams(d)
    origin = f"http://127.0.0.1:{d.server.port}"
    params = {"CallSid": "CA2", "From": "+14155550199", "To": "+15005550006"}
    result, _ = d.client.request(origin + "/twimlets/oncall?Policy=it", "POST", params)
    assert result.status == 200, result.error_message
    doc = ElementTree.fromstring(result.body)
    assert [n.text for n in doc.findall("Dial/Number")] == [CAROL]
    dial = doc.find("Dial")
    assert dial is not None and dial.get("timeout") == "30"
    action = str(dial.get("action"))
    assert "Policy=it" in action and "Step=1" in action
    row = d.store.read_one("SELECT policy_id FROM oncall_support_steps WHERE call_sid = 'CA2'")
    assert row[0] == d.oncall.directory.policies.named("it")["id"]
    wait_for(lambda: any(t.startswith("Support line") for t in texts_to(sim, CAROL)))
    # Carol does not answer: IT's plan (one person, once) is over; IT's person is paged.
    result, _ = d.client.request(origin + action, "POST", {**params, "DialCallStatus": "no-answer"})
    assert b"has been paged" in result.body
    alert = wait_for(lambda: d.store.read_one("SELECT * FROM oncall_alerts"))
    assert alert["policy_id"] == row[0] and alert["chain"] == "[3]"
    wait_for(lambda: any("Missed call" in t for t in texts_to(sim, CAROL)))
    assert not any("Missed call" in t for t in texts_to(sim, ALICE))
    # The shop's line rings Alice for 15 s; without Policy, the default policy (20 s).
    for query, person, ring in (("?Policy=shop", ALICE, "15"), ("", ALICE, "20")):
        result, _ = d.client.request(origin + "/twimlets/oncall" + query, "POST",
                                     {**params, "CallSid": f"CA3{query}"})  # fmt: skip
        doc = ElementTree.fromstring(result.body)
        assert [n.text for n in doc.findall("Dial/Number")] == [person], query
        assert doc.find("Dial").get("timeout") == ring, query


def test_policies_rest_crud_and_bad_input(sim, make_daemon):
    d = make_daemon()
    team = two_teams(d)
    auth = admin(d)
    url = f"{base(d)}/oncall/policies"
    listed = requests.get(url, auth=auth, timeout=10).json()["policies"]
    assert [p["name"] for p in listed] == ["default", "shop", "it"]
    assert {k: listed[0][k] for k in ("id", "ring_timeout", "ack_timeout", "repeat",
                                      "default_person", "schedules")} == {
        "id": 1, "ring_timeout": 20, "ack_timeout": 300.0, "repeat": 2, "default_person": None,
        "schedules": [],
    }  # fmt: skip
    before = requests.get(url, auth=auth, timeout=10).json()
    for data, words in (
        ({"name": "shop"}, "already a policy named shop"),
        ({"name": "x", "schedules": ["99"]}, "No schedule with id '99'"),
        ({"name": "x", "default_person": "42"}, "No person with id '42'"),
        ({"name": "x", "ring_timeout": "500"}, "5 to 120"),
        ({"name": "x", "ack_timeout": "0"}, "1 to 86400"),
        ({"name": "x", "repeat": "11"}, "repeat is 1 to 10"),
        ({"name": "x", "repeat": "nan"}, "is a number"),
        ({"name": "123"}, "not only digits"),
        ({"ring_timeout": "30"}, "name"),
    ):
        rv = requests.post(url, data=data, auth=auth, timeout=10)
        assert rv.status_code == 400 and words in rv.json()["message"], (data, rv.text)
    assert requests.get(url, auth=auth, timeout=10).json() == before
    # Fetch by id or by name; update what is sent; rename; every schedule again.
    it = team["policies"]["it"]
    assert requests.get(f"{url}/it", auth=auth, timeout=10).json() == it
    assert requests.get(f"{url}/{it['id']}", auth=auth, timeout=10).json() == it
    rv = requests.post(f"{url}/it", data={"name": "it-support", "repeat": "3",
                       "default_person": str(team["people"]["Carol"])}, auth=auth, timeout=10)  # fmt: skip
    assert rv.status_code == 200, rv.text
    changed = rv.json()
    assert (changed["name"], changed["repeat"], changed["schedules"]) == (
        "it-support", 3, it["schedules"])  # fmt: skip
    assert changed["ring_timeout"] == 30 and changed["default_person"] == team["people"]["Carol"]
    for data, words in (
        ({"name": "shop"}, "already a policy named shop"),
        ({"schedules": ["1", "nine"]}, "No schedule with id 'nine'"),
        ({"ring_timeout": "4"}, "5 to 120"),
    ):
        rv = requests.post(f"{url}/it-support", data=data, auth=auth, timeout=10)
        assert rv.status_code == 400 and words in rv.json()["message"], (data, rv.text)
    assert requests.get(f"{url}/it-support", auth=auth, timeout=10).json() == changed
    rv = requests.post(f"{url}/it-support", data={"schedules": ""}, auth=auth, timeout=10)
    assert rv.json()["schedules"] == []
    # The default policy: not renamed, not deleted; the old route is its alias.
    rv = requests.post(f"{url}/default", data={"name": "main"}, auth=auth, timeout=10)
    assert rv.status_code == 400 and "keeps its name" in rv.json()["message"]
    rv = requests.delete(f"{url}/1", auth=auth, timeout=10)
    assert rv.status_code == 400 and "default policy cannot be deleted" in rv.json()["message"]
    rv = requests.post(f"{base(d)}/oncall/policy", data={"ring_timeout": "45"}, auth=auth,
                       timeout=10)  # fmt: skip
    assert rv.json() == {"ring_timeout": 45, "ack_timeout": 300.0, "repeat": 2,
                         "default_person": None}  # fmt: skip
    assert requests.get(f"{url}/default", auth=auth, timeout=10).json()["ring_timeout"] == 45
    # A schedule a policy uses is not deleted (the policy would page everyone).
    shop_schedule = team["schedules"]["shop"]
    rv = requests.delete(f"{base(d)}/oncall/schedules/{shop_schedule}", auth=auth, timeout=10)
    assert rv.status_code == 400 and "Policy shop uses this schedule" in rv.json()["message"]
    # A policy with an open alert is not deleted; once it is resolved, it is.
    rv = requests.post(f"{base(d)}/alerts", data={"Body": "pos down", "Policy": "shop"},
                       auth=auth, timeout=10)  # fmt: skip
    alert_id = rv.json()["alerts"][0]["id"]
    rv = requests.delete(f"{url}/shop", auth=auth, timeout=10)
    assert rv.status_code == 400 and "resolve them first" in rv.json()["message"]
    requests.post(f"{base(d)}/alerts/{alert_id}/resolve", auth=auth, timeout=10)
    assert requests.delete(f"{url}/shop", auth=auth, timeout=10).status_code == 204
    assert requests.get(f"{url}/shop", auth=auth, timeout=10).status_code == 404
    assert requests.delete(f"{url}/shop", auth=auth, timeout=10).status_code == 404
    rv = requests.delete(f"{base(d)}/oncall/schedules/{shop_schedule}", auth=auth, timeout=10)
    assert rv.status_code == 204
    # The resolved alert keeps its record; its policy is gone.
    assert requests.get(f"{base(d)}/alerts/{alert_id}", auth=auth, timeout=10).json()[
        "policy"] is None  # fmt: skip
    # A number whose Voice URL names a policy keeps that policy from going or being renamed.
    d.store.write(lambda c: c.execute(
        "UPDATE numbers SET voice_url = '/twimlets/oncall?Policy=it-support'"))  # fmt: skip
    rv = requests.delete(f"{url}/it-support", auth=auth, timeout=10)
    assert rv.status_code == 400 and "Voice URL" in rv.json()["message"]
    rv = requests.post(f"{url}/it-support", data={"name": "it"}, auth=auth, timeout=10)
    assert rv.status_code == 400 and "Voice URL" in rv.json()["message"]
    # API keys administer nothing here.
    from appliance.store import apikeys

    key, secret = apikeys.create(d.store, "bot")
    assert requests.get(url, auth=(key.sid, secret), timeout=10).status_code == 403


def test_the_migration_keeps_an_existing_boxs_policy(tmp_path: Path, monkeypatch: Any) -> None:
    """A store at 0015 with its policy changed and an alert open: after 0016 the policy is
    the one named default, same id and values, and the open alert runs under it."""
    path = tmp_path / "old.sqlite3"
    names = [name for name, _ in migrations.MIGRATIONS]
    upto = names.index("0015_oncall_policy") + 1
    assert names[upto] == "0016_oncall_policies"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        with monkeypatch.context() as m:
            m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:upto])
            migrations.migrate(conn)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'oncall_policies'"
                            ).fetchone() is None  # fmt: skip
        conn.execute("INSERT INTO oncall_people (id, name, phone, created) VALUES"
                     " (7, 'Ann', '+14155550177', 0)")  # fmt: skip
        conn.execute("UPDATE oncall_policy SET ring_timeout = 33, ack_timeout = 90, repeat = 4,"
                     " default_person_id = 7 WHERE id = 1")  # fmt: skip
        conn.execute(
            "INSERT INTO oncall_alerts (fingerprint, source, body, severity, status, chain,"
            " created, updated) VALUES ('f', 'form', 'b', 'critical', 'open', '[7]', 0, 0)"
        )
        migrations.migrate(conn)
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'oncall_policy'"
                            ).fetchone() is None  # fmt: skip
        assert conn.execute("SELECT policy_id FROM oncall_alerts").fetchone()[0] == 1
    finally:
        conn.close()
    store = SqliteStore(path)
    try:
        directory = Directory(store)
        assert directory.policy() == {"ring_timeout": 33, "ack_timeout": 90.0, "repeat": 4,
                                      "default_person": 7}  # fmt: skip
        (only,) = directory.policies.all()
        assert (only["id"], only["name"], only["schedules"]) == (1, "default", [])
        assert directory.chain(time.time()) == [7]  # nobody scheduled: the default person
    finally:
        store.close()


@pytest.mark.parametrize("name", ["", "default"])
def test_blank_or_default_names_the_default_policy(
    engine: Engine, tmp_path: Path, name: str
) -> None:
    store = make_store(engine, tmp_path)
    try:
        assert Directory(store).policies.require(name)["id"] == 1
    finally:
        store.close()


def test_two_teams_handovers_each_text_their_own_person(sim, make_daemon):
    """Both teams' daily rotas hand over at the same instant, on the same layer: each team's
    incoming person is texted (asked of each schedule's policy, not of every schedule)."""
    d = make_daemon()
    auth = admin(d)
    dan = "+14155550144"
    for name, phone in (("Alice", ALICE), ("Bob", BOB), ("Carol", CAROL), ("Dan", dan)):
        requests.post(f"{base(d)}/oncall/people", data={"name": name, "phone": phone},
                      auth=auth, timeout=10)  # fmt: skip
    soon = datetime.now(UTC) + timedelta(seconds=4)
    if soon.date() != datetime.now(UTC).date():  # about midnight: start tomorrow
        time.sleep(5)
        soon = datetime.now(UTC) + timedelta(seconds=4)
    yesterday = soon.date() - timedelta(days=1)
    for i, (name, people) in enumerate((("shop", ["1", "2"]), ("it", ["3", "4"])), start=1):
        rv = requests.post(
            f"{base(d)}/oncall/schedules", auth=auth, timeout=10,
            data={"name": name, "timezone": "UTC", "rotation": "daily",
                  "start": yesterday.isoformat(), "handover_time": soon.strftime("%H:%M:%S"),
                  "people": people},
        )  # fmt: skip
        assert rv.status_code == 201, rv.text
        rv = requests.post(f"{base(d)}/oncall/policies", data={"name": name, "schedules": str(i)},
                           auth=auth, timeout=10)  # fmt: skip
        assert rv.status_code == 201, rv.text
    wait_for(
        lambda: any(t.startswith("You are on call now (shop)") for t in texts_to(sim, BOB)), 15
    )
    wait_for(lambda: any(t.startswith("You are on call now (it)") for t in texts_to(sim, dan)), 15)
    assert texts_to(sim, ALICE) == [] and texts_to(sim, CAROL) == []
