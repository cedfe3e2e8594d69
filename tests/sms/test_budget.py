"""A number's outbound budget (issue 11): messages per hour, then 30001, off by default."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance import config
from appliance.sms.outbox import Outbox
from appliance.sms.statuscallback import queue_status_callback
from appliance.store.account import Account
from appliance.store.database import Store
from tests.conftest import NUMBER, PHONE
from tests.pg import Engine, make_store

ACCOUNT = "AC" + "0" * 32


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Iterator[Store]:
    """On SQLite and on PostgreSQL (tests/pg.py)."""
    s = make_store(engine, tmp_path, "appliance.sqlite3")
    s.write(
        lambda c: c.execute(
            "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created,"
            " date_updated) VALUES ('PN1', 'modem1', ?, 'n', 0, 0)",
            (NUMBER,),
        )
    )
    yield s
    s.close()


def _outbox(store: Store) -> Outbox:
    outbox = Outbox(store, lambda: ACCOUNT)
    outbox.callbacks = queue_status_callback
    return outbox


def _set_budget(store: Store, n: int) -> None:
    store.write(lambda c: c.execute("UPDATE numbers SET outbound_budget_per_hour = ?", (n,)))


def _send(outbox: Outbox, i: int, **kwargs: Any) -> str:
    return outbox.enqueue(modem="modem1", from_number=NUMBER, to=PHONE, body=f"m{i}", **kwargs)


def test_no_budget_by_default(store: Store):
    outbox = _outbox(store)
    for i in range(30):
        _send(outbox, i)
    statuses = {r[0] for r in store.read("SELECT status FROM messages")}
    assert statuses == {"queued"}


def test_messages_over_the_budget_fail_with_30001(store: Store, caplog):
    _set_budget(store, 3)
    outbox = _outbox(store)
    with caplog.at_level(logging.WARNING, logger="appliance.sms.outbox"):
        sids = [_send(outbox, i, status_callback="http://127.0.0.1:9/status") for i in range(5)]
    rows = {
        r["sid"]: r
        for r in store.read("SELECT sid, status, error_code, error_message FROM messages")
    }
    assert [rows[s]["status"] for s in sids] == ["queued"] * 3 + ["failed"] * 2
    assert [rows[s]["error_code"] for s in sids] == [None] * 3 + [30001] * 2
    assert "budget of 3 messages per hour" in rows[sids[-1]]["error_message"]
    # Its status callback says so, like any failed message's.
    jobs = store.read(
        "SELECT params FROM webhook_jobs WHERE message_sid = ? ORDER BY id", (sids[-1],)
    )
    params = json.loads(jobs[-1]["params"])
    assert params["MessageStatus"] == "failed" and params["ErrorCode"] == "30001"
    warnings = [r for r in caplog.records if "30001" in r.getMessage()]
    assert len(warnings) == 2
    assert sids[-1] in warnings[-1].getMessage()


def test_concurrent_creates_never_exceed_the_budget(store: Store):
    """Eight threads create at once (on PostgreSQL they commit concurrently, as two nodes'
    would): exactly the budget's worth is queued, the rest fail with 30001."""
    _set_budget(store, 10)
    outbox = _outbox(store)
    start = threading.Barrier(8)

    def creates(t: int) -> None:
        start.wait()
        for i in range(5):
            _send(outbox, t * 10 + i)

    threads = [threading.Thread(target=creates, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    rows = store.read("SELECT status, COUNT(*) FROM messages GROUP BY status ORDER BY status")
    assert [tuple(r) for r in rows] == [("failed", 30), ("queued", 10)]


def test_the_budget_is_per_rolling_hour_and_rejections_do_not_use_it(store: Store):
    _set_budget(store, 2)
    outbox = _outbox(store)

    def age(seconds: float, where: str) -> None:
        store.write(
            lambda c: c.execute(
                f"UPDATE messages SET date_created = date_created - ? WHERE {where}",  # noqa: S608
                (seconds,),
            )
        )

    def status(sid: str) -> str:
        return str(store.read_one("SELECT status FROM messages WHERE sid = ?", (sid,))[0])

    for i in range(4):
        _send(outbox, i)  # two queued, two rejected
    age(1800, "error_code IS NULL")  # half an hour ago: still in the window
    assert status(_send(outbox, 4)) == "failed"
    age(3600, "error_code IS NULL")  # the sent ones are now older than an hour
    # The three rejections (30001) are recent but never used the budget.
    assert [status(_send(outbox, i)) for i in (5, 6, 7)] == ["queued", "queued", "failed"]


def test_the_budget_comes_from_the_modem_settings(store: Store, tmp_path: Path):
    cfg = config.load(
        None,
        environ={},
        overrides={
            "data_dir": str(tmp_path / "data"),
            "modems": [{"name": "modem1", "number": NUMBER, "outbound_budget_per_hour": 40}],
        },
    )
    assert cfg.modems[0].outbound_budget_per_hour == 40
    Account(store).seed_numbers(cfg)
    assert store.read_one("SELECT outbound_budget_per_hour FROM numbers")[0] == 40
    env = config.load(None, environ={"APPLIANCE_MODEM_MODEM1_OUTBOUND_BUDGET_PER_HOUR": "7"})
    assert env.modems[0].outbound_budget_per_hour == 7
    assert config.load(None, environ={}).modems[0].outbound_budget_per_hour == 0


def test_the_panel_sets_the_budget(make_daemon):
    from web.auth import set_password

    d = make_daemon()
    set_password(d.store, "correct horse battery")
    client = d.server.panel.test_client()

    def token(path: str) -> str:
        m = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
        assert m
        return m.group(1)

    client.post("/login", data={"password": "correct horse battery", "csrf_token": token("/login")})
    sid = d.store.read_one("SELECT sid FROM numbers")[0]
    path = f"/numbers/{sid}"
    assert 'name="outbound_budget_per_hour"' in client.get(path).get_data(as_text=True)
    rv = client.post(path, data={"outbound_budget_per_hour": "lots", "csrf_token": token(path)})
    assert 'id="error-outbound_budget_per_hour"' in rv.get_data(as_text=True)
    rv = client.post(path, data={"outbound_budget_per_hour": "25", "csrf_token": token(path)})
    assert rv.status_code == 302
    assert d.store.read_one("SELECT outbound_budget_per_hour FROM numbers")[0] == 25
    # A form without the field (an older page) leaves it alone.
    rv = client.post(path, data={"sms_url": "", "csrf_token": token(path)})
    assert rv.status_code == 302
    assert d.store.read_one("SELECT outbound_budget_per_hour FROM numbers")[0] == 25
