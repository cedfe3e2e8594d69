"""Broadcasts: one message per subscriber of a list, now or on a cron schedule.

Content is one of three kinds:

* ``text``: a template with per-subscriber fields (``{name}``, ``{town}``,
  ``{phone_number}``, ``{first_name}``);
* ``url``: the app-initiated pattern: the URL is requested once per subscriber
  (signed like a webhook, with ``To``, ``From``, ``Name``, ``Town``, ``Latitude``,
  ``Longitude``) and each ``<Message>`` in the TwiML it returns is sent;
* ``weather``: today's forecast for each subscriber's own place from the
  Open-Meteo-compatible API (:mod:`appliance.weather`); the content is a template
  in which ``{forecast}`` stands for the forecast sentence.

A run renders every message first and queues them only when the whole run
rendered: a forecast API that is down fails the run (visibly, with its error)
and the scheduler retries it later; it never half-sends.  Messages go through
:meth:`appliance.outbox.Outbox.insert`, the same core as the REST API, in batches
of :data:`BATCH` per transaction; opt-outs are refused there (21610) and recorded
per recipient.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from apscheduler.triggers.cron import CronTrigger

from appliance.campaigns.subscribers import Subscribers
from appliance.campaigns.weather import Forecast, WeatherClient, WeatherError, describe
from appliance.errors import ApplianceError
from appliance.sms import codec as sms
from appliance.sms.outbox import Outbox, OutboxError
from appliance.store.database import Row, Store
from appliance.twiml import messaging
from appliance.webhooks import signature

LOGGER = logging.getLogger(__name__)

KINDS = ("text", "url", "weather")
FIELDS = ("name", "first_name", "town", "phone_number", "forecast")
BATCH = 1000  # messages per transaction when queueing a run
PREVIEW = 3
_PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")
URL_TIMEOUT = (5.0, 10.0)


class BroadcastError(ApplianceError):
    """Bad broadcast input (``field`` names the form field) or a run that cannot go ahead."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class RunFailed(ApplianceError):
    """A run failed as a whole (e.g. the forecast API is down); it may be retried."""


@dataclasses.dataclass(frozen=True)
class Spec:
    """A broadcast as entered in the form, validated."""

    name: str
    list_id: int
    modem: str
    kind: str
    content: str
    schedule: str
    timezone: str
    enabled: bool = True


def cron_trigger(schedule: str, timezone: str) -> CronTrigger:
    """``m h dom mon dow`` in ``timezone``; raises :class:`BroadcastError` with the reason."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BroadcastError(
            f"Unknown time zone {timezone!r}: use a name such as Europe/London", "timezone"
        ) from None
    fields = schedule.split()
    if len(fields) != 5:
        raise BroadcastError(
            "A schedule has five fields: minute hour day-of-month month day-of-week,"
            " e.g. '0 7 * * *' for every day at 07:00",
            "schedule",
        )
    try:
        return CronTrigger.from_crontab(schedule, timezone=tz)
    except ValueError as e:
        raise BroadcastError(f"Invalid schedule {schedule!r}: {e}", "schedule") from None


def check_template(text: str, kind: str) -> None:
    for name in _PLACEHOLDER.findall(text):
        if name not in FIELDS or (name == "forecast" and kind != "weather"):
            allowed = [f for f in FIELDS if f != "forecast" or kind == "weather"]
            raise BroadcastError(
                f"Unknown field {{{name}}}: use {', '.join('{' + f + '}' for f in allowed)}",
                "content",
            )


def fill(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def parse_spec(form: dict[str, str], modems: list[str], list_ids: list[int]) -> Spec:
    """Validate the broadcast form; raises :class:`BroadcastError` naming the field."""
    name = (form.get("name") or "").strip()
    if not name or len(name) > 80:
        raise BroadcastError("A broadcast needs a name of 1 to 80 characters", "name")
    try:
        list_id = int(form.get("list_id") or "")
    except ValueError:
        raise BroadcastError("Choose a subscriber list", "list_id") from None
    if list_id not in list_ids:
        raise BroadcastError("Choose a subscriber list", "list_id")
    modem = form.get("modem") or (modems[0] if modems else "")
    if modem not in modems:
        raise BroadcastError("Choose the modem (number) to send from", "modem")
    kind = form.get("kind") or ""
    if kind not in KINDS:
        raise BroadcastError("Content is text, url or weather", "kind")
    content = (form.get("content") or "").strip()
    if kind == "url":
        parts = urllib.parse.urlsplit(content)
        if parts.scheme not in ("http", "https") or not parts.hostname or " " in content:
            raise BroadcastError(
                f"{content or 'An empty value'} is not a valid URL: use http:// or https://",
                "content",
            )
    elif kind == "text" and not content:
        raise BroadcastError("Write the message", "content")
    else:
        content = content or "{forecast}"
        check_template(content, kind)
    if kind == "text":
        check_template(content, kind)
        try:
            sms.split(fill(content, {f: "" for f in FIELDS}))
        except sms.BodyTooLong:
            raise BroadcastError("The message is longer than 1600 characters", "content") from None
    schedule = " ".join((form.get("schedule") or "").split())
    timezone = (form.get("timezone") or "UTC").strip()
    if schedule:
        cron_trigger(schedule, timezone)
    else:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise BroadcastError(f"Unknown time zone {timezone!r}", "timezone") from None
    return Spec(
        name, list_id, modem, kind, content, schedule, timezone, form.get("enabled", "1") != "0"
    )


@dataclasses.dataclass
class Rendered:
    """What one subscriber gets: bodies to send, or why nothing is sent."""

    subscriber: Row
    bodies: list[str]
    error: str = ""


class Broadcasts:
    """Broadcast definitions, runs and their recipients."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        subscribers: Subscribers,
        weather: WeatherClient,
        *,
        auth_token: Callable[[], str],
        number_of: Callable[[str], Row],
        rate: float,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.subscribers = subscribers
        self.weather = weather
        self._auth_token = auth_token
        self._number_of = number_of
        self.rate = rate  # segments per second per modem (0: as fast as the modem takes them)
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self.session = requests.Session()

    # -- definitions -------------------------------------------------------------------------

    def create(self, spec: Spec) -> int:
        now = time.time()
        return self.store.write(
            lambda conn: int(
                conn.execute(
                    "INSERT INTO broadcasts (name, list_id, modem, kind, content, schedule, timezone,"
                    " enabled, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        spec.name,
                        spec.list_id,
                        spec.modem,
                        spec.kind,
                        spec.content,
                        spec.schedule,
                        spec.timezone,
                        int(spec.enabled),
                        now,
                        now,
                    ),
                ).lastrowid
                or 0
            )
        )

    def update(self, broadcast_id: int, spec: Spec) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE broadcasts SET name = ?, list_id = ?, modem = ?, kind = ?, content = ?,"
                " schedule = ?, timezone = ?, enabled = ?, updated = ? WHERE id = ?",
                (
                    spec.name,
                    spec.list_id,
                    spec.modem,
                    spec.kind,
                    spec.content,
                    spec.schedule,
                    spec.timezone,
                    int(spec.enabled),
                    time.time(),
                    broadcast_id,
                ),
            )
        )

    def delete(self, broadcast_id: int) -> None:
        self.store.write(
            lambda conn: conn.execute("DELETE FROM broadcasts WHERE id = ?", (broadcast_id,))
        )

    def get(self, broadcast_id: int) -> Row | None:
        return self.store.read_one(
            "SELECT b.*, l.name AS list_name FROM broadcasts b"
            " LEFT JOIN subscriber_lists l ON l.id = b.list_id WHERE b.id = ?",
            (broadcast_id,),
        )

    def all(self) -> list[Row]:
        return self.store.read(
            "SELECT b.*, l.name AS list_name, (SELECT r.state FROM broadcast_runs r"
            " WHERE r.broadcast_id = b.id ORDER BY r.id DESC LIMIT 1) AS last_state"
            " FROM broadcasts b LEFT JOIN subscriber_lists l ON l.id = b.list_id ORDER BY b.name"
        )

    # -- rendering ---------------------------------------------------------------------------

    def _values(self, sub: Row) -> dict[str, str]:
        name = sub["name"] or ""
        return {
            "name": name,
            "first_name": name.split()[0] if name.split() else "",
            "town": sub["town"] or "",
            "phone_number": sub["phone_number"],
        }

    def render(self, b: Row, subs: list[Row]) -> list[Rendered]:
        """Every subscriber's messages.  Raises :class:`RunFailed` if the source is down."""
        if b["kind"] == "text":
            return [Rendered(s, [fill(b["content"], self._values(s))]) for s in subs]
        if b["kind"] == "url":
            return [self._render_url(b, s) for s in subs]
        return self._render_weather(b, subs)

    def _render_url(self, b: Row, sub: Row) -> Rendered:
        ours = self._number_of(b["modem"])["phone_number"]
        params = {
            "To": sub["phone_number"],
            "From": ours,
            "Name": sub["name"] or "",
            "Town": sub["town"] or "",
            "Latitude": "" if sub["latitude"] is None else str(sub["latitude"]),
            "Longitude": "" if sub["longitude"] is None else str(sub["longitude"]),
            "BroadcastId": str(b["id"]),
        }
        url = b["content"]
        headers = {"X-Twilio-Signature": signature.signature(self._auth_token(), url, params)}
        try:
            rv = self.session.post(url, data=params, headers=headers, timeout=URL_TIMEOUT)
        except requests.RequestException as e:
            raise RunFailed(f"{url}: {type(e).__name__}: {e}") from None
        if rv.status_code >= 500:
            raise RunFailed(f"{url}: HTTP {rv.status_code}")
        if rv.status_code != 200:
            return Rendered(sub, [], f"HTTP {rv.status_code} from the content URL")
        try:
            doc = messaging.parse(rv.content, rv.headers.get("Content-Type"), base_url=url)
        except messaging.TwimlError as e:
            return Rendered(sub, [], f"TwiML error {e.code}: {e.message}")
        bodies = [m.body for m in doc.messages if m.body]
        return Rendered(sub, bodies, "" if bodies else "the TwiML had no <Message>")

    def _render_weather(self, b: Row, subs: list[Row]) -> list[Rendered]:
        forecasts: dict[tuple[float, float, str], Forecast] = {}
        places: dict[str, tuple[float, float, str]] = {}
        out: list[Rendered] = []
        for sub in subs:
            lat, lon, tz = sub["latitude"], sub["longitude"], sub["timezone"] or ""
            if lat is None or lon is None:
                town = (sub["town"] or "").strip()
                if not town:
                    out.append(Rendered(sub, [], "no location: set a town or coordinates"))
                    continue
                if town.lower() not in places:
                    try:
                        place = self.weather.geocode(town)
                    except WeatherError as e:
                        if "no place" in e.message or "no coordinates" in e.message:
                            out.append(Rendered(sub, [], e.message))
                            continue
                        raise RunFailed(f"geocoding {town!r}: {e.message}") from None
                    places[town.lower()] = (place.latitude, place.longitude, place.timezone)
                lat, lon, found_tz = places[town.lower()]
                tz = tz or found_tz
                self.subscribers.set_location(sub["id"], lat, lon, tz)
            key = (round(float(lat), 2), round(float(lon), 2), tz)
            if key not in forecasts:
                try:
                    forecasts[key] = self.weather.forecast(float(lat), float(lon), tz)
                except WeatherError as e:
                    raise RunFailed(f"forecast API: {e.message}") from None
            values = self._values(sub)
            values["forecast"] = describe(forecasts[key], sub["town"] or "")
            out.append(Rendered(sub, [fill(b["content"], values)]))
        return out

    def preview(self, broadcast_id: int) -> dict[str, Any]:
        """A few rendered messages, the audience, segments and the estimated duration."""
        b = self.get(broadcast_id)
        if b is None:
            raise BroadcastError("no such broadcast")
        audience = self.subscribers.audience(b["list_id"])
        samples: list[dict[str, Any]] = []
        error = ""
        try:
            for r in self.render(b, audience[:PREVIEW]):
                samples.append(
                    {
                        "to": r.subscriber["phone_number"],
                        "bodies": r.bodies,
                        "segments": sum(sms.count_segments(x) for x in r.bodies),
                        "error": r.error,
                    }
                )
        except RunFailed as e:
            error = e.message
        per = [s["segments"] for s in samples if s["segments"]]
        per_message = max(per) if per else 1
        total_segments = per_message * len(audience)
        seconds = total_segments / self.rate if self.rate > 0 else 0.0
        return {
            "broadcast": b,
            "audience": len(audience),
            "samples": samples,
            "segments_each": per_message,
            "segments_total": total_segments,
            "seconds": seconds,
            "error": error,
        }

    # -- runs --------------------------------------------------------------------------------

    def run(self, broadcast_id: int, *, reason: str = "manual", attempt: int = 1) -> int:
        """Render and queue one run; returns the run's id.  Raises :class:`RunFailed`
        (after recording the failure on the run) when it failed as a whole."""
        b = self.get(broadcast_id)
        if b is None:
            raise BroadcastError(f"broadcast {broadcast_id} no longer exists")
        with self._lock:
            if broadcast_id in self._running:
                raise BroadcastError(f"broadcast {broadcast_id} is already running")
            self._running.add(broadcast_id)
        try:
            return self._run(b, reason, attempt)
        finally:
            with self._lock:
                self._running.discard(broadcast_id)

    def _run(self, b: Row, reason: str, attempt: int) -> int:
        started = time.time()
        audience = self.subscribers.audience(b["list_id"])
        run_id = self.store.write(
            lambda conn: int(
                conn.execute(
                    "INSERT INTO broadcast_runs (broadcast_id, reason, attempt, state, total, started)"
                    " VALUES (?,?,?,'rendering',?,?)",
                    (b["id"], reason, attempt, len(audience), started),
                ).lastrowid
                or 0
            )
        )
        try:
            rendered = self.render(b, audience)
        except RunFailed as e:
            self._finish(run_id, "failed", e.message)
            LOGGER.warning("broadcast %s run %d failed: %s", b["name"], run_id, e.message)
            raise
        except Exception as e:
            self._finish(run_id, "failed", f"{type(e).__name__}: {e}")
            raise
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE broadcast_runs SET state = 'queueing' WHERE id = ?", (run_id,)
            )
        )
        from_number = self._number_of(b["modem"])["phone_number"]
        queued = skipped = segments = 0
        for start in range(0, len(rendered), BATCH):
            chunk = rendered[start : start + BATCH]
            items: list[tuple[str, str, tuple[str, list[sms.Segment]] | None, str]] = []
            for r in chunk:
                to = r.subscriber["phone_number"]
                if r.error or not r.bodies:
                    items.append((to, "", None, r.error or "nothing to send"))
                    continue
                for body in r.bodies:
                    try:
                        items.append((to, body, self.outbox.validate(to, body), ""))
                    except ApplianceError as e:
                        items.append((to, body, None, e.message))

            def fn(conn: sqlite3.Connection, items: list[Any] = items) -> tuple[int, int, int]:
                q = s = n = 0
                for to, body, checked, error in items:
                    sid = None
                    if checked is not None:
                        try:
                            sid = self.outbox.insert(
                                conn,
                                modem=b["modem"],
                                from_number=from_number,
                                to=to,
                                body=body,
                                validated=checked,
                            )
                            q += 1
                            n += len(checked[1])
                        except OutboxError as e:
                            error = f"{e.code}: {e.message}"
                    if sid is None:
                        s += 1
                    conn.execute(
                        "INSERT INTO broadcast_recipients (run_id, phone_number, message_sid, error)"
                        " VALUES (?,?,?,?) ON CONFLICT (run_id, phone_number) DO NOTHING",
                        (run_id, to, sid, error or None),
                    )
                conn.execute(
                    "UPDATE broadcast_runs SET queued = queued + ?, skipped = skipped + ?,"
                    " segments = segments + ? WHERE id = ?",
                    (q, s, n, run_id),
                )
                return q, s, n

            q, s, n = self.store.write(fn)
            queued, skipped, segments = queued + q, skipped + s, segments + n
            self.outbox.wake(b["modem"])
        self._finish(run_id, "done", None)
        LOGGER.info(
            "broadcast %s run %d: %d queued, %d skipped in %.2f s",
            b["name"],
            run_id,
            queued,
            skipped,
            time.time() - started,
        )
        return run_id

    def _finish(self, run_id: int, state: str, error: str | None) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE broadcast_runs SET state = ?, error = ?, finished = ? WHERE id = ?",
                (state, error, time.time(), run_id),
            )
        )

    def runs(self, broadcast_id: int, limit: int = 20) -> list[Row]:
        return self.store.read(
            "SELECT r.*, (SELECT COUNT(*) FROM broadcast_recipients x JOIN messages m"
            " ON m.sid = x.message_sid WHERE x.run_id = r.id AND m.status = 'delivered') AS delivered"
            " FROM broadcast_runs r WHERE r.broadcast_id = ? ORDER BY r.id DESC LIMIT ?",
            (broadcast_id, limit),
        )

    def get_run(self, run_id: int) -> Row | None:
        return self.store.read_one("SELECT * FROM broadcast_runs WHERE id = ?", (run_id,))

    def recipients(self, run_id: int, limit: int = 500, offset: int = 0) -> list[Row]:
        return self.store.read(
            "SELECT x.phone_number, x.message_sid, x.error, m.status, m.error_code, m.body"
            " FROM broadcast_recipients x LEFT JOIN messages m ON m.sid = x.message_sid"
            " WHERE x.run_id = ? ORDER BY x.phone_number LIMIT ? OFFSET ?",
            (run_id, limit, offset),
        )
