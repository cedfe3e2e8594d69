"""Webhook jobs shared by several nodes on one PostgreSQL database (issue 16, slice 4): each
node's dispatcher has its own store (its own connection pool, as a separate process
would), and any node takes any job.

* Many jobs, three nodes: each request reaches the app exactly once (counted per
  ``I-Twilio-Idempotency-Token``), every job ``done`` once.
* Fencing: a node whose lease ran out while its app was slow commits nothing; the node that
  took the job over repeats the request (same token) and queues the ``<Message>`` reply, once.
* A node's start frees only its own jobs a crash left running, not a live node's.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.store.pg import PgStore
from appliance.webhooks.client import WebhookClient
from appliance.webhooks.dispatcher import Dispatcher
from tests.conftest import PHONE
from tests.pg import Engine
from tests.webapp import Request, WebApp, twiml
from tests.webhooks.test_dispatcher import FAST, TOKEN, Harness

IDEMPOTENCY = "I-Twilio-Idempotency-Token"


def node(url: str, name: str, **kwargs: object) -> Harness:
    """A node's dispatcher on a store of its own, on a database shared with other nodes."""
    return Harness(Path("/nonexistent"), store=PgStore(url, check_fsync=False), node=name, **kwargs)


@pytest.fixture
def database(pg_server) -> Iterator[str]:  # type: ignore[no-untyped-def]
    engine = Engine("postgresql", pg_server)
    yield engine.url()
    engine.close()


def test_three_nodes_deliver_each_job_once(database: str, webapp: WebApp) -> None:
    fleet = [node(database, f"node-{i}", workers=4) for i in range(3)]
    try:
        webapp.routes["/status"] = lambda req: (200, "text/plain", b"ok")
        jobs = [fleet[i % 3].job(webapp.url("/status"), kind="status") for i in range(90)]
        for n in fleet:
            n.dispatcher.wake()
        for job in jobs:
            assert fleet[0].finished(job, timeout=30) == "done"
        time.sleep(0.5)  # a double delivery would land by now
        tokens = collections.Counter(r.headers.get(IDEMPOTENCY) for r in webapp.to("/status"))
        assert len(tokens) == 90 and set(tokens.values()) == {1}, tokens.most_common(3)
        owners = fleet[0].store.read(
            "SELECT lease_owner, COUNT(*) FROM webhook_jobs GROUP BY lease_owner"
        )
        assert sum(r[1] for r in owners) == 90
        tries = fleet[0].store.read("SELECT DISTINCT attempts FROM webhook_jobs")
        assert [r[0] for r in tries] == [1]
    finally:
        for n in fleet:
            n.close()


def test_a_node_whose_lease_ran_out_commits_nothing(database: str, webapp: WebApp) -> None:
    slow = threading.Event()
    count = collections.Counter()

    def app(req: Request) -> tuple[int, str, bytes]:
        count[req.headers.get(IDEMPOTENCY)] += 1
        if not slow.is_set():  # the first node's request: slower than its lease
            slow.set()
            time.sleep(1.5)
        return twiml("<Response><Message>Got it</Message></Response>")(req)

    webapp.routes["/sms"] = app
    a = node(database, "node-a", lease=0.5, workers=1)
    b: Harness | None = None
    try:
        job = a.job(webapp.url("/sms"))
        assert slow.wait(5)
        a_took = a.store.read_one("SELECT lease_owner FROM webhook_jobs WHERE id = ?", (job,))
        assert a_took is not None and a_took[0] == "node-a"
        time.sleep(0.6)  # node-a's lease runs out while its app is still answering
        b = node(database, "node-b", lease=30, workers=1)
        assert b.finished(job, timeout=10) == "done"
        time.sleep(2.0)  # node-a's answer came and its commit was refused
        # The app saw the request twice, with one token (a repeat, as after a crash) ...
        assert list(count.values()) == [2]
        row = b.store.read_one("SELECT * FROM webhook_jobs WHERE id = ?", (job,))
        assert row is not None and row["lease_owner"] == "node-b" and row["attempts"] == 2
        # ... and the reply was queued once, by the node holding the lease.
        replies = b.store.read("SELECT * FROM messages WHERE body = 'Got it'")
        assert len(replies) == 1 and replies[0]["to_number"] == PHONE
        assert len(b.log(job)) == 1  # node-a's outcome (its log entry) was not committed
    finally:
        a.close()
        if b is not None:
            b.close()


def test_a_start_frees_only_its_own_nodes_jobs(
    engine: Engine, tmp_path: Path, webapp: WebApp
) -> None:
    """node-a restarts: its job and a job from before the fleet columns run again; node-b's,
    whose lease is live, is left to node-b (PostgreSQL; on SQLite, one box, all three run)."""
    webapp.routes["/status"] = lambda req: (200, "text/plain", b"ok")
    h = Harness(tmp_path, engine, node="node-a")
    try:
        h.dispatcher.stop()
        now = time.time()
        ids = []
        for owner in ("node-a", "node-b", None):
            job = h.job(webapp.url("/status"), kind="status")
            h.store.write(
                lambda c, job=job, owner=owner: c.execute(
                    "UPDATE webhook_jobs SET state = 'running', attempts = 1, lease_owner = ?,"
                    " lease_until = ? WHERE id = ?",
                    (owner, None if owner is None else now + 300, job),
                )
            )
            ids.append(job)
        h.dispatcher = Dispatcher(
            h.store, WebhookClient(TOKEN, timeouts=FAST), h.outbox, lambda n: None, node="node-a"
        )
        h.dispatcher.start()
        assert h.finished(ids[0]) == "done" and h.finished(ids[2]) == "done"
        if engine.name == "sqlite":  # one box, no other node: every job a crash left, as before
            assert h.finished(ids[1]) == "done" and len(webapp.to("/status")) == 3
            return
        time.sleep(0.3)
        assert h.state(ids[1]) == "running"
        assert len(webapp.to("/status")) == 2
    finally:
        h.close()
