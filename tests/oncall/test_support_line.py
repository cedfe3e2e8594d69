"""The support line end to end: a number set to the panel's "Forward to on-call" preset, an
inbound call on the simulator, and the escalation on real calls.

Four simulated modems: the support number's, and one free modem per leg that rings at once.
The people's phones are callees of the simulated network; everything between is production
code (the preset, the call engine fetching ``/twimlets/oncall`` signed, ``<Dial>`` with the
whisper twimlet on each ``<Number>``, the outbox texting each step, the pager).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from appliance import twimlets
from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.voice import Digits, Hangup, RemoteParty, Say, Silence, SimCall, WaitHeard
from tests.conftest import NUMBER, PHONE, wait_for
from tests.partysteps import Until
from tests.voice.conftest import start_daemon
from tests.voice.test_engine import loud
from tests.web.test_panel import PASSWORD, Panel
from web.auth import set_password

pytestmark = pytest.mark.timeout(180)
ALICE, BOB, CAROL = "+14155550171", "+14155550172", "+14155550173"
FAMILIES = {"modem2": "sim7600", "modem3": "sim800", "modem4": "quectel_ec25"}
ONCALL_PRESET = "/twimlets/oncall"


@pytest.fixture
def host(tmp_path: Path) -> Iterator[SimulatorHost]:
    h = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    h.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    for i, (name, family) in enumerate(FAMILIES.items()):
        h.add(name, family, f"+1500555002{i}", latency=0.005, boot_delay=0.0)
    h.start()
    wait_for(lambda: all(m.booted for m in h.modems.values()), timeout=15)
    yield h
    h.stop()


@pytest.fixture
def daemon(tmp_path: Path, host: SimulatorHost) -> Iterator[Daemon]:
    """A daemon on the four modems; no Voice URL in the configuration (the panel sets it)."""
    modems = [
        {
            "name": name,
            "number": m.number,
            "port": str(m.port_path),
            "profile": m.profile.family,
            "audio_port": str(m.audio_path),
        }
        for name, m in host.modems.items()
    ]
    d = start_daemon(tmp_path, modems)
    try:
        yield d
    finally:
        d.stop()


def support_line(d: Daemon, people: list[tuple[str, str]], ring: int = 8) -> None:
    """People on a weekly rotation that started today (the first is on call this week), the
    policy over REST, and modem1's number set to the "Forward to on-call" preset in the panel."""
    base = f"http://127.0.0.1:{d.server.port}/appliance"
    auth = (d.account.sid, d.account.auth_token)
    ids = []
    for name, phone in people:
        rv = requests.post(f"{base}/oncall/people", data={"name": name, "phone": phone},
                           auth=auth, timeout=10)  # fmt: skip
        assert rv.status_code == 201, rv.text
        ids.append(str(rv.json()["id"]))
    rv = requests.post(
        f"{base}/oncall/schedules",
        data={"name": "support", "timezone": "UTC", "rotation": "weekly", "handover_time": "00:00",
              "start": datetime.now(UTC).date().isoformat(), "people": ids},
        auth=auth, timeout=10,
    )  # fmt: skip
    assert rv.status_code == 201, rv.text
    rv = requests.post(f"{base}/oncall/policy", data={"ring_timeout": str(ring), "repeat": "1"},
                       auth=auth, timeout=10)  # fmt: skip
    assert rv.status_code == 200 and rv.json()["ring_timeout"] == ring, rv.text
    # The panel offers the preset on the number's page; choosing it stores the URL.
    set_password(d.store, PASSWORD)
    panel = Panel(d)
    assert panel.login().status_code == 302
    sid = d.store.read_one("SELECT sid FROM numbers WHERE modem = 'modem1'")["sid"]
    html = panel.client.get(f"/numbers/{sid}").get_data(as_text=True)
    assert f'<option value="{ONCALL_PRESET}">Forward to on-call (support line)</option>' in html
    rv = panel.post(f"/numbers/{sid}", {"voice_url": ONCALL_PRESET})
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    stored = d.store.read_one("SELECT voice_url FROM numbers WHERE sid = ?", (sid,))["voice_url"]
    assert stored == ONCALL_PRESET


def legs(d: Daemon) -> list[dict[str, Any]]:
    rows = d.store.read(
        "SELECT * FROM calls WHERE direction = 'outbound-dial' ORDER BY date_created"
    )
    return [dict(r) for r in rows]


def callee(host: SimulatorHost, number: str, nth: int = 0) -> SimCall:
    calls = wait_for(
        lambda: [c for c in host.network.calls if c.number == number][nth:], timeout=30
    )
    return calls[0]  # type: ignore[no-any-return]


def texts_to(host: SimulatorHost, to: str) -> list[str]:
    return [m.text for m in host.network.outbox() if m.destination == to]


def requested(d: Daemon, sid: str, path: str) -> list[dict[str, Any]]:
    rows = d.store.read("SELECT * FROM webhook_log WHERE call_sid = ? ORDER BY id", (sid,))
    return [dict(r) for r in rows if urlsplit(str(r["url"])).path == path]


def test_this_weeks_person_accepts_the_whisper_and_is_bridged(
    host: SimulatorHost, daemon: Daemon
) -> None:
    d = daemon
    support_line(d, [("Alice", ALICE), ("Bob", BOB)])
    # Alice presses her key while the whisper's prompt plays, and speaks once her key was
    # posted back (the bridge follows at once): not at fixed times after her answer, which the
    # whisper's fetch, or its action's, could outlast on a busy machine.
    accepted = Until(
        lambda: any(
            '"Digits": "1"' in str(r["request"])
            for r in d.store.read(
                "SELECT request FROM webhook_log WHERE url LIKE ?", ("%/twimlets/whisper%",)
            )
        )
    )
    words = RemoteParty(
        [WaitHeard(1.0, timeout=20), Silence(1.0), Digits("1"), accepted, Silence(1.0),
         Say("Hello, this is Alice on call."), Silence(1.0), Hangup()]
    )  # fmt: skip
    host.network.set_callee(ALICE, outcome="answer", answer_after=1.0, party=words)
    host.network.set_callee(BOB, outcome="answer", answer_after=1.0)
    caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
    parent = wait_for(lambda: d.store.read_one("SELECT sid FROM calls WHERE direction='inbound'"))
    parent_sid = str(parent["sid"])
    alice = callee(host, ALICE)
    assert alice.modem.name != "modem1"  # a free modem of its own
    # The whisper ran on Alice's leg; her key press accepted the call.
    leg = wait_for(lambda: legs(d) and legs(d)[0])
    assert leg["to_number"] == ALICE and leg["parent_call_sid"] == parent_sid
    gathered = wait_for(
        lambda: [r for r in requested(d, str(leg["sid"]), "/twimlets/whisper")
                 if '"Digits": "1"' in str(r["request"])],
        timeout=30,
    )  # fmt: skip
    assert gathered[0]["status"] == 200
    # Bridged: the caller heard Alice, and the Dial ended "completed" with her leg.
    assert caller.wait_state("ended", timeout=40)
    done = wait_for(lambda: [r for r in requested(d, parent_sid, "/twimlets/oncall")
                             if "DialCallStatus" in str(r["request"])], timeout=20)  # fmt: skip
    assert '"DialCallStatus": "completed"' in str(done[0]["request"])
    assert f'"DialCallSid": "{leg["sid"]}"' in str(done[0]["request"])
    assert str(done[0]["response"]).endswith("<Response><Hangup/></Response>")
    assert loud(caller.heard()) > 1.0 and loud(alice.heard()) > 0.5
    assert [c for c in host.network.calls if c.number == BOB] == []  # never needed
    assert [r["to_number"] for r in legs(d)] == [ALICE]
    # Alice was texted as her phone rang; nobody was paged.
    wait_for(lambda: any(t.startswith(f"Support line: call from {PHONE} ringing you now")
                         for t in texts_to(host, ALICE)), timeout=30)  # fmt: skip
    assert not any("Missed call" in t for t in texts_to(host, ALICE))
    assert d.store.read_one("SELECT COUNT(*) FROM oncall_alerts")[0] == 0


def test_nobody_takes_it_escalates_to_the_next_then_everyone_then_pages(
    host: SimulatorHost, daemon: Daemon
) -> None:
    """Alice answers only the whisper and hangs up, Bob is busy, Carol does not answer; then
    all three ring at once (same outcomes), and the person on call is paged by SMS."""
    d = daemon
    support_line(d, [("Alice", ALICE), ("Bob", BOB), ("Carol", CAROL)], ring=6)
    host.network.set_callee(
        ALICE, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(1.0), Hangup()])
    )
    host.network.set_callee(BOB, outcome="busy")
    host.network.set_callee(CAROL, outcome="no-answer")
    caller = host.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(120)]))
    parent = wait_for(lambda: d.store.read_one("SELECT sid FROM calls WHERE direction='inbound'"))
    parent_sid = str(parent["sid"])
    wait_for(lambda: len(legs(d)) >= 6, timeout=90)
    rows = legs(d)
    # One at a time in the rotation's order, then the three at once.
    assert [r["to_number"] for r in rows[:3]] == [ALICE, BOB, CAROL]
    assert sorted(r["to_number"] for r in rows[3:]) == sorted([ALICE, BOB, CAROL])
    together = [float(r["date_created"]) for r in rows[3:]]
    assert max(together) - min(together) < 1.0
    assert rows[0]["date_created"] < rows[1]["date_created"] < rows[2]["date_created"]
    wait_for(lambda: len(requested(d, parent_sid, "/twimlets/oncall")) >= 5, timeout=40)
    statuses = [
        str(r["request"])
        for r in requested(d, parent_sid, "/twimlets/oncall")
        if "DialCallStatus" in str(r["request"])
    ]
    assert '"DialCallStatus": "no-answer"' in statuses[0]  # Alice's whisper hung up
    assert '"DialCallStatus": "busy"' in statuses[1]
    assert '"DialCallStatus": "no-answer"' in statuses[2]
    # Nobody took it: the caller is told, the call ends, and the person on call is paged.
    assert caller.wait_state("ended", timeout=40)
    assert caller.answered_at is not None  # the appliance took the call, then gave up
    alert = wait_for(lambda: d.store.read_one("SELECT * FROM oncall_alerts"), timeout=20)
    assert alert["body"] == f"Missed call on the support line from {PHONE}"
    assert alert["fingerprint"] == f"call-{parent_sid}"
    wait_for(lambda: any(f"ALERT #{alert['id']}" in t and "Missed call" in t
                         for t in texts_to(host, ALICE)), timeout=40)  # fmt: skip
    # A text at each step to the people it rang: Alice at steps 1 and 4, Bob 2 and 4, ...
    for phone in (ALICE, BOB, CAROL):
        wait_for(lambda p=phone: len([t for t in texts_to(host, p)
                                      if t.startswith("Support line")]) == 2, timeout=40)  # fmt: skip
    assert any("ringing you and 2 others now (step 4 of 4)" in t for t in texts_to(host, CAROL))


def test_every_preset_answers_the_appliances_signed_request(make_daemon: Any) -> None:
    """The panel's Voice URL presets are all served by the appliance: a twimlet or the
    support line.  Signed as the call engine signs, each answers TwiML; the support line
    (which names people's phones) refuses an unsigned request."""
    d = make_daemon()
    origin = f"http://127.0.0.1:{d.server.port}"
    params = {"CallSid": "CA" + "0" * 32, "From": PHONE, "To": NUMBER}
    for label, url in twimlets.PRESETS:
        result, _ = d.client.request(origin + url, "POST", params)
        assert result.status == 200, (label, result.error_message)
        assert "<Response" in result.body.decode(), label
    assert requests.post(origin + ONCALL_PRESET, data=params, timeout=10).status_code == 403
    # Nobody on call (and no default person): the caller is told so, and the missed call
    # is stored as an alert that paged nobody.
    result, _ = d.client.request(origin + ONCALL_PRESET, "POST", params)
    assert b"nobody is on call right now" in result.body
    alert = d.store.read_one("SELECT body, chain FROM oncall_alerts")
    assert alert["body"].startswith("Missed call") and alert["chain"] == "[]"
