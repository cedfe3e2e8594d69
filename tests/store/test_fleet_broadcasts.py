"""Once per fleet (issue 16, slice 5): broadcast firings, retries and runs, and the on-call
handover texts, on two nodes sharing one PostgreSQL database.

Each node is a store of its own (a connection pool, as a process has) with its own
broadcasts and scheduler; the tests drive :meth:`PanelScheduler.fire_due` with the same
moment on both, released together by a barrier (both nodes waking at once), and count the
messages queued.  The three-daemon test (``test_fleet_daemons.py``) fires one through the
real polls and counts it at the simulated modem.

* A scheduled broadcast fires once per firing, five firings in a row, both nodes racing.
* A retry is taken once; two "run now"s at once start one run; a run in progress on a live
  node holds the broadcast, one on a lost node does not.
* A paused or deleted broadcast stays so, whatever a node read before (no crash, no resurrected
  schedule); a schedule edited meanwhile is not fired with the old one.
* The handover texts (a rotation's, an override's start and end) go once.
* The pure cron arithmetic (both engines use it): coalescing and the misfire grace.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest

from appliance.campaigns.broadcasts import Broadcasts
from appliance.campaigns.lists import Subscribers
from appliance.campaigns.scheduler import PanelScheduler
from appliance.campaigns.spec import BroadcastError, Spec, cron_trigger, firing, first_run
from appliance.campaigns.subscribers import Subscriber
from appliance.campaigns.weather import WeatherClient
from appliance.oncall.service import OnCall
from appliance.sms.outbox import Outbox
from appliance.store.database import Store
from appliance.store.pg import PgStore
from tests.conftest import wait_for
from tests.pg import Engine, PgServer

NUMBER = "+15005550006"
PEOPLE = ("+447700900201", "+447700900202", "+447700900203", "+447700900204")


class Node:
    """What a node's panel runs for broadcasts, on a store of its own."""

    def __init__(self, url: str, name: str) -> None:
        self.id = name
        self.store = PgStore(url, check_fsync=False)
        outbox = Outbox(self.store, lambda: "AC")
        subscribers = Subscribers(self.store, outbox)
        self.broadcasts = Broadcasts(
            self.store,
            outbox,
            subscribers,
            WeatherClient("http://127.0.0.1:9", "http://127.0.0.1:9"),
            auth_token=lambda: "token",
            number_of=lambda _modem: {"phone_number": NUMBER},  # type: ignore[arg-type,return-value]
            rate=0.0,
            node=name,
        )
        self.scheduler = PanelScheduler(
            self.store,
            self.broadcasts,
            subscribers,
            grace=60.0,
            retry_delay=0.2,
            attempts=3,
            signal_interval=60.0,
            node=name,
        )
        self.scheduler.scheduler.start()  # its pool carries the runs on (no polls: driven here)
        self.store.write(
            lambda c: c.execute(
                "INSERT INTO nodes (id, name, url, version, started, heartbeat)"
                " VALUES (?, ?, '', '', ?, ?)",
                (name, name, time.time(), time.time()),
            )
        )

    def close(self) -> None:
        self.scheduler.stop()
        self.store.close()


@pytest.fixture
def fleet(pg_server: PgServer) -> Iterator[tuple[Node, Node]]:
    engine = Engine("postgresql", pg_server)
    url = engine.url()
    a, b = Node(url, "node-a"), Node(url, "node-b")
    try:
        yield a, b
    finally:
        a.close()
        b.close()
        engine.close()


def together(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls on threads released at the same moment; their results (or exceptions)."""
    gate = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def go(i: int, call: Callable[[], Any]) -> None:
        gate.wait(10)
        try:
            results[i] = call()
        except Exception as e:  # noqa: BLE001 - returned for the test to look at
            results[i] = e

    threads = [threading.Thread(target=go, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def broadcast(node: Node, schedule: str = "* * * * *") -> int:
    subs = node.broadcasts.subscribers
    lists = node.store.read_one("SELECT COUNT(*) FROM subscriber_lists")
    list_id = subs.create_list(f"Fleet {lists[0] if lists else 0}", "m1", "", "")
    for phone in PEOPLE:
        subs.add(list_id, Subscriber(phone, "Pat"))
    return node.broadcasts.create(
        Spec("Fleet", list_id, "m1", "text", "Hello {first_name}", schedule, "UTC")
    )


def queued(store: Store) -> list[str]:
    return [r[0] for r in store.read("SELECT to_number FROM messages ORDER BY to_number")]


def runs(store: Store) -> list[tuple[Any, ...]]:
    return [
        tuple(r)
        for r in store.read(
            "SELECT reason, attempt, state, node_id FROM broadcast_runs ORDER BY id"
        )
    ]


def settled(store: Store, n: int) -> bool:
    rows = runs(store)
    return len(rows) == n and all(r[2] in ("done", "failed") for r in rows)


def test_a_scheduled_broadcast_fires_once_per_firing_on_a_fleet(fleet: tuple[Node, Node]) -> None:
    a, b = fleet
    bid = broadcast(a)
    minute = 60 * (int(time.time()) // 60 - 10)  # ten minutes ago, on the cron's grid
    a.store.write(
        lambda c: c.execute("UPDATE broadcasts SET next_run = ? WHERE id = ?", (minute, bid))
    )
    for k in range(5):  # five firings, a minute apart; both nodes wake at the same moment
        now = minute + 60 * k + 0.5
        stale = b.store.read("SELECT * FROM broadcasts WHERE id = ?", (bid,))[0]
        got = together(*(lambda n=n, t=now: n.scheduler.fire_due(t) for n in (a, b)))
        assert sorted(got) == [0, 1], (k, got)
        assert a.scheduler.next_run(bid) == datetime.fromtimestamp(minute + 60 * (k + 1), UTC)
        wait_for(partial(settled, a.store, k + 1), timeout=10)
        # A node that read the due row before, and claims only now the run is over: no.
        assert b.scheduler.schedules.claim_firing(stale, now) is None
    assert queued(a.store) == sorted(PEOPLE * 5)  # each subscriber once per firing
    assert {r[:3] for r in runs(a.store)} == {("schedule", 1, "done")}
    # Nothing more is due at either node, however often they look.
    assert together(lambda: a.scheduler.fire_due(now), lambda: b.scheduler.fire_due(now)) == [0, 0]


def test_retries_and_run_now_start_one_run_per_fleet(fleet: tuple[Node, Node]) -> None:
    a, b = fleet
    bid = broadcast(a, schedule="")
    a.store.write(
        lambda c: c.execute(
            "UPDATE broadcasts SET retry_at = ?, retry_attempt = 2 WHERE id = ?",
            (time.time() - 1, bid),
        )
    )
    got = together(a.scheduler.fire_due, b.scheduler.fire_due)
    assert sorted(got) == [0, 1], got
    wait_for(lambda: settled(a.store, 1), timeout=10)
    assert [r[:3] for r in runs(a.store)] == [("retry", 2, "done")]
    assert queued(a.store) == sorted(PEOPLE)
    # A retry more than the grace period (60 s) late is dropped, not run.
    a.store.write(
        lambda c: c.execute(
            "UPDATE broadcasts SET retry_at = ?, retry_attempt = 3 WHERE id = ?",
            (time.time() - 61, bid),
        )
    )
    assert together(a.scheduler.fire_due, b.scheduler.fire_due) == [0, 0]
    assert a.store.read("SELECT retry_at FROM broadcasts WHERE id = ?", (bid,))[0][0] is None
    assert len(runs(a.store)) == 1

    # "Run now" clicked on both nodes' panels at once: one run starts, the other is refused
    # while it is in progress (as a second click on one box is).
    def begin(node: Node) -> Callable[[], int]:
        return lambda: node.store.write(lambda c: node.broadcasts.begin(c, bid, "manual", 1))

    got = together(begin(a), begin(b))
    started = [g for g in got if isinstance(g, int)]
    refused = [g for g in got if isinstance(g, BroadcastError)]
    assert len(started) == 1 and len(refused) == 1, got
    assert "already running" in refused[0].message
    # Held while its node is alive, wherever it is asked; free once that node is lost.
    with pytest.raises(BroadcastError, match="already running"):
        b.scheduler.store.write(lambda c: b.broadcasts.begin(c, bid, "manual", 1))
    owner = a if runs(a.store)[-1][3] == a.id else b
    other = b if owner is a else a
    owner.store.write(
        lambda c: c.execute("UPDATE nodes SET heartbeat = 0 WHERE id = ?", (owner.id,))
    )
    late = other.store.write(lambda c: other.broadcasts.begin(c, bid, "manual", 1))
    other.broadcasts.carry_on(late)
    assert runs(a.store)[-1][2:] == ("done", other.id)
    # The run_now path (the panel's button) queues it once more, on the node clicked.
    b.store.write(
        lambda c: c.execute("UPDATE nodes SET heartbeat = ? WHERE id = ?", (time.time(), owner.id))
    )
    owner.store.write(
        lambda c: c.execute("UPDATE broadcast_runs SET state = 'done' WHERE state = 'rendering'")
    )
    b.scheduler.run_now(bid)
    wait_for(lambda: settled(a.store, 4), timeout=10)
    assert runs(a.store)[-1] == ("manual", 1, "done", b.id)
    assert queued(a.store) == sorted(PEOPLE * 3)


def test_a_paused_or_deleted_broadcast_stays_so(fleet: tuple[Node, Node]) -> None:
    a, b = fleet
    paused, deleted, edited = broadcast(a), broadcast(a), broadcast(a)
    minute = 60 * (int(time.time()) // 60 - 1)
    a.store.write(lambda c: c.execute("UPDATE broadcasts SET next_run = ?", (minute,)))
    seen = b.store.read("SELECT * FROM broadcasts ORDER BY id")  # node B's look, before A's edits
    spec = Spec("Fleet", seen[0]["list_id"], "m1", "text", "Hi", "", "UTC", enabled=False)
    a.broadcasts.update(paused, spec)  # A's panel: paused, as web/broadcasts.py saves it
    a.scheduler.schedule(paused, "", "UTC")
    a.store.write(  # with a retry due: not run while paused either
        lambda c: c.execute(
            "UPDATE broadcasts SET retry_at = ?, retry_attempt = 2 WHERE id = ?", (minute, paused)
        )
    )
    a.broadcasts.delete(deleted)
    a.store.write(
        lambda c: c.execute("UPDATE broadcasts SET schedule = '0 7 * * *' WHERE id = ?", (edited,))
    )
    now = minute + 0.5
    seen = [{**r, "retry_at": minute, "retry_attempt": 2} if r["id"] == paused else r for r in seen]
    for row in seen:  # B goes on with what it read: nothing fires, nothing is written back
        assert b.scheduler.schedules.claim_firing(row, now) is None
        assert b.scheduler.schedules.claim_retry(row, now) is None
    assert runs(a.store) == [] and queued(a.store) == []
    assert a.scheduler.next_run(paused) is None
    assert a.store.read_one("SELECT 1 FROM broadcasts WHERE id = ?", (deleted,)) is None
    assert a.scheduler.next_run(edited) == datetime.fromtimestamp(minute, UTC)  # not moved on
    assert together(lambda: a.scheduler.fire_due(now), lambda: b.scheduler.fire_due(now)) in (
        [0, 1],
        [1, 0],
    )  # the edited one, once, with its own schedule
    wait_for(lambda: settled(a.store, 1), timeout=10)
    after = a.scheduler.next_run(edited)
    assert after is not None and (after.hour, after.minute) == (7, 0)
    b.scheduler.sync()  # a node starting: the paused one is not brought back
    assert a.scheduler.next_run(paused) is None


def test_the_handover_texts_go_once_on_a_fleet(pg_server: PgServer) -> None:
    engine = Engine("postgresql", pg_server)
    url = engine.url()
    a, b = PgStore(url, check_fsync=False), PgStore(url, check_fsync=False)
    try:
        a.write(
            lambda c: c.execute(
                "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created,"
                " date_updated) VALUES ('PN1', 'm1', ?, 'm', 0, 0)",
                (NUMBER,),
            )
        )
        nodes = [OnCall(s, Outbox(s, lambda: "AC"), lambda _modem: None) for s in (a, b)]
        directory = nodes[0].directory
        alice = directory.add_person("Alice", PEOPLE[0])["id"]
        bob = directory.add_person("Bob", PEOPLE[1])["id"]
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        directory.add_schedule(
            {"name": "daily", "timezone": "UTC", "rotation": "daily",
             "start": (soon.date() - timedelta(days=1)).isoformat(),
             "handover_time": soon.strftime("%H:%M:%S")},
            [str(alice), str(bob)],
        )  # fmt: skip
        starts, ends = soon + timedelta(seconds=2), soon + timedelta(seconds=4)
        directory.add_override(
            str(alice), starts.strftime("%Y-%m-%dT%H:%M:%S"), ends.strftime("%Y-%m-%dT%H:%M:%S")
        )
        for at in (soon, starts, ends):  # each instant, both nodes' threads looking at once
            moment = at.timestamp() + 0.5
            got = together(*(lambda n=n, t=moment: n.handovers.send_due(t) for n in nodes))
            assert sorted(got) == [0, 1], (at, got)
        got = together(*(lambda n=n: n.handovers.send_due(ends.timestamp() + 1) for n in nodes))
        assert got == [0, 0]
        rows = a.read("SELECT to_number, body FROM messages ORDER BY date_created, sid")
        assert [r[0] for r in rows] == [PEOPLE[1], PEOPLE[0], PEOPLE[1]]  # Bob, Alice, Bob
        assert all(r[1].startswith("You are on call now") for r in rows)
    finally:
        a.close()
        b.close()
        engine.close()


def test_firing_coalesces_missed_runs_within_the_grace_period() -> None:
    hourly = cron_trigger("30 * * * *", "Europe/London")
    base = datetime(2026, 12, 7, 9, 30, tzinfo=UTC).timestamp()
    assert first_run(hourly, base - 1) == base
    # Three runs missed (09:30, 10:30, 11:30): one, at 11:30, as it is 10 min old.
    assert firing(hourly, base, base + 2 * 3600 + 600, 3600.0) == (
        base + 2 * 3600,
        base + 3 * 3600,
    )
    # The latest is older than the grace: none, and the schedule goes on.
    assert firing(hourly, base, base + 2 * 3600 + 600, 300.0) == (None, base + 3 * 3600)
    # On time: that run, then the next.
    assert firing(hourly, base, base + 0.2, 1.0) == (base, base + 3600)
    yearly = cron_trigger("0 0 29 2 *", "UTC")  # 29 February: years apart
    due = datetime(2028, 2, 29, tzinfo=UTC).timestamp()
    assert firing(yearly, due, due + 5, 60.0) == (
        due,
        datetime(2032, 2, 29, tzinfo=UTC).timestamp(),
    )


def test_a_run_cut_short_by_a_lost_node_is_carried_on_once_by_another(
    fleet: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance.campaigns import broadcasts as module

    a, b = fleet
    bid = broadcast(a, schedule="")
    monkeypatch.setattr(module, "BATCH", 1)  # one recipient a transaction

    class Died(Exception):
        pass

    def die(modem: str) -> None:
        raise Died("node A died after its first batch")

    monkeypatch.setattr(a.broadcasts.outbox, "wake", die)
    with pytest.raises(Died):
        a.broadcasts.run(bid)
    assert queued(a.store) == [PEOPLE[0]]
    # While A beats, its run is its own: B takes nothing.
    assert b.scheduler.fire_due() == 0
    a.store.write(lambda c: c.execute("UPDATE nodes SET heartbeat = 0 WHERE id = ?", (a.id,)))
    b.scheduler._cut_look = 0.0  # look now, not at its next 10 s turn
    assert sum(together(b.scheduler.fire_due, b.scheduler.fire_due)) == 1  # taken once
    wait_for(lambda: settled(a.store, 1), timeout=10)
    assert runs(a.store) == [("manual", 1, "done", b.id)]
    assert queued(a.store) == sorted(PEOPLE)  # each once: the first not again
    # A, back, cannot write another batch of the run B took.
    with pytest.raises(BroadcastError, match="taken over"):
        a.store.write(
            lambda c: a.broadcasts._owned(c, a.store.read("SELECT id FROM broadcast_runs")[0][0])
        )
