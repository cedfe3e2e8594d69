"""Controlling a call: cancel, hang up, redirect, or change its callbacks.

Redirecting or hanging up a live call writes ``calls.control`` (JSON) and calls
``daemon.voice.control(sid)``; the engine does the rest.  A queued call is canceled
(or re-pointed at a new Url/Twiml) directly in the database.  The answer shows the
call as the update leaves it, as Twilio's does: ``completed`` for a live call hung up,
``canceled`` for a queued or ringing one, unchanged for a redirect.  A child call of a
``<Dial>`` (``outbound-dial``) is ended by its ``<Dial>``'s legs
(:mod:`appliance.voice.dialleg`), even while queued (its leg is about to dial); redirecting
one takes it out of its bridge (the parent's ``<Dial>`` ends ``completed``), and is refused
(400 / 21220) while it is not bridged (ringing, whispering, or on a one-modem ``<Dial>``).
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from flask import Response

from appliance.api import call_parameters as form
from appliance.api.calls import ENDED, fetch_row, respond
from appliance.api.common import ApiError, bp, daemon, form_value, forwarded, not_found
from appliance.api.relay import relay
from appliance.system import nodeproxy


@bp.post("/Accounts/<account_sid>/Calls/<sid>.json")
def call_update(account_sid: str, sid: str) -> Response:
    """``Status=canceled`` cancels a queued (or ringing) call; ``Status=completed`` hangs
    up a live one; ``Url``/``Twiml`` redirect it.  Callback parameters and TimeLimit
    are stored for the engine to use."""
    d = daemon()
    status = form_value("Status")
    if status is not None and status not in ("canceled", "completed"):
        raise ApiError(
            400, 20001, f"Status can only be updated to 'canceled' or 'completed', not {status!r}."
        )
    url = form.url("Url", 21205)
    method = form.method("Method")
    twiml = None if url is not None else form.twiml()
    settings: dict[str, Any] = {}
    if form_value("FallbackUrl") is not None:
        settings["fallback_url"] = form.url("FallbackUrl", 21205) or ""
    if form_value("FallbackMethod") is not None:
        settings["fallback_method"] = form.method("FallbackMethod")
    if form_value("StatusCallback") is not None:
        settings["status_callback"] = form.url("StatusCallback", 21609) or ""
    if form_value("StatusCallbackMethod") is not None:
        settings["status_callback_method"] = form.method("StatusCallbackMethod")
    if form_value("TimeLimit") is not None:
        settings["time_limit"] = form.integer(
            "TimeLimit", form.DEFAULT_TIME_LIMIT, 20001, form.MAX_TIME_LIMIT
        )
    now = time.time()
    redirect = url is not None or twiml is not None
    if redirect and status is None and not forwarded():
        owner = nodeproxy.dialled_leg_owner(d.store, sid)
        if owner is not None and owner.node_id != d.fleet.id:
            # only that node knows whether the leg is bridged
            return relay(owner, f"Call {sid}")
    # A dialled leg (<Dial><Number>) can be redirected only while it is bridged to its caller
    # (or once a redirect gave it TwiML of its own).
    redirectable = redirect and d.voice.redirectable(sid)

    def fn(conn: sqlite3.Connection) -> tuple[bool, str | None] | None:
        """Apply the update; None if there is no such call, else whether the engine must
        look and the status the call ends with when the engine carries it out."""
        row = conn.execute(
            "SELECT status, direction, parent_call_sid FROM calls WHERE sid = ?", (sid,)
        ).fetchone()
        if row is None:
            return None
        current = row["status"]
        if current in ENDED:
            if status is None and url is None and twiml is None and not settings:
                return False, None
            raise ApiError(
                400, 21220, f"Call is not in-progress (status {current}). Cannot update it."
            )
        dialled = row["direction"] == "outbound-dial"
        if (
            dialled
            and status is None
            and (url is not None or twiml is not None)
            and not redirectable
        ):
            raise ApiError(
                400,
                21220,
                f"Call {sid} is a leg dialled by <Dial> for call {row['parent_call_sid']} and"
                f" is not bridged to it (status {current}): redirecting a dialled leg (Url or"
                " Twiml) is supported on this appliance only for a <Number> leg once it is"
                " connected to its caller, not while it rings or runs its whisper (url), nor"
                " on a one-modem <Dial>, nor for a <Client> leg (a browser). End it with"
                " Status=canceled or completed, or redirect the parent call.",
            )
        control: dict[str, str] | None = None
        outcome: str | None = None
        changes: dict[str, Any] = dict(settings)
        if status is not None and current == "queued" and not dialled:
            # Not placed yet: canceling (or hanging up) is just a row change.
            changes.update(status="canceled", end_time=now)
        elif status == "completed" or (status == "canceled" and current != "in-progress"):
            control = {"status": status}
            # A call that was never answered ends canceled (Twilio: "canceled via the
            # REST API while queued or ringing"); an answered one ends completed.
            outcome = "completed" if current == "in-progress" else "canceled"
        elif status == "canceled":
            pass  # Twilio: canceled does not affect a call already in progress
        elif url is not None or twiml is not None:
            if current == "queued":
                changes.update(url=url or "", method=method, twiml=twiml)
            else:
                control = (
                    {"url": url, "method": method} if url is not None else {"twiml": twiml or ""}
                )
        if control is not None:
            changes["control"] = json.dumps(control)
        if changes:
            columns = ", ".join(f"{name} = ?" for name in changes)
            conn.execute(
                f"UPDATE calls SET {columns}, date_updated = ? WHERE sid = ?",  # noqa: S608 - fixed names
                (*changes.values(), now, sid),
            )
        return control is not None, outcome

    done = d.store.write(fn)
    if done is None:
        raise not_found()
    signal, outcome = done
    if signal:
        d.voice.control(sid)
    row = fetch_row(sid)
    if outcome is not None and row["status"] not in ENDED:
        # The engine hangs up in its own time; the answer shows what this update did,
        # as Twilio's does (Status=completed on a live call answers "completed").
        return respond({**dict(row), "status": outcome})
    return respond(row)
