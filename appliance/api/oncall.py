"""``/appliance/oncall/…`` and ``/appliance/alerts``: the on-call rotation and paging over HTTP.

Who may call what (docs/api.md): the rotation (people, schedules, overrides, the escalation
policies, who is on call) is administration, AccountSid and AuthToken only.
``POST /appliance/alerts`` takes the AuthToken or an API key (Alertmanager's ``basic_auth``
sends one), as a form (``Body``, ``Severity``, ``Fingerprint``, ``Policy``) or Alertmanager's
webhook JSON (a ``policy`` label, or ``?policy=`` on the receiver URL); the alert is on
disk, and its first page queued, before the reply.  ``/twimlets/oncall`` is the
TwiML of the support number ("forward to on-call"): only for the appliance's own signed
requests (the call engine's), since it names the on-call person's phone.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from appliance.api.authentication import check_credentials, require_auth_token
from appliance.api.common import (
    FORM_TYPES,
    MAX_BODY_BYTES,
    daemon,
    error_response,
    streamed_length,
    too_large,
)
from appliance.api.twimlets import signed_by_us
from appliance.oncall import paging, supportplan
from appliance.oncall.rotation import RotationError, Shift

MAX_CALENDAR_DAYS = 92

bp = Blueprint("oncall", __name__, url_prefix="/appliance")
# The support number's TwiML, a twimlet of the appliance's own (a relative Voice URL works).
voice_bp = Blueprint("oncall_voice", __name__, url_prefix="/twimlets")
OPEN_TO_KEYS = {"oncall.alerts_post"}  # the AuthToken or an API key
SIGNED = {"oncall_voice.voice"}  # the appliance's own signed requests only


@bp.before_request
@voice_bp.before_request
def guard() -> Response | None:
    if request.endpoint in SIGNED:
        if not signed_by_us():
            return error_response(403, 20003, "Only the appliance's own signed calls may use this")
        return None
    if request.endpoint in OPEN_TO_KEYS:
        return _any_credential()
    return require_auth_token()


def _any_credential() -> Response | None:
    """The AccountSid and AuthToken or an API key (:func:`check_credentials`, with the rate
    limit), and the body size limit; the body may be JSON here (Alertmanager's webhook), so
    not :func:`~appliance.api.common.check_body`'s form-only rule."""
    refused = check_credentials()
    if refused is not None:
        return refused
    length = request.content_length
    if length is None and "HTTP_TRANSFER_ENCODING" in request.environ:
        length = streamed_length()
        if length is None:
            return too_large()
    if length is not None and length > MAX_BODY_BYTES:
        return too_large()
    return None


def _bad(e: RotationError | paging.PayloadError) -> Response:
    field = getattr(e, "field", "")
    rv = error_response(400, 20001, f"{field}: {e.message}" if field else e.message)
    return rv


def _iso(ts: float) -> str | None:
    if ts in (float("inf"), float("-inf")):
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _shift(s: Shift) -> dict[str, Any]:
    person = daemon().oncall.directory.person(s.person) if s.person is not None else None
    return {"person": person, "source": s.source, "starts": _iso(s.starts), "ends": _iso(s.ends)}


def _id(name: str) -> int | None:
    return int(name) if name.isascii() and name.isdigit() and len(name) < 12 else None


def _gone(what: str, name: str) -> Response:
    return error_response(404, 20404, f"No {what} {name}")


# -- people, schedules, overrides, policy -------------------------------------------------------


@bp.route("/oncall/people", methods=["GET", "POST"])
def people() -> Response | tuple[Response, int]:
    directory = daemon().oncall.directory
    if request.method == "GET":
        return jsonify({"people": directory.people()})
    f = request.form
    try:
        person = directory.add_person(f.get("name", ""), f.get("phone", ""), f.get("client", ""))
    except RotationError as e:
        return _bad(e)
    return jsonify(person), 201


@bp.route("/oncall/people/<name>", methods=["GET", "DELETE"])
def person(name: str) -> Response | tuple[str, int]:
    directory = daemon().oncall.directory
    pid = _id(name)
    found = None if pid is None else directory.person(pid)
    if found is None or pid is None:
        return _gone("person", name)
    if request.method == "DELETE":
        directory.remove_person(pid)
        daemon().oncall.wake()
        return "", 204
    return jsonify(found)


@bp.route("/oncall/schedules", methods=["GET", "POST"])
def schedules() -> Response | tuple[Response, int]:
    oncall = daemon().oncall
    if request.method == "GET":
        return jsonify({"schedules": oncall.directory.schedules()})
    form = {k: v for k, v in request.form.items() if k != "people"}
    try:
        made = oncall.directory.add_schedule(form, request.form.getlist("people"))
    except RotationError as e:
        return _bad(e)
    oncall.wake()
    return jsonify(made), 201


@bp.route("/oncall/schedules/<name>", methods=["GET", "DELETE"])
def schedule(name: str) -> Response | tuple[str, int]:
    oncall = daemon().oncall
    found = next((s for s in oncall.directory.schedules() if str(s["id"]) == name), None)
    if found is None:
        return _gone("schedule", name)
    if request.method == "DELETE":
        try:
            oncall.directory.remove_schedule(found["id"])
        except RotationError as e:
            return _bad(e)
        oncall.wake()
        return "", 204
    return jsonify(found)


def _override(o: dict[str, Any]) -> dict[str, Any]:
    return {**o, "starts": _iso(o["starts"]), "ends": _iso(o["ends"])}


@bp.route("/oncall/overrides", methods=["GET", "POST"])
def overrides() -> Response | tuple[Response, int]:
    oncall = daemon().oncall
    if request.method == "GET":
        return jsonify({"overrides": [_override(o) for o in oncall.directory.overrides()]})
    f = request.form
    try:
        new = oncall.directory.add_override(
            f.get("person", ""), f.get("starts", ""), f.get("ends", ""), f.get("timezone", "UTC")
        )
    except RotationError as e:
        return _bad(e)
    oncall.wake()
    made = next(o for o in oncall.directory.overrides(0) if o["id"] == new)
    return jsonify(_override(made)), 201


@bp.route("/oncall/overrides/<name>", methods=["GET", "DELETE"])
def override(name: str) -> Response | tuple[str, int]:
    oncall = daemon().oncall
    found = next((o for o in oncall.directory.overrides(0) if str(o["id"]) == name), None)
    if found is None:
        return _gone("override", name)
    if request.method == "DELETE":
        oncall.directory.remove_override(found["id"])
        oncall.wake()
        return "", 204
    return jsonify(_override(found))


@bp.route("/oncall/policy", methods=["GET", "POST"])
def policy() -> Response:
    """The default escalation policy's timings (the single policy before named ones)."""
    directory = daemon().oncall.directory
    if request.method == "GET":
        return jsonify(directory.policy())
    try:
        changed = directory.set_policy(request.form.to_dict())
    except RotationError as e:
        return _bad(e)
    daemon().oncall.wake()
    return jsonify(changed)


def _schedules_field() -> list[str] | None:
    """The ``schedules`` field's ids (repeated or comma-separated), None when absent."""
    return request.form.getlist("schedules") if "schedules" in request.form else None


@bp.route("/oncall/policies", methods=["GET", "POST"])
def policies() -> Response | tuple[Response, int]:
    oncall = daemon().oncall
    book = oncall.directory.policies
    if request.method == "GET":
        return jsonify({"policies": book.all()})
    form = {k: v for k, v in request.form.items() if k != "schedules"}
    try:
        made = book.create(form, _schedules_field())
    except RotationError as e:
        return _bad(e)
    oncall.wake()
    return jsonify(made), 201


@bp.route("/oncall/policies/<name>", methods=["GET", "POST", "DELETE"])
def policy_item(name: str) -> Response | tuple[str, int]:
    """One policy, by id or by name: fetch, update (the fields sent), delete."""
    oncall = daemon().oncall
    book = oncall.directory.policies
    found = book.find(name)
    if found is None:
        return _gone("escalation policy", name)
    try:
        if request.method == "DELETE":
            book.delete(found["id"])
            oncall.wake()
            return "", 204
        if request.method == "POST":
            form = {k: v for k, v in request.form.items() if k != "schedules"}
            found = book.update(found["id"], form, _schedules_field()) or found
            oncall.wake()
    except RotationError as e:
        return _bad(e)
    return jsonify(found)


def _chosen_policy() -> dict[str, Any] | Response:
    """The ``policy`` query parameter's policy (default: ``default``), or a 400 response."""
    try:
        return daemon().oncall.directory.policies.require(request.args.get("policy", ""), "policy")
    except RotationError as e:
        return _bad(e)


@bp.get("/oncall/now")
def now() -> Response:
    """Who is on call now, and who is next (at the end of the current shift), under the
    ``policy`` named (default: ``default``)."""
    chosen = _chosen_policy()
    if isinstance(chosen, Response):
        return chosen
    directory = daemon().oncall.directory
    current = directory.on_call(None, chosen)
    upcoming = directory.on_call(current.ends, chosen) if current.ends != float("inf") else None
    return jsonify(
        {"policy": chosen["name"], "now": _shift(current),
         "next": None if upcoming is None else _shift(upcoming)}
    )  # fmt: skip


@bp.get("/oncall/calendar")
def calendar() -> Response:
    """Who is on call over the next ``days`` days (default 28), as consecutive shifts."""
    text = request.args.get("days", "28")
    if _id(text) is None or not 1 <= int(text) <= MAX_CALENDAR_DAYS:
        return error_response(400, 20001, f"days is 1 to {MAX_CALENDAR_DAYS}")
    chosen = _chosen_policy()
    if isinstance(chosen, Response):
        return chosen
    start = time.time()
    shifts = daemon().oncall.directory.timeline(start, start + int(text) * 86400, chosen)
    return jsonify({"policy": chosen["name"], "shifts": [_shift(s) for s in shifts]})


# -- alerts ------------------------------------------------------------------------------------


@bp.post("/alerts")
def alerts_post() -> Response | tuple[Response, int]:
    """An alert as a form, or Alertmanager's webhook JSON; pages whoever is on call."""
    mimetype = request.mimetype
    try:
        if mimetype == "application/json" or mimetype.endswith("+json"):
            try:
                payload = json.loads(request.get_data(cache=True) or b"")
            except (ValueError, UnicodeDecodeError) as e:
                return error_response(400, 20001, f"The body is not valid JSON: {e}")
            alerts = paging.from_alertmanager(payload)
        elif mimetype in FORM_TYPES:
            f = request.form
            alerts = [paging.from_form(f.get("Body", ""), f.get("Severity", ""),
                                       f.get("Fingerprint", ""))]  # fmt: skip
        else:
            return error_response(
                400,
                20001,
                f"Unsupported Content-Type {mimetype or '(none)'!r}: send a form (Body, Severity)"
                " or Alertmanager's webhook JSON (application/json)",
            )
    except paging.PayloadError as e:
        return _bad(e)
    # The policy: an alert's ``policy`` label, else the form's Policy, else ?policy=.
    fallback = request.form.get("Policy", "") if mimetype in FORM_TYPES else ""
    fallback = fallback.strip() or request.args.get("policy", "").strip()
    book = daemon().oncall.directory.policies
    chosen: dict[str, dict[str, Any]] = {}
    try:
        for a in alerts:
            key = a.policy or fallback
            if key not in chosen:
                chosen[key] = book.require(key)
    except RotationError as e:
        return _bad(e)  # nothing opened
    pager = daemon().oncall.pager
    outcomes: list[dict[str, Any]] = [{} for _ in alerts]
    for key, policy in chosen.items():
        group = [i for i, a in enumerate(alerts) if (a.policy or fallback) == key]
        for i, outcome in zip(group, pager.post([alerts[i] for i in group], policy=policy),
                              strict=True):  # fmt: skip
            outcomes[i] = {**outcome, "policy": policy["name"]}
    return jsonify({"alerts": outcomes}), 201


@bp.get("/alerts")
def alerts_list() -> Response:
    status = request.args.get("status", "")
    if status not in ("", "open", "acked", "resolved"):
        return error_response(400, 20001, "status is open, acked or resolved")
    return jsonify({"alerts": daemon().oncall.pager.alerts(status)})


@bp.get("/alerts/<name>")
def alert(name: str) -> Response:
    aid = _id(name)
    found = None if aid is None else daemon().oncall.pager.alert(aid)
    return jsonify(found) if found is not None else _gone("alert", name)


@bp.post("/alerts/<name>/resolve")
def alert_resolve(name: str) -> Response:
    aid = _id(name)
    pager = daemon().oncall.pager
    if aid is None or not pager.resolve(aid, "api"):
        return _gone("open alert", name)
    found = pager.alert(aid)
    return jsonify(found)


# -- the support number ------------------------------------------------------------------------


@voice_bp.route("/oncall", methods=["GET", "POST"])
def voice() -> Response:
    """The "forward to on-call" TwiML, one escalation step per request (``Step``, with the
    ``Chain`` of people fixed at the first, under the escalation ``Policy`` named): dial the step's people with a whisper, so a
    voicemail does not take the call; when the plan runs out, page "missed call" by SMS."""
    values = request.values
    step = min(_id(request.args.get("Step", "0")) or 0, supportplan.MAX_STEPS)
    twiml = daemon().oncall.support.answer(
        path=request.path,
        step=step,
        chain=supportplan.parse_chain(request.args.get("Chain", "")),
        call_sid=values.get("CallSid", ""),
        caller=values.get("From", "") or "an unknown number",
        dial_status=values.get("DialCallStatus", ""),
        policy_name=request.args.get("Policy", ""),
    )
    return Response(twiml, mimetype="text/xml")
