"""Named escalation policies in the store: how long each phone rings, how long a step waits
for an ACK, how many times the plan runs, who is paged when nobody is scheduled, and which
schedules say who is on call (none listed: every schedule).

The policy named ``default`` (id 1, from the migration 0016) is what an alert, the support
number and ``appliance page`` use when they name none; it cannot be deleted or renamed.  A
policy an open alert runs under, or a number's Voice URL names (``/twimlets/oncall?Policy=``),
cannot be deleted either.  Bad input raises a
:class:`~appliance.oncall.rotation.RotationError` naming the field, and changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.parse
from typing import Any

from appliance.oncall.rotation import RotationError
from appliance.store.database import Row, Store

DEFAULT_ID = 1
DEFAULT_NAME = "default"
MAX_NAME = 64
MAX_POLICIES = 100
MAX_ACK_TIMEOUT = 86400.0  # seconds an escalation step may wait for an ACK
MAX_REPEAT = 10
MIN_RING, MAX_RING = 5, 120  # seconds a phone may ring per step (support number, paging call)
LEGACY = ("ring_timeout", "ack_timeout", "repeat", "default_person")  # /oncall/policy's fields


def record(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "ring_timeout": row["ring_timeout"],
        "ack_timeout": row["ack_timeout"],
        "repeat": row["repeat"],
        "default_person": row["default_person_id"],
        "schedules": json.loads(row["schedules"]),
        "created": row["created"],
    }


def voice_url_policy(url: str) -> str | None:
    """The policy a support-line Voice URL names (``default`` when none), or None when
    ``url`` is not the support line."""
    parts = urllib.parse.urlsplit(url)
    if parts.path != "/twimlets/oncall":
        return None
    return urllib.parse.parse_qs(parts.query).get("Policy", [""])[0].strip() or DEFAULT_NAME


class Policies:
    """The escalation policies, read and written through the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reading -------------------------------------------------------------------------------

    def all(self) -> list[dict[str, Any]]:
        return [record(r) for r in self.store.read("SELECT * FROM oncall_policies ORDER BY id")]

    def get(self, policy_id: int) -> dict[str, Any] | None:
        row = self.store.read_one("SELECT * FROM oncall_policies WHERE id = ?", (policy_id,))
        return None if row is None else record(row)

    def named(self, name: str) -> dict[str, Any] | None:
        """The policy called ``name`` (``default`` when blank), or None."""
        name = name.strip() or DEFAULT_NAME
        row = self.store.read_one("SELECT * FROM oncall_policies WHERE name = ?", (name,))
        return None if row is None else record(row)

    def default(self) -> dict[str, Any]:
        found = self.get(DEFAULT_ID)
        assert found is not None  # made by the migration, never deleted
        return found

    def find(self, key: str) -> dict[str, Any] | None:
        """A policy by id (digits) or by name."""
        key = key.strip()
        if key.isascii() and key.isdigit() and len(key) < 12:
            return self.get(int(key))
        return self.named(key) if key else None

    def require(self, name: str, field: str = "Policy") -> dict[str, Any]:
        """The policy called ``name`` (``default`` when blank), or a RotationError saying so."""
        found = self.named(name)
        if found is None:
            known = ", ".join(p["name"] for p in self.all())
            raise RotationError(field, f"No escalation policy named {name.strip()!r} ({known})")
        return found

    # -- writing -------------------------------------------------------------------------------

    def create(self, form: dict[str, str], schedules: list[str] | None) -> dict[str, Any]:
        """A new policy from form fields: ``name`` (required, unique), ``ring_timeout`` (s,
        default 20), ``ack_timeout`` (s, default 300), ``repeat`` (default 2),
        ``default_person`` (an id or blank) and ``schedules`` (ids; none: every schedule)."""
        base = {"name": "", "ring_timeout": 20, "ack_timeout": 300.0, "repeat": 2,
                "default_person": None, "schedules": []}  # fmt: skip
        values = self._checked(base, form, schedules, new=True)

        def fn(conn: sqlite3.Connection) -> int:
            self._unique(conn, values["name"], 0)
            count = conn.execute("SELECT COUNT(*) FROM oncall_policies").fetchone()[0]
            if count >= MAX_POLICIES:
                raise RotationError("name", f"At most {MAX_POLICIES} escalation policies")
            cur = conn.execute(
                "INSERT INTO oncall_policies (name, ring_timeout, ack_timeout, repeat,"
                " default_person_id, schedules, created) VALUES (?,?,?,?,?,?,?) RETURNING id",
                (values["name"], values["ring_timeout"], values["ack_timeout"], values["repeat"],
                 values["default_person"], json.dumps(values["schedules"]), time.time()),
            )  # fmt: skip
            return int(cur.fetchone()[0])

        made = self.get(self.store.write(fn))
        assert made is not None
        return made

    def update(
        self, policy_id: int, form: dict[str, str], schedules: list[str] | None = None
    ) -> dict[str, Any] | None:
        """Change the fields ``form`` has (and the schedules when ``schedules`` is not None);
        None when there is no such policy."""
        current = self.get(policy_id)
        if current is None:
            return None
        values = self._checked(current, form, schedules, new=False)
        if policy_id == DEFAULT_ID and values["name"] != DEFAULT_NAME:
            raise RotationError("name", "The default policy keeps its name")
        if values["name"] != current["name"]:
            self._refuse_if_named_by_numbers(current["name"], "name")

        def fn(conn: sqlite3.Connection) -> None:
            self._unique(conn, values["name"], policy_id)
            conn.execute(
                "UPDATE oncall_policies SET name = ?, ring_timeout = ?, ack_timeout = ?,"
                " repeat = ?, default_person_id = ?, schedules = ? WHERE id = ?",
                (values["name"], values["ring_timeout"], values["ack_timeout"], values["repeat"],
                 values["default_person"], json.dumps(values["schedules"]), policy_id),
            )  # fmt: skip

        self.store.write(fn)
        return self.get(policy_id)

    def _refuse_if_named_by_numbers(self, name: str, field: str) -> None:
        """A RotationError on ``field`` if a number's Voice URL names policy ``name``."""
        used = self.numbers_using(name)
        if used:
            raise RotationError(
                field, f"The Voice URL of {', '.join(used)} names policy {name!r}: change it first"
            )

    def delete(self, policy_id: int) -> bool:
        """Remove a policy; False when there is none.  The default policy, one an open alert
        runs under, and one a number's Voice URL names are refused (a RotationError)."""
        current = self.get(policy_id)
        if current is None:
            return False
        if policy_id == DEFAULT_ID:
            raise RotationError("policy", "The default policy cannot be deleted")
        self._refuse_if_named_by_numbers(current["name"], "policy")

        def fn(conn: sqlite3.Connection) -> int:
            open_alerts = conn.execute(
                "SELECT COUNT(*) FROM oncall_alerts WHERE policy_id = ? AND status <> 'resolved'",
                (policy_id,),
            ).fetchone()[0]
            if open_alerts:
                raise RotationError(
                    "policy",
                    f"{open_alerts} alert(s) not yet resolved run under policy"
                    f" {current['name']!r}: resolve them first",
                )
            return int(
                conn.execute("DELETE FROM oncall_policies WHERE id = ?", (policy_id,)).rowcount
            )

        return bool(self.store.write(fn))

    def numbers_using(self, name: str) -> list[str]:
        """The phone numbers whose Voice URL (or fallback) is the support line of policy
        ``name``."""
        rows = self.store.read(
            "SELECT phone_number, voice_url, voice_fallback_url FROM numbers ORDER BY phone_number"
        )
        return [
            str(r["phone_number"])
            for r in rows
            if name in (voice_url_policy(r["voice_url"]), voice_url_policy(r["voice_fallback_url"]))
        ]

    def using_schedule(self, schedule_id: int) -> list[str]:
        """The names of the policies that list schedule ``schedule_id``."""
        return [p["name"] for p in self.all() if schedule_id in p["schedules"]]

    # -- checking ------------------------------------------------------------------------------

    def _unique(self, conn: sqlite3.Connection, name: str, policy_id: int) -> None:
        row = conn.execute(
            "SELECT id FROM oncall_policies WHERE name = ? AND id <> ?", (name, policy_id)
        ).fetchone()
        if row is not None:
            raise RotationError("name", f"There is already a policy named {name}")

    def _checked(
        self,
        current: dict[str, Any],
        form: dict[str, str],
        schedules: list[str] | None,
        new: bool,
    ) -> dict[str, Any]:
        name = " ".join(form.get("name", "").split()) if "name" in form else current["name"]
        if not name or len(name) > MAX_NAME or not name.isprintable():
            raise RotationError("name", f"A name of 1 to {MAX_NAME} characters is required")
        if name.isascii() and name.isdigit():
            raise RotationError("name", "A policy's name is not only digits (ids are)")
        ring = _number(form, "ring_timeout", current["ring_timeout"], int)
        ack = _number(form, "ack_timeout", current["ack_timeout"], float)
        repeat = _number(form, "repeat", current["repeat"], int)
        if not MIN_RING <= ring <= MAX_RING:
            raise RotationError("ring_timeout", f"ring_timeout is {MIN_RING} to {MAX_RING} seconds")
        if not 1 <= ack <= MAX_ACK_TIMEOUT:
            raise RotationError("ack_timeout", f"ack_timeout is 1 to {MAX_ACK_TIMEOUT:.0f} seconds")
        if not 1 <= repeat <= MAX_REPEAT:
            raise RotationError("repeat", f"repeat is 1 to {MAX_REPEAT}")
        person: int | None = current["default_person"]
        if "default_person" in form:
            text = form["default_person"].strip()
            person = None if not text else self._known("default_person", "oncall_people",
                                                       "person", [text])[0]  # fmt: skip
        ids: list[int] = current["schedules"]
        if schedules is not None:
            ids = self._known("schedules", "oncall_schedules", "schedule", schedules)
        elif new:
            ids = []
        return {"name": name, "ring_timeout": ring, "ack_timeout": ack, "repeat": repeat,
                "default_person": person, "schedules": ids}  # fmt: skip

    def _known(self, field: str, table: str, noun: str, texts: list[str]) -> list[int]:
        """The ids in ``texts`` (separated by commas or spaces), each a row of ``table``."""
        known = {r[0] for r in self.store.read(f"SELECT id FROM {table}")}
        ids: list[int] = []
        for text in texts:
            for part in text.replace(",", " ").split():
                if not (part.isascii() and part.isdigit() and len(part) < 12) or (
                    int(part) not in known
                ):
                    raise RotationError(field, f"No {noun} with id {part!r}")
                if int(part) not in ids:
                    ids.append(int(part))
        return ids


def _number(form: dict[str, str], field: str, current: Any, kind: type) -> Any:
    """``form[field]`` as ``kind`` (int or float), ``current`` when absent or blank."""
    text = form.get(field, "").strip()
    if not text:
        return kind(current)
    try:
        value = kind(text)
    except ValueError:
        raise RotationError(field, f"{field} is a number, not {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):  # NaN, inf
        raise RotationError(field, f"{field} is a number, not {text!r}")
    return value
