"""``<Sms>`` / ``<Message>`` inside a call: text the caller (or ``to``) from the call's number."""

from __future__ import annotations

import logging
from typing import Any

from appliance import logs
from appliance.voice.session import CallSession

LOGGER = logging.getLogger(__name__)


def message(session: CallSession, verb: Any, doc: Any) -> Any:
    modem = session.modem
    if modem is None:  # a browser's call has no SIM to send from (the flow skips the verb)
        return None
    row = session.documents.row()
    our = row["to_number"] if row["direction"] == "inbound" else row["from_number"]
    theirs = row["from_number"] if row["direction"] == "inbound" else row["to_number"]
    to = getattr(verb, "to", None) or theirs
    from_ = getattr(verb, "from_", None) or our
    body = getattr(verb, "body", "") or ""
    try:
        sid = session.ctx.outbox.enqueue(
            modem=modem.modem.name,
            from_number=from_,
            to=to,
            body=body,
            direction="outbound-reply",
            status_callback=getattr(verb, "status_callback", None) or getattr(verb, "action", None),
            status_callback_method=getattr(verb, "method", None) or "POST",
        )
    except Exception as e:  # noqa: BLE001 - a bad number or body in TwiML is the app's error
        session.documents.event(
            "error", getattr(e, "code", None) or 14101, f"<Sms>/<Message> not sent: {e}"
        )
        return None
    # the outbox logged "message queued" with the message's SID
    logs.event(LOGGER, logging.DEBUG, "call message queued", sid=session.sid, message=sid)
    return None
