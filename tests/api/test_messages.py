"""The Message resource over real HTTP with the official twilio library: paging and
filters, scheduling, cancel, redaction, delete, and Twilio's error codes."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from twilio.base.exceptions import TwilioRestException

from tests.conftest import NUMBER, PHONE, client_for, wait_for
from tests.webapp import twiml

OTHER = "+14155550199"


def api_url(d, path: str) -> str:
    return f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}{path}"


def raw(d, method: str, path: str, **kwargs):
    return requests.request(
        method, api_url(d, path), auth=(d.account.sid, d.account.auth_token), timeout=10, **kwargs
    )


def stuck(d, body: str = "never sent") -> str:
    """A message queued on a modem nobody serves: it stays 'queued'."""
    return d.outbox.enqueue(modem="nomodem", from_number=NUMBER, to=PHONE, body=body)


def test_list_filters_and_pages_across_several_pages(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    mine = [client.messages.create(to=PHONE, from_=NUMBER, body=f"p{i}").sid for i in range(5)]
    other = [client.messages.create(to=OTHER, from_=NUMBER, body=f"o{i}").sid for i in range(2)]
    # The To filter (with its '+') survives into every next_page_uri.
    assert [m.sid for m in client.messages.list(to=PHONE, page_size=2)] == mine[::-1]
    assert [m.sid for m in client.messages.list(to=OTHER, page_size=1)] == other[::-1]
    assert len(client.messages.list(from_=NUMBER, page_size=3)) == 7
    assert client.messages.list(from_="+15005550001") == []
    # Raw pages: exactly one record key, relative next_page_uri, null on the last page.
    first = raw(d, "GET", "/Messages.json", params={"To": PHONE, "PageSize": 2}).json()
    assert [k for k in first if isinstance(first[k], list)] == ["messages"]
    assert first["next_page_uri"].startswith(f"/2010-04-01/Accounts/{d.account.sid}/Messages.json?")
    assert "To=%2B14155550100" in first["next_page_uri"]
    seen = [m["sid"] for m in first["messages"]]
    page = first
    while page["next_page_uri"]:
        page = requests.get(
            f"http://127.0.0.1:{d.server.port}{page['next_page_uri']}",
            auth=(d.account.sid, d.account.auth_token),
            timeout=10,
        ).json()
        seen += [m["sid"] for m in page["messages"]]
    assert seen == mine[::-1] and page["page"] == 2 and page["next_page_uri"] is None
    legacy = raw(d, "GET", "/SMS/Messages.json", params={"PageSize": 50}).json()
    assert [k for k in legacy if isinstance(legacy[k], list)] == ["sms_messages"]
    assert len(legacy["sms_messages"]) == 7


def test_date_sent_filters(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    sids = [client.messages.create(to=PHONE, from_=NUMBER, body=f"d{i}").sid for i in range(3)]
    wait_for(lambda: all(client.messages(s).fetch().date_sent for s in sids))
    days = [datetime(2024, 1, day, 12, tzinfo=UTC).timestamp() for day in (1, 2, 3)]
    for sid, ts in zip(sids, days, strict=True):
        d.store.write(
            lambda conn, sid=sid, ts=ts: conn.execute(
                "UPDATE messages SET date_sent = ? WHERE sid = ?", (ts, sid)
            )
        )
    assert [m.sid for m in client.messages.list(date_sent=datetime(2024, 1, 2))] == [sids[1]]
    assert {m.sid for m in client.messages.list(date_sent_before=date(2024, 1, 2))} == set(sids[:2])
    assert {m.sid for m in client.messages.list(date_sent_after=date(2024, 1, 2))} == set(sids[1:])
    # curl style: DateSent<=YYYY-MM-DD arrives as the key "DateSent<".
    rv = raw(d, "GET", "/Messages.json?DateSent%3C=2024-01-01").json()
    assert [m["sid"] for m in rv["messages"]] == [sids[0]]
    bad = raw(d, "GET", "/Messages.json", params={"DateSent": "yesterday"})
    assert bad.status_code == 400 and bad.json()["code"] == 20001


def test_scheduled_message_is_held_then_sent_and_can_be_canceled(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    when = datetime.now(UTC) + timedelta(hours=1)
    keep = client.messages.create(
        to=PHONE, from_=NUMBER, body="later", schedule_type="fixed", send_at=when
    )
    drop = client.messages.create(
        to=PHONE, from_=NUMBER, body="never", schedule_type="fixed", send_at=when
    )
    assert keep.status == drop.status == "scheduled"
    canceled = client.messages(drop.sid).update(status="canceled")
    assert canceled.status == "canceled"
    with pytest.raises(TwilioRestException) as e:
        client.messages(drop.sid).update(status="canceled")
    assert e.value.code == 30409
    time.sleep(0.3)
    assert sim.network.outbox("modem1") == []
    # Bring both due: only the one still scheduled goes out.
    d.store.write(lambda conn: conn.execute("UPDATE messages SET send_at = ?", (time.time() - 1,)))
    d.outbox.wake("modem1")
    assert sim.network.wait_outbox(1, timeout=20)
    assert [m.text for m in sim.network.outbox("modem1")] == ["later"]
    wait_for(lambda: client.messages(keep.sid).fetch().status in ("sent", "delivered"))
    assert client.messages(drop.sid).fetch().status == "canceled"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"ScheduleType": "fixed"}, 35111),
        ({"ScheduleType": "fixed", "SendAt": "2020-01-01T00:00:00Z"}, 35114),
        ({"ScheduleType": "fixed", "SendAt": "+60s"}, 35115),
        ({"ScheduleType": "later", "SendAt": "2999-01-01T00:00:00Z"}, 35126),
        ({"SendAt": "2999-01-01T00:00:00Z"}, 35126),
    ],
)
def test_scheduling_errors(sim, make_daemon, fields, code):
    d = make_daemon()
    rv = raw(d, "POST", "/Messages.json", data={"To": PHONE, "From": NUMBER, "Body": "x", **fields})
    assert rv.status_code == 400 and rv.json()["code"] == code
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0


def test_send_at_window_is_15_minutes_to_35_days(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    now = datetime.now(UTC)
    for ahead in (timedelta(minutes=5), timedelta(days=36)):
        with pytest.raises(TwilioRestException) as e:
            client.messages.create(
                to=PHONE, from_=NUMBER, body="x", schedule_type="fixed", send_at=now + ahead
            )
        assert e.value.code == 35114
    msg = client.messages.create(
        to=PHONE, from_=NUMBER, body="x", schedule_type="fixed", send_at=now + timedelta(days=34)
    )
    assert msg.status == "scheduled"


def test_cancel_queued_and_refuse_cancel_after_sending(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    queued = stuck(d)
    assert client.messages(queued).update(status="canceled").status == "canceled"
    sent = client.messages.create(to=PHONE, from_=NUMBER, body="fast")
    wait_for(lambda: client.messages(sent.sid).fetch().status == "delivered")
    with pytest.raises(TwilioRestException) as e:
        client.messages(sent.sid).update(status="canceled")
    assert e.value.code == 30409 and e.value.status == 400
    assert client.messages(sent.sid).fetch().status == "delivered"
    with pytest.raises(TwilioRestException) as e:
        client.messages(sent.sid).update(status="sent")
    assert e.value.status == 400


def test_cancel_fires_a_canceled_status_callback(sim, webapp, make_daemon):
    d = make_daemon()
    client = client_for(d)
    msg = client.messages.create(
        to=PHONE,
        from_=NUMBER,
        body="x",
        schedule_type="fixed",
        send_at=datetime.now(UTC) + timedelta(hours=2),
        status_callback=webapp.url("/status"),
    )
    client.messages(msg.sid).update(status="canceled")
    req = webapp.wait(path="/status")
    assert req.flat["MessageSid"] == msg.sid and req.flat["MessageStatus"] == "canceled"


def test_redact_body(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    msg = client.messages.create(to=PHONE, from_=NUMBER, body="secret code 1234")
    wait_for(lambda: client.messages(msg.sid).fetch().status == "delivered")
    redacted = client.messages(msg.sid).update(body="")
    assert redacted.body == "" and redacted.status == "delivered"
    assert d.store.read_one("SELECT body FROM messages WHERE sid = ?", (msg.sid,))["body"] == ""
    with pytest.raises(TwilioRestException) as e:
        client.messages(stuck(d)).update(body="")
    assert e.value.code == 20009
    with pytest.raises(TwilioRestException) as e:
        client.messages(msg.sid).update(body="new text")
    assert e.value.status == 400


def test_delete(sim, make_daemon):
    d = make_daemon()
    client = client_for(d)
    msg = client.messages.create(to=PHONE, from_=NUMBER, body="bye")
    wait_for(lambda: client.messages(msg.sid).fetch().status == "delivered")
    assert client.messages(msg.sid).delete() is True
    with pytest.raises(TwilioRestException) as e:
        client.messages(msg.sid).fetch()
    assert e.value.code == 20404
    assert (
        d.store.read_one("SELECT COUNT(*) FROM segments WHERE message_sid = ?", (msg.sid,))[0] == 0
    )
    with pytest.raises(TwilioRestException) as e:
        client.messages(msg.sid).delete()
    assert e.value.status == 404
    queued = stuck(d)
    with pytest.raises(TwilioRestException) as e:
        client.messages(queued).delete()
    assert e.value.code == 20009
    assert client.messages(queued).fetch().status == "queued"
    rv = raw(d, "DELETE", f"/SMS/Messages/{queued}.json")
    assert rv.status_code == 409 and rv.json()["code"] == 20009


def test_opted_out_recipient_gets_21610(sim, make_daemon):
    d = make_daemon()
    modem = sim.modems["modem1"]
    modem.network.deliver_sms(modem, PHONE, "STOP")
    wait_for(lambda: d.store.read_one("SELECT 1 FROM opt_outs"), timeout=15)
    with pytest.raises(TwilioRestException) as e:
        client_for(d).messages.create(to=PHONE, from_=NUMBER, body="promo")
    assert e.value.code == 21610 and e.value.status == 400
    assert "unsubscribed" in e.value.msg
    assert client_for(d).messages.create(to=OTHER, from_=NUMBER, body="ok").status == "queued"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"To": PHONE, "Body": "x"}, 21603),
        ({"To": PHONE, "From": NUMBER, "Body": "x", "StatusCallback": "ftp://x/y"}, 21609),
        ({"To": "+1 555", "From": NUMBER, "Body": "x"}, 21211),
    ],
)
def test_more_create_errors(sim, make_daemon, fields, code):
    d = make_daemon()
    rv = raw(d, "POST", "/Messages.json", data=fields)
    assert rv.status_code == 400
    assert rv.json() == {
        "code": code,
        "message": rv.json()["message"],
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": 400,
    }


def test_unknown_fields_are_ignored(sim, make_daemon):
    d = make_daemon()
    rv = raw(
        d,
        "POST",
        "/Messages.json",
        data={"To": PHONE, "From": NUMBER, "Body": "x", "SmartEncoded": "true", "Colour": "blue"},
    )
    assert rv.status_code == 201 and rv.json()["status"] == "queued"


def _text_columns_containing(d, needle: str) -> list[str]:
    """Every (table.column) of the database whose text holds ``needle``."""
    found = []
    tables = [r[0] for r in d.store.read("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for col in d.store.read(f"PRAGMA table_info({table})"):
            name = col["name"]
            hit = d.store.read_one(
                f'SELECT 1 FROM "{table}" WHERE CAST("{name}" AS TEXT) LIKE ?', (f"%{needle}%",)
            )
            if hit is not None:
                found.append(f"{table}.{name}")
    return found


def test_redaction_leaves_no_copy_of_the_body(sim, webapp, make_daemon):
    webapp.routes["/sms"] = twiml("<Response/>")
    d = make_daemon(modem={"sms_url": webapp.url("/sms")})
    client = client_for(d)
    # Inbound: its body is in the SMS webhook's job params and in the webhook log.
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "inbound secret 8812")
    inbound = webapp.wait(path="/sms").flat["MessageSid"]
    wait_for(
        lambda: d.store.read_one(
            "SELECT 1 FROM webhook_jobs WHERE message_sid = ? AND state = 'done'", (inbound,)
        )
    )
    wait_for(
        lambda: d.store.read_one("SELECT 1 FROM webhook_log WHERE message_sid = ?", (inbound,))
    )
    # Outbound, with status callbacks.
    out = client.messages.create(
        to=PHONE, from_=NUMBER, body="outbound secret 4471", status_callback=webapp.url("/status")
    )
    wait_for(lambda: client.messages(out.sid).fetch().status == "delivered")
    # An unrelated message keeps its body everywhere.
    sim.network.deliver_sms(sim.modems["modem1"], OTHER, "kept text 5550")
    webapp.wait(path="/sms")
    wait_for(lambda: len(_text_columns_containing(d, "kept text 5550")) >= 3)
    assert set(_text_columns_containing(d, "inbound secret 8812")) >= {
        "messages.body",
        "webhook_jobs.params",
        "webhook_log.request",
    }
    kept_before = _text_columns_containing(d, "kept text 5550")

    assert client.messages(inbound).update(body="").body == ""
    assert client.messages(out.sid).update(body="").body == ""

    assert _text_columns_containing(d, "inbound secret 8812") == []
    assert _text_columns_containing(d, "outbound secret 4471") == []
    assert _text_columns_containing(d, "kept text 5550") == kept_before
    # The rest of the stored webhook request is kept, with an empty Body.
    job = d.store.read_one("SELECT params FROM webhook_jobs WHERE message_sid = ?", (inbound,))
    params = json.loads(job["params"])
    assert params["Body"] == "" and params["From"] == PHONE and params["MessageSid"] == inbound
    log = d.store.read_one("SELECT request FROM webhook_log WHERE message_sid = ?", (inbound,))
    assert json.loads(log["request"])["Body"] == "" and json.loads(log["request"])["To"] == NUMBER

    # Nor in the file's bytes, once the WAL is checkpointed: the store turns secure_delete on
    # for its connections, so freed cells are zeroed whatever the SQLite build's default.
    conn = sqlite3.connect(d.config.db_path)
    try:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # not busy
    finally:
        conn.close()
    files = [d.config.db_path, d.config.db_path.with_name(d.config.db_path.name + "-wal")]
    data = b"".join(f.read_bytes() for f in files if f.exists())
    assert b"kept text 5550" in data
    assert b"secret 8812" not in data and b"secret 4471" not in data
