"""What a finished webhook job leaves: the commit that closes it (:func:`settle`, fenced on
the node's lease: its attempt log, cookies, new state and the ``<Message>`` replies it queues)
and the log lines of its outcome.  Split from :mod:`appliance.webhooks.dispatcher`, which runs
the jobs."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable

from appliance import logs
from appliance.errors import InvalidNumber
from appliance.sms.outbox import Outbox, OutboxError
from appliance.store.database import Row
from appliance.twiml import messaging
from appliance.webhooks.joblog import log_entry, sent_params
from appliance.webhooks.smsflow import Outcome, conversation

LOGGER = logging.getLogger("appliance.webhooks.dispatcher")  # the lines' home before the split


def settle(
    conn: sqlite3.Connection,
    job: Row,
    params: dict[str, str],
    outcome: Outcome,
    *,
    node: str,
    tried: int,
    limit: int,
    backoff: float,
    outbox: Outbox,
    modem_for_number: Callable[[str], str | None],
    now: float,
) -> list[str] | None:
    """Record ``outcome`` in the caller's transaction, only while the job is still ``running``
    under ``node``'s lease with this try's count (``tried``; fencing): the SIDs of the replies
    it queued, or None (nothing written) when the fence refuses: the lease ran out and another
    node took the job, or an earlier commit of this outcome, cut by an outage, landed."""
    # The fence, which also locks the row until the commit (no claim can take it now).
    if not conn.execute(
        "UPDATE webhook_jobs SET lease_until = lease_until WHERE id = ?"
        " AND state = 'running' AND attempts = ? AND lease_owner = ?",
        (job["id"], tried, node),
    ).rowcount:
        return None  # the cut commit landed, or another node took the job
    for result, code, message in outcome.log:
        log_entry(
            conn,
            job,
            url=result.url,
            method=result.method,
            request=json.dumps(sent_params(result, params), sort_keys=True),
            status=result.status,
            response=result.body,
            code=code,
            message=message,
            now=now,
            result=result,
        )
    if outcome.jar_used and outcome.cookies is None:
        # Every cookie expired or was deleted (Max-Age=0, Expires in the past): forget
        # the jar, as a browser does, or the next request would send the old ones.
        conn.execute("DELETE FROM cookies WHERE conversation = ?", (conversation(params),))
    elif outcome.jar_used:
        conn.execute(
            "INSERT INTO cookies (conversation, jar, last_used) VALUES (?,?,?) ON CONFLICT (conversation)"
            " DO UPDATE SET jar = excluded.jar, last_used = excluded.last_used",
            (conversation(params), outcome.cookies, now),
        )
    created: list[str] = []
    if outcome.success:
        conn.execute("UPDATE webhook_jobs SET state = 'done' WHERE id = ?", (job["id"],))
        for verb in outcome.replies:
            sid = queue_reply(conn, outbox, modem_for_number, job, params, verb, now)
            if sid:
                created.append(sid)
    elif outcome.retry and tried < limit:
        delay = backoff * 2 ** (tried - 1)
        conn.execute(
            "UPDATE webhook_jobs SET state = 'pending', next_attempt_at = ? WHERE id = ?",
            (now + delay, job["id"]),
        )
    else:
        conn.execute("UPDATE webhook_jobs SET state = 'failed' WHERE id = ?", (job["id"],))
    return created


def log_outcome(job: Row, outcome: Outcome, tried: int, limit: int, backoff: float) -> None:
    """TwiML errors and warnings (the client logged the requests), then what became of the job."""
    sid = job["message_sid"]
    for result, code, message in outcome.log:
        if code is not None and code != result.error_code:
            logs.event(
                LOGGER,
                logging.WARNING,
                "webhook TwiML problem",
                sid=sid,
                url=result.url,
                error_code=code,
                error=message,
            )
    if outcome.success:
        return
    kind = "status callback" if job["kind"] == "status" else "webhook"
    if outcome.retry and tried < limit:
        logs.event(
            LOGGER,
            logging.INFO,
            f"{kind} retry scheduled",
            sid=sid,
            attempt=tried,
            of=limit,
            in_s=round(backoff * 2 ** (tried - 1), 1),
        )
    else:
        last = outcome.log[-1] if outcome.log else None
        logs.event(
            LOGGER,
            logging.ERROR,
            f"{kind} given up",
            sid=sid,
            url=job["url"],
            attempts=tried,
            error_code=last[1] if last else None,
            error=last[2] if last else None,
        )


def queue_reply(
    conn: sqlite3.Connection,
    outbox: Outbox,
    modem_for_number: Callable[[str], str | None],
    job: Row,
    params: dict[str, str],
    verb: messaging.Message,
    now: float,
) -> str | None:
    """Queue one <Message> reply; record a Twilio error instead when it cannot be sent."""
    from_number = verb.from_ or params["To"]
    to = verb.to or params["From"]
    error: tuple[int, str] | None = None
    modem = modem_for_number(from_number)
    if modem is None:
        error = (
            21606,
            f"The From phone number {from_number} is not a number of this appliance",
        )
    else:
        try:
            return outbox.insert(
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
    logs.event(
        LOGGER,
        logging.WARNING,
        "reply not sent",
        sid=job["message_sid"],
        from_=from_number,
        to=to,
        error_code=error[0],
        error=error[1],
    )
    log_entry(
        conn,
        job,
        url=job["url"],
        method=job["method"],
        request="<Message>",
        status=None,
        response=None,
        code=error[0],
        message=error[1],
        now=now,
    )
    return None
