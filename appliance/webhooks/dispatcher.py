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
a retrieval error, the job is retried with exponential backoff.  A TwiML error
(12100, 12102, 12300) is not retried: the same document would come back.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.errors import InvalidNumber
from appliance.sids import idempotency_token
from appliance.sms.outbox import Outbox, OutboxError
from appliance.sms.statuscallback import dumps, status_callback_params
from appliance.store.database import Row, Store
from appliance.twiml import messaging
from appliance.webhooks.client import WebhookClient
from appliance.webhooks.cookies import COOKIE_IDLE_SECONDS
from appliance.webhooks.result import WebhookResult

LOGGER = logging.getLogger(__name__)
STATUS_ATTEMPTS = 3  # status callbacks: Twilio does not retry them by default; we try a few times
MAX_LOGGED_BODY = 4096


@dataclass
class Outcome:
    """What one job attempt produced, committed at once."""

    log: list[tuple[WebhookResult, int | None, str | None]] = field(default_factory=list)
    replies: list[messaging.Message] = field(default_factory=list)
    success: bool = False
    retry: bool = False
    cookies: str | None = None


class Dispatcher:
    def __init__(
        self,
        store: Store,
        client: WebhookClient,
        outbox: Outbox,
        modem_for_number: Callable[[str], str | None],
        *,
        workers: int = 4,
        attempts: int = 5,
        backoff: float = 30.0,
        max_redirects: int = 10,
    ) -> None:
        self.store = store
        self.client = client
        self.outbox = outbox
        self.modem_for_number = modem_for_number
        self.workers = workers
        self.attempts = attempts
        self.backoff = backoff
        self.max_redirects = max_redirects
        self._wake = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE webhook_jobs SET state = 'pending' WHERE state = 'running'"
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
        with self._wake:
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
            job = self._claim()
            if job is None:
                row = self.store.read_one(
                    "SELECT MIN(next_attempt_at) FROM webhook_jobs WHERE state = 'pending'"
                )
                delay = (
                    30.0 if row is None or row[0] is None else max(0.0, float(row[0]) - time.time())
                )
                with self._wake:
                    if not self._stopping:
                        self._wake.wait(min(delay, 1.0) if delay > 0 else 0.05)
                continue
            try:
                self._process(job)
            except Exception:  # noqa: BLE001 - a bug must not kill the worker or lose the job
                LOGGER.exception("webhook job %s failed unexpectedly", job["id"])
                self._postpone(int(job["id"]))

    def _postpone(self, job_id: int) -> None:
        def fn(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE webhook_jobs SET state = 'pending', next_attempt_at = ? WHERE id = ?",
                (time.time() + self.backoff, job_id),
            )

        self.store.write(fn)

    def _claim(self) -> Row | None:
        now = time.time()

        def fn(conn: sqlite3.Connection) -> Row | None:
            row = conn.execute(
                # Jobs about one message run in order (status callbacks must not overtake each other).
                "SELECT * FROM webhook_jobs j WHERE state = 'pending' AND next_attempt_at <= ?"
                " AND NOT EXISTS (SELECT 1 FROM webhook_jobs e WHERE e.message_sid = j.message_sid"
                " AND e.id < j.id AND e.state IN ('pending', 'running')) ORDER BY id LIMIT 1",
                (now,),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE webhook_jobs SET state = 'running', attempts = attempts + 1 WHERE id = ?",
                    (row["id"],),
                )
            return row  # type: ignore[no-any-return]

        return self.store.write(fn)

    # -- one job -------------------------------------------------------------------------------

    def _process(self, job: Row) -> None:
        params: dict[str, str] = json.loads(job["params"])
        if job["kind"] == "sms":
            outcome = self._sms(job, params)
        else:
            outcome = self._status(job, params)
        self._commit(job, params, outcome)

    def _conversation(self, params: dict[str, str]) -> str:
        return f"{params.get('From', '')}|{params.get('To', '')}"

    def _sms(self, job: Row, params: dict[str, str]) -> Outcome:
        outcome = Outcome()
        conversation = self._conversation(params)
        cookie_row = self.store.read_one(
            "SELECT jar, last_used FROM cookies WHERE conversation = ?", (conversation,)
        )
        cookies = None
        if cookie_row is not None and cookie_row["last_used"] > time.time() - COOKIE_IDLE_SECONDS:
            cookies = cookie_row["jar"]
        targets = [(job["url"], job["method"], params)]
        if job["fallback_url"]:
            targets.append(
                (
                    job["fallback_url"],
                    job["fallback_method"],
                    params,
                )  # ErrorCode/ErrorUrl added below
            )
        for n, (url, method, p) in enumerate(targets):
            if n == 1:
                first = outcome.log[-1]
                p = dict(params, ErrorCode=str(first[1] or 11200), ErrorUrl=job["url"])
            result, cookies = self.client.request(
                url, method, p, cookies=cookies, idempotency_token=job["token"]
            )
            outcome.cookies = cookies
            if not result.ok:
                outcome.log.append((result, result.error_code, result.error_message))
                outcome.retry = True
                continue
            ok = self._run_twiml(result, p, outcome, cookies)
            if ok:
                outcome.success = True
                outcome.retry = False
                return outcome
            outcome.retry = False  # a TwiML error: the same document would come back
        return outcome

    def _run_twiml(
        self, result: WebhookResult, params: dict[str, str], outcome: Outcome, cookies: str | None
    ) -> bool:
        """Parse the document, follow <Redirect>s; collect <Message>s.  False on a TwiML error."""
        redirects = 0
        while True:
            try:
                doc = messaging.parse(result.body, result.content_type, base_url=result.url)
            except messaging.TwimlError as e:
                outcome.log.append((result, e.code, e.message))
                return False
            outcome.log.append((result, None, None))
            for warning in doc.warnings:
                outcome.log.append((result, warning.code, warning.message))
            follow: messaging.Redirect | None = None
            for verb in doc.verbs:
                if isinstance(verb, messaging.Message):
                    outcome.replies.append(verb)
                elif isinstance(verb, messaging.Redirect):
                    follow = verb
                    break
            if follow is None:
                return True
            redirects += 1
            if redirects > self.max_redirects:
                outcome.log.append(
                    (result, 12200, f"More than {self.max_redirects} redirects; stopped")
                )
                return True
            result, cookies = self.client.request(
                follow.url, follow.method, params, cookies=cookies
            )
            outcome.cookies = cookies
            if not result.ok:
                outcome.log.append((result, result.error_code, result.error_message))
                return True  # Twilio: a failed redirect ends the document; earlier messages stand

    def _status(self, job: Row, params: dict[str, str]) -> Outcome:
        outcome = Outcome()
        result, _ = self.client.request(
            job["url"], job["method"], params, idempotency_token=job["token"]
        )
        outcome.log.append((result, result.error_code, result.error_message))
        outcome.success = result.ok
        outcome.retry = not result.ok
        return outcome

    def _commit(self, job: Row, params: dict[str, str], outcome: Outcome) -> None:
        now = time.time()
        limit = self.attempts if job["kind"] == "sms" else STATUS_ATTEMPTS
        created: list[str] = []

        def fn(conn: sqlite3.Connection) -> None:
            for result, code, message in outcome.log:
                conn.execute(
                    "INSERT INTO webhook_log (job_id, message_sid, url, method, request, status, response,"
                    " error_code, error_message, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        job["id"],
                        job["message_sid"],
                        result.url,
                        result.method,
                        json.dumps(params, sort_keys=True),
                        result.status,
                        result.body[:MAX_LOGGED_BODY].decode("utf-8", "replace"),
                        code,
                        message,
                        now,
                    ),
                )
            if outcome.cookies is not None:
                conn.execute(
                    "INSERT INTO cookies (conversation, jar, last_used) VALUES (?,?,?) ON CONFLICT (conversation)"
                    " DO UPDATE SET jar = excluded.jar, last_used = excluded.last_used",
                    (self._conversation(params), outcome.cookies, now),
                )
            if outcome.success:
                conn.execute("UPDATE webhook_jobs SET state = 'done' WHERE id = ?", (job["id"],))
                for verb in outcome.replies:
                    sid = self._reply(conn, job, params, verb, now)
                    if sid:
                        created.append(sid)
            elif outcome.retry and job["attempts"] < limit:
                delay = self.backoff * 2 ** (job["attempts"] - 1)
                conn.execute(
                    "UPDATE webhook_jobs SET state = 'pending', next_attempt_at = ? WHERE id = ?",
                    (now + delay, job["id"]),
                )
            else:
                conn.execute("UPDATE webhook_jobs SET state = 'failed' WHERE id = ?", (job["id"],))

        self.store.write(fn)
        for sid in created:
            row = self.store.read_one("SELECT modem FROM messages WHERE sid = ?", (sid,))
            if row is not None:
                self.outbox.wake(row["modem"])

    def _reply(
        self,
        conn: sqlite3.Connection,
        job: Row,
        params: dict[str, str],
        verb: messaging.Message,
        now: float,
    ) -> str | None:
        """Queue one <Message> reply; record a Twilio error instead when it cannot be sent."""
        from_number = verb.from_ or params["To"]
        to = verb.to or params["From"]
        error: tuple[int, str] | None = None
        modem = self.modem_for_number(from_number)
        if modem is None:
            error = (
                21606,
                f"The From phone number {from_number} is not a number of this appliance",
            )
        else:
            try:
                return self.outbox.insert(
                    conn,
                    modem=modem,
                    from_number=from_number,
                    to=to,
                    body=verb.body,
                    direction="outbound-reply",
                    status_callback=verb.action,
                    status_callback_method=verb.method,
                )
            except (OutboxError, InvalidNumber) as e:
                error = (e.code or 30008, e.message)
        conn.execute(
            "INSERT INTO webhook_log (job_id, message_sid, url, method, request, status, response,"
            " error_code, error_message, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                job["id"],
                job["message_sid"],
                job["url"],
                job["method"],
                "<Message>",
                None,
                None,
                error[0],
                error[1],
                now,
            ),
        )
        return None


def queue_status_callback(conn: sqlite3.Connection, row: Row) -> None:
    """Outbox hook: a message changed status; queue its StatusCallback, if it has one."""
    if not row["status_callback"]:
        return
    now = time.time()
    conn.execute(
        "INSERT INTO webhook_jobs (kind, message_sid, url, method, params, token, state, next_attempt_at,"
        " created) VALUES ('status',?,?,?,?,?,'pending',?,?)",
        (
            row["sid"],
            row["status_callback"],
            row["status_callback_method"] or "POST",
            dumps(status_callback_params(row)),
            idempotency_token(),
            now,
            now,
        ),
    )
