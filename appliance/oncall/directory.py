"""The on-call directory in the store: people, schedules (rotation layers), overrides and the
escalation policy, checked on the way in (a :class:`~appliance.oncall.rotation.RotationError`
names the field), and read back as the pure core's rotations.

Writes go through the store's writer thread; the REST API and the panel both use this class.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from datetime import date, datetime
from typing import Any

from appliance.errors import InvalidNumber
from appliance.numbers import normalize
from appliance.oncall import policies, rotation
from appliance.oncall.rotation import Override, Rotation, RotationError, Shift
from appliance.store.database import Row, Store

MAX_NAME = 100
MAX_PEOPLE = 200
PERIODS = {"daily": 1, "weekly": 7}
MIN_YEAR, MAX_YEAR = 2000, 2200  # dates a schedule or an override may use


def _person(row: Row) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "phone": row["phone"], "client": row["client"]}


def _schedule(row: Row) -> dict[str, Any]:
    days = int(row["days"])
    anchor = date.fromisoformat(row["anchor"])
    return {
        "id": row["id"],
        "name": row["name"],
        "timezone": row["timezone"],
        "rotation": {1: "daily", 7: "weekly"}.get(days, "custom"),
        "days": days,
        "start": row["anchor"],
        "handover_day": rotation.WEEKDAYS[anchor.weekday()],
        "handover_time": row["handover_time"],
        "layer": row["layer"],
        "people": json.loads(row["people"]),
    }


class Directory:
    """People, schedules, overrides and the escalation policies, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.policies = policies.Policies(store)

    # -- people ------------------------------------------------------------------------------

    def people(self) -> list[dict[str, Any]]:
        return [_person(r) for r in self.store.read("SELECT * FROM oncall_people ORDER BY id")]

    def person(self, person_id: int) -> dict[str, Any] | None:
        row = self.store.read_one("SELECT * FROM oncall_people WHERE id = ?", (person_id,))
        return None if row is None else _person(row)

    def add_person(self, name: str, phone: str, client: str = "") -> dict[str, Any]:
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME:
            raise RotationError("name", f"A name of 1 to {MAX_NAME} characters is required")
        try:
            e164 = normalize(phone, field="phone")
        except InvalidNumber as e:
            raise RotationError("phone", e.message) from None
        client = client.strip()[:MAX_NAME]

        def fn(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM oncall_people WHERE phone = ?", (e164,)).fetchone():
                raise RotationError("phone", f"{e164} is already someone's number")
            cur = conn.execute(
                "INSERT INTO oncall_people (name, phone, client, created) VALUES (?,?,?,?)"
                " RETURNING id",
                (name, e164, client, time.time()),
            )
            return int(cur.fetchone()[0])

        person = self.person(self.store.write(fn))
        assert person is not None
        return person

    def remove_person(self, person_id: int) -> bool:
        def fn(conn: sqlite3.Connection) -> int:
            n = conn.execute("DELETE FROM oncall_people WHERE id = ?", (person_id,)).rowcount
            for row in conn.execute("SELECT id, people FROM oncall_schedules").fetchall():
                kept = [p for p in json.loads(row["people"]) if p != person_id]
                conn.execute(
                    "UPDATE oncall_schedules SET people = ? WHERE id = ?",
                    (json.dumps(kept), row["id"]),
                )
            return n

        return bool(self.store.write(fn))

    # -- schedules ---------------------------------------------------------------------------

    def schedules(self) -> list[dict[str, Any]]:
        return [_schedule(r) for r in self.store.read("SELECT * FROM oncall_schedules ORDER BY id")]

    def add_schedule(self, form: dict[str, str], people: list[str]) -> dict[str, Any]:
        """A schedule from form fields: name, timezone, rotation (daily, weekly or a number of
        days), handover_day (weekly), handover_time, start (first date), layer, people (ids)."""
        name = " ".join(form.get("name", "").split())
        if not name or len(name) > MAX_NAME:
            raise RotationError("name", f"A name of 1 to {MAX_NAME} characters is required")
        tz = form.get("timezone", "").strip() or "UTC"
        zone = rotation.zone(tz)
        kind = form.get("rotation", "weekly").strip().lower() or "weekly"
        if kind in PERIODS:
            days = PERIODS[kind]
        elif kind.isascii() and kind.isdigit() and len(kind) < 4:
            days = int(kind)
        else:
            raise RotationError("rotation", "rotation is daily, weekly or a number of days")
        handover = rotation.parse_time(form.get("handover_time", "") or "09:00")
        start_text = form.get("start", "").strip()
        try:
            start = date.fromisoformat(start_text) if start_text else datetime.now(zone).date()
        except ValueError:
            raise RotationError(
                "start", f"start {start_text!r} is not a date (YYYY-MM-DD)"
            ) from None
        day_text = form.get("handover_day", "").strip()
        weekday = rotation.parse_weekday(day_text) if day_text and days % 7 == 0 else None
        anchor = rotation.anchor_for(start, weekday)
        if not MIN_YEAR <= start.year <= MAX_YEAR:
            raise RotationError("start", f"start is a date from {MIN_YEAR} to {MAX_YEAR}")
        layer_text = (form.get("layer", "") or "0").strip()
        if not re.fullmatch(r"-?[0-9]{1,4}", layer_text):
            raise RotationError("layer", "layer is a whole number, -9999 to 9999 (higher wins)")
        layer = int(layer_text)
        ids = self._people_ids(people)
        Rotation(tuple(ids), tz, anchor, handover, days, layer, name)  # checks the whole

        def fn(conn: sqlite3.Connection) -> int:
            if conn.execute("SELECT 1 FROM oncall_schedules WHERE name = ?", (name,)).fetchone():
                raise RotationError("name", f"There is already a schedule named {name}")
            cur = conn.execute(
                "INSERT INTO oncall_schedules (name, timezone, days, anchor, handover_time, layer,"
                " people, created) VALUES (?,?,?,?,?,?,?,?) RETURNING id",
                (name, tz, days, anchor.isoformat(), handover.isoformat("seconds"), layer,
                 json.dumps(ids), time.time()),
            )  # fmt: skip
            return int(cur.fetchone()[0])

        new = self.store.write(fn)
        return next(s for s in self.schedules() if s["id"] == new)

    def _people_ids(self, people: list[str]) -> list[int]:
        known = {p["id"] for p in self.people()}
        ids: list[int] = []
        for text in people:
            for part in text.replace(",", " ").split():
                if not _digits(part) or int(part) not in known:
                    raise RotationError("people", f"No person with id {part!r}")
                ids.append(int(part))
        if len(ids) > MAX_PEOPLE:
            raise RotationError("people", f"At most {MAX_PEOPLE} people in a rotation")
        return ids

    def remove_schedule(self, schedule_id: int) -> bool:
        """Remove a schedule; one an escalation policy lists is refused (a RotationError): the
        policy would be left with other schedules, or with none, which means every one."""

        def fn(conn: sqlite3.Connection) -> int:
            users = [
                r["name"]
                for r in conn.execute("SELECT name, schedules FROM oncall_policies ORDER BY id")
                if schedule_id in json.loads(r["schedules"])
            ]
            if users:
                raise RotationError(
                    "schedule",
                    f"Policy {', '.join(users)} uses this schedule: take it out of the policy first",
                )
            return conn.execute(
                "DELETE FROM oncall_schedules WHERE id = ?", (schedule_id,)
            ).rowcount

        return bool(self.store.write(fn))

    # -- overrides ---------------------------------------------------------------------------

    def overrides(self, since: float | None = None) -> list[dict[str, Any]]:
        rows = self.store.read(
            "SELECT o.*, p.name FROM oncall_overrides o JOIN oncall_people p ON p.id = o.person_id"
            " WHERE o.ends > ? ORDER BY o.starts, o.id",
            (time.time() if since is None else since,),
        )
        return [
            {"id": r["id"], "person": r["person_id"], "name": r["name"], "starts": r["starts"],
             "ends": r["ends"]}
            for r in rows
        ]  # fmt: skip

    def add_override(self, person: str, starts: str, ends: str, timezone: str = "UTC") -> int:
        """``person`` (id) on call from ``starts`` to ``ends`` (ISO 8601; local to ``timezone``
        when they carry no offset)."""
        zone = rotation.zone(timezone.strip() or "UTC")
        if not _digits(person.strip()) or self.person(int(person)) is None:
            raise RotationError("person", f"No person with id {person!r}")
        a, b = _instant(starts, zone, "starts"), _instant(ends, zone, "ends")
        Override(int(person), a, b)  # checks the order

        def fn(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO oncall_overrides (person_id, starts, ends, created) VALUES (?,?,?,?)"
                " RETURNING id",
                (int(person), a, b, time.time()),
            )
            return int(cur.fetchone()[0])

        return int(self.store.write(fn))

    def remove_override(self, override_id: int) -> bool:
        return bool(
            self.store.write(
                lambda conn: (
                    conn.execute(
                        "DELETE FROM oncall_overrides WHERE id = ?", (override_id,)
                    ).rowcount
                )
            )
        )

    # -- policies ----------------------------------------------------------------------------

    def policy(self) -> dict[str, Any]:
        """The default policy's timings and default person (``/appliance/oncall/policy``)."""
        p = self.policies.default()
        return {k: p[k] for k in policies.LEGACY}

    def set_policy(self, form: dict[str, str]) -> dict[str, Any]:
        """Change the default policy's fields ``form`` has: ``ring_timeout`` (s),
        ``ack_timeout`` (s), ``repeat``, ``default_person`` (an id, or empty for nobody)."""
        self.policies.update(
            policies.DEFAULT_ID, {k: form[k] for k in policies.LEGACY if k in form}
        )
        return self.policy()

    # -- who is on call ----------------------------------------------------------------------

    def rotations(self, policy: dict[str, Any] | None = None) -> list[Rotation]:
        """The layers of ``policy``'s schedules (every schedule when it lists none or is None)."""
        used = set(policy["schedules"]) if policy is not None else set()
        return [
            Rotation(
                tuple(s["people"]), s["timezone"], date.fromisoformat(s["start"]),
                rotation.parse_time(s["handover_time"]), s["days"], s["layer"], s["name"],
            )
            for s in self.schedules()
            if not used or s["id"] in used
        ]  # fmt: skip

    def override_list(self, since: float) -> list[Override]:
        return [
            Override(o["person"], o["starts"], o["ends"], o["id"]) for o in self.overrides(since)
        ]

    def on_call(self, at: float | None = None, policy: dict[str, Any] | None = None) -> Shift:
        """Who is on call at ``at`` (now) under ``policy`` (the default one), falling back to
        the policy's default person."""
        at = time.time() if at is None else at
        policy = self.policies.default() if policy is None else policy
        shift = rotation.on_call(self.rotations(policy), self.override_list(at), at)
        if shift.person is None and policy["default_person"] is not None:
            return Shift(policy["default_person"], shift.starts, shift.ends, "default")
        return shift

    def chain(self, at: float, policy: dict[str, Any] | None = None) -> list[int]:
        """The people ``policy`` (the default one) pages at ``at``, in order."""
        policy = self.policies.default() if policy is None else policy
        people = rotation.chain(self.rotations(policy), self.override_list(at), at)
        if not people and policy["default_person"] is not None:
            people = [policy["default_person"]]
        return people

    def timeline(
        self, start: float, end: float, policy: dict[str, Any] | None = None
    ) -> list[Shift]:
        rotations = self.rotations(self.policies.default() if policy is None else policy)
        return rotation.timeline(rotations, self.override_list(start), start, end)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 12


def _instant(text: str, zone: Any, field: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip())
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise ValueError(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.timestamp()
    except (ValueError, OverflowError):
        raise RotationError(
            field, f"{field} {text!r} is not a date and time (YYYY-MM-DDTHH:MM)"
        ) from None
