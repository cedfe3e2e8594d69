"""A create whose From is looked up in the write (the REST fast lane's ``enqueue_from``), on
both engines.  On PostgreSQL it is one statement on one connection (``insert_at_once``: the
number, the opt-out, the budget, the message and its parts, committed on its own); when its
conditions do not hold it inserts nothing and the transaction's path decides, with that
path's errors, as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sms import optout
from appliance.sms.outbox import Outbox, OutboxError, UnknownSender
from appliance.store.database import Store
from tests.conftest import NUMBER, PHONE
from tests.pg import Engine, make_store

ACCOUNT = "AC" + "1" * 32
ON_POSTGRESQL = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Iterator[Store]:
    s = make_store(engine, tmp_path, "appliance.sqlite3")
    s.write(
        lambda c: c.execute(
            "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created,"
            " date_updated) VALUES ('PN1', 'modem1', ?, 'n', 0, 0)",
            (NUMBER,),
        )
    )
    yield s


def create(outbox: Outbox, body: str = "hello", **kwargs: object):  # type: ignore[no-untyped-def]
    checked = outbox.validate(PHONE, body)
    fields = {"to": PHONE, "body": body, "status_callback": None, "status_callback_method": "POST"}
    return outbox.enqueue_from(checked, NUMBER, **{**fields, "send_at": None, **kwargs})


def stop(store: Store) -> None:
    store.write(
        lambda c: c.execute(
            "INSERT INTO opt_outs (phone_number, sender, opted_out_at, keyword) VALUES (?,?,?,?)",
            (NUMBER, PHONE, 1.0, "STOP"),
        )
    )


def test_the_row_answered_is_the_row_stored_with_its_parts(store: Store):
    outbox = Outbox(store, lambda: ACCOUNT)
    woken: list[str] = []
    outbox.listeners.append(woken.append)
    row = create(outbox, "x" * 200)  # three parts (GSM-7, 153 each)
    stored = store.read_one("SELECT * FROM messages WHERE sid = ?", (row["sid"],))
    assert dict(row) == dict(stored)
    assert (row["modem"], row["from_number"], row["to_number"]) == ("modem1", NUMBER, PHONE)
    assert (row["status"], row["num_segments"], row["account_sid"]) == ("queued", 2, ACCOUNT)
    parts = store.read("SELECT part, state FROM segments WHERE message_sid = ? ORDER BY part",
                       (row["sid"],))  # fmt: skip
    assert [(p[0], p[1]) for p in parts] == [(1, "pending"), (2, "pending")]
    assert woken == ["modem1"]
    later = create(outbox, send_at=4102444800.25)
    assert later["status"] == "scheduled" and later["send_at"] == 4102444800.25


def test_an_opt_out_and_an_unknown_from_store_nothing(store: Store):
    outbox = Outbox(store, lambda: ACCOUNT)
    stop(store)
    with pytest.raises(OutboxError) as refused:
        create(outbox)
    assert refused.value.code == optout.UNSUBSCRIBED_CODE
    with pytest.raises(UnknownSender):
        outbox.enqueue_from(outbox.validate(PHONE, "hi"), "+15550001111", to=PHONE, body="hi")
    assert store.read("SELECT sid FROM messages") == []


@ON_POSTGRESQL
def test_a_create_is_one_statement_on_one_connection(store: Store):
    """No BEGIN, no COMMIT, no read first: one statement, one pool check-out."""
    outbox = Outbox(store, lambda: ACCOUNT)
    create(outbox, "warm")
    calls: list[str] = []
    read, write = store.read, store.write
    store.read = lambda sql, params=(): calls.append(sql) or read(sql, params)  # type: ignore[method-assign]
    store.write = lambda fn: calls.append("write") or write(fn)  # type: ignore[method-assign]
    before = store._pool.get_stats()["requests_num"]  # type: ignore[attr-defined]
    row = create(outbox)
    assert store._pool.get_stats()["requests_num"] - before == 1  # type: ignore[attr-defined]
    assert len(calls) == 1 and calls[0].startswith("WITH m AS (INSERT INTO messages")
    store.read, store.write = read, write  # type: ignore[method-assign]
    assert store.read_one("SELECT status FROM messages WHERE sid = ?", (row["sid"],))[0] == "queued"


@ON_POSTGRESQL
def test_a_stop_a_budget_or_a_move_committed_between_creates_is_obeyed(store: Store):
    """What the one statement reads is what was committed before it: a STOP refuses (21610,
    nothing stored), a budget is counted (per modem), a move to another modem is followed."""
    outbox = Outbox(store, lambda: ACCOUNT)
    for i in range(2):
        create(outbox, f"m{i}")
    store.write(lambda c: c.execute("UPDATE numbers SET modem = 'modem2'"))
    assert create(outbox, "moved")["modem"] == "modem2"
    store.write(lambda c: c.execute("UPDATE numbers SET outbound_budget_per_hour = 1"))
    row = create(outbox, "over")
    assert (row["status"], row["error_code"]) == ("failed", 30001)
    store.write(lambda c: c.execute("UPDATE numbers SET outbound_budget_per_hour = 0"))
    stop(store)
    with pytest.raises(OutboxError) as refused:
        create(outbox, "stopped")
    assert refused.value.code == optout.UNSUBSCRIBED_CODE
    assert store.read("SELECT sid FROM messages WHERE body = 'stopped'") == []
    assert len(store.read("SELECT sid FROM messages")) == 4  # m0, m1, moved, over


def test_text_with_a_nul_is_stored_and_answered_alike(store: Store):
    """PostgreSQL's text cannot hold U+0000: such a create takes the transaction's path, where
    the store replaces it; the row answered is still the row stored, on both engines."""
    outbox = Outbox(store, lambda: ACCOUNT)
    row = create(outbox, "nul\x00inside")
    stored = store.read_one("SELECT * FROM messages WHERE sid = ?", (row["sid"],))
    assert dict(row) == dict(stored)
    expected = "nul\ufffdinside" if store.dialect.name == "postgresql" else "nul\x00inside"
    assert stored["body"] == expected


def test_the_row_answered_has_every_column_of_the_row_stored(store: Store):
    """A callback, a schedule given as an integer, the columns' defaults: all as stored (on
    PostgreSQL the statement returns only ``seq`` and the modem; the rest is built here)."""
    outbox = Outbox(store, lambda: ACCOUNT)
    row = create(
        outbox,
        status_callback="https://example.com/cb",
        status_callback_method="GET",
        send_at=4102444800,
    )
    stored = store.read_one("SELECT * FROM messages WHERE sid = ?", (row["sid"],))
    assert dict(row) == dict(stored)
    assert list(dict(row)) == list(dict(stored))  # the table's order of columns
    assert (row["status_callback_method"], row["send_at"]) == ("GET", 4102444800.0)
