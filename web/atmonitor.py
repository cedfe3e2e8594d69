"""The AT monitor: a modem's live AT traffic (commands, answers, URCs), for the admin only.

The lines come from the modem's tap (:class:`appliance.modem.attap.AtTap`, a ring the driver
fills), shown at once and then streamed on the page's event stream as the ``at`` feed
(:func:`web.live.register_feed`).  SIM PINs and passwords are masked when recorded, so they
are never shown; message contents (SMS PDUs and texts, USSD strings) are hidden unless the
admin ticks "Show message contents" (logged).

Read-only by default.  Sending commands needs the admin to switch the monitor of that modem
to read-write (a form with the CSRF token; logged, and it lapses after
:data:`READ_WRITE_SECONDS`); commands then go through the modem's thread like the admin
API's console (``POST /appliance/modems/{name}/at``), one line, no control characters.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from appliance import logs
from appliance.modem.attap import Line, masked, secrets_masked
from web import fleet
from web.auth import is_admin
from web.helpers import daemon
from web.live import register_feed

if TYPE_CHECKING:
    from appliance.modem.attap import AtTap
    from appliance.modem.modem import Modem

LOGGER = logging.getLogger(__name__)
bp = Blueprint("atmonitor", __name__, url_prefix="/atmonitor")

SHOWN = 200  # lines the page shows when opened (the newest of the modem's ring)
POLL_SECONDS = 0.25  # how often the page's stream looks at the ring
READ_WRITE_SECONDS = 600.0  # read-write lapses back to read-only after this
AT_TIMEOUT = 20.0  # seconds the modem has to answer a command typed here
FORBIDDEN = "\r\n\x1a\x1b"  # one command per line: no CR/LF, Ctrl-Z or ESC


def _admin() -> None:
    if not is_admin():
        abort(403)


def _modem(name: str) -> Modem:
    modem = daemon().modems.get(name)
    if modem is None:
        abort(404)
    return modem


def writable(name: str) -> bool:
    """Whether this session switched ``name``'s monitor to read-write (and it has not lapsed)."""
    until = (session.get("at_write") or {}).get(name)
    return isinstance(until, int | float) and until > time.time()


def shown(line: Line, bodies: bool) -> dict[str, Any]:
    return {
        "seq": line.seq,
        "at": line.at,
        "dir": line.direction,
        "text": line.text if bodies else masked(line),
    }


class AtFeed:
    """The ``at`` feed of one page's stream: the tap's lines after the last one sent."""

    interval = POLL_SECONDS

    def __init__(self, tap: AtTap, after: int, bodies: bool) -> None:
        self.tap, self.after, self.bodies = tap, after, bodies

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        lines = self.tap.since(self.after)
        if not lines:
            return []
        self.after = lines[-1].seq
        return [("at", {"lines": [shown(line, self.bodies) for line in lines]})]


def feed(arg: str) -> AtFeed:
    """``?feed=at:<modem>:<after>[:bodies]`` on the page's stream; admin only."""
    _admin()
    name, _, rest = arg.partition(":")
    after, _, flag = rest.partition(":")
    modem = _modem(name)
    try:
        seq = max(0, int(after or 0))
    except ValueError:
        abort(400)
    return AtFeed(modem.tap, seq, flag == "bodies")


@bp.before_request
def admin_only() -> None:
    _admin()


@bp.get("/")
def index() -> BaseResponse | str:
    names = sorted(daemon().modems)
    if not names:
        return render_template("atmonitor.html", names=[], name=None, lines=[])
    return redirect(url_for("atmonitor.modem", name=names[0]))


@bp.get("/<name>")
def modem(name: str) -> str | tuple[str, int]:
    if name not in daemon().modems:  # a fleet: another node's modem, on its own panel
        page = fleet.elsewhere(name, url_for("atmonitor.modem", name=name))
        if page is not None:
            return page
    m = _modem(name)
    bodies = request.args.get("bodies") == "1"
    if bodies:
        logs.event(
            LOGGER,
            logging.WARNING,
            "at monitor contents shown",
            modem=name,
            client=request.remote_addr,
        )
    lines = m.tap.since(max(0, m.tap.last - SHOWN))
    after = lines[-1].seq if lines else m.tap.last
    return render_template(
        "atmonitor.html",
        names=sorted(daemon().modems),
        name=name,
        state=m.state,
        lines=[shown(line, bodies) for line in lines],
        bodies=bodies,
        feed=f"at:{name}:{after}" + (":bodies" if bodies else ""),
        writable=writable(name),
        lapse_minutes=int(READ_WRITE_SECONDS // 60),
    )


@bp.post("/<name>/mode")
def mode(name: str) -> BaseResponse:
    """Switch the monitor of ``name`` to read-write or back (logged either way)."""
    _modem(name)
    grants = dict(session.get("at_write") or {})
    if request.form.get("mode") == "read-write":
        grants[name] = time.time() + READ_WRITE_SECONDS
        what = "at monitor read-write"
        flash(
            f"The monitor of {name} sends commands for the next {int(READ_WRITE_SECONDS // 60)} min."
        )
    else:
        grants.pop(name, None)
        what = "at monitor read-only"
        flash(f"The monitor of {name} is read-only again.")
    session["at_write"] = grants
    logs.event(LOGGER, logging.WARNING, what, modem=name, client=request.remote_addr)
    return redirect(url_for("atmonitor.modem", name=name))


@bp.post("/<name>/send")
def send(name: str) -> BaseResponse:
    """Send one command (read-write only); the answer shows in the monitor and a flash."""
    m = _modem(name)
    if not writable(name):
        abort(403, "The monitor is read-only: switch it to read-write first.")
    command = request.form.get("command", "")
    if any(c in command for c in FORBIDDEN) or not command.strip() or len(command) > 512:
        flash("One AT command per line, without control characters.")
        return redirect(url_for("atmonitor.modem", name=name))
    logs.event(
        LOGGER,
        logging.WARNING,
        "at monitor command",
        modem=name,
        command=secrets_masked(command.strip()),
        client=request.remote_addr,
    )
    command = command.strip()
    said = secrets_masked(command)
    try:
        lines = m.submit(lambda drv: drv.write(command, parseError=False, timeout=AT_TIMEOUT) or [])
        # Only the final status here: the answer's lines are in the monitor, contents masked.
        flash(f"Sent {said}: {lines[-1] if lines else 'no answer'}.")
    except Exception as e:  # noqa: BLE001 - shown to the admin who typed it
        flash(f"{said} was not sent: {type(e).__name__}: {secrets_masked(str(e))}")
    return redirect(url_for("atmonitor.modem", name=name))


def init_app(app: Any) -> None:
    register_feed(app, "at", feed)
