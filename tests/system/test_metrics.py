"""GET /metrics: scraped from a running appliance on the simulator and parsed with
prometheus-client's own parser; the figures move with real traffic, survive a restart and
the retention purge, and only loopback or the metrics_token may read them."""

from __future__ import annotations

import json
import re
import threading
import time
from base64 import b64encode
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from appliance.store import retention
from appliance.store.database import Store
from appliance.system import tallies
from appliance.system.tallies import Tallies, store_tallies
from appliance.voice import audio
from tests.conftest import NUMBER, PHONE, wait_for
from tests.pg import Engine, make_store

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "scraper-token-4f9c2d1e8b7a"
Families = dict[str, Any]


def scrape(d: Any, **kwargs: Any) -> Families:
    rv = requests.get(f"http://127.0.0.1:{d.server.port}/metrics", timeout=10, **kwargs)
    assert rv.status_code == 200, rv.text
    assert rv.headers["Content-Type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(rv.text)}


def value(families: Families, sample: str, **labels: str) -> float:
    for family in families.values():
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise KeyError(f"{sample} {labels}")


def send(d: Any, body: str) -> str:
    rv = requests.post(
        f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}/Messages.json",
        data={"To": PHONE, "From": NUMBER, "Body": body},
        auth=(d.account.sid, d.account.auth_token),
        timeout=10,
    )
    assert rv.status_code == 201, rv.text
    return str(rv.json()["sid"])


def test_scrape_moves_with_messages_signal_and_webhooks(sim, make_daemon, webapp):
    modem = sim.modems["modem1"]
    d = make_daemon(health_interval=0.2, modem={"sms_url": webapp.url("/sms")})
    wait_for(lambda: value(scrape(d), "appliance_modem_signal_csq", modem="modem1") == 20)
    first = scrape(d)
    assert first["appliance_sms_segments_sent"].type == "counter"
    assert value(first, "appliance_sms_segments_sent_total", modem="modem1") == 0
    assert value(first, "appliance_sms_queue_depth", modem="modem1") == 0
    assert value(first, "appliance_modem_up", modem="modem1") == 1
    assert value(first, "appliance_modem_healthy", modem="modem1") == 1
    assert value(first, "appliance_modem_registration", modem="modem1", registration="home") == 1
    assert value(first, "appliance_modem_sim_ready", modem="modem1") == 1
    assert value(first, "appliance_modem_signal_dbm", modem="modem1") == -73
    assert value(first, "appliance_store_write_seconds_count") > 0  # the health rows, at least
    assert value(first, "process_resident_memory_bytes") > 0

    # Three messages, four parts, held up at the network: the queue shows them, then the
    # counters and the send latency take them in.
    modem.set_latency(0.6)
    for body in ("one", "two " + "x" * 170, "three"):
        send(d, body)
    assert value(scrape(d), "appliance_sms_queue_depth", modem="modem1") == 3
    done = wait_for(
        lambda: (
            (f := scrape(d))
            and value(f, "appliance_sms_segments_sent_total", modem="modem1") == 4
            and value(f, "appliance_sms_queue_depth", modem="modem1") == 0
            and f
        ),
        timeout=20,
    )
    assert value(done, "appliance_sms_send_latency_seconds_count", modem="modem1") == 3
    assert value(done, "appliance_sms_send_latency_seconds_sum", modem="modem1") >= 3 * 0.6
    assert value(done, "appliance_sms_send_latency_seconds_bucket", modem="modem1", le="+Inf") == 3
    wait_for(
        lambda: value(scrape(d), "appliance_sms_segments_delivered_total", modem="modem1") == 4
    )

    # A permanent refusal: the part is counted as failed under its Twilio error code.
    modem.set_latency(0.005)
    modem.cms_error(21, 1)  # short message transfer rejected -> 30007
    send(d, "rejected")
    wait_for(
        lambda: (
            "30007"
            in {
                s.labels.get("error_code")
                for s in scrape(d)["appliance_sms_segments_failed"].samples
            }
        ),
        timeout=20,
    )
    failed = scrape(d)
    assert value(failed, "appliance_sms_segments_failed_total", error_code="30007") == 1
    assert value(failed, "appliance_sms_segments_sent_total", modem="modem1") == 4

    # An inbound message: counted as received, and its webhook timed under the modem.
    sim.network.deliver_sms(modem, PHONE, "hello in")
    webapp.wait(path="/sms")
    got = wait_for(
        lambda: (
            (f := scrape(d))
            and value(f, "appliance_sms_inbound_total", modem="modem1", outcome="received") == 1
            and f
        )
    )

    def webhooks() -> float:
        return value(
            scrape(d), "appliance_webhook_duration_seconds_count", modem="modem1", outcome="ok"
        )

    wait_for(lambda: webhooks() >= 1)
    assert value(got, "appliance_sms_inbound_total", modem="modem1", outcome="received") == 1

    # The signal moves with the radio.
    sim.fault(modem, "signal", 9)
    wait_for(lambda: value(scrape(d), "appliance_modem_signal_csq", modem="modem1") == 9)
    assert value(scrape(d), "appliance_modem_signal_dbm", modem="modem1") == -95


def test_audio_underruns_are_counted_under_the_modem_of_their_port(sim, make_daemon):
    d = make_daemon(modem={"audio_port": str(sim.modems["modem1"].audio_path)})
    spec = d.modems["modem1"].phone.audio_port
    stall = threading.Event()

    class Port:
        path = spec

        def read(self, size: int, timeout: float) -> bytes:
            time.sleep(timeout)
            return b""

        def write(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    def source():  # one frame, then nothing for a while: the writer finds the playback empty
        yield bytes(audio.FRAME_BYTES)
        stall.wait(5)

    before = value(scrape(d), "appliance_audio_underruns_total", modem="modem1")
    media = audio.Media(Port())
    media.start()
    try:
        media.play(source())
        wait_for(lambda: media.stats()["underruns"] >= 3, timeout=5)
    finally:
        stall.set()
        media.stop()
    after = value(scrape(d), "appliance_audio_underruns_total", modem="modem1")
    assert after - before >= 3


def _seed(store: Store, now: float, n: int, sid_prefix: str) -> None:
    """``n`` sent-and-delivered one-part messages, an inbound one and a finished call."""

    def fn(conn):
        for i in range(n):
            sid = f"{sid_prefix}{i:030d}"
            conn.execute(
                "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number,"
                " body, status, num_segments, segments_sent, date_created, date_updated,"
                " date_sent) VALUES (?, 'AC', 'outbound-api', 'modem1', ?, ?, 'x', 'delivered',"
                " 1, 1, ?, ?, ?)",
                (sid, NUMBER, PHONE, now - 2.0, now, now),
            )
            conn.execute(
                "INSERT INTO segments (message_sid, part, state, mr, sent_at, report_status,"
                " reported_at) VALUES (?, 1, 'sent', ?, ?, 0, ?)",
                (sid, i % 256, now, now),
            )
        conn.execute(
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number,"
            " body, status, num_segments, segments_sent, date_created, date_updated, date_sent)"
            " VALUES (?, 'AC', 'inbound', 'modem1', ?, ?, 'hi', 'received', 1, 0, ?, ?, ?)",
            (f"{sid_prefix}IN", PHONE, NUMBER, now, now, now),
        )
        conn.execute(
            "INSERT INTO calls (sid, modem, direction, from_number, to_number, status,"
            " date_created, date_updated, end_time) VALUES (?, 'modem1', 'inbound', ?, ?,"
            " 'completed', ?, ?, ?)",
            (f"CA{sid_prefix}", PHONE, NUMBER, now - 30, now, now),
        )

    store.write(fn)


def test_counters_survive_a_restart_and_never_drop_when_retention_purges(
    engine: Engine, tmp_path: Path
):
    day = tallies.DAY
    clock = [1_700_000_000.0]
    store = make_store(engine, tmp_path, "a.sqlite3")
    try:
        _seed(store, clock[0], 3, "SMa")
        counter = Tallies(store, store_tallies(retention_messages_days=1), lambda: clock[0])
        first = counter.collect()
        assert first["segments_sent"] == {("modem1",): 3.0}
        assert first["segments_delivered"] == {("modem1",): 3.0}
        assert first["inbound"] == {("modem1", "received"): 1.0}
        assert first["calls"] == {("modem1", "inbound", "completed"): 1.0}
        assert first["send_latency"][("modem1", "count")] == 3.0
        assert first["send_latency"][("modem1", "2.0")] == 3.0  # 2 s each
        assert first["send_latency"][("modem1", "1.0")] == 0.0

        # Every scrape for two days: the checkpoint moves along behind the events.
        for _ in range(48):
            clock[0] += 3600.0
            assert counter.collect()["segments_sent"] == {("modem1",): 3.0}
        _seed(store, clock[0], 2, "SMb")
        # The purge deletes the first three (a day old and finished): the figures stay.
        deleted = retention.purge(
            store, retention.Policy(messages_days=1, calls_days=1), tmp_path, now=clock[0]
        )
        assert deleted["messages"] == 4 and deleted["calls"] == 1
        assert store.read_one("SELECT COUNT(*) FROM segments")[0] == 2
        after = counter.collect()
        assert after["segments_sent"] == {("modem1",): 5.0}
        assert after["inbound"] == {("modem1", "received"): 2.0}
        assert after["calls"] == {("modem1", "inbound", "completed"): 2.0}

        # A restart (a new collector on the same database) reads the same figures.
        again = Tallies(store, store_tallies(retention_messages_days=1), lambda: clock[0])
        assert again.collect() == after
        clock[0] += 2 * day
        assert again.collect()["segments_sent"] == {("modem1",): 5.0}
    finally:
        store.close()


def test_failed_parts_wait_for_messages_that_may_still_fail(engine: Engine, tmp_path: Path):
    """The unsent-parts tally counts by creation, so its checkpoint waits for a queued message."""
    clock = [1_700_000_000.0]
    store = make_store(engine, tmp_path, "a.sqlite3")
    try:
        store.write(
            lambda conn: conn.execute(
                "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number,"
                " body, status, num_segments, date_created, date_updated) VALUES"
                " ('SMq', 'AC', 'outbound-api', 'modem1', ?, ?, 'x', 'queued', 2, ?, ?)",
                (NUMBER, PHONE, clock[0], clock[0]),
            )
        )
        counter = Tallies(store, store_tallies(retention_messages_days=30), lambda: clock[0])
        clock[0] += 5 * 3600.0
        assert counter.collect()["segments_unsent"] == {}
        clock[0] += 5 * 3600.0
        store.write(
            lambda conn: conn.execute(
                "UPDATE messages SET status = 'failed', error_code = 30008, date_updated = ?",
                (clock[0],),
            )
        )
        assert counter.collect()["segments_unsent"] == {("modem1", "30008"): 2.0}
        clock[0] += 5 * 3600.0  # now past it: in the checkpoint, and still counted once
        assert counter.collect()["segments_unsent"] == {("modem1", "30008"): 2.0}
        # Redacting it later moves its date_updated, not its count.
        store.write(
            lambda conn: conn.execute(
                "UPDATE messages SET body = '', date_updated = ?", (clock[0],)
            )
        )
        clock[0] += 5 * 3600.0
        assert counter.collect()["segments_unsent"] == {("modem1", "30008"): 2.0}
    finally:
        store.close()


def _remote(client: Any, addr: str, **headers: str) -> Any:
    return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": addr})


def test_only_loopback_or_the_metrics_token_may_scrape(make_daemon):
    d = make_daemon(metrics_token=TOKEN)
    client = d.server.app.test_client()
    for local in ("127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"):
        rv = _remote(client, local)
        assert rv.status_code == 200, (local, rv.get_data(as_text=True))
    assert b"appliance_modem_up" in _remote(client, "127.0.0.1").data

    far = "192.0.2.10"
    rv = _remote(client, far)
    assert rv.status_code == 401 and rv.json["code"] == 20003
    assert rv.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"appliance_" not in rv.data
    # Never the AuthToken, whichever way it is sent: it would hand the scraper the admin surface.
    assert _remote(client, far, Authorization=f"Bearer {d.account.auth_token}").status_code == 401
    basic = b64encode(f"{d.account.sid}:{d.account.auth_token}".encode()).decode()
    assert _remote(client, far, Authorization=f"Basic {basic}").status_code == 401
    assert _remote(client, far, Authorization=f"Bearer {TOKEN}x").status_code == 401
    assert _remote(client, far, Authorization=f"Basic {TOKEN}").status_code == 401
    ok = _remote(client, far, Authorization=f"Bearer {TOKEN}")
    assert ok.status_code == 200
    names = {f.name for f in text_string_to_metric_families(ok.get_data(as_text=True))}
    assert {"appliance_modem_up", "appliance_sms_segments_sent"} <= names
    # A request relayed by a proxy on this machine is not a local one.
    relayed = _remote(client, "127.0.0.1", **{"X-Forwarded-For": "198.51.100.7"})
    assert relayed.status_code == 401
    assert (
        _remote(
            client, "127.0.0.1", Authorization=f"Bearer {TOKEN}", **{"X-Forwarded-For": "x"}
        ).status_code
        == 200
    )
    # Through the real server (cheroot) the socket's address is what counts: loopback here.
    scrape(d)


def test_without_a_token_only_loopback_may_scrape(make_daemon):
    d = make_daemon()
    client = d.server.app.test_client()
    assert _remote(client, "127.0.0.1").status_code == 200
    rv = _remote(client, "10.1.2.3", Authorization="Bearer anything")
    assert rv.status_code == 403 and "metrics_token" in rv.json["message"]


def test_the_switch_turns_the_route_and_the_hooks_off(make_daemon):
    d = make_daemon(metrics_enabled=False)
    rv = d.server.app.test_client().get("/metrics")
    assert rv.status_code == 404 and rv.json["code"] == 20404
    assert d.store.on_commit is None and not d.client.observers


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=1.0.0", "*/*"])
def test_openmetrics_when_asked(make_daemon, accept):
    d = make_daemon()
    rv = requests.get(
        f"http://127.0.0.1:{d.server.port}/metrics", headers={"Accept": accept}, timeout=10
    )
    assert rv.status_code == 200
    if "openmetrics" in accept:
        assert rv.headers["Content-Type"].startswith("application/openmetrics-text")
        assert rv.text.rstrip().endswith("# EOF")
    else:
        assert rv.headers["Content-Type"].startswith("text/plain")


def test_the_grafana_dashboard_asks_only_for_what_a_scrape_serves(make_daemon):
    d = make_daemon()
    served = set(scrape(d))
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "appliance.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", []) if t.get("expr")]
    assert len(exprs) >= 20
    asked = {
        re.sub(r"_(total|bucket|count|sum)$", "", name)
        for e in exprs
        for name in re.findall(r"\b((?:appliance|process)_[a-z_]+)", e)
    }
    assert asked - served == set(), "the dashboard asks for metrics nobody serves"
    assert {"appliance_modem_healthy", "appliance_sms_segments_failed"} <= asked


@pytest.mark.parametrize("created", [True, False])
def test_in_process_histograms_export_what_prometheus_client_would(
    monkeypatch: pytest.MonkeyPatch, created: bool
) -> None:
    """The commit and webhook histograms are kept without prometheus-client (a scrape
    imports it): fed the same observations as its own ``Histogram``, they export the same
    text and OpenMetrics, with or without the ``_created`` series."""
    from prometheus_client import CollectorRegistry, Histogram
    from prometheus_client import metrics as client_metrics
    from prometheus_client.exposition import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as openmetrics

    from appliance.system.collector import HistogramCollector
    from appliance.system.durations import Durations
    from appliance.system.metrics import WEBHOOK_BUCKETS

    monkeypatch.setattr(client_metrics, "_use_created", created)
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    plain = Histogram("a_seconds", "plain", buckets=WEBHOOK_BUCKETS, registry=theirs)
    labelled = Histogram("b_seconds", "by", ["modem", "outcome"], buckets=(0.5, 1), registry=theirs)
    plain._created = 1700000000.25
    mine = Durations("a_seconds", "plain", buckets=WEBHOOK_BUCKETS, clock=lambda: 1700000000.25)
    by = Durations("b_seconds", "by", ["modem", "outcome"], buckets=(0.5, 1), clock=lambda: 7.5)
    ours.register(HistogramCollector(mine))
    ours.register(HistogramCollector(by))
    for amount in (0.0, 0.05, 0.051, 2.5, 14.99, 15.0, 31.0, 1e9):
        plain.observe(amount)
        mine.observe(amount)
    for amount, labels in (
        (0.2, ("modem2", "ok")),
        (0.5, ("modem1", "11200")),
        (3, ("modem2", "ok")),
    ):
        child = labelled.labels(*labels)
        child._created = 7.5
        child.observe(amount)
        by.observe(amount, *labels)
    assert generate_latest(ours) == generate_latest(theirs)
    assert openmetrics(ours) == openmetrics(theirs)
    assert (b"_created" in generate_latest(ours)) is created
