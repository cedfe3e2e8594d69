"""What a finished webhook job leaves besides its state: the ``<Message>`` replies it queues
(in the commit that closes the job) and the log lines of its outcome.  Split from
:mod:`appliance.webhooks.dispatcher`, which runs the jobs."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from appliance import logs
from appliance.errors import InvalidNumber
from appliance.sms.outbox import Outbox, OutboxError
from appliance.store.database import Row
from appliance.twiml import messaging
from appliance.webhooks.joblog import log_entry
from appliance.webhooks.smsflow import Outcome

LOGGER = logging.getLogger("appliance.webhooks.dispatcher")  # the lines' home before the split


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
