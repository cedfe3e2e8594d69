"""Join/leave keywords as claimed jobs (issue 16, docs/design.md "Surprise 3"), on SQLite and a
real PostgreSQL: the inbox makes a ``keyword_jobs`` row in the message's transaction, a keyword
pass takes jobs by ``DELETE … RETURNING`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and
applies them in the same transaction.  Messages go through the real inbox (a PDU in, as from
the modem), the replies through the real outbox."""

from __future__ import annotations

import datetime
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from appliance.campaigns.lists import Subscribers
from appliance.sms import codec, pdu
from appliance.sms.inbox import Inbox
from appliance.sms.outbox import Outbox
from appliance.store import migrations
from appliance.store.database import SqliteStore, Store
from tests.pg import Engine, PgServer, make_store

NUMBER = "+15005550006"
JOINED = "You have joined Weather. Text WEATHER OFF to leave."


def second_node(engine: Engine, tmp_path: Path) -> Store:
    """Another node's store on the database of ``make_store``'s last one."""
    if engine.name == "sqlite":
        return make_store(engine, tmp_path)
    from appliance.store.pg import PgStore

    store = PgStore(engine.urls[-1], check_fsync=False)
    engine.stores.append(store)
    return store


def add_number(store: Store) -> None:
    store.write(
        lambda c: c.execute(
            "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created,"
            " date_updated) VALUES ('PN1', 'modem1', ?, 'n', 0, 0)",
            (NUMBER,),
        )
    )


def inbox_of(store: Store) -> Inbox:
    number: Any = {"phone_number": NUMBER, "sms_url": ""}  # no webhook job
    return Inbox(store, Outbox(store, lambda: "AC1"), lambda: "AC1", lambda _m: number, 60.0)


def sms(inbox: Inbox, sender: str, body: str) -> str:
    """``body`` from ``sender`` into modem1, as the modem thread hands it over (+CMT)."""
    (segment,) = codec.split(body)
    now = datetime.datetime.now(datetime.UTC)
    result = inbox.ingest(
        "modem1", None, None, pdu.encode_deliver(sender, segment, scts=now), "+CMT"
    )
    assert result.kind == "message" and result.sid is not None
    return result.sid


def replies(store: Store) -> list[tuple[str, str]]:
    rows = store.read(
        "SELECT to_number, body FROM messages WHERE direction = 'outbound-api' ORDER BY to_number"
    )
    return [(r[0], r[1]) for r in rows]


def jobs(store: Store) -> list[int]:
    return [r[0] for r in store.read("SELECT seq FROM keyword_jobs ORDER BY seq")]


def test_join_and_leave_are_applied_once_from_their_jobs(engine: Engine, tmp_path: Path) -> None:
    store = make_store(engine, tmp_path)
    add_number(store)
    subs = Subscribers(store, Outbox(store, lambda: "AC1"))
    list_id = subs.create_list("Weather", "modem1", "WEATHER", "WEATHER OFF")
    inbox = inbox_of(store)
    sms(inbox, "+447700900060", "Weather Leeds")
    sms(inbox, "+447700900061", "Hello there")  # no keyword: its job is taken all the same
    gone = sms(inbox, "+447700900062", "Weather York")
    sms(inbox, "+447700900060", "weather off")
    store.write(lambda c: c.execute("DELETE FROM messages WHERE sid = ?", (gone,)))  # by REST
    assert len(jobs(store)) == 4  # one per inbound message, committed with it
    assert subs.process_inbound() == 2
    assert jobs(store) == [] and subs.process_inbound() == 0
    row = store.read_one("SELECT phone_number, town, status FROM subscribers")
    assert row is not None and tuple(row) == ("+447700900060", "Leeds", "left")
    assert [b for _to, b in replies(store)] == [
        JOINED,
        "You have left Weather. Text WEATHER to join again.",
    ]
    # The newest message deleted before its pass: SQLite gives its seq to the next message,
    # whose job is then the same row; the next is applied once, the deleted one not at all.
    gone = sms(inbox, "+447700900063", "Weather Hull")
    store.write(lambda c: c.execute("DELETE FROM messages WHERE sid = ?", (gone,)))
    sms(inbox, "+447700900064", "Weather Hull")
    assert subs.process_inbound() == 1 and jobs(store) == []
    assert [
        r[0] for r in store.read("SELECT phone_number FROM subscribers WHERE status = 'active'")
    ] == ["+447700900064"]
    assert subs.count(list_id) == 2  # the one who left, and the one who joined


def test_a_lower_seq_committing_after_a_pass_is_still_applied(
    pg_server: PgServer, tmp_path: Path
) -> None:
    """Two inbox transactions on PostgreSQL: the one with the lower ``seq`` commits after a
    keyword pass has applied the higher one.  The old ``seq > cursor`` pass moved its cursor
    past the lower one and never applied its JOIN; a job is taken whenever it commits."""
    engine = Engine("postgresql", pg_server)
    try:
        store = make_store(engine, tmp_path)
        add_number(store)
        subs = Subscribers(store, Outbox(store, lambda: "AC1"))
        list_id = subs.create_list("Weather", "modem1", "WEATHER", "WEATHER OFF")
        inbox = inbox_of(store)
        inside, release = threading.Event(), threading.Event()

        def hold(_conn: Any, _modem: str, _number: str, sender: str, *_: Any) -> bool:
            if sender == "+447700900060":  # the late one: its message row is written, not committed
                inside.set()
                release.wait(10)
            return False

        inbox.interceptors.append(hold)
        late = threading.Thread(target=sms, args=(inbox, "+447700900060", "Weather Leeds"))
        late.start()
        try:
            assert inside.wait(10)
            sms(inbox, "+447700900061", "Weather York")  # a higher seq, committed first
            assert subs.process_inbound() == 1  # the pass runs on the higher seq alone
        finally:
            release.set()
            late.join(10)
        seqs = store.read("SELECT from_number, seq FROM messages WHERE direction = 'inbound'")
        by_sender = {r[0]: r[1] for r in seqs}
        assert by_sender["+447700900060"] < by_sender["+447700900061"]  # commit order differed
        assert subs.process_inbound() == 1  # the lower one, once
        assert subs.process_inbound() == 0
        assert subs.count(list_id) == 2
        assert replies(store) == [("+447700900060", JOINED), ("+447700900061", JOINED)]
    finally:
        engine.close()


class HeldOutbox(Outbox):
    """An outbox whose first reply waits for ``release``: its pass holds the jobs it took."""

    def __init__(self, store: Store) -> None:
        super().__init__(store, lambda: "AC1")
        self.inside, self.release = threading.Event(), threading.Event()

    def insert(self, conn: Any, **kw: Any) -> str:
        if not self.inside.is_set():
            self.inside.set()
            self.release.wait(10)
        return super().insert(conn, **kw)


def test_two_nodes_racing_apply_each_keyword_once(engine: Engine, tmp_path: Path) -> None:
    """Node one's pass holds its batch of three jobs (its first reply waits) while node two
    passes: on PostgreSQL node two takes the other three at once, skipping the locked ones
    (without the lock clause it would wait on them); on SQLite it waits for the write lock.
    Either way every join is applied and answered once.  (The second node is a second store
    on the same database: the same file on SQLite.)"""
    one = make_store(engine, tmp_path)
    two = second_node(engine, tmp_path)
    add_number(one)
    held = HeldOutbox(one)
    nodes = [Subscribers(one, held), Subscribers(two, Outbox(two, lambda: "AC1"))]
    list_id = nodes[0].create_list("Weather", "modem1", "WEATHER", "WEATHER OFF")
    senders = [f"+44770090007{i}" for i in range(6)]
    inbox = inbox_of(one)
    for sender in senders:
        sms(inbox, sender, "Weather")
    for node in nodes:
        node.keywords.batch = 3
    got: list[list[int]] = [[], []]
    threads = [
        threading.Thread(target=lambda i=i: got[i].append(nodes[i].process_inbound()))
        for i in (0, 1)
    ]
    threads[0].start()
    try:
        assert held.inside.wait(10)
        threads[1].start()
        if engine.name == "postgresql":
            threads[1].join(5)
            assert got[1] == [3]  # the three node one had not taken, while it still held its own
        else:
            time.sleep(0.3)  # node two waits for the write lock meanwhile
    finally:
        held.release.set()
        for t in threads:
            t.join(15)
    assert sum(got[0] + got[1]) == 6
    assert [n.process_inbound() for n in nodes] == [0, 0]
    assert replies(one) == [(s, JOINED) for s in senders]
    assert nodes[1].count(list_id) == 6 and jobs(two) == []


def test_the_cursor_becomes_jobs_at_the_upgrade(engine: Engine, tmp_path: Path) -> None:
    """Migration 0025 on a database written at 0024: inbound messages after the old cursor get
    jobs (applied at the next pass), those before it and outbound ones none; the cursor is
    retired past every seq, so an old node's pass would apply nothing."""
    names = [name for name, _sql in migrations.MIGRATIONS]
    url = ""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(
            migrations, "MIGRATIONS", migrations.MIGRATIONS[: names.index("0024_node_tokens") + 1]
        )
        if engine.name == "sqlite":
            old: Store = SqliteStore(tmp_path / "s.sqlite3")
        else:
            from appliance.store.pg import PgStore

            assert engine.server is not None
            url = engine.server.url(f"old_{uuid.uuid4().hex[:12]}")
            with psycopg.connect(engine.server.admin, autocommit=True) as admin:
                name = sql.Identifier(url.rsplit("/", 1)[1])
                admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
            engine.urls.append(url)  # dropped after the test
            old = PgStore(url, check_fsync=False)
    try:
        assert old.read_one("SELECT 1 FROM migrations WHERE name = '0025_keyword_jobs'") is None
        add_number(old)
        old.write(
            lambda c: c.execute(
                "INSERT INTO subscriber_lists (name, modem, join_keyword, leave_keyword, created)"
                " VALUES ('Weather', 'modem1', 'WEATHER', 'WEATHER OFF', 0)"
            )
        )
        messages = [
            ("SM1", "inbound", "+447700900080", NUMBER, "Weather Leeds"),  # applied before
            ("SM2", "inbound", "+447700900081", NUMBER, "Weather York"),  # the cursor's last
            ("SM3", "outbound-reply", NUMBER, "+447700900084", "Weather"),
            ("SM4", "inbound", "+447700900082", NUMBER, "Weather Hull"),  # waiting at the upgrade
            ("SM5", "inbound", "+447700900083", NUMBER, "Hello"),
        ]
        old.write(
            lambda c: c.executemany(
                "INSERT INTO messages (sid, account_sid, direction, status, from_number,"
                " to_number, body, num_segments, modem, date_created, date_updated)"
                " VALUES (?, 'AC1', ?, 'received', ?, ?, ?, 1, 'modem1', 1, 1)",
                messages,
            )
        )
        seq = {r[0]: r[1] for r in old.read("SELECT sid, seq FROM messages")}
        old.write(
            lambda c: c.execute(
                "INSERT INTO settings (key, value) VALUES ('subscribers_inbound_seq', ?)",
                (str(seq["SM2"]),),
            )
        )
    finally:
        old.close()
    if engine.name == "sqlite":
        store = make_store(engine, tmp_path)  # the same file, now migrated to 0025
    else:
        from appliance.store.pg import PgStore

        store = PgStore(url, check_fsync=False)
        engine.stores.append(store)
    assert jobs(store) == [seq["SM4"], seq["SM5"]]
    assert store.setting("subscribers_inbound_seq") == "9223372036854775807"
    subs = Subscribers(store, Outbox(store, lambda: "AC1"))
    assert subs.process_inbound() == 1
    joined = store.read_one("SELECT phone_number, town FROM subscribers")
    assert joined is not None and tuple(joined) == ("+447700900082", "Hull")
    assert replies(store) == [("+447700900082", JOINED)]
