"""Broadcast specs: the validated broadcast form, its content templates and cron triggers.

A text or weather broadcast's content is a template with per-subscriber fields
(``{name}``, ``{first_name}``, ``{town}``, ``{phone_number}``, and ``{forecast}`` for
weather); a url broadcast's content is the URL to request.  A schedule is a crontab
line (``m h dom mon dow``) in a named time zone; an empty schedule means "run by hand".
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger

from appliance.errors import ApplianceError
from appliance.sms import codec as sms

KINDS = ("text", "url", "weather")
FIELDS = ("name", "first_name", "town", "phone_number", "forecast")
_PLACEHOLDER = re.compile(r"\{([a-z_]*)\}")


class BroadcastError(ApplianceError):
    """Bad broadcast input (``field`` names the form field) or a run that cannot go ahead."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


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


def first_run(trigger: CronTrigger, now: float) -> float | None:
    """The first firing of ``trigger`` after ``now`` (UNIX seconds; None: it never fires)."""
    at = trigger.get_next_fire_time(None, datetime.fromtimestamp(now, UTC))
    return None if at is None else float(at.timestamp())


def firing(
    trigger: CronTrigger, due: float, now: float, grace: float
) -> tuple[float | None, float | None]:
    """A schedule whose next run ``due`` has come (``due <= now``), as APScheduler fires a job
    with ``coalesce`` and ``misfire_grace_time``: the run times missed since ``due`` are one
    run, at the latest of them, which fires if it is at most ``grace`` seconds old.  Returns
    (that run time, or None when it is older; the next run time after ``now``, or None)."""
    moment = datetime.fromtimestamp(now, UTC)
    latest = datetime.fromtimestamp(due, UTC)
    while (after := trigger.get_next_fire_time(latest, moment)) is not None and after <= moment:
        latest = after
    fires = float(latest.timestamp()) if now - latest.timestamp() <= grace else None
    return fires, None if after is None else float(after.timestamp())


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
