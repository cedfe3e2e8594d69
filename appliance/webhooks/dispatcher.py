"""Posting webhooks and status callbacks, and running the TwiML they return.

Jobs live in ``webhook_jobs`` (written in the same transaction as the message
they are about), so a crash never loses one.  Worker threads take due jobs,
make the HTTP requests (no lock held), then commit the outcome -- the attempt
log, the job's new state and any reply messages -- in one transaction.  A
crash after the request and before that commit repeats the request on restart
with the same ``I-Twilio-Idempotency-Token``, and the replies are created only
by the commit that marks the job done, so a reply is never queued twice.

For an inbound SMS: the SMS URL is requested; if it fails, the fallback URL
(with ``ErrorCode`` and ``ErrorUrl`` added, as Twilio does); if both fail with
a retrieval error, the job is retried with exponential backoff, ``attempts`` tries
in all.  A TwiML error (11750, 12100, 12102, 12300) is not retried: the same
document would come back.  At most :data:`MAX_REPLIES` ``<Message>`` replies are
queued per incoming message, across ``<Redirect>``s and the fallback (Twilio's
14109); the others are dropped with a 14109 warning in the log.

Scheduling: the workers are the global cap on requests in flight, and a worker takes
a job only with a slot of the job's origin (:mod:`appliance.webhooks.origins`), so a
hanging app holds at most ``per_origin`` workers.  Jobs about one SID (a message's or a
call's status callbacks, in order) never overtake each other: a job waits while an
earlier job of its SID is pending or running.

The database away (:class:`~appliance.errors.StoreUnavailable`, PostgreSQL only): idle
workers wait for it; a worker that made its request keeps the outcome and commits it once
the database answers (looking first whether a commit cut by the outage landed after all, so
replies are queued once); a job claimed but not yet requested goes back to ``pending``.
When the database is back, :meth:`Dispatcher.store_back` also frees jobs whose claim the
outage made uncertain (``running`` in the table, held by no worker here).

A fleet (nodes sharing PostgreSQL): any node takes any job, locking candidates with ``FOR
UPDATE SKIP LOCKED`` and leasing the job to itself (``lease_owner``, ``lease_until``).  A dead
node's job is taken over once its lease runs out (the request repeated with the same token);
the outcome commit is fenced on this node's lease and try count, so replies are queued once.
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from appliance import logs
from appliance.errors import StoreUnavailable
from appliance.sms.outbox import Outbox
from appliance.store.database import Row, Store
from appliance.webhooks.client import WebhookClient
from appliance.webhooks.cookies import COOKIE_IDLE_SECONDS
from appliance.webhooks.origins import OriginSlots, origin
from appliance.webhooks.settlement import log_outcome, settle
from appliance.webhooks.smsflow import MAX_REPLIES, Outcome, conversation, run_sms

__all__ = ["MAX_REPLIES", "STATUS_ATTEMPTS", "Dispatcher", "Outcome"]

LOGGER = logging.getLogger(__name__)
STATUS_ATTEMPTS = 3  # status callbacks, tries in all: Twilio does not retry them by default
WAIT_FOR_SLOT = 1.0  # seconds an idle worker sleeps when due jobs wait for a busy origin
CLAIM_BATCH = 64  # candidate jobs read at a time while looking for one whose origin is free
MAX_EXCLUDED_URLS = 500  # URLs of full origins left out in SQL (the rest are skipped row by row)
STORE_WAIT = 1.0  # seconds a worker waits for an unreachable database before looking again
MAX_REQUEST = 15.0  # seconds: the longest total time of one request (Twilio's tt, at most 15 s)
LEASE_MARGIN = 30.0  # seconds a job's lease outlasts the longest its requests can take


class Dispatcher:
    def __init__(
        self,
        store: Store,
        client: WebhookClient,
        outbox: Outbox,
        modem_for_number: Callable[[str], str | None],
        *,
        workers: int = 8,
        per_origin: int = 2,
        attempts: int = 5,
        backoff: float = 30.0,
        max_redirects: int = 10,
        node: str = "",
        lease: float | None = None,
    ) -> None:
        """``node``: this node's id, owner of its workers' jobs; ``lease``: how long they hold
        one (default: the SMS URL and its fallback through every redirect, plus a margin)."""
        self.store = store
        self.node = node
        total = max(MAX_REQUEST, client.timeouts.total)
        self.lease = lease if lease is not None else 2 * (max_redirects + 1) * total + LEASE_MARGIN
        self.client = client
        self.outbox = outbox
        self.modem_for_number = modem_for_number
        self.workers = max(1, workers)
        # At least one worker always stays free for the other origins.
        self.slots = OriginSlots(min(per_origin, self.workers - 1) if self.workers > 1 else 1)
        self.attempts = max(1, attempts)  # tries in all, the first included
        self.backoff = backoff
        self.max_redirects = max_redirects
        self._wake = threading.Condition()
        self._stopping = False
        self._changes = 0  # bumped (under _wake) when a job is queued or finishes
        self._threads: list[threading.Thread] = []
        self._held: set[int] = set()  # ids of the jobs this process's workers hold (claimed)
        self._held_lock = threading.Lock()

    def start(self) -> None:
        # The jobs a crash left running: on a fleet only this node's (another node's run out
        # into the claims); a SQLite database has no other node, so all of them, as before.
        fleet = bool(self.store.dialect.claim)
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE webhook_jobs SET state = 'pending' WHERE state = 'running'"
                + (" AND (lease_owner = ? OR lease_owner IS NULL)" if fleet else ""),
                (self.node,) if fleet else (),
            )
        )
        for i in range(self.workers):
            t = threading.Thread(target=self._run, name=f"webhooks-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for t in self._threads:
            t.join(20)

    def wake(self) -> None:
        """A job was queued: one idle worker looks (and passes the word on if it finds one)."""
        with self._wake:
            self._changes += 1
            self._wake.notify()

    def store_back(self) -> None:
        """The database answers again: free the jobs an uncertain claim left ``running``
        (none of this process's workers holds them), and let every worker look."""

        def fn(conn: sqlite3.Connection) -> None:
            with self._held_lock:
                held = sorted(self._held)
            marks = ",".join("?" * len(held))
            conn.execute(
                "UPDATE webhook_jobs SET state = 'pending', attempts = attempts - 1"
                " WHERE state = 'running' AND (lease_owner = ? OR lease_owner IS NULL)"
                + (f" AND id NOT IN ({marks})" if held else ""),
                (self.node, *held),
            )

        try:
            self.store.write(fn)
        except StoreUnavailable:
            pass  # away again: the next recovery does it
        with self._wake:
            self._changes += 1
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                seen = self._changes
            try:
                job, key, blocked = self._claim()
                if job is None:
                    self._idle(seen, blocked)
                    continue
            except StoreUnavailable:
                self.store.outage.wait(STORE_WAIT)
                continue
            with self._wake:
                self._wake.notify()  # there may be more due jobs: another idle worker looks
            try:
                self._process(job)
            except Exception:  # noqa: BLE001 - a bug must not kill the worker or lose the job
                logs.event(
                    LOGGER,
                    logging.ERROR,
                    "webhook job error",
                    job=job["id"],
                    sid=job["message_sid"],
                    exc_info=True,
                )
                self._until_stored(functools.partial(self._postpone_job, int(job["id"])))
            finally:
                with self._held_lock:
                    self._held.discard(int(job["id"]))
                self.slots.release(key)
                with self._wake:
                    # A slot is free and later jobs of this SID may run: one idle worker looks.
                    self._changes += 1
                    self._wake.notify()

    def _until_stored(self, write: Callable[[bool], None]) -> None:
        """Run ``write`` until the database takes it; ``write(True)`` on the tries after an
        outage cut one (which may have committed: the write looks first).  Given up only when
        the dispatcher stops: the job is then ``running``, and the next start repeats it."""
        again = False
        while True:
            try:
                write(again)
                return
            except StoreUnavailable:
                again = True
                if self._stopping:
                    return
                self.store.outage.wait(STORE_WAIT)

    def _idle(self, seen: int, blocked: bool) -> None:
        """Sleep until a job is queued or finishes, or the next retry is due."""
        row = self.store.read_one(
            "SELECT MIN(next_attempt_at) FROM webhook_jobs WHERE state = 'pending'"
        )
        delay = 30.0 if row is None or row[0] is None else float(row[0]) - time.time()
        with self._wake:
            if self._stopping or self._changes != seen:
                return  # something happened since the claim: look again now
            if blocked or delay <= 0:
                # Due jobs wait for a slot of their origin or for an earlier job of their SID.
                self._wake.wait(WAIT_FOR_SLOT)
            else:
                self._wake.wait(min(delay, 1.0))

    def _postpone_job(self, job_id: int, _again: bool) -> None:
        self._postpone(job_id)  # re-runnable: the same values again

    def _postpone(self, job_id: int) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE webhook_jobs SET state = 'pending', next_attempt_at = ? WHERE id = ?"
                " AND state = 'running' AND lease_owner = ?",
                (time.time() + self.backoff, job_id, self.node),
            )

        self.store.write(fn)

    def _claim(self) -> tuple[Row | None, str, bool]:
        """The oldest due job whose origin has a free slot (taken): (job, origin, blocked).

        ``blocked``: due jobs were passed over because their origin's slots were all taken.
        The URLs of full origins are left out in SQL (a flood of jobs for one hanging app
        costs the others nothing); the check per row is what decides.
        """
        now = time.time()
        taken: list[str] = []

        def fn(conn: sqlite3.Connection) -> tuple[Row | None, bool]:
            due = conn.execute(
                "SELECT DISTINCT url FROM webhook_jobs WHERE state = 'pending' AND next_attempt_at <= ?",
                (now,),
            ).fetchall()
            full = [r[0] for r in due if self.slots.full(origin(r[0]))][:MAX_EXCLUDED_URLS]
            blocked = bool(full)
            marks = ",".join("?" * len(full))
            lock = self.store.dialect.claim  # PostgreSQL: FOR UPDATE SKIP LOCKED (other nodes)
            cursor = conn.execute(
                # Due jobs, and running ones whose node's lease ran out (it died mid-request).
                "SELECT * FROM webhook_jobs j WHERE (state = 'pending' AND next_attempt_at <= ?"
                " OR state = 'running' AND lease_until < ?)"
                # Jobs about one SID run in order (status callbacks must not overtake each other).
                " AND NOT EXISTS (SELECT 1 FROM webhook_jobs e WHERE e.message_sid = j.message_sid"
                " AND e.id < j.id AND e.state IN ('pending', 'running'))"
                + (f" AND url NOT IN ({marks})" if full else "")
                + " ORDER BY id"
                + (f" LIMIT {CLAIM_BATCH}{lock}" if lock else ""),
                (now, now, *full),
            )
            chosen: Row | None = None
            try:
                while chosen is None and (rows := cursor.fetchmany(CLAIM_BATCH)):
                    for row in rows:
                        if row["state"] == "running":
                            with self._held_lock:
                                if int(row["id"]) in self._held:
                                    continue  # a worker here still runs it (a slow app)
                        key = origin(row["url"])
                        if self.slots.acquire(key):
                            taken.append(key)
                            chosen = row
                            break
                        blocked = True
            finally:
                cursor.close()
            if chosen is not None:
                conn.execute(
                    "UPDATE webhook_jobs SET state = 'running', attempts = attempts + 1,"
                    " lease_owner = ?, lease_until = ? WHERE id = ?",
                    (self.node, now + self.lease, chosen["id"]),
                )
                with self._held_lock:  # before the commit: store_back must not free it
                    self._held.add(int(chosen["id"]))
                    held.append(int(chosen["id"]))
            return chosen, blocked

        held: list[int] = []
        try:
            job, blocked = self.store.write(fn)
        except BaseException:
            for key in taken:
                self.slots.release(key)
            with self._held_lock:
                self._held.difference_update(held)
            raise
        return job, (taken[0] if taken else ""), blocked

    # -- one job -------------------------------------------------------------------------------

    def _process(self, job: Row) -> None:
        params: dict[str, str] = json.loads(job["params"])
        try:
            if job["kind"] == "sms":
                outcome = self._sms(job, params)
            else:
                outcome = self._status(job, params)
        except StoreUnavailable:  # before the request: give the job back, untried
            self._until_stored(lambda _again: self._give_back(int(job["id"])))
            return
        self._until_stored(lambda again: self._commit(job, params, outcome, again))

    def _give_back(self, job_id: int) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE webhook_jobs SET state = 'pending', attempts = attempts - 1"
                " WHERE id = ? AND state = 'running' AND lease_owner = ?",
                (job_id, self.node),
            )
        )

    def _sms(self, job: Row, params: dict[str, str]) -> Outcome:
        row = self.store.read_one(
            "SELECT jar, last_used FROM cookies WHERE conversation = ?", (conversation(params),)
        )
        cookies = None
        if row is not None and row["last_used"] > time.time() - COOKIE_IDLE_SECONDS:
            cookies = row["jar"]
        return run_sms(self.client, job, params, cookies, max_redirects=self.max_redirects)

    def _status(self, job: Row, params: dict[str, str]) -> Outcome:
        result, _ = self.client.request(
            job["url"], job["method"], params, idempotency_token=job["token"]
        )
        outcome = Outcome(success=result.ok, retry=not result.ok)
        outcome.log.append((result, result.error_code, result.error_message))
        return outcome

    def _commit(
        self, job: Row, params: dict[str, str], outcome: Outcome, again: bool = False
    ) -> None:
        """Record the outcome (:func:`~appliance.webhooks.settlement.settle`, fenced on this
        node's lease and this try's count): not if its lease ran out and another node took it,
        nor, ``again`` (an earlier try was cut by an outage), if that one landed after all."""
        now = time.time()
        limit = self.attempts if job["kind"] == "sms" else STATUS_ATTEMPTS
        tried = int(job["attempts"]) + 1  # the row was read before the claim counted this try

        def fn(conn: sqlite3.Connection) -> list[str] | None:
            return settle(
                conn,
                job,
                params,
                outcome,
                node=self.node,
                tried=tried,
                limit=limit,
                backoff=self.backoff,
                outbox=self.outbox,
                modem_for_number=self.modem_for_number,
                now=now,
            )

        created = self.store.write(fn)
        if created is None:
            if not again:
                logs.event(
                    LOGGER,
                    logging.WARNING,
                    "webhook outcome dropped: the job's lease ran out and another node took it",
                    job=job["id"],
                    sid=job["message_sid"],
                )
            return
        log_outcome(job, outcome, tried, limit, self.backoff)
        for sid in created:
            row = self.store.read_one("SELECT modem FROM messages WHERE sid = ?", (sid,))
            if row is not None:
                self.outbox.wake(row["modem"])
