"""An outbox claim on one node against a REST cancel on another (issue 16, slice 4), on one
PostgreSQL database: the claim holds the message's row (``FOR UPDATE SKIP LOCKED``) and the
cancel waits for it (``FOR UPDATE``), so a message that is going out is never reported
canceled, and a canceled one is never sent.

Node A is a whole daemon in this process (its REST API answers the cancel); node C is its
store and outbox only, claiming for its modem ``c1`` as its modem thread would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException

from appliance.daemon import Daemon
from appliance.sms.outbox import Outbox
from appliance.store.pg import PgStore
from tests.conftest import PHONE, client_for
from tests.pg import PgServer

NUMBER_C = "+15005550013"


@pytest.mark.timeout(120)
def test_a_cancel_on_another_node_waits_for_the_claim(
    pg_durable: PgServer, make_daemon: Callable[..., Daemon]
) -> None:
    url = pg_durable.new_database()
    a: Daemon | None = None
    store_c = PgStore(url)
    try:
        a = make_daemon(database_url=url, node_name="shop-a")
        store_c.write(
            lambda c: c.execute(
                "INSERT INTO numbers (sid, modem, phone_number, friendly_name, date_created,"
                " date_updated) VALUES ('PNc1', 'c1', ?, 'c', 0, 0)",
                (NUMBER_C,),
            )
        )
        client = client_for(a)
        outbox_c = Outbox(store_c, lambda: a.account.sid if a else "")
        first = client.messages.create(to=PHONE, from_=NUMBER_C, body="claimed first")
        later = client.messages.create(to=PHONE, from_=NUMBER_C, body="canceled first")

        # C's claim takes `first` and holds its row while A is asked to cancel it.
        inside, go = threading.Event(), threading.Event()
        real = outbox_c._unsubscribed_since_queued

        def held(conn: Any, row: Any) -> bool:
            inside.set()
            assert go.wait(10)
            return real(conn, row)

        outbox_c._unsubscribed_since_queued = held  # type: ignore[method-assign]
        claimed: list[Any] = []
        claimer = threading.Thread(target=lambda: claimed.append(outbox_c.claim("c1", time.time())))
        claimer.start()
        assert inside.wait(10)
        refused: list[BaseException] = []

        def cancel() -> None:
            try:
                client.messages(first.sid).update(status="canceled")
            except TwilioRestException as e:
                refused.append(e)

        canceller = threading.Thread(target=cancel)
        canceller.start()
        canceller.join(0.7)
        assert canceller.is_alive(), "the cancel did not wait for the claim's commit"
        go.set()
        claimer.join(10)
        canceller.join(10)
        assert claimed and claimed[0] is not None and claimed[0].sid == first.sid
        assert refused and getattr(refused[0], "code", None) == 30409, refused
        assert client.messages(first.sid).fetch().status == "sending"

        # The other way round: A cancels `later`; C's next claim does not send it.
        outbox_c._unsubscribed_since_queued = real  # type: ignore[method-assign]
        assert client.messages(later.sid).update(status="canceled").status == "canceled"
        assert outbox_c.claim("c1", time.time()) is None
        assert client.messages(later.sid).fetch().status == "canceled"
    finally:
        store_c.close()
        if a is not None:
            a.stop()
        pg_durable.drop(url)
