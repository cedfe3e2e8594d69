"""One appliance on PostgreSQL, end to end (issue 16, slice 1): a REST send, an inbound SMS with
its webhook and TwiML reply, the lists, the panel's pages, on a server with fsync on."""

from __future__ import annotations

import sys

from tests.conftest import NUMBER, PHONE, client_for, wait_for
from tests.pg import PgServer
from tests.web.test_panel import PASSWORD, Panel
from tests.webapp import twiml
from web.auth import set_password


def test_a_daemon_runs_on_postgresql(sim, webapp, make_daemon, pg_durable: PgServer):
    url = pg_durable.new_database()
    d = None
    try:
        webapp.routes["/sms"] = twiml("<Response><Message>Got it</Message></Response>")
        d = make_daemon(database_url=url, modem={"sms_url": webapp.url("/sms")})
        assert d.store.dialect.name == "postgresql" and "psycopg" in sys.modules
        client = client_for(d)
        sent = client.messages.create(to=PHONE, from_=NUMBER, body="hello from pg")
        assert sent.sid.startswith("SM") and sent.status == "queued"
        sim.network.deliver_sms(sim.modems["modem1"], PHONE, "Hello appliance")
        req = webapp.wait(path="/sms")
        assert req.flat["Body"] == "Hello appliance"
        assert sim.network.wait_outbox(2, timeout=10)
        texts = sorted(m.text for m in sim.network.outbox("modem1"))
        assert texts == ["Got it", "hello from pg"]
        wait_for(lambda: client.messages(sent.sid).fetch().status == "delivered")
        listed = client.messages.list(limit=10)
        assert {m.direction for m in listed} == {"inbound", "outbound-api", "outbound-reply"}
        wait_for(lambda: sim.modems["modem1"].receive_memory().used == 0)

        # NUL (U+0000), which PostgreSQL text cannot hold, from its three sources: a UCS-2 SMS,
        # a webhook's answer and a REST form value.  Each is stored (with U+FFFD), none is lost.
        from appliance.store import pgrows as pg

        replaced = pg.nul_replaced
        webapp.routes["/sms"] = lambda req: (200, "text/xml", b"<Response>\x00</Response>")
        sim.network.deliver_sms(sim.modems["modem1"], PHONE, "nul\x00inside \u00e9\u4e2d")
        wait_for(lambda: len(webapp.to("/sms")) == 2)
        wait_for(lambda: sim.modems["modem1"].receive_memory().used == 0)
        stored = d.store.read_one("SELECT body FROM messages WHERE body LIKE 'nul%'")
        assert stored is not None and stored["body"] == "nul\ufffdinside \u00e9\u4e2d"
        logged = wait_for(
            lambda: d.store.read_one(
                "SELECT response FROM webhook_log WHERE response LIKE '%?%'".replace("?", "\ufffd")
            )  # fmt: skip
        )
        assert logged["response"] == "<Response>\ufffd</Response>"
        form = client.messages.create(to=PHONE, from_=NUMBER, body="form\x00value")
        assert client.messages(form.sid).fetch().body == "form\ufffdvalue"
        assert pg.nul_replaced >= replaced + 3

        panel = Panel(d)
        set_password(d.store, PASSWORD)
        assert panel.login().status_code == 302
        pages = [
            "/", "/modems/modem1/radio", "/numbers/", "/messages/", f"/messages/with?party={PHONE}",
            "/messages/list?q=HELLO", f"/messages/{sent.sid}", "/contacts/", "/calls/",
            "/calls/export.csv", "/messages/export.csv", "/webhooks/?all=1", "/subscribers/",
            "/subscribers/optouts", "/broadcasts/", "/compose/templates", "/oncall/", "/backup/",
        ]  # fmt: skip
        for path in pages:
            rv = panel.client.get(path)
            assert rv.status_code == 200, (path, rv.get_data(as_text=True)[:300])
        assert "pg_dump" in panel.client.get("/backup/").get_data(as_text=True)
        rv = panel.post("/backup/download", {}, same=False)
        assert rv.status_code == 409
        # The search ignores case on both engines (ILIKE on PostgreSQL).
        assert "Hello appliance" in panel.client.get("/messages/list?q=HELLO").get_data(
            as_text=True
        )
    finally:
        if d is not None:
            d.stop()  # before the database goes (make_daemon's stop is then a no-op)
        pg_durable.drop(url)
