"""The UserDefinedMessage and UserDefinedMessageSubscription resources of a browser call.

* ``POST …/Calls/{CallSid}/UserDefinedMessageSubscriptions.json`` (``Callback``, ``Method``
  default POST, ``IdempotencyKey``): each message the call's browser sends
  (``call.sendMessage``) is then posted to ``Callback``; ``DELETE
  …/UserDefinedMessageSubscriptions/{Sid}.json`` ends that (204).  Stored rows
  (:mod:`appliance.store.usermessages`), so any node of a fleet may take them.
* ``POST …/Calls/{CallSid}/UserDefinedMessages.json`` (``Content``, a JSON string;
  ``IdempotencyKey``): the browser's Call fires ``messageReceived`` with the parsed content
  (:meth:`appliance.clients.usermessages.UserMessages.send`).  A call another node of the
  fleet holds is sent from there (:mod:`appliance.api.relay`).  A repeated
  ``IdempotencyKey`` answers the first message's resource and sends nothing.

Both need a browser call (the client line's, ``calls.modem`` = ``client``) that is live:
ringing or in progress for a subscription (an app subscribes from its Voice URL, while the
call rings), in progress for a message.  Otherwise 400 with 21220 (the call is not active, or
has no Voice SDK leg to talk to); an unknown call 404.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from appliance.api import call_parameters as form
from appliance.api.common import (
    PREFIX,
    ApiError,
    bp,
    daemon,
    form_value,
    forwarded,
    not_found,
    rfc2822,
)
from appliance.api.relay import relay
from appliance.clients import callmessage
from appliance.clients.line import NAME as CLIENT_LINE
from appliance.store import usermessages as rows
from appliance.store.database import Row
from appliance.system import nodeproxy

MAX_KEY = 256  # characters of an IdempotencyKey
SUBSCRIBABLE = ("ringing", "in-progress")


def subscription_json(row: Row, account: str) -> dict[str, Any]:
    call_sid, sid = row["call_sid"], row["sid"]
    return {
        "account_sid": account,
        "call_sid": call_sid,
        "sid": sid,
        "date_created": rfc2822(row["date_created"]),
        "uri": f"{PREFIX}/{account}/Calls/{call_sid}/UserDefinedMessageSubscriptions/{sid}.json",
    }


def message_json(row: Row, account: str) -> dict[str, Any]:
    return {
        "account_sid": account,
        "call_sid": row["call_sid"],
        "sid": row["sid"],
        "date_created": rfc2822(row["date_created"]),
    }


def _created(body: dict[str, Any]) -> Response:
    rv = jsonify(body)
    rv.status_code = 201
    return rv


def _browser_call(call_sid: str, statuses: tuple[str, ...]) -> Row:
    """The call's row if it is a browser call in one of ``statuses``; else 404 or 21220."""
    row = daemon().store.read_one("SELECT status, modem FROM calls WHERE sid = ?", (call_sid,))
    if row is None:
        raise not_found()
    if row["modem"] != CLIENT_LINE:
        raise ApiError(
            400,
            21220,
            f"Call {call_sid} has no Voice SDK leg: user-defined messages go to and from a"
            " browser phone's call (use that leg's CallSid).",
        )
    if row["status"] not in statuses:
        raise ApiError(
            400,
            21220,
            f"Call is not {' or '.join(statuses)} (status {row['status']}): user-defined"
            " messages need an active call.",
        )
    return row


def _key() -> str | None:
    value = form_value("IdempotencyKey")
    if value is None or value == "":
        return None
    if len(value) > MAX_KEY:
        raise ApiError(
            400, 20001, f"IdempotencyKey is {len(value)} characters (at most {MAX_KEY})."
        )
    return value


# --------------------------------------------------------------------------- subscriptions


@bp.post("/Accounts/<account_sid>/Calls/<call_sid>/UserDefinedMessageSubscriptions.json")
def user_message_subscription_create(account_sid: str, call_sid: str) -> Response:
    """Subscribe ``Callback`` to the messages the call's browser sends."""
    _browser_call(call_sid, SUBSCRIBABLE)
    if not form_value("Callback"):
        raise ApiError(400, 20001, "Missing required parameter Callback in the post body.")
    callback = form.url("Callback", 21205)
    method = form.method("Method")
    key = _key()
    assert callback is not None
    try:
        row, _ = rows.subscribe(daemon().store, call_sid, callback, method, key)
    except rows.TooMany:
        raise ApiError(
            400,
            20001,
            f"Call {call_sid} has {rows.MAX_SUBSCRIPTIONS} subscriptions already (the most):"
            " delete one first.",
        ) from None
    return _created(subscription_json(row, daemon().account.sid))


@bp.delete("/Accounts/<account_sid>/Calls/<call_sid>/UserDefinedMessageSubscriptions/<sid>.json")
def user_message_subscription_delete(account_sid: str, call_sid: str, sid: str) -> Response:
    if not rows.unsubscribe(daemon().store, call_sid, sid):
        raise not_found()
    return Response(status=204)


# --------------------------------------------------------------------------- messages


@bp.post("/Accounts/<account_sid>/Calls/<call_sid>/UserDefinedMessages.json")
def user_defined_message_create(account_sid: str, call_sid: str) -> Response:
    """Send ``Content`` (JSON) to the browser of a call in progress."""
    _browser_call(call_sid, ("in-progress",))
    raw = form_value("Content")
    if raw is None or raw == "":
        raise ApiError(400, 20001, "Missing required parameter Content in the post body.")
    try:
        value = callmessage.content(raw)
    except ValueError as e:
        raise ApiError(400, 20001, str(e)) from None
    key = _key()
    d = daemon()
    messages = d.client_calls.messages
    if messages is None or not messages.live(call_sid):
        elsewhere = _held_elsewhere(call_sid)
        if elsewhere is not None:
            return elsewhere
        raise ApiError(
            400, 21220, "Call is not in-progress on a browser: user-defined messages need one."
        )
    row, new = rows.record_sent(d.store, call_sid, key)
    if new and not messages.send(call_sid, value, row["sid"]):
        rows.forget_sent(d.store, row["sid"])
        raise ApiError(400, 21220, "Call ended before the message could be sent.")
    return _created(message_json(row, d.account.sid))


def _held_elsewhere(call_sid: str) -> Response | None:
    """A fleet: the browser of a call another node holds is on that node; the request
    forwarded there, and its answer.  None for a call of this node (or of none)."""
    if forwarded():
        return None
    d = daemon()
    owner = nodeproxy.call_owner(d.store, call_sid)
    if owner is None or owner.node_id == d.fleet.id:
        return None
    return relay(owner, f"Call {call_sid}")
