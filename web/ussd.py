"""USSD: send a code (``*100#``) on a modem, answer the network's menus, and the SIMs' balances.

The page talks to the modem through its USSD session (:mod:`appliance.modem.ussdsession`),
the same as ``POST /appliance/modems/{name}/ussd``: the request waits for the network's
answer (``ussd_timeout`` at most) and shows it.  While the network waits for an answer
(``+CUSD: 1``) the form sends the answer in the same session, or cancels it.  Below: each
modem's balance as the last check read it (``balance_ussd``).  Behind the panel's sign-in,
with its CSRF token, like every form: USSD can spend the SIM's credit.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, render_template, request, url_for

from appliance.errors import ApplianceError
from appliance.modem import ussd
from appliance.modem.ussdsession import UssdReply
from web import fleet
from web.helpers import daemon

bp = Blueprint("ussd", __name__, url_prefix="/ussd")


@bp.route("/", methods=["GET", "POST"])
def index() -> str | tuple[str, int]:
    d = daemon()
    names = sorted(d.modems)
    chosen = request.values.get("modem", "") or (names[0] if names else "")
    if chosen and chosen not in d.modems:  # a fleet: another node's modem, on its own panel
        page = fleet.elsewhere(chosen, url_for("ussd.index", modem=chosen))
        if page is not None:
            return page
    values: dict[str, Any] = {"modem": chosen, "code": ""}
    errors: dict[str, str] = {}
    reply: UssdReply | None = None
    modem = d.modems.get(chosen)
    if request.method == "POST":
        if modem is None:
            errors["modem"] = "No such modem"
        elif request.form.get("action") == "cancel":
            try:
                modem.ussd.cancel()
                flash(f"Session on {chosen} cancelled.")
            except ApplianceError as e:
                errors["code"] = f"Not cancelled: {e.message}"
        else:
            code = request.form.get("code", "").strip()
            values["code"] = code
            problem = ussd.request_problem(code)
            if problem is not None:
                errors["code"] = problem[0].upper() + problem[1:]
            else:
                try:
                    reply = modem.ussd.request(code)
                    values["code"] = ""
                except ApplianceError as e:  # not connected, busy, refused, no answer
                    errors["code"] = e.message
    sessions = {name: m.ussd.open for name, m in d.modems.items()}
    balances = {
        r["modem"]: r
        for r in d.store.read("SELECT * FROM sim_balance ORDER BY modem")
        if r["modem"] in d.modems
    }
    configured = {name: m.cfg for name, m in d.modems.items()}
    return render_template(
        "ussd.html",
        names=names,
        values=values,
        errors=errors,
        reply=reply,
        open=bool(modem is not None and modem.ussd.open),
        sessions=sessions,
        balances=balances,
        configured=configured,
    )
