"""Subscriber lists: join and leave by SMS keyword, CSV import with per-row errors.

A list belongs to one modem (its number is the one people text).  An inbound
SMS whose first word is the list's join keyword ("WEATHER" or "WEATHER Leeds")
adds the sender (with the town, if given); one equal to the leave keyword marks
them as left.  Opt-outs (STOP) are kept by :mod:`appliance.optout` and checked by
the outbox on every send, so a subscriber who texted STOP is never sent to,
whatever their status here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.errors import ApplianceError, InvalidNumber
from appliance.numbers import normalize
from appliance.sms import optout
from appliance.sms.outbox import Outbox, OutboxError
from appliance.store.database import Row, Store

LOGGER = logging.getLogger(__name__)

KEYWORD = re.compile(r"^[A-Z0-9]{2,20}( [A-Z0-9]{2,20})?$")
MAX_NAME = 80
MAX_TOWN = 80
IMPORT_BATCH = 500  # rows per transaction when importing a CSV
MAX_IMPORT_ERRORS = 1000  # per-row errors kept for the page (the count is always exact)
CSV_COLUMNS = ("phone_number", "name", "town", "latitude", "longitude", "timezone")


class SubscriberError(ApplianceError):
    """Bad subscriber or list input; ``field`` names the form field it belongs to."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


@dataclasses.dataclass(frozen=True)
class Subscriber:
    """One subscriber's row, validated."""

    phone_number: str
    name: str = ""
    town: str = ""
    latitude: float | None = None
    longitude: float | None = None
    timezone: str = ""


def check_keyword(text: str, field: str) -> str:
    word = " ".join(text.split()).upper()
    if word and not KEYWORD.match(word):
        raise SubscriberError(
            "A keyword is one or two words of 2 to 20 letters or digits, such as WEATHER", field
        )
    if word in optout.parse_keywords(optout.DEFAULT_OPT_OUT_KEYWORDS + ", START, HELP, INFO"):
        raise SubscriberError(f"{word} is reserved for opt-out and help", field)
    return word


def check_timezone(name: str, field: str = "timezone") -> str:
    name = name.strip()
    if not name:
        return ""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SubscriberError(
            f"Unknown time zone {name!r}: use a name such as Europe/London", field
        ) from None
    return name


def _coordinate(text: str, limit: float, field: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise SubscriberError(f"{field} must be a number, not {text!r}", field) from None
    if not math.isfinite(value) or abs(value) > limit:
        raise SubscriberError(f"{field} must be between -{limit:g} and {limit:g}", field)
    return value


def parse_subscriber(values: dict[str, str]) -> Subscriber:
    """Validate one subscriber (a form or a CSV row); raises :class:`SubscriberError`."""
    raw = (values.get("phone_number") or "").strip()
    if not raw:
        raise SubscriberError("A phone number is required", "phone_number")
    try:
        number = normalize(raw, field="phone_number")
    except InvalidNumber as e:
        raise SubscriberError(e.message, "phone_number") from None
    name = (values.get("name") or "").strip()
    town = (values.get("town") or "").strip()
    if len(name) > MAX_NAME:
        raise SubscriberError(f"name is longer than {MAX_NAME} characters", "name")
    if len(town) > MAX_TOWN:
        raise SubscriberError(f"town is longer than {MAX_TOWN} characters", "town")
    lat = _coordinate(values.get("latitude") or "", 90, "latitude")
    lon = _coordinate(values.get("longitude") or "", 180, "longitude")
    if (lat is None) != (lon is None):
        raise SubscriberError("give both latitude and longitude, or neither", "latitude")
    return Subscriber(number, name, town, lat, lon, check_timezone(values.get("timezone") or ""))


class Subscribers:
    """Lists and subscribers in the store; keyword handling for inbound SMS."""

    def __init__(self, store: Store, outbox: Outbox | None = None) -> None:
        self.store = store
        self.outbox = outbox
        self._keyword_lock = threading.Lock()
        store.write(optout.ensure_table)  # audience queries join on it
        # Keywords count from the first start on, not over the whole message history.
        store.ensure_setting(
            "subscribers_inbound_seq",
            lambda: str((store.read_one("SELECT COALESCE(MAX(seq), 0) FROM messages") or [0])[0]),
        )

    # -- lists ---------------------------------------------------------------------------------

    def create_list(self, name: str, modem: str, join_keyword: str, leave_keyword: str) -> int:
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise SubscriberError(f"A list needs a name of 1 to {MAX_NAME} characters", "name")
        join = check_keyword(join_keyword, "join_keyword")
        leave = check_keyword(leave_keyword, "leave_keyword")
        if join and join == leave:
            raise SubscriberError(
                "The leave keyword must differ from the join keyword", "leave_keyword"
            )

        def fn(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM subscriber_lists WHERE name = ?", (name,)).fetchone():
                raise SubscriberError(f"There is already a list named {name!r}", "name")
            for word, f in ((join, "join_keyword"), (leave, "leave_keyword")):
                if (
                    word
                    and conn.execute(
                        "SELECT 1 FROM subscriber_lists WHERE modem = ? AND (join_keyword = ? OR leave_keyword = ?)",
                        (modem, word, word),
                    ).fetchone()
                ):
                    raise SubscriberError(
                        f"{word} is already used by another list on this number", f
                    )
            cur = conn.execute(
                "INSERT INTO subscriber_lists (name, modem, join_keyword, leave_keyword, created)"
                " VALUES (?,?,?,?,?)",
                (name, modem, join, leave, time.time()),
            )
            return int(cur.lastrowid or 0)

        return self.store.write(fn)

    def lists(self) -> list[Row]:
        return self.store.read(
            "SELECT l.*, (SELECT COUNT(*) FROM subscribers s WHERE s.list_id = l.id"
            " AND s.status = 'active') AS active FROM subscriber_lists l ORDER BY l.name"
        )

    def get_list(self, list_id: int) -> Row | None:
        return self.store.read_one("SELECT * FROM subscriber_lists WHERE id = ?", (list_id,))

    # -- subscribers ---------------------------------------------------------------------------

    def add(self, list_id: int, sub: Subscriber) -> None:
        self.store.write(lambda conn: _upsert(conn, list_id, sub, time.time()))

    def set_status(self, list_id: int, phone_number: str, status: str) -> bool:
        def fn(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE subscribers SET status = ?, updated = ? WHERE list_id = ? AND phone_number = ?",
                (status, time.time(), list_id, phone_number),
            )
            return cur.rowcount > 0

        return self.store.write(fn)

    def members(self, list_id: int, *, limit: int = 200, offset: int = 0) -> list[Row]:
        """Subscribers of a list, with ``opted_out`` (1 when they texted STOP to the list's number)."""
        return self.store.read(
            "SELECT s.*, EXISTS (SELECT 1 FROM opt_outs o JOIN numbers n ON n.phone_number = o.phone_number"
            " WHERE n.modem = l.modem AND o.sender = s.phone_number) AS opted_out"
            " FROM subscribers s JOIN subscriber_lists l ON l.id = s.list_id"
            " WHERE s.list_id = ? ORDER BY s.id LIMIT ? OFFSET ?",
            (list_id, limit, offset),
        )

    def count(self, list_id: int) -> int:
        row = self.store.read_one("SELECT COUNT(*) FROM subscribers WHERE list_id = ?", (list_id,))
        return int(row[0]) if row else 0

    def audience(self, list_id: int) -> list[Row]:
        """Active subscribers who have not opted out of the list's number."""
        return self.store.read(
            "SELECT s.* FROM subscribers s JOIN subscriber_lists l ON l.id = s.list_id"
            " WHERE s.list_id = ? AND s.status = 'active' AND NOT EXISTS ("
            "  SELECT 1 FROM opt_outs o JOIN numbers n ON n.phone_number = o.phone_number"
            "  WHERE n.modem = l.modem AND o.sender = s.phone_number)"
            " ORDER BY s.id",
            (list_id,),
        )

    def set_location(self, sub_id: int, lat: float, lon: float, tz: str) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE subscribers SET latitude = ?, longitude = ?,"
                " timezone = CASE WHEN timezone = '' THEN ? ELSE timezone END WHERE id = ?",
                (lat, lon, tz, sub_id),
            )
        )

    # -- CSV import ----------------------------------------------------------------------------

    def start_import(self, list_id: int, text: str) -> int:
        """Record an import and run it on a thread; the page polls :meth:`import_state`."""
        rows = list(csv.reader(io.StringIO(text)))
        job = self.store.write(
            lambda conn: int(
                conn.execute(
                    "INSERT INTO subscriber_imports (list_id, state, total, started) VALUES (?,?,?,?)",
                    (list_id, "running", max(0, len(rows) - 1), time.time()),
                ).lastrowid
                or 0
            )
        )
        threading.Thread(
            target=self.run_import, args=(job, list_id, rows), name=f"import {job}", daemon=True
        ).start()
        return job

    def run_import(self, job: int, list_id: int, rows: list[list[str]]) -> None:
        try:
            self._import(job, list_id, rows)
        except Exception as e:  # noqa: BLE001 - shown on the import's page
            LOGGER.exception("import %d failed", job)
            why = json.dumps([[0, f"{type(e).__name__}: {e}"]])
            self.store.write(
                lambda conn: conn.execute(
                    "UPDATE subscriber_imports SET state = 'failed', errors = ?, finished = ? WHERE id = ?",
                    (why, time.time(), job),
                )
            )

    def _import(self, job: int, list_id: int, rows: list[list[str]]) -> None:
        errors: list[tuple[int, str]] = []
        error_count = 0
        if not rows:
            header: list[str] = []
        else:
            header = [h.strip().lower().replace(" ", "_") for h in rows[0]]
        if "phone_number" not in header:
            errors.append((1, "the first row must name the columns, including phone_number"))
            rows = []
        imported = 0
        for start in range(1, max(1, len(rows)), IMPORT_BATCH):
            batch: list[Subscriber] = []
            for i, row in enumerate(rows[start : start + IMPORT_BATCH], start=start + 1):
                try:
                    batch.append(parse_subscriber(dict(zip(header, row, strict=False))))
                except SubscriberError as e:
                    error_count += 1
                    if len(errors) < MAX_IMPORT_ERRORS:
                        errors.append((i, f"{e.field}: {e.message}" if e.field else e.message))
            done = min(len(rows) - 1, start - 1 + IMPORT_BATCH)
            imported += len(batch)
            now = time.time()

            def fn(
                conn: sqlite3.Connection,
                batch: list[Subscriber] = batch,
                done: int = done,
                now: float = now,
                imported: int = imported,
                refused: str = json.dumps(errors),
            ) -> None:
                for sub in batch:
                    _upsert(conn, list_id, sub, now)
                conn.execute(
                    "UPDATE subscriber_imports SET done = ?, imported = ?, errors = ? WHERE id = ?",
                    (done, imported, refused, job),
                )

            self.store.write(fn)
        self.store.write(
            lambda conn: conn.execute(
                "UPDATE subscriber_imports SET state = 'done', imported = ?, errors = ?, finished = ?"
                " WHERE id = ?",
                (imported, json.dumps(errors), time.time(), job),
            )
        )
        LOGGER.info("import %d: %d imported, %d rows refused", job, imported, error_count)

    def import_state(self, job: int) -> dict[str, Any] | None:
        row = self.store.read_one("SELECT * FROM subscriber_imports WHERE id = ?", (job,))
        if row is None:
            return None
        state = dict(row)
        state["errors"] = json.loads(row["errors"])
        return state

    # -- keywords ------------------------------------------------------------------------------

    def process_inbound(self) -> int:
        """Apply join/leave keywords of inbound messages not seen yet; returns how many matched."""
        with self._keyword_lock:
            cursor = int(self.store.setting("subscribers_inbound_seq") or 0)
            rows = self.store.read(
                "SELECT seq, modem, from_number, to_number, body FROM messages"
                " WHERE seq > ? AND direction = 'inbound' ORDER BY seq LIMIT 500",
                (cursor,),
            )
            last = self.store.read_one("SELECT COALESCE(MAX(seq), 0) FROM messages")
            if not rows:
                if last and int(last[0]) > cursor:
                    self._save_cursor(int(last[0]))
                return 0
            lists = self.store.read("SELECT * FROM subscriber_lists")
            matched = 0
            now = time.time()

            def fn(conn: sqlite3.Connection) -> int:
                n = 0
                for msg in rows:
                    n += self._keyword(conn, lists, msg, now)
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES ('subscribers_inbound_seq', ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(rows[-1]["seq"]),),
                )
                return n

            matched = self.store.write(fn)
            if matched and self.outbox is not None:
                for modem in {r["modem"] for r in rows}:
                    self.outbox.wake(modem)  # the keyword replies
            return matched

    def _save_cursor(self, seq: int) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "INSERT INTO settings (key, value) VALUES ('subscribers_inbound_seq', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(seq),),
            )
        )

    def _keyword(self, conn: sqlite3.Connection, lists: Iterable[Row], msg: Row, now: float) -> int:
        text = " ".join(optout.normalize_body(msg["body"] or "").split())
        sender = msg["from_number"]
        if not sender.startswith("+"):
            return 0
        for lst in lists:
            if lst["modem"] != msg["modem"]:
                continue
            leave, join = lst["leave_keyword"], lst["join_keyword"]
            if leave and text == leave:
                conn.execute(
                    "UPDATE subscribers SET status = 'left', updated = ? WHERE list_id = ? AND phone_number = ?",
                    (now, lst["id"], sender),
                )
                self._reply(
                    conn,
                    msg,
                    f"You have left {lst['name']}. Text {join} to join again."
                    if join
                    else f"You have left {lst['name']}.",
                )
                return 1
            if join and (text == join or text.startswith(join + " ")):
                town = " ".join((msg["body"] or "").split()[len(join.split()) :])[:MAX_TOWN]
                _upsert(conn, lst["id"], Subscriber(sender, town=town), now, keep_location=not town)
                self._reply(
                    conn,
                    msg,
                    f"You have joined {lst['name']}."
                    + (f" Text {leave} to leave." if leave else " Reply STOP to unsubscribe."),
                )
                return 1
        return 0

    def _reply(self, conn: sqlite3.Connection, msg: Row, body: str) -> None:
        if self.outbox is None:
            return
        try:
            self.outbox.insert(
                conn,
                modem=msg["modem"],
                from_number=msg["to_number"],
                to=msg["from_number"],
                body=body,
            )
        except (OutboxError, ApplianceError) as e:  # opted out, or a number we cannot send to
            LOGGER.info("no keyword reply to %s: %s", msg["from_number"], e)


def _upsert(
    conn: sqlite3.Connection,
    list_id: int,
    sub: Subscriber,
    now: float,
    *,
    keep_location: bool = False,
) -> None:
    if keep_location:
        conn.execute(
            "INSERT INTO subscribers (list_id, phone_number, name, town, latitude, longitude, timezone,"
            " status, created, updated) VALUES (?,?,?,?,?,?,?,'active',?,?)"
            " ON CONFLICT (list_id, phone_number) DO UPDATE SET status = 'active', updated = excluded.updated",
            (
                list_id,
                sub.phone_number,
                sub.name,
                sub.town,
                sub.latitude,
                sub.longitude,
                sub.timezone,
                now,
                now,
            ),
        )
        return
    conn.execute(
        "INSERT INTO subscribers (list_id, phone_number, name, town, latitude, longitude, timezone,"
        " status, created, updated) VALUES (?,?,?,?,?,?,?,'active',?,?)"
        " ON CONFLICT (list_id, phone_number) DO UPDATE SET"
        " name = CASE WHEN excluded.name = '' THEN subscribers.name ELSE excluded.name END,"
        " town = excluded.town, latitude = excluded.latitude, longitude = excluded.longitude,"
        " timezone = excluded.timezone, status = 'active', updated = excluded.updated",
        (
            list_id,
            sub.phone_number,
            sub.name,
            sub.town,
            sub.latitude,
            sub.longitude,
            sub.timezone,
            now,
            now,
        ),
    )
