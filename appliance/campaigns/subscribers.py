"""Subscribers: one subscriber validated from a form or a CSV row, and its upsert into a list.

The lists themselves are in :mod:`appliance.campaigns.lists`, CSV imports in
:mod:`appliance.campaigns.imports` and join/leave keywords in
:mod:`appliance.campaigns.keywords`.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.errors import ApplianceError, InvalidNumber
from appliance.numbers import normalize

MAX_NAME = 80
MAX_TOWN = 80
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


def upsert(
    conn: sqlite3.Connection,
    list_id: int,
    sub: Subscriber,
    now: float,
    *,
    keep_location: bool = False,
) -> None:
    """Add ``sub`` to the list, or make them active again (in the caller's transaction)."""
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
