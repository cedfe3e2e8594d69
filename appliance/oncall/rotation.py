"""Who is on call when (pure): rotations in a time zone, layers, overrides, handovers.

A :class:`Rotation` hands over from one person to the next every ``days`` days (1: daily,
7: weekly, any other: a custom length) at ``handover`` local time, counting from the local
date ``anchor`` (the first handover).  Shift ``k`` starts at the wall-clock time
``anchor + k * days`` at ``handover`` in ``timezone`` and belongs to ``people[k % n]``.

Counting days from an anchor, not ISO weeks, is what keeps the rotation right where the
home-made ones go wrong: the ISO week turns on Monday (a Sunday handover text went to the
outgoing person), and a year of 53 ISO weeks shifted everybody by one.  Instants are compared
as UTC timestamps: two aware datetimes that share a ``ZoneInfo`` compare by wall clock,
which is wrong across a DST change.  A handover at a wall-clock time a DST change skips
(02:30 on the spring-forward night) happens at the instant ``zoneinfo`` gives it with
``fold=0`` (03:30 new time); one the fall-back night repeats happens the first time round.

Precedence: an override (the latest created, if several cover the instant) > the rotation of
the highest layer that has people > nobody (the caller falls back to the policy's default
person, or says so).  No I/O here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_DAYS = 366  # the longest shift a rotation may have
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class RotationError(ValueError):
    """A rotation, an override or a time that cannot be used; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclasses.dataclass(frozen=True)
class Rotation:
    """One layer: ``people`` (ids, in turn order) hand over every ``days`` days."""

    people: tuple[int, ...]
    timezone: str
    anchor: date  # local date of the first handover
    handover: time  # local time of every handover
    days: int = 7
    layer: int = 0  # the highest layer with someone on call wins
    name: str = ""

    def __post_init__(self) -> None:
        zone(self.timezone)
        if not 1 <= self.days <= MAX_DAYS:
            raise RotationError("days", f"A shift lasts 1 to {MAX_DAYS} days, not {self.days}")

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.timezone)

    def handover_at(self, k: int) -> float:
        """The instant (UTC timestamp) shift ``k`` starts."""
        day = self.anchor + timedelta(days=k * self.days)
        return datetime.combine(day, self.handover, tzinfo=self.tz).timestamp()

    def shift_index(self, at: float) -> int:
        """The shift that covers instant ``at`` (negative: before the first handover)."""
        local = datetime.fromtimestamp(at, self.tz)
        k = (local.date() - self.anchor).days // self.days
        while at < self.handover_at(k):
            k -= 1
        while at >= self.handover_at(k + 1):
            k += 1
        return k

    def person_at(self, at: float) -> int | None:
        if not self.people:
            return None
        k = self.shift_index(at)
        return None if k < 0 else self.people[k % len(self.people)]

    def handovers(self, start: float, end: float) -> list[tuple[float, int]]:
        """Each handover in ``[start, end)``: its instant and the person coming on call."""
        if not self.people or end <= start:
            return []
        k = self.shift_index(start)
        if self.handover_at(k) < start:
            k += 1
        k = max(0, k)
        out = []
        while (at := self.handover_at(k)) < end:
            if at >= start:
                out.append((at, self.people[k % len(self.people)]))
            k += 1
        return out


@dataclasses.dataclass(frozen=True)
class Override:
    """``person`` is on call over ``[starts, ends)``, whatever the rotations say."""

    person: int
    starts: float
    ends: float
    id: int = 0  # the later created (higher id) wins where overrides overlap

    def __post_init__(self) -> None:
        if self.ends <= self.starts:
            raise RotationError("ends", "An override must end after it starts")


@dataclasses.dataclass(frozen=True)
class Shift:
    """Who is on call over ``[starts, ends)`` and why (``source``: "override" or a layer's name)."""

    person: int | None
    starts: float
    ends: float
    source: str


def zone(name: str) -> ZoneInfo:
    """The time zone ``name`` (IANA, e.g. Europe/London), or a RotationError saying so."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RotationError(
            "timezone", f"Unknown time zone {name!r}: use an IANA name such as Europe/London"
        ) from None


def parse_time(text: str) -> time:
    """``HH:MM`` or ``HH:MM:SS`` (24-hour) as a time."""
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise RotationError(
            "handover_time", f"Handover time {text!r} is not HH:MM (24-hour), e.g. 09:00"
        ) from None


def parse_weekday(text: str) -> int:
    """``mon`` .. ``sun`` (or the full name, any case), Monday = 0."""
    key = text.strip().lower()[:3]
    if key not in WEEKDAYS:
        raise RotationError("handover_day", f"Handover day {text!r} is not a weekday (mon..sun)")
    return WEEKDAYS.index(key)


def anchor_for(start: date, weekday: int | None) -> date:
    """The first handover date: ``start`` itself, or the first ``weekday`` on or after it."""
    if weekday is None:
        return start
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def active_override(overrides: Iterable[Override], at: float) -> Override | None:
    covering = [o for o in overrides if o.starts <= at < o.ends]
    return max(covering, key=lambda o: o.id) if covering else None


def _layered(rotations: Sequence[Rotation]) -> list[Rotation]:
    return sorted((r for r in rotations if r.people), key=lambda r: -r.layer)


def on_call(rotations: Sequence[Rotation], overrides: Sequence[Override], at: float) -> Shift:
    """Who is on call at ``at``, with the shift's bounds (as far as the inputs tell)."""
    bounds = sorted(
        {o.starts for o in overrides}
        | {o.ends for o in overrides}
        | {x for r in rotations if r.people for x in _near_handovers(r, at)}
    )
    before = [b for b in bounds if b <= at]
    after = [b for b in bounds if b > at]
    starts = before[-1] if before else float("-inf")
    ends = after[0] if after else float("inf")
    override = active_override(overrides, at)
    if override is not None:
        return Shift(override.person, starts, ends, "override")
    for r in _layered(rotations):
        person = r.person_at(at)
        if person is not None:
            return Shift(person, starts, ends, r.name or f"layer {r.layer}")
    return Shift(None, starts, ends, "nobody")


def _near_handovers(r: Rotation, at: float) -> tuple[float, ...]:
    k = r.shift_index(at)
    return tuple(r.handover_at(i) for i in (k, k + 1) if i >= 0)


def timeline(
    rotations: Sequence[Rotation], overrides: Sequence[Override], start: float, end: float
) -> list[Shift]:
    """Who is on call over ``[start, end)``, as consecutive shifts (neighbours merged)."""
    points = {start}
    for r in rotations:
        points.update(at for at, _ in r.handovers(start, end))
    for o in overrides:
        points.update(x for x in (o.starts, o.ends) if start < x < end)
    cuts = sorted(points) + [end]
    out: list[Shift] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        s = on_call(rotations, overrides, a)
        if out and out[-1].person == s.person and out[-1].source == s.source:
            out[-1] = dataclasses.replace(out[-1], ends=b)
        else:
            out.append(Shift(s.person, a, b, s.source))
    return out


def chain(rotations: Sequence[Rotation], overrides: Sequence[Override], at: float) -> list[int]:
    """The people to page for an alert at ``at``, in order: who is on call, then the others
    in the order of the rotation that would have them next (no one twice)."""
    first = on_call(rotations, overrides, at).person
    out: list[int] = [] if first is None else [first]
    for r in _layered(rotations):
        k = max(0, r.shift_index(at))
        n = len(r.people)
        for i in range(n):
            p = r.people[(k + i) % n]
            if p not in out:
                out.append(p)
    return out


def utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)
