"""The dashboard: each modem's health and queue, and the charts; a modem's radio page.

The radio page (``/modems/<name>/radio``) is for placing the antenna: the signal as the modem
reads it now, every :data:`SIGNAL_SECONDS` while the page is open (an ``AT+CSQ`` on the
modem's thread, sent as the ``signal`` feed of the page's event stream, :mod:`web.live`), and
the last 30 days from ``radio_history`` (5-minute buckets the health poll fills, charted by
the hour; retention keeps 30 days).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, render_template

from appliance.errors import ApplianceError
from appliance.modem import health
from appliance.system import health as condition
from web import charts
from web.helpers import daemon
from web.live import register_feed

if TYPE_CHECKING:
    from appliance.modem.modem import Modem

bp = Blueprint("dashboard", __name__)
DAYS = 14
SIGNAL_HOURS = 24
RADIO_DAYS = 30  # the radio history shown (appliance.store.retention keeps as much)
HOUR = 3600.0
BUCKET = health.BUCKET_SECONDS  # radio_history's 5 minutes
SIGNAL_SECONDS = 3.0  # the radio page's live figure: one AT+CSQ this often while it is open
SIGNAL_TIMEOUT = 5.0  # seconds the modem's thread has to answer it


def modem_rows() -> list[dict[str, Any]]:
    d = daemon()
    health = {r["modem"]: r for r in d.store.read("SELECT * FROM modem_health")}
    queued = {
        r["modem"]: r["n"]
        for r in d.store.read(
            "SELECT modem, COUNT(*) AS n FROM messages WHERE status IN ('queued', 'sending')"
            " GROUP BY modem"
        )
    }
    rows = []
    for n in d.store.read("SELECT * FROM numbers ORDER BY modem"):
        h = health.get(n["modem"])
        live = d.modems.get(n["modem"])
        state = live.state if live is not None else h["state"] if h else "unknown"
        error = live.last_error if live is not None else h["last_error"] if h else None
        # The same condition and reason as /health (network lost, SIM not ready, disconnected).
        c = condition.assess(n["modem"], state, error, dict(h) if h else None)
        rows.append(
            {
                "modem": n["modem"],
                "number": n["phone_number"],
                "sid": n["sid"],
                "state": state,
                "condition": c.condition,
                "reason": c.reason,
                "signal": h["signal"] if h else None,
                "registration": h["registration"] if h else None,
                "operator": h["operator"] if h else None,
                "sim": h["sim"] if h else None,
                "model": " ".join(
                    x for x in ((h["manufacturer"] or "", h["model"] or "") if h else ()) if x
                ),
                "last_error": error,
                "updated": h["updated"] if h else None,
                "queue": queued.get(n["modem"], 0),
            }
        )
    return rows


def signal_label(csq: int | None) -> str:
    """AT+CSQ's 0..31 as dBm (99 or None: unknown)."""
    if csq is None or csq == 99:
        return "unknown"
    return f"{csq}/31 ({-113 + 2 * int(csq)} dBm)"


def message_charts(now: float) -> dict[str, Any]:
    d = daemon()
    today = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today.timestamp() - (DAYS - 1) * 86400
    inbound, outbound = [0.0] * DAYS, [0.0] * DAYS
    delivered, lost = [0.0] * DAYS, [0.0] * DAYS
    for day in range(DAYS):
        # One range per day over the covering index messages_day: no sort, no table lookups
        # (a GROUP BY over a computed day sorts every row and took 4x as long).
        row = d.store.read_one(
            "SELECT COUNT(*) AS n,"
            " SUM(CASE WHEN direction = 'inbound' THEN 1 ELSE 0 END) AS inbound,"
            " SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered,"
            " SUM(CASE WHEN status IN ('undelivered', 'failed') THEN 1 ELSE 0 END) AS lost"
            " FROM messages WHERE date_created >= ? AND date_created < ?",
            (start + day * 86400, start + (day + 1) * 86400),
        )
        if row is None or not row["n"]:
            continue
        inbound[day] = row["inbound"] or 0
        outbound[day] = row["n"] - inbound[day]
        delivered[day] = row["delivered"] or 0
        lost[day] = row["lost"] or 0
    labels = [
        datetime.fromtimestamp(start + i * 86400, UTC).strftime("%d %b")[:6] for i in range(DAYS)
    ]
    rate = [
        (i, 100.0 * delivered[i] / (delivered[i] + lost[i]))
        for i in range(DAYS)
        if delivered[i] + lost[i]
    ]
    total_out = sum(outbound)
    return {
        "per_day": charts.bars("Messages per day", labels, [("in", inbound), ("out", outbound)]),
        "delivery": charts.line(
            "Delivery rate (delivered / delivered + failed)",
            [(float(i), v) for i, v in rate],
            ymax=100.0,
            unit="%",
            # the whole fortnight on the x axis: one day of data is a dot on its day, not a
            # dot at the left edge under two labels of the same date
            x_range=(0.0, DAYS - 1.0),
            first_label=labels[0],
            last_label=labels[-1],
        ),
        "totals": {
            "in": int(sum(inbound)),
            "out": int(total_out),
            "delivered": int(sum(delivered)),
            "lost": int(sum(lost)),
        },
    }


def signal_charts(now: float) -> list[tuple[str, Any]]:
    d = daemon()
    out = []
    since = now - SIGNAL_HOURS * 3600
    for m in d.store.read("SELECT DISTINCT modem FROM signal_samples WHERE at >= ?", (since,)):
        points = [
            (r["at"], float(r["signal"]))
            for r in d.store.read(
                "SELECT at, signal FROM signal_samples WHERE modem = ? AND at >= ?"
                " AND signal IS NOT NULL AND signal != 99 ORDER BY at",
                (m["modem"], since),
            )
        ]
        first = datetime.fromtimestamp(points[0][0], UTC).strftime("%H:%M") if points else ""
        last = datetime.fromtimestamp(points[-1][0], UTC).strftime("%H:%M UTC") if points else ""
        out.append(
            (
                m["modem"],
                charts.line(
                    f"Signal of {m['modem']} (CSQ, 0-31)",
                    points,
                    ymax=31.0,
                    first_label=first,
                    last_label=last,
                ),
            )
        )
    return out


def radio_hours(
    modem: str, now: float, days: int = RADIO_DAYS, step: float = HOUR
) -> list[dict[str, Any]]:
    """``radio_history`` by ``step`` seconds over ``days``: mean, lowest and highest CSQ,
    % of polls registered."""
    store = daemon().store
    hour = store.dialect.floor_div("bucket", "?")
    rows = store.read(
        f"SELECT {hour} * ? AS hour, SUM(samples) AS samples,"
        " SUM(signal_sum) AS signal_sum, SUM(signal_n) AS signal_n, MIN(signal_min) AS low,"
        " MAX(signal_max) AS high, SUM(registered) AS registered FROM radio_history"
        " WHERE modem = ? AND bucket >= ? GROUP BY hour ORDER BY hour",
        (step, step, modem, now - days * 86400),
    )
    return [
        {
            "hour": float(r["hour"]),
            "mean": r["signal_sum"] / r["signal_n"] if r["signal_n"] else None,
            "low": r["low"],
            "high": r["high"],
            "registered": 100.0 * r["registered"] / r["samples"],
        }
        for r in rows
    ]


def radio_charts(
    modem: str, now: float, days: int = RADIO_DAYS, step: float = HOUR
) -> dict[str, Any]:
    """The signal (mean per ``step``) and the share of polls registered, ``days`` to now."""
    hours = radio_hours(modem, now, days, step)
    per = "hourly" if step == HOUR else f"{int(step // 60)}-minute"
    start = now - days * 86400
    span = (start, now)
    shape = ("%H:%M", "%H:%M UTC") if days == 1 else ("%d %b", "%d %b")
    first = datetime.fromtimestamp(start, UTC).strftime(shape[0])
    last = datetime.fromtimestamp(now, UTC).strftime(shape[1])
    return {
        "hours": hours,
        "signal": charts.line(
            f"Signal of {modem} over {_days(days)} (CSQ 0-31, {per} mean)",
            [(h["hour"], float(h["mean"])) for h in hours if h["mean"] is not None],
            ymax=31.0,
            first_label=first,
            last_label=last,
            x_range=span,
            gap=2 * step,
        ),
        "registered": charts.line(
            f"Registered on the network over {_days(days)} (% of health polls)",
            [(h["hour"], h["registered"]) for h in hours],
            ymax=100.0,
            unit="%",
            first_label=first,
            last_label=last,
            x_range=span,
            gap=2 * step,
        ),
    }


def _days(days: int) -> str:
    return "24 h" if days == 1 else f"{days} days"


class SignalFeed:
    """The ``signal`` feed of the radio page's stream: AT+CSQ every :data:`SIGNAL_SECONDS`."""

    interval = SIGNAL_SECONDS

    def __init__(self, modem: Modem) -> None:
        self.modem = modem
        self.due = 0.0

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        now = time.monotonic()
        if now < self.due:
            return []
        self.due = now + SIGNAL_SECONDS
        data: dict[str, Any] = {"modem": self.modem.name, "at": time.time()}
        try:
            csq = health.signal_of(
                self.modem.submit(lambda drv: drv.command("AT+CSQ"), timeout=SIGNAL_TIMEOUT)
            )
            data.update(csq=csq, label=signal_label(csq))
        except (ApplianceError, TimeoutError) as e:
            data.update(csq=None, label=f"not read ({e})")
        return [("signal", data)]


def signal_feed(arg: str) -> SignalFeed:
    """``?feed=signal:<modem>``: any signed-in user (it only reads the signal)."""
    modem = daemon().modems.get(arg)
    if modem is None:
        abort(404)
    return SignalFeed(modem)


@bp.get("/modems/<name>/radio")
def radio(name: str) -> str:
    now = time.time()
    rows = [r for r in modem_rows() if r["modem"] == name]
    if name not in daemon().modems and not rows:
        abort(404)
    return render_template(
        "radio.html",
        name=name,
        modem=rows[0] if rows else None,
        live=name in daemon().modems,
        signal_label=signal_label,
        month=radio_charts(name, now),
        day=radio_charts(name, now, 1, BUCKET),
        seconds=int(SIGNAL_SECONDS),
    )


def init_app(app: Any) -> None:
    register_feed(app, "signal", signal_feed)


@bp.get("/")
def index() -> str:
    now = time.time()
    d = daemon()
    failures = d.store.read_one(
        "SELECT COUNT(*) FROM webhook_log WHERE error_code IS NOT NULL AND at >= ?",
        (now - 86400,),
    )
    rows = modem_rows()
    return render_template(
        "dashboard.html",
        modems=rows,
        signal_label=signal_label,
        charts=message_charts(now),
        signals=signal_charts(now),
        radio={m["modem"]: radio_charts(m["modem"], now)["signal"] for m in rows},
        failures=failures[0] if failures else 0,
    )
