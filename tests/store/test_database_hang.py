"""A network path to PostgreSQL that hangs rather than refuses (issue 16): packets dropped, no
RST, no FIN.  The store must notice within its deadline (appliance.store.timeouts), answer 503
and keep inbound SMS on the SIM, and recover on its own when the path forwards again.

The path is a TCP relay on 127.0.0.1 in front of the test server's TCP port; switched to a
black hole it keeps accepting and reading but forwards nothing, on any connection (those open
then stay dead afterwards, as behind a router that lost its state).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from appliance.store.timeouts import CONNECT_TIMEOUT, DEADLINE, connection_settings, deadline_for
from tests.conftest import NUMBER, PHONE, wait_for
from tests.pg import PgServer


class Relay:
    """127.0.0.1:``port`` forwarding to 127.0.0.1:``upstream``, or swallowing everything."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.black_hole = False
        self._closed = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._sockets.append(client)
            if self.black_hole:  # accepted, never answered
                self._start(self._swallow, client)
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self._sockets.append(server)
            dead = threading.Event()  # once black-holed, this link forwards nothing again
            self._start(self._pump, client, server, dead)
            self._start(self._pump, server, client, dead)

    def _start(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _pump(self, src: socket.socket, dst: socket.socket, dead: threading.Event) -> None:
        src.settimeout(0.2)
        while not self._closed:
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if self.black_hole:
                dead.set()
            if dead.is_set():
                if not data:
                    return  # the far side gave up: say nothing to this one
                continue  # dropped
            if not data:
                break
            try:
                dst.sendall(data)
            except OSError:
                break
        if not dead.is_set():
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _swallow(self, s: socket.socket) -> None:
        s.settimeout(0.2)
        while not self._closed:
            try:
                if not s.recv(65536):
                    return
            except TimeoutError:
                continue
            except OSError:
                return

    def url(self, url: str) -> str:
        """``url`` (the server's TCP URL) through this relay."""
        return url.replace(":{}/".format(url.rsplit(":", 1)[1].split("/")[0]), f":{self.port}/")

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for t in self._threads:
            t.join(2)
        for s in self._sockets:
            s.close()


@pytest.fixture
def relay(pg_durable: PgServer) -> Iterator[Relay]:
    r = Relay(pg_durable.port)
    try:
        yield r
    finally:
        r.close()


def test_the_settings_leave_the_urls_own_options_alone():
    mine = {"connect_timeout": "2", "keepalives_idle": "60", "options": "-c statement_timeout=30s"}
    added = connection_settings(mine)
    assert "connect_timeout" not in added and "keepalives_idle" not in added
    assert added["tcp_user_timeout"] == 8000 and added["keepalives_count"] == 3
    assert added["options"] == (
        "-c statement_timeout=30s -c idle_in_transaction_session_timeout=10000"
    )
    assert deadline_for(mine) == 33.0  # longer than the statement time-out the user allowed
    assert deadline_for({}) == DEADLINE
    assert deadline_for({"options": "-c statement_timeout=0"}) == DEADLINE
    assert "options" not in connection_settings({}, session=False)


def test_a_node_behind_a_black_hole_answers_503_and_recovers_with_nothing_lost(
    sim, make_daemon, pg_durable, relay
):
    url = pg_durable.new_database()
    d = make_daemon(database_url=relay.url(url))
    try:
        assert d.server is not None
        create = (
            f"http://127.0.0.1:{d.server.port}/2010-04-01/Accounts/{d.account.sid}/Messages.json"
        )
        auth = (d.account.sid, d.account.auth_token)

        def post(body: str) -> requests.Response:
            data = {"To": PHONE, "From": NUMBER, "Body": body}
            return requests.post(create, data=data, auth=auth, timeout=30)

        assert post("before").status_code == 201
        relay.black_hole = True
        started = time.monotonic()
        rv = post("in the hole")  # its transaction hangs until the deadline cuts it
        took = time.monotonic() - started
        assert rv.status_code == 503 and took <= DEADLINE + 1.5, (rv.status_code, took)
        assert set(rv.json()) == {"code", "message", "more_info", "status"}
        assert rv.json()["code"] == 20503 and rv.headers["Retry-After"] == "5"
        assert not d.store.available
        # Whichever call met the hole first: a transaction cut by its deadline, or a wait for
        # a new connection (set up through the hole) past the pool's time-out.
        reason = d.store.outage.reason
        assert "no answer within 8 s" in reason or "couldn't get a connection" in reason, reason
        quick = time.monotonic()
        assert post("refused").status_code == 503  # at once now
        assert time.monotonic() - quick < 1.0
        sim.network.deliver_sms(sim.modems["modem1"], PHONE, "held")
        wait_for(lambda: sim.modems["modem1"].receive_memory().used >= 1, timeout=5)
        relay.black_hole = False
        wait_for(lambda: d.store.available, timeout=CONNECT_TIMEOUT + 3)
        assert post("after").status_code == 201

        # Nothing lost, nothing twice: the accepted creates sent once, the refused ones never,
        # the SMS that waited on the SIM stored once.
        wait_for(lambda: sim.modems["modem1"].receive_memory().used == 0, timeout=10)
        assert sim.network.wait_outbox(2, timeout=15)
        time.sleep(0.5)
        assert sorted(m.text for m in sim.network.outbox("modem1")) == ["after", "before"]
        inbound = d.store.read("SELECT body FROM messages WHERE direction = 'inbound'")
        assert [r["body"] for r in inbound] == ["held"]
        bodies = {r["body"] for r in d.store.read("SELECT body FROM messages")}
        assert bodies == {"before", "after", "held"}
    finally:
        relay.black_hole = False
        d.stop()
        pg_durable.drop(url)
