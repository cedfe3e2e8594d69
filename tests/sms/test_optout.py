"""Opt-out keywords end to end: simulated modem on a real pty, real web app, real daemon."""

from __future__ import annotations

import time

import pytest

from appliance import config
from appliance.sms import optout
from appliance.sms.outbox import Outbox, OutboxError
from tests.conftest import NUMBER, PHONE, wait_for
from tests.pg import Engine, make_store
from tests.webapp import twiml

OTHER = "+14155550177"
APP_REPLY = "App says hi"


def reply_app(webapp):
    """The web app answers every inbound SMS with a TwiML reply to the sender."""
    webapp.routes["/sms"] = twiml(f"<Response><Message>{APP_REPLY}</Message></Response>")
    return {"sms_url": webapp.url("/sms")}


def deliver(sim, webapp, d, body, sender=PHONE):
    """Deliver an SMS, wait for its webhook and for the job's outcome to be committed."""
    sim.network.deliver_sms(sim.modems["modem1"], sender, body)
    req = webapp.wait(path="/sms")
    assert req.flat["Body"] == body
    sid = req.flat["MessageSid"]
    wait_for(
        lambda: (
            d.store.read_one("SELECT state FROM webhook_jobs WHERE message_sid = ?", (sid,))[
                "state"
            ]
            == "done"
        )
    )
    return req.flat


def replies(d, to=PHONE):
    return [
        r["body"]
        for r in d.store.read(
            "SELECT body FROM messages WHERE direction = 'outbound-reply' AND to_number = ?"
            " ORDER BY seq",
            (to,),
        )
    ]


def sent_to(sim, to=PHONE):
    return [m.text for m in sim.network.outbox("modem1") if m.destination == to]


def logged_codes(d, sid):
    return [
        r["error_code"]
        for r in d.store.read(
            "SELECT error_code FROM webhook_log WHERE message_sid = ? AND request = '<Message>'",
            (sid,),
        )
    ]


def test_stop_confirms_opts_out_and_blocks_api_and_twiml_sends(sim, webapp, make_daemon):
    d = make_daemon(modem=reply_app(webapp))
    params = deliver(sim, webapp, d, "STOP")
    assert params["OptOutType"] == "STOP"

    # The confirmation goes out although the sender is now opted out; the app's reply does not.
    wait_for(lambda: sent_to(sim) == [optout.STOP_REPLY])
    assert replies(d) == [optout.STOP_REPLY]
    assert logged_codes(d, params["MessageSid"]) == [21610]
    row = d.store.read_one("SELECT * FROM opt_outs")
    assert (row["phone_number"], row["sender"], row["keyword"]) == (NUMBER, PHONE, "STOP")

    # REST/API path: refused synchronously with 21610, nothing queued.
    count = d.store.read_one("SELECT COUNT(*) FROM messages")[0]
    with pytest.raises(OutboxError) as exc:
        d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="Big sale!")
    assert exc.value.code == 21610 and exc.value.status == 400
    assert exc.value.message == "Attempt to send to unsubscribed recipient"
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == count
    # Only that recipient is blocked.
    d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=OTHER, body="Big sale!")
    wait_for(lambda: sent_to(sim, OTHER) == ["Big sale!"])

    # A later ordinary message still reaches the app, but its TwiML reply is refused with 21610.
    params = deliver(sim, webapp, d, "What's new?")
    assert "OptOutType" not in params
    assert logged_codes(d, params["MessageSid"]) == [21610]
    assert replies(d) == [optout.STOP_REPLY]
    assert sent_to(sim) == [optout.STOP_REPLY]
    assert d.store.read_one(
        "SELECT error_message FROM webhook_log WHERE error_code = 21610 AND message_sid = ?",
        (params["MessageSid"],),
    )["error_message"] == ("Attempt to send to unsubscribed recipient")


def test_start_resubscribes(sim, webapp, make_daemon):
    d = make_daemon(modem=reply_app(webapp))
    deliver(sim, webapp, d, "unsubscribe")
    wait_for(lambda: sent_to(sim) == [optout.STOP_REPLY])
    with pytest.raises(OutboxError):
        d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="blocked")

    params = deliver(sim, webapp, d, "Start")
    assert params["OptOutType"] == "START"
    assert d.store.read_one("SELECT COUNT(*) FROM opt_outs")[0] == 0
    # The confirmation and, now that the sender is subscribed again, the app's own reply.
    wait_for(lambda: sent_to(sim) == [optout.STOP_REPLY, optout.START_REPLY, APP_REPLY])
    assert logged_codes(d, params["MessageSid"]) == []  # nothing refused
    d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="welcome back")
    wait_for(lambda: sent_to(sim)[-1:] == ["welcome back"])


def test_help_replies_with_the_configured_text(sim, webapp, make_daemon):
    d = make_daemon(modem=reply_app(webapp), help_text="Acme alerts. Call +1 415 555 0100.")
    params = deliver(sim, webapp, d, "help")
    assert params["OptOutType"] == "HELP"
    wait_for(lambda: sent_to(sim) == ["Acme alerts. Call +1 415 555 0100.", APP_REPLY])
    assert d.store.read_one("SELECT COUNT(*) FROM opt_outs")[0] == 0  # HELP does not opt out
    params = deliver(sim, webapp, d, "INFO")
    assert params["OptOutType"] == "HELP"
    wait_for(lambda: len(sent_to(sim)) == 4)


def test_default_help_text_is_twilios(sim, webapp, make_daemon):
    d = make_daemon(modem=reply_app(webapp))
    deliver(sim, webapp, d, "HELP")
    assert replies(d)[0] == "Reply STOP to unsubscribe. Msg&Data Rates May Apply."


@pytest.mark.parametrize("body", ["stop ", "  Stop.", "quit!", "CANCEL"])
def test_keyword_is_trimmed_and_case_insensitive(sim, webapp, make_daemon, body):
    d = make_daemon(modem=reply_app(webapp))
    params = deliver(sim, webapp, d, body)
    assert params["OptOutType"] == "STOP"
    assert optout.is_opted_out(d.store, NUMBER, PHONE)
    wait_for(lambda: sent_to(sim) == [optout.STOP_REPLY])


@pytest.mark.parametrize("body", ["stop please", "Please STOP", "STOP STOP", "helpful"])
def test_keyword_inside_a_sentence_is_an_ordinary_message(sim, webapp, make_daemon, body):
    d = make_daemon(modem=reply_app(webapp))
    params = deliver(sim, webapp, d, body)
    assert "OptOutType" not in params
    assert not optout.is_opted_out(d.store, NUMBER, PHONE)
    wait_for(lambda: sent_to(sim) == [APP_REPLY])
    assert replies(d) == [APP_REPLY]
    d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="still subscribed")
    wait_for(lambda: sent_to(sim) == [APP_REPLY, "still subscribed"])


def test_opt_out_handling_can_be_turned_off(sim, webapp, make_daemon):
    d = make_daemon(modem=reply_app(webapp), opt_out_enabled=False)
    params = deliver(sim, webapp, d, "STOP")
    assert "OptOutType" not in params
    wait_for(lambda: sent_to(sim) == [APP_REPLY])
    d.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="not blocked")
    wait_for(lambda: sent_to(sim) == [APP_REPLY, "not blocked"])


def test_custom_keywords(sim, webapp, make_daemon):
    d = make_daemon(
        modem=reply_app(webapp),
        opt_out_keywords="ARRET, STOP",
        opt_in_keywords="ARRIBA",
        help_keywords="AIDE",
    )
    params = deliver(sim, webapp, d, "arret")
    assert params["OptOutType"] == "STOP"
    assert d.store.read_one("SELECT keyword FROM opt_outs")["keyword"] == "ARRET"
    params = deliver(sim, webapp, d, "END")  # no longer a keyword: an ordinary (blocked) message
    assert "OptOutType" not in params
    assert optout.is_opted_out(d.store, NUMBER, PHONE)
    params = deliver(sim, webapp, d, "arriba")
    assert params["OptOutType"] == "START"
    assert not optout.is_opted_out(d.store, NUMBER, PHONE)


def test_opt_out_is_kept_across_restarts(sim, webapp, make_daemon):
    d = make_daemon(modem=reply_app(webapp))
    deliver(sim, webapp, d, "STOP")
    wait_for(lambda: sent_to(sim) == [optout.STOP_REPLY])
    d.stop()
    d2 = make_daemon(modem=reply_app(webapp))
    with pytest.raises(OutboxError) as exc:
        d2.outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body="after restart")
    assert exc.value.code == 21610


def test_keyword_handling_is_atomic_with_the_message(sim, webapp, make_daemon, monkeypatch):
    """If the reply cannot be committed, neither is the opt-out: the modem keeps the SMS."""
    d = make_daemon(modem=reply_app(webapp), sweep_interval=0.5)
    failing = {"on": True, "attempts": 0}
    real_insert = d.outbox.insert

    def insert(conn, **kwargs):
        if failing["on"] and kwargs.get("opt_out_exempt"):
            failing["attempts"] += 1
            raise RuntimeError("disk full")
        return real_insert(conn, **kwargs)

    monkeypatch.setattr(d.outbox, "insert", insert)
    sim.network.deliver_sms(sim.modems["modem1"], PHONE, "STOP")
    wait_for(lambda: failing["attempts"] >= 2)  # the URC, then at least one storage sweep
    assert sim.modems["modem1"].receive_memory().used == 1  # not deleted from the modem
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0
    assert not optout.is_opted_out(d.store, NUMBER, PHONE)
    assert d.store.read_one("SELECT COUNT(*) FROM webhook_jobs")[0] == 0
    assert webapp.to("/sms") == []
    # Once the failure is gone, the storage sweep picks the SMS up again: all of it is committed.
    failing["on"] = False
    params = webapp.wait(path="/sms", timeout=15).flat
    assert params["Body"] == "STOP" and params["OptOutType"] == "STOP"
    assert optout.is_opted_out(d.store, NUMBER, PHONE)
    wait_for(lambda: sent_to(sim) == [optout.STOP_REPLY])


# -- units ------------------------------------------------------------------------------------


def test_classify():
    policy = optout.Policy()
    assert policy.classify(" stopall\n") == ("STOP", "STOPALL")
    assert policy.classify("Unstop") == ("START", "UNSTOP")
    assert policy.classify("yes.") == ("START", "YES")
    assert policy.classify("Info?") == ("HELP", "INFO")
    assert policy.classify("stop it") is None
    assert policy.classify("...") is None
    assert policy.classify("") is None
    assert optout.Policy(enabled=False).classify("STOP") is None
    assert optout.parse_keywords("['stop', 'Arret']") == {"STOP", "ARRET"}


def test_is_opted_out_on_a_store_and_a_connection(engine: Engine, tmp_path):
    store = make_store(engine, tmp_path, "db.sqlite3")
    try:
        # Nobody has opted out yet.
        assert optout.is_opted_out(store, NUMBER, PHONE) is False
        assert store.write(lambda conn: optout.is_opted_out(conn, NUMBER, PHONE)) is False
        store.write(lambda conn: optout.opt_out(conn, NUMBER, PHONE, "STOP"))
        assert optout.is_opted_out(store, NUMBER, PHONE) is True
        assert optout.is_opted_out(store, NUMBER, OTHER) is False
        assert optout.is_opted_out(store, "+15005550009", PHONE) is False
        assert store.write(lambda conn: optout.is_opted_out(conn, NUMBER, PHONE)) is True
        assert store.write(lambda conn: optout.opt_in(conn, NUMBER, PHONE)) is True
        assert optout.is_opted_out(store, NUMBER, PHONE) is False
    finally:
        store.close()


def test_custom_confirmation_texts(sim, webapp, make_daemon):
    d = make_daemon(
        modem=reply_app(webapp),
        opt_out_text="Acme: you are unsubscribed.",
        opt_in_text="Acme: welcome back.",
    )
    deliver(sim, webapp, d, "STOP")
    wait_for(lambda: sent_to(sim) == ["Acme: you are unsubscribed."])
    deliver(sim, webapp, d, "START")
    wait_for(lambda: sent_to(sim)[:2] == ["Acme: you are unsubscribed.", "Acme: welcome back."])
    assert replies(d)[:2] == ["Acme: you are unsubscribed.", "Acme: welcome back."]


def test_default_confirmation_texts_are_twilios():
    policy = optout.Policy.from_config(config.load(None, environ={}, overrides={}))
    assert policy.reply_for("STOP") == optout.STOP_REPLY
    assert policy.reply_for("START") == optout.START_REPLY
    assert optout.STOP_REPLY.startswith("You have successfully been unsubscribed.")


def test_message_scheduled_before_stop_fails_with_21610_when_due(sim, webapp, make_daemon):
    d = make_daemon(modem=reply_app(webapp))
    callback = webapp.url("/status")
    when = time.time() + 3600
    blocked = d.outbox.enqueue(
        modem="modem1",
        from_number=NUMBER,
        to=PHONE,
        body="Sale!",
        send_at=when,
        status_callback=callback,
    )
    kept = d.outbox.enqueue(
        modem="modem1",
        from_number=NUMBER,
        to=OTHER,
        body="Sale!",
        send_at=when,
        status_callback=callback,
    )
    deliver(sim, webapp, d, "STOP")
    wait_for(lambda: sent_to(sim) == [optout.STOP_REPLY])
    # Both come due now.
    d.store.write(
        lambda c: c.execute(
            "UPDATE messages SET send_at = ? WHERE send_at = ?", (time.time() - 1, when)
        )
    )
    d.outbox.wake("modem1")
    wait_for(lambda: sent_to(sim, OTHER) == ["Sale!"])
    row = wait_for(
        lambda: d.store.read_one(
            "SELECT * FROM messages WHERE sid = ? AND status = 'failed'", (blocked,)
        )
    )
    assert (row["error_code"], row["error_message"]) == (21610, optout.UNSUBSCRIBED_MESSAGE)
    assert row["segments_sent"] == 0
    assert sent_to(sim) == [optout.STOP_REPLY]  # never sent to the opted-out recipient
    [req] = wait_for(
        lambda: [
            r
            for r in webapp.to("/status")
            if r.flat["MessageSid"] == blocked and r.flat["MessageStatus"] == "failed"
        ]
    )
    assert req.flat["ErrorCode"] == "21610"
    # The network has it; the modem's +CMGS answer is journalled a moment later.
    wait_for(
        lambda: (
            d.store.read_one("SELECT status FROM messages WHERE sid = ?", (kept,))["status"]
            in ("sent", "delivered")
        )
    )


class _Recorder:
    def __init__(self):
        self.rows = []

    def __call__(self, conn, row):
        self.rows.append((row["sid"], row["status"], row["error_code"]))


def test_claim_fails_a_message_queued_before_stop_and_takes_the_next(engine: Engine, tmp_path):
    store = make_store(engine, tmp_path, "db.sqlite3")
    try:
        outbox = Outbox(store, lambda: "AC" + "0" * 32)
        seen = _Recorder()
        outbox.callbacks = seen
        early = outbox.enqueue(modem="m", from_number=NUMBER, to=PHONE, body="queued before")
        other = outbox.enqueue(modem="m", from_number=NUMBER, to=OTHER, body="to someone else")
        time.sleep(0.01)

        def stop(conn):  # what the inbox does: opt out and queue the exempt confirmation
            optout.opt_out(conn, NUMBER, PHONE, "STOP")
            return outbox.insert(
                conn, modem="m", from_number=NUMBER, to=PHONE, body="bye", opt_out_exempt=True
            )

        confirmation = store.write(stop)
        first = outbox.claim("m", time.time())
        assert first is not None and first.sid == other
        row = store.read_one("SELECT * FROM messages WHERE sid = ?", (early,))
        assert (row["status"], row["error_code"]) == ("failed", 21610)
        assert (early, "failed", 21610) in seen.rows
        outbox.part_sent(first.sid, 1, 1, 1)
        second = outbox.claim("m", time.time())
        assert second is not None and second.sid == confirmation  # the confirmation still goes
        outbox.part_sent(second.sid, 1, 2, 1)
        assert outbox.claim("m", time.time()) is None

        # After START, a message queued then is sent again; turning enforcement off sends all.
        store.write(lambda conn: optout.opt_in(conn, NUMBER, PHONE))
        again = outbox.enqueue(modem="m", from_number=NUMBER, to=PHONE, body="welcome back")
        claimed = outbox.claim("m", time.time())
        assert claimed is not None and claimed.sid == again
        outbox.part_sent(claimed.sid, 1, 3, 1)
        lax = Outbox(store, lambda: "AC" + "0" * 32, enforce_opt_outs=False)
        late = lax.enqueue(modem="m", from_number=NUMBER, to=PHONE, body="queued, then STOP")
        time.sleep(0.01)
        store.write(lambda conn: optout.opt_out(conn, NUMBER, PHONE, "STOP"))
        claimed = lax.claim("m", time.time())
        assert claimed is not None and claimed.sid == late
    finally:
        store.close()
