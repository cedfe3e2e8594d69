"""Node-local voice on a fleet (issue 16, slice 6): two appliances on one PostgreSQL database.

Node A holds the simulated modem and so its calls; node B (a modem of its own) takes the REST
requests.

* An inbound call on A is marked with A's node id (``calls.node_id``).
* A REST redirect and a hang-up posted to B reach A's call at once (NOTIFY
  ``appliance_control``): A's flow has no other way to see them.  A Media Stream started and
  stopped through B runs on A; a ``<Dial>``ed leg's redirect posted to B is forwarded to A.
* The recording that redirect made is on A's disk only; its media fetched from B come from A
  (forwarded, signed with the AuthToken's HMAC), byte for byte.  The modem admin routes (AT
  console, USSD) posted to B run on A's modem, or get 503 at once while A's heartbeat is old;
  the panel's AT monitor on B links to A's.
* A forged node signature is refused; once A stops, B answers 503 (Twilio's error shape) at
  once rather than hang.
* Retention: the node that purges deletes every node's old rows but only its own files; the
  other node deletes its files whose rows are gone at its next wake.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from appliance.daemon import Daemon
from appliance.sim.host import SimulatorHost
from appliance.sim.party import Play, RemoteParty, Silence
from appliance.store import retention
from appliance.store.pg import PgStore
from appliance.system import nodeproxy
from appliance.voice.call import CallEvent
from appliance.voice.records import CallRecords
from tests.conftest import NUMBER, PHONE, client_for, wait_for
from tests.pg import Engine, PgServer, make_store
from tests.voice.test_streams import Bot
from tests.webapp import WebApp, twiml

ALICE = "+14155550181"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[SimulatorHost]:
    """Node A's two simulated modems (a <Dial> from one rings on the other)."""
    host = SimulatorHost(tmp_path / "sim", report_delay=0.05)
    host.add("modem1", "sim800", NUMBER, latency=0.005, boot_delay=0.0)
    host.add("modem2", "sim7600", "+15005550021", latency=0.005, boot_delay=0.0)
    host.start()
    wait_for(lambda: all(m.booted for m in host.modems.values()), timeout=15)
    yield host
    host.stop()


def tone(seconds: float) -> bytes:
    """8 kHz S16LE PCM: a 440 Hz tone (something <Record> keeps)."""
    t = np.arange(int(8000 * seconds)) / 8000
    return (np.sin(2 * np.pi * 440 * t) * 12000).astype("<i2").tobytes()


def base(d: Daemon) -> str:
    assert d.server is not None
    return f"http://127.0.0.1:{d.server.port}"


@pytest.mark.timeout(120)
def test_calls_updates_recordings_and_modems_of_another_node(
    pg_durable: PgServer,
    make_daemon: Callable[..., Daemon],
    sim: SimulatorHost,
    webapp: WebApp,
    tmp_path: Path,
) -> None:
    url = pg_durable.new_database()
    try:
        a = make_daemon(
            database_url=url,
            node_name="shop-a",
            data_dir=str(tmp_path / "a"),
            modems=[
                {
                    "name": name,
                    "number": sim.modems[name].number,
                    "port": str(sim.modems[name].port_path),
                    "profile": sim.modems[name].profile.family,
                    "audio_port": str(sim.modems[name].audio_path),
                    "voice_url": webapp.url("/voice"),
                }
                for name in ("modem1", "modem2")
            ],
        )
        b = make_daemon(  # a simulated modem of its own (its data_dir's simulator)
            database_url=url,
            node_name="shop-b",
            data_dir=str(tmp_path / "b"),
            modem={"name": "b1", "port": "sim", "number": "+15005550022"},
        )
        assert a.fleet.id != b.fleet.id
        auth = (b.account.sid, b.account.auth_token)
        webapp.routes["/voice"] = twiml(
            "<Response><Say>Hello.</Say><Pause length='60'/></Response>"
        )
        webapp.routes["/record"] = twiml(
            '<Response><Record maxLength="2" timeout="5" playBeep="false" action="/recorded"/>'
            "</Response>"
        )
        webapp.routes["/recorded"] = twiml("<Response><Pause length='60'/></Response>")
        remote = sim.network.incoming_call(
            "modem1", PHONE, party=RemoteParty([Play(tone(20)), Silence(60)])
        )
        sid = str(webapp.wait(15, path="/voice").param("CallSid"))
        row = a.store.read_one("SELECT node_id, status FROM calls WHERE sid = ?", (sid,))
        assert row is not None and row["node_id"] == a.fleet.id
        wait_for(lambda: client_for(b).calls(sid).fetch().status == "in-progress")

        # A Media Stream started and stopped through B streams A's audio (forwarded to A).
        bot = Bot()
        try:
            stream = client_for(b).calls(sid).streams.create(url=bot.url(), name="ai")
            assert (stream.status, stream.call_sid) == ("in-progress", sid)
            assert bot.start()["start"]["callSid"] == sid
            stopped = client_for(b).calls(sid).streams("ai").update(status="stopped")
            assert stopped.status == "stopped" and stopped.sid == stream.sid
        finally:
            bot.close()

        # A redirect posted to B runs on A at once (no flow polls: only the NOTIFY wakes it;
        # the wait ends as soon as it is fetched, and is long only for a busy machine).
        client_for(b).calls(sid).update(url=webapp.url("/record"), method="POST")
        webapp.wait(15, path="/record")
        recorded = webapp.wait(15, path="/recorded")
        rec = str(recorded.param("RecordingSid"))
        media = f"/2010-04-01/Accounts/{b.account.sid}/Recordings/{rec}.wav"
        on_a = a.config.data_dir / "recordings" / f"{rec}.wav"
        assert on_a.is_file() and not (b.config.data_dir / "recordings" / f"{rec}.wav").exists()
        # The row names A's file by its absolute path, which B would open here, both nodes
        # sharing one disk: stored relative to the data_dir instead, B finds no file, as on
        # two machines.
        a.store.write(
            lambda c: c.execute(
                "UPDATE recordings SET path = ? WHERE sid = ?", (f"recordings/{rec}.wav", rec)
            )
        )

        # The media from B are A's file, streamed (public by default, as on Twilio).
        got = requests.get(base(b) + media, timeout=10)
        assert got.status_code == 200, got.text
        assert got.content == on_a.read_bytes()
        assert got.headers["Content-Type"] == "audio/x-wav"
        # A forged or missing node signature opens nothing on A.
        forged = {nodeproxy.HEADER: f"{b.fleet.id} {int(time.time())} {'0' * 64}"}
        at_a = f"{base(a)}/appliance/modems/modem1/at"
        refused = requests.post(at_a, data={"command": "AT"}, headers=forged, timeout=10)
        assert refused.status_code == 401 and refused.json()["code"] == 20003
        # A request signed for another path is refused too.
        signed = nodeproxy.sign(a.account.auth_token, b.fleet.id, "POST", "/x", b"", time.time())
        moved = requests.post(at_a, headers={nodeproxy.HEADER: signed}, timeout=10)
        assert moved.status_code == 401

        # The modem admin routes posted to B run on A's modem (B checks the caller first).
        at_b = f"{base(b)}/appliance/modems/modem1/at"
        assert requests.post(at_b, data={"command": "AT"}, timeout=10).status_code == 401
        answer = requests.post(at_b, data={"command": "AT+CGMI"}, auth=auth, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["lines"][-1] == "OK"
        ussd = requests.post(
            f"{base(b)}/appliance/modems/modem1/ussd", data={"code": "*100#"}, auth=auth, timeout=30
        )
        assert ussd.status_code == 200, ussd.text
        assert "Your balance is 10.00 GBP" in ussd.json()["text"]
        # A's heartbeat looks old (as after a kill; its lease still holds modem1): B does not
        # try A, and answers 503 at once.
        a.store.write(
            lambda c: c.execute(
                "UPDATE nodes SET heartbeat = heartbeat - 100 WHERE id = ?", (a.fleet.id,)
            )
        )
        started = time.monotonic()
        lost = requests.post(at_b, data={"command": "AT"}, auth=auth, timeout=10)
        assert lost.status_code == 503 and lost.json()["code"] == 20503
        assert "shop-a" in lost.json()["message"] and "heartbeat" in lost.json()["message"]
        assert time.monotonic() - started < 1
        a.fleet.beat()  # A is back
        nobody = requests.post(
            f"{base(b)}/appliance/modems/nosuch/at", data={"command": "AT"}, auth=auth, timeout=10
        )
        assert nobody.status_code == 404

        # The panel's AT monitor on B links to A's panel.
        from tests.web.test_browser import PASSWORD
        from tests.web.test_panel import Panel
        from web.auth import set_password

        set_password(b.store, PASSWORD)
        panel = Panel(b)
        assert panel.login().status_code == 302
        page = panel.client.get("/atmonitor/modem1")
        html = page.get_data(as_text=True)
        assert page.status_code == 409 and "modem1 is on node shop-a" in html
        assert f'href="{base(a)}/atmonitor/modem1"' in html
        # The panel's player on B plays A's file too.
        player = panel.client.get(f"/calls/recordings/{rec}.wav")
        assert player.status_code == 200 and player.get_data() == on_a.read_bytes()

        # A hang-up posted to B ends A's call at once.
        client_for(b).calls(sid).update(status="completed")
        assert remote.wait_state("ended", timeout=15)
        wait_for(lambda: client_for(b).calls(sid).fetch().status == "completed", timeout=15)

        # A <Dial> on A rings Alice through A's other modem.  Redirecting that leg through B is
        # forwarded to A (only A knows whether the leg is bridged, which a redirect needs).
        webapp.routes["/voice"] = twiml(
            f'<Response><Dial timeout="20"><Number>{ALICE}</Number></Dial></Response>'
        )
        webapp.routes["/moved"] = twiml(
            '<Response><Say>Moved.</Say><Pause length="30"/></Response>'
        )
        sim.network.set_callee(
            ALICE, outcome="answer", answer_after=1.0, party=RemoteParty([Silence(60)])
        )
        caller = sim.network.incoming_call("modem1", PHONE, party=RemoteParty([Silence(60)]))
        leg = wait_for(
            lambda: b.store.read_one(
                "SELECT sid, parent_call_sid, node_id FROM calls"
                " WHERE direction = 'outbound-dial' AND to_number = ?",
                (ALICE,),
            ),
            timeout=20,
        )
        assert leg["node_id"] == a.fleet.id
        parent = a.store.read_one(
            "SELECT node_id FROM calls WHERE sid = ?", (leg["parent_call_sid"],)
        )
        assert parent is not None and parent["node_id"] == a.fleet.id

        def redirected() -> bool:
            try:
                rv = client_for(b).calls(str(leg["sid"])).update(url=webapp.url("/moved"))
            except TwilioRestException as e:  # answered, not bridged yet (A said so)
                assert e.code == 21220, e
                return False
            assert rv.status == "in-progress"
            return True

        wait_for(redirected, timeout=15, interval=0.2)
        assert webapp.wait(15, path="/moved").param("CallSid") == leg["sid"]
        # The parent's <Dial> ended with the leg taken out of it, and so did the parent.
        assert caller.wait_state("ended", timeout=10)
        client_for(b).calls(str(leg["sid"])).update(status="completed")  # notified to A
        wait_for(lambda: client_for(b).calls(str(leg["sid"])).fetch().status == "completed")

        # A stops: B answers 503 in Twilio's shape, at once.
        a.stop()
        started = time.monotonic()
        down = requests.get(base(b) + media, timeout=10)
        assert down.status_code == 503 and down.json()["code"] == 20503
        assert "shop-a" in down.json()["message"]
        at_down = requests.post(at_b, data={"command": "AT"}, auth=auth, timeout=10)
        # A clean stop frees its modem names: nobody holds modem1 now.
        assert at_down.status_code == 404 and at_down.json()["code"] == 20404
        assert time.monotonic() - started < 2
    finally:
        pg_durable.drop(url)


def test_each_node_deletes_its_own_recording_files(pg_server: PgServer, tmp_path: Path) -> None:
    url = pg_server.new_database()
    stores = [PgStore(url, check_fsync=False), PgStore(url, check_fsync=False)]
    dirs = [tmp_path / "a", tmp_path / "b"]
    old = time.time() - 200 * retention.DAY
    try:
        files: list[Path] = []
        for i, (store, data) in enumerate(zip(stores, dirs, strict=True)):
            (data / "recordings").mkdir(parents=True)
            for n in range(2):  # an old recording and a new one, on each node
                sid = f"RE{i}{n}" + "0" * 30
                path = data / "recordings" / f"{sid}.wav"
                path.write_bytes(b"RIFF")
                os.utime(path, (old, old))
                files.append(path)
                when = old if n == 0 else time.time()
                store.write(
                    lambda c, sid=sid, path=path, when=when: c.execute(
                        "INSERT INTO recordings (sid, call_sid, status, path, date_created,"
                        " date_updated) VALUES (?, 'CA1', 'completed', ?, ?, ?)",
                        (sid, str(path), when, when),
                    )
                )
        stray = dirs[1] / "recordings" / ("RE" + "9" * 32 + ".wav")  # no row, but new
        stray.write_bytes(b"RIFF")
        a_old, a_new, b_old, b_new = files
        # Node A takes the slot: every node's old rows go, A's file with its row.
        nodes = [
            retention.Retention(s, retention.Policy(), d, 0.3, first_delay=0.1, node=name)
            for s, d, name in zip(stores, dirs, ("node-a", "node-b"), strict=True)
        ]
        nodes[0].start()
        wait_for(lambda: nodes[0].runs >= 1, timeout=10)
        assert not a_old.exists() and a_new.exists()
        assert b_old.exists()  # B's file: only B can delete it
        assert stores[0].read_one("SELECT sid FROM recordings WHERE sid = ?", (b_old.stem,)) is None
        # Node B's next wake deletes its file whose row is gone, and nothing else.
        nodes[1].start()
        wait_for(lambda: not b_old.exists(), timeout=10)
        assert nodes[1].orphans == 1
        assert b_new.exists() and stray.exists() and a_new.exists()
        for node in nodes:
            node.stop()
    finally:
        for store in stores:
            store.close()
        pg_server.drop(url)


def test_every_call_a_line_writes_carries_its_node(engine: Engine, tmp_path: Path) -> None:
    """Inbound, rejected and browser calls get ``calls.node_id``; on PostgreSQL a line's
    stale rows (what a restart ends) are only its node's: every node has a ``client`` line."""
    store = make_store(engine, tmp_path)
    try:
        mine = CallRecords(store, "client", "", lambda: "AC", lambda: None, node="node-a")
        other = CallRecords(store, "client", "", lambda: "AC", lambda: None, node="node-b")
        mine.insert_incoming("CAin", CallEvent("ring", number=PHONE))
        mine.insert_rejected(CallEvent("waiting", number=PHONE))
        mine.insert_call(
            "CAbrowser",
            direction="inbound",
            from_number="client:alice",
            to_number=PHONE,
            status="ringing",
            webhooks={},
        )
        other.insert_call(
            "CAother",
            direction="inbound",
            from_number="client:bob",
            to_number=PHONE,
            status="in-progress",
            webhooks={},
        )
        nodes = {r["sid"]: r["node_id"] for r in store.read("SELECT sid, node_id FROM calls")}
        assert len(nodes) == 4
        assert nodes.pop("CAother") == "node-b"
        assert set(nodes.values()) == {"node-a"}
        stale = {r["sid"] for r in mine.stale()}
        if engine.name == "postgresql":
            assert stale == {"CAin", "CAbrowser"}  # not node B's live browser call
        else:
            assert stale == {"CAin", "CAbrowser", "CAother"}  # a single box: as before
    finally:
        store.close()
