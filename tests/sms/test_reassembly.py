"""Multipart reassembly's expiry under concurrent writers (both engines)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from appliance.sms import codec as sms
from appliance.sms import reassembly
from tests.pg import Engine, make_store


def test_overdue_parts_are_taken_once_by_two_concurrent_expiries(engine: Engine, tmp_path: Path):
    """Two modem threads (or two nodes) expire at once: the first holds its transaction open
    after taking the parts; the second, started meanwhile, must find nothing to deliver.
    (On PostgreSQL the second's DELETE waits for the first's commit; a read-then-delete would
    have read the parts before that and delivered the message twice.)"""
    store = make_store(engine, tmp_path)

    def parts(conn: Any) -> None:
        for seq in (1, 2):
            reassembly.add_part(conn, "modem1", "+14155550100", sms.Concat(7, 3, seq), f"p{seq}", 0)

    store.write(parts)
    took: list[list[reassembly.Overdue]] = []
    taken, release = threading.Event(), threading.Event()

    def first(conn: Any) -> None:
        took.append(reassembly.take_overdue(conn, 100.0))
        taken.set()
        release.wait(10)

    def second(conn: Any) -> None:
        took.append(reassembly.take_overdue(conn, 100.0))

    a = threading.Thread(target=store.write, args=(first,))
    a.start()
    assert taken.wait(10)
    b = threading.Thread(target=store.write, args=(second,))
    b.start()
    time.sleep(0.3)  # the second reaches its statements (and waits, on PostgreSQL)
    release.set()
    a.join(10)
    b.join(10)
    assert [len(t) for t in took] == [1, 0]
    assert took[0][0].text.startswith("p1p2") and took[0][0].segments == 2
    assert store.read("SELECT COUNT(*) FROM inbound_parts")[0][0] == 0


def test_the_last_part_arriving_while_an_expiry_takes_the_others_is_delivered_once(
    engine: Engine, tmp_path: Path
):
    """An expiry has taken parts 1 and 2 (its transaction still open) when part 3 comes.
    The part's transaction must not join parts the expiry delivers: each text goes out once
    (parts 1-2 with 30009 now, part 3 alone when it expires), never parts 1-2 twice."""
    store = make_store(engine, tmp_path)
    lock = store.dialect.lock

    def parts(conn: Any) -> None:
        for seq in (1, 2):
            reassembly.add_part(conn, "modem1", "+14155550100", sms.Concat(7, 3, seq), f"p{seq}", 0)

    store.write(parts)
    took: list[Any] = []
    taken, release = threading.Event(), threading.Event()

    def expiry(conn: Any) -> None:
        took.append(reassembly.take_overdue(conn, 100.0))
        taken.set()
        release.wait(10)

    def last_part(conn: Any) -> None:
        c = sms.Concat(7, 3, 3)
        took.append(reassembly.add_part(conn, "modem1", "+14155550100", c, "p3", 200, lock))

    a = threading.Thread(target=store.write, args=(expiry,))
    a.start()
    assert taken.wait(10)
    b = threading.Thread(target=store.write, args=(last_part,))
    b.start()
    time.sleep(0.3)  # the part reaches its statements (and waits, on PostgreSQL)
    release.set()
    a.join(10)
    b.join(10)
    assert len(took) == 2 and len(took[0]) == 1 and took[0][0].segments == 2
    assert took[1] is None  # not joined with the parts the expiry delivered
    left = store.read("SELECT part, text FROM inbound_parts")
    assert [tuple(r) for r in left] == [(3, "p3")]  # delivered on its own when it expires
