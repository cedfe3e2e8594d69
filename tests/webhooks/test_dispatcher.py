"""The webhook dispatcher on a real store and real HTTP apps on 127.0.0.1 (no modem).

Issue 11: deleted cookies, call status callbacks in the log, the reply cap (14109), bodies
over 64 kB (11750), what ``webhook_attempts`` counts, and one hanging app delaying others.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.sids import idempotency_token
from appliance.sms.outbox import Outbox
from appliance.sms.statuscallback import queue_status_callback
from appliance.store import migrations
from appliance.store.database import SqliteStore, Store
from appliance.webhooks import debugger
from appliance.webhooks.client import Timeouts, WebhookClient
from appliance.webhooks.dispatcher import Dispatcher
from tests.conftest import NUMBER, PHONE, wait_for
from tests.pg import Engine, make_store
from tests.webapp import Request, WebApp, twiml

ACCOUNT = "AC" + "0" * 32
TOKEN = "dispatcher-test-token"
FAST = Timeouts(connect=1.0, read=2.0, total=2.0, retries=0)


class Harness:
    """A store with one number, an outbox and a running dispatcher."""

    def __init__(self, tmp_path: Path, engine: Engine | None = None, **kwargs: Any) -> None:
        store: Store | None = kwargs.pop("store", None)  # a node of a fleet (test_fleet_jobs)
        self.store = (
            store
            if store is not None
            else SqliteStore(tmp_path / "appliance.sqlite3")
            if engine is None
            else make_store(engine, tmp_path, "appliance.sqlite3")
        )
        self.store.write(
            lambda c: c.execute(
                "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created,"
                " date_updated) VALUES ('PN1', 'modem1', ?, 'n', 0, 0) ON CONFLICT DO NOTHING",
                (NUMBER,),
            )
        )
        self.outbox = Outbox(self.store, lambda: ACCOUNT)
        self.outbox.callbacks = queue_status_callback
        kwargs.setdefault("backoff", 0.05)
        self.dispatcher = Dispatcher(
            self.store,
            WebhookClient(TOKEN, timeouts=kwargs.pop("timeouts", FAST)),
            self.outbox,
            lambda number: "modem1" if number == NUMBER else None,
            **kwargs,
        )
        self.dispatcher.start()

    def job(
        self,
        url: str,
        *,
        kind: str = "sms",
        sid: str | None = None,
        params: dict[str, str] | None = None,
        fallback: str = "",
    ) -> int:
        sid = sid or "SM" + idempotency_token().replace("-", "")
        p = {"From": PHONE, "To": NUMBER, "Body": "hi", "MessageSid": sid, **(params or {})}
        now = time.time()
        job_id: int = self.store.write(
            lambda c: c.execute(
                "INSERT INTO webhook_jobs (kind, message_sid, url, method, fallback_url, params,"
                " token, state, next_attempt_at, created) VALUES (?,?,?,'POST',?,?,?,'pending',?,?)"
                " RETURNING id",
                (kind, sid, url, fallback, json.dumps(p), idempotency_token(), now, now),
            ).fetchone()[0]
        )
        self.dispatcher.wake()
        return job_id

    def state(self, job_id: int) -> str:
        return str(self.store.read_one("SELECT state FROM webhook_jobs WHERE id = ?", (job_id,))[0])

    def finished(self, job_id: int, timeout: float = 10.0) -> str:
        wait_for(lambda: self.state(job_id) in ("done", "failed"), timeout=timeout)
        return self.state(job_id)

    def log(self, job_id: int) -> list[sqlite3.Row]:
        return self.store.read("SELECT * FROM webhook_log WHERE job_id = ? ORDER BY id", (job_id,))

    def close(self) -> None:
        self.dispatcher.stop()
        self.store.close()


@pytest.fixture
def harness(engine: Engine, tmp_path: Path) -> Iterator[Harness]:
    """On SQLite and on PostgreSQL (tests/pg.py); the timing tests below stay on SQLite."""
    h = Harness(tmp_path, engine)
    yield h
    h.close()


# --------------------------------------------------------------------------- 3. cookies


@pytest.mark.parametrize(
    "deletion",
    ["session=; Max-Age=0; Path=/", "session=gone; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/"],
)
def test_a_deleted_cookie_is_not_sent_again(harness: Harness, webapp: WebApp, deletion: str):
    answers = iter(["session=abc; Path=/", deletion, None])

    def app(req: Request) -> Any:
        cookie = next(answers)
        return (200, "text/xml", b"<Response/>", {"Set-Cookie": cookie} if cookie else {})

    webapp.routes["/sms"] = app
    for _ in range(3):
        assert harness.finished(harness.job(webapp.url("/sms"))) == "done"
    sent = [r.headers.get("Cookie") for r in webapp.to("/sms")]
    assert sent == [None, "session=abc", None]  # a browser (and Twilio) drops a deleted cookie
    assert harness.store.read_one("SELECT COUNT(*) FROM cookies")[0] == 0


def test_cookies_still_kept_and_replaced(harness: Harness, webapp: WebApp):
    answers = iter(["a=1; Path=/", "a=2; Path=/", None])
    webapp.routes["/sms"] = lambda req: (
        200,
        "text/xml",
        b"<Response/>",
        {"Set-Cookie": c} if (c := next(answers)) else {},
    )
    for _ in range(3):
        harness.finished(harness.job(webapp.url("/sms")))
    assert [r.headers.get("Cookie") for r in webapp.to("/sms")] == [None, "a=1", "a=2"]


# --------------------------------------------------------------------------- 8. call status callbacks


def test_call_status_callbacks_are_logged_under_the_call(harness: Harness, webapp: WebApp):
    call, message = "CA" + "c" * 32, "SM" + "d" * 32
    on_call = harness.job(
        webapp.url("/call-status"), kind="status", sid=call, params={"CallSid": call}
    )
    on_message = harness.job(webapp.url("/sms-status"), kind="status", sid=message)
    assert harness.finished(on_call) == harness.finished(on_message) == "done"
    [row] = harness.log(on_call)
    assert (row["call_sid"], row["message_sid"]) == (call, None)
    [row] = harness.log(on_message)
    assert (row["call_sid"], row["message_sid"]) == (None, message)
    # What the panel's call page (web/calls.py) and message page (web/messages.py) query:
    hooks = harness.store.read("SELECT * FROM webhook_log WHERE call_sid = ? ORDER BY id", (call,))
    assert [h["url"] for h in hooks] == [webapp.url("/call-status")]
    assert not harness.store.read("SELECT * FROM webhook_log WHERE message_sid = ?", (call,))


def test_migration_moves_old_call_entries_to_call_sid(tmp_path: Path, monkeypatch):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    upto = [name for name, _ in migrations.MIGRATIONS].index("0004_panel") + 1
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:upto])
    migrations.migrate(conn)
    for sid in ("CA" + "1" * 32, "SM" + "2" * 32):
        conn.execute(
            "INSERT INTO webhook_log (job_id, message_sid, url, method, request, at)"
            " VALUES (1, ?, 'http://x/', 'POST', '{}', 0)",
            (sid,),
        )
    monkeypatch.undo()
    migrations.migrate(conn)
    rows = conn.execute("SELECT message_sid, call_sid FROM webhook_log ORDER BY id").fetchall()
    assert rows == [(None, "CA" + "1" * 32), ("SM" + "2" * 32, None)]
    conn.close()


# --------------------------------------------------------------------------- 11. reply cap


def test_at_most_ten_replies_per_incoming_message(harness: Harness, webapp: WebApp):
    many = "".join(f"<Message>reply {i}</Message>" for i in range(1000))
    webapp.routes["/sms"] = twiml(f"<Response>{many}</Response>")
    job = harness.job(webapp.url("/sms"))
    assert harness.finished(job) == "done"
    bodies = [r[0] for r in harness.store.read("SELECT body FROM messages ORDER BY seq")]
    assert bodies == [f"reply {i}" for i in range(10)]
    [warning] = [r for r in harness.log(job) if r["error_code"] == 14109]
    assert "990" in warning["error_message"]


def test_reply_cap_counts_across_redirects(harness: Harness, webapp: WebApp):
    first = "".join(f"<Message>a{i}</Message>" for i in range(7))
    webapp.routes["/sms"] = twiml(f"<Response>{first}<Redirect>/more</Redirect></Response>")
    more = "".join(f"<Message>b{i}</Message>" for i in range(8))
    webapp.routes["/more"] = twiml(f"<Response>{more}</Response>")
    job = harness.job(webapp.url("/sms"))
    assert harness.finished(job) == "done"
    bodies = [r[0] for r in harness.store.read("SELECT body FROM messages ORDER BY seq")]
    assert bodies == [f"a{i}" for i in range(7)] + ["b0", "b1", "b2"]
    assert [r["error_code"] for r in harness.log(job)].count(14109) == 1


# --------------------------------------------------------------------------- 13. size, attempts


def test_a_body_over_64_kb_is_11750_and_goes_to_the_fallback(harness: Harness, webapp: WebApp):
    huge = b"<Response><Message>" + b"x" * (10 * 1024 * 1024) + b"</Message></Response>"
    webapp.routes["/sms"] = lambda req: (200, "text/xml", huge)
    webapp.routes["/fallback"] = twiml("<Response/>")
    job = harness.job(webapp.url("/sms"), fallback=webapp.url("/fallback"))
    assert harness.finished(job) == "done"
    codes = [r["error_code"] for r in harness.log(job)]
    assert codes[0] == 11750 and 12100 not in codes
    assert "too large" in harness.log(job)[0]["error_message"]
    assert webapp.to("/fallback")[0].flat["ErrorCode"] == "11750"
    assert harness.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0


def test_a_body_of_exactly_64_kb_is_used(harness: Harness, webapp: WebApp):
    head, tail = b"<Response><Message>ok</Message><!--", b"--></Response>"
    body = head + b"x" * (64 * 1024 - len(head) - len(tail)) + tail
    assert len(body) == 64 * 1024
    webapp.routes["/sms"] = lambda req: (200, "text/xml", body)
    assert harness.finished(harness.job(webapp.url("/sms"))) == "done"
    assert harness.store.read_one("SELECT body FROM messages")[0] == "ok"


def test_webhook_attempts_counts_tries_in_all(tmp_path: Path, webapp: WebApp):
    webapp.routes["/sms"] = lambda req: (500, "text/plain", b"down")
    webapp.routes["/status"] = lambda req: (503, "text/plain", b"down")
    h = Harness(tmp_path, attempts=3, backoff=0.02)
    try:
        sms = h.job(webapp.url("/sms"))
        status = h.job(webapp.url("/status"), kind="status")
        assert h.finished(sms) == h.finished(status) == "failed"
        time.sleep(0.3)  # a fourth try would have come by now
        assert len(webapp.to("/sms")) == 3  # webhook_attempts = 3: three POSTs, not four
        assert len(webapp.to("/status")) == 3  # status callbacks: 3 tries in all
    finally:
        h.close()


def test_webhook_attempts_of_one_means_no_retry(tmp_path: Path, webapp: WebApp):
    webapp.routes["/sms"] = lambda req: (500, "text/plain", b"down")
    h = Harness(tmp_path, attempts=1)
    try:
        assert h.finished(h.job(webapp.url("/sms"))) == "failed"
        time.sleep(0.2)
        assert len(webapp.to("/sms")) == 1
    finally:
        h.close()


# --------------------------------------------------------------------------- 14. isolation


@pytest.fixture
def hanging() -> Iterator[tuple[WebApp, threading.Event, list[float]]]:
    """An app whose SMS URL never answers (until the test ends); arrival times recorded."""
    app, release, arrivals = WebApp(), threading.Event(), []

    def hang(req: Request) -> Any:
        arrivals.append(time.monotonic())
        release.wait(30)
        return (200, "text/xml", b"<Response/>")

    app.routes["/sms"] = hang
    yield app, release, arrivals
    release.set()
    app.close()


def test_a_hanging_app_does_not_delay_another_apps_webhooks(
    tmp_path: Path, webapp: WebApp, hanging: tuple[WebApp, threading.Event, list[float]]
):
    slow, release, arrivals = hanging
    patient = Timeouts(connect=1.0, read=5.0, total=5.0, retries=0)
    h = Harness(tmp_path, workers=4, attempts=1, timeouts=patient)
    try:
        flood = [h.job(slow.url("/sms"), params={"Body": f"m{i}"}) for i in range(20)]
        wait_for(lambda: len(arrivals) >= 1)
        time.sleep(0.3)  # the workers have taken what they may of the flood
        sid = "SM" + "e" * 32
        started = time.monotonic()
        callbacks = [
            h.job(webapp.url("/status"), kind="status", sid=sid, params={"MessageStatus": s})
            for s in ("sent", "delivered")
        ]
        inbound = h.job(webapp.url("/sms"))
        for job in (*callbacks, inbound):
            assert h.finished(job, timeout=5) == "done"
        elapsed = time.monotonic() - started
        # The hanging app's timeout is 5 s: the healthy app must not wait for it (3 s leaves a
        # busy machine time for these three requests and their commits, and is still far
        # short of what waiting for a worker held by the hanging app would take).
        assert elapsed < 3.0, f"healthy webhooks took {elapsed:.2f} s"
        statuses = [r.flat["MessageStatus"] for r in webapp.to("/status")]
        assert statuses == ["sent", "delivered"]  # one message's callbacks stay in order
        # The hanging app holds at most its per-origin share of the workers.
        assert len(arrivals) == 2
        assert all(h.state(j) in ("pending", "running") for j in flood[2:])
    finally:
        release.set()
        h.close()


def test_one_origin_still_uses_its_slots_in_parallel(tmp_path: Path, webapp: WebApp):
    gate, inside, peak = threading.Event(), [0], [0]
    lock = threading.Lock()

    def slow(req: Request) -> Any:
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        gate.wait(0.3)
        with lock:
            inside[0] -= 1
        return (200, "text/xml", b"<Response/>")

    webapp.routes["/sms"] = slow
    h = Harness(tmp_path, workers=4, per_origin=2)
    try:
        jobs = [h.job(webapp.url("/sms")) for _ in range(6)]
        for job in jobs:
            assert h.finished(job) == "done"
        assert peak[0] == 2
    finally:
        h.close()


def test_the_fallbacks_logged_request_has_its_error_and_a_replay_sends_them(
    harness: Harness, webapp: WebApp
):
    # The fallback is sent the primary's ErrorCode and ErrorUrl (Twilio); the request
    # inspector must show what was sent, and a replay of that entry send the same.
    webapp.routes["/sms"] = lambda req: (500, "text/plain", b"down")
    webapp.routes["/fallback"] = twiml("<Response/>")
    job = harness.job(webapp.url("/sms"), fallback=webapp.url("/fallback"))
    assert harness.finished(job) == "done"
    primary, fallback = harness.log(job)
    assert "ErrorCode" not in json.loads(primary["request"])
    logged = json.loads(fallback["request"])
    assert logged["ErrorCode"] == "11200" and logged["ErrorUrl"] == webapp.url("/sms")
    assert logged["Body"] == "hi"
    sent = webapp.to("/fallback")[0].flat
    assert {k: sent[k] for k in ("ErrorCode", "ErrorUrl")} == {
        k: logged[k] for k in ("ErrorCode", "ErrorUrl")
    }
    debugger.replay(harness.store, harness.dispatcher.client, fallback["id"])
    wait_for(lambda: len(webapp.to("/fallback")) == 2, timeout=5)
    replayed = webapp.to("/fallback")[1].flat
    assert replayed["ErrorCode"] == "11200" and replayed["ErrorUrl"] == webapp.url("/sms")
