"""Modem faults: the daemon recovers by itself and loses nothing."""

from __future__ import annotations

import pytest

from appliance.sms import sendqueue
from tests.conftest import NUMBER, PHONE, wait_for


def inbound_bodies(d) -> list[str]:
    return [
        r["body"]
        for r in d.store.read("SELECT body FROM messages WHERE direction = 'inbound' ORDER BY seq")
    ]


def status_of(d, sid: str) -> str:
    return d.store.read_one("SELECT status FROM messages WHERE sid = ?", (sid,))["status"]


def test_garbage_bytes_do_not_stop_traffic(sim, webapp, make_daemon):
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    modem = sim.modems["modem1"]
    modem.garbage_mode(True)
    modem.garbage(200)
    sid = d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="through the noise")
    sim.network.deliver_sms(modem, PHONE, "noisy line")
    assert webapp.wait(path="/sms", timeout=20).flat["Body"] == "noisy line"
    wait_for(lambda: status_of(d, sid) in ("sent", "delivered"), timeout=20)
    assert [m.text for m in sim.network.outbox("modem1")] == ["through the noise"]


def test_modem_that_stops_answering_is_reset_and_nothing_is_lost(sim, make_daemon):
    d = make_daemon()
    m = d.modems["modem1"]
    sim.modems["modem1"].stop_answering(True)
    sid = d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="waits for the modem")
    wait_for(lambda: m.state in ("disconnected", "connecting"), timeout=20)
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "sent while it was hung")
    sim.modems["modem1"].stop_answering(False)
    wait_for(lambda: status_of(d, sid) in ("sent", "delivered"), timeout=30)
    wait_for(lambda: inbound_bodies(d) == ["sent while it was hung"], timeout=30)
    assert [x.text for x in sim.network.outbox("modem1")] == ["waits for the modem"]


def test_unplug_and_replug(sim, webapp, make_daemon):
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    m = d.modems["modem1"]
    sim.modems["modem1"].unplug()
    wait_for(lambda: m.state != "ready", timeout=10)
    sid = d.outbox.enqueue(
        modem="modem1", from_number=NUMBER, to=PHONE, body="queued while unplugged"
    )
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "arrived while unplugged")
    health = d.store.read_one("SELECT state, last_error FROM modem_health")
    assert health["state"] != "ready" and health["last_error"]
    sim.modems["modem1"].replug()
    assert webapp.wait(path="/sms", timeout=30).flat["Body"] == "arrived while unplugged"
    wait_for(lambda: status_of(d, sid) in ("sent", "delivered"), timeout=30)
    assert [x.text for x in sim.network.outbox("modem1")] == ["queued while unplugged"]
    assert d.store.read_one("SELECT state FROM modem_health")["state"] == "ready"


def test_storage_full_holds_messages_in_the_network_until_space_frees(sim, webapp, make_daemon):
    modem = sim.modems["modem1"]
    modem.storage_full(True)
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    sim.network.deliver_sms(modem, PHONE, "held by the network")
    assert sim.network.pending(modem) == 1
    modem.storage_full(False)
    assert webapp.wait(path="/sms", timeout=20).flat["Body"] == "held by the network"
    assert inbound_bodies(d) == ["held by the network"]


def test_network_loss_retries_the_send(sim, make_daemon, monkeypatch):
    monkeypatch.setattr(sendqueue, "RETRY_BACKOFF", 0.3)
    d = make_daemon(outbound_retry_limit=10)
    modem = sim.modems["modem1"]
    modem.network_loss(True)
    sid = d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="after the tunnel")
    wait_for(
        lambda: (
            d.store.read_one("SELECT attempts FROM messages WHERE sid = ?", (sid,))["attempts"] >= 1
        )
    )
    assert sim.network.outbox("modem1") == []
    modem.network_loss(False)
    wait_for(lambda: status_of(d, sid) in ("sent", "delivered"), timeout=20)
    assert [x.text for x in sim.network.outbox("modem1")] == ["after the tunnel"]


@pytest.mark.parametrize("kind", ["truncated", "bad_udh", "bad_length", "junk"])
def test_malformed_pdu_is_quarantined_not_dropped(sim, webapp, make_daemon, kind):
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    raw = sim.network.malformed_pdu("modem1", kind)
    wait_for(lambda: d.store.read_one("SELECT raw, error FROM quarantine"), timeout=10)
    row = d.store.read_one("SELECT raw, error, source FROM quarantine")
    assert row["raw"].upper() == raw.upper() and row["error"]
    wait_for(lambda: sim.modems["modem1"].receive_memory().used == 0)
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "the next one is fine")
    assert webapp.wait(path="/sms").flat["Body"] == "the next one is fine"
    assert d.store.read_one("SELECT COUNT(*) FROM quarantine")[0] == 1


def test_messages_waiting_in_storage_at_start_are_swept_in(sim, webapp, make_daemon):
    modem = sim.modems["modem1"]
    for i in range(3):
        sim.network.deliver_sms(modem, PHONE, f"while the daemon was down {i}")
    wait_for(lambda: modem.receive_memory().used == 3)
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    wait_for(lambda: len(inbound_bodies(d)) == 3)
    assert sorted(inbound_bodies(d)) == [f"while the daemon was down {i}" for i in range(3)]
    wait_for(lambda: len(webapp.to("/sms")) == 3)
    assert modem.receive_memory().used == 0


def test_health_reports_sim_state_signal_and_operator(make_daemon) -> None:
    d = make_daemon(health_interval=0.2)

    def health():
        row = d.store.read_one("SELECT sim, signal, operator, state FROM modem_health")
        return row if row is not None and row["sim"] else None

    row = wait_for(health, timeout=10)
    assert row["sim"] == "READY" and row["state"] == "ready"
    assert row["signal"] is not None and row["operator"]


def test_a_burst_of_wake_ups_is_one_and_nothing_queued_is_missed(sim, make_daemon):
    """Wake-ups coalesce while one is pending (a burst of creates wakes the modem thread
    once), and messages queued during the burst are all sent."""
    import threading

    d = make_daemon()
    modem = d.modems["modem1"]
    held, release = threading.Event(), threading.Event()

    def hold(_driver):
        held.set()
        release.wait(10)

    job = threading.Thread(target=modem.submit, args=(hold,))
    job.start()
    assert held.wait(10)  # the modem thread is busy: wake-ups wait in its queue
    sids = [
        d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body=f"b{i}")
        for i in range(20)
    ]
    assert modem._events.qsize() == 1  # twenty enqueues, one wake-up
    release.set()
    job.join(10)
    wait_for(lambda: all(status_of(d, sid) in ("sent", "delivered") for sid in sids), timeout=60)
