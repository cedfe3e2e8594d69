"""The fleet page: every node on this database (its state, last heartbeat, version, URL), the
modem names each holds and their outbound queues (issue 16; :mod:`appliance.store.fleet`).

In the menu only when the store is PostgreSQL (``database_url``): a single box is a fleet of
one, and its page (still at ``/fleet/``) would say only that.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from appliance.store import fleet
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
    return render_template("fleet.html", fleet=fleet.view(d.store, d.fleet.id), lease=fleet.LEASE)
