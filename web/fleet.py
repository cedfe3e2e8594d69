"""The fleet page: every node on this database (its state, last heartbeat, version, URL), the
modem names each holds and their outbound queues (issue 16; :mod:`appliance.store.fleet`).

In the menu only when the store is PostgreSQL (``database_url``): a single box is a fleet of
one, and its page (still at ``/fleet/``) would say only that.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from appliance.store import fleet, fleetview
from appliance.system import nodeproxy
from web.helpers import daemon

bp = Blueprint("fleet", __name__, url_prefix="/fleet")


def on_fleet() -> bool:
    """Whether the menu shows the fleet page (the store is shared: PostgreSQL)."""
    return daemon().store.dialect.name == "postgresql"


def init_app(app: Flask) -> None:
    app.jinja_env.globals["on_fleet"] = on_fleet


@bp.get("/")
def index() -> str:
    d = daemon()
    return render_template(
        "fleet.html",
        fleet=fleetview.view(d.store, d.fleet.id),
        lease=fleet.LEASE,
        clash=d.fleet.clash,  # another running appliance has this node's id
    )


def elsewhere(modem: str, path: str) -> tuple[str, int] | None:
    """A modem tool (AT monitor, USSD) asked for a modem another node holds: a page that
    says so and links to that node's panel (``path`` there); None if no other node holds it.

    Not forwarded, unlike the admin API's routes: the AT monitor is a live event stream and
    read-write grants, and both pages are forms behind this panel's own sign-in and CSRF
    token, which the other node's panel cannot check."""
    d = daemon()
    owner = nodeproxy.modem_owner(d.store, modem)
    if owner is None or owner.node_id == d.fleet.id:
        return None
    page = render_template(
        "elsewhere.html", modem=modem, owner=owner, link=owner.url + path if owner.url else ""
    )
    return page, 409
