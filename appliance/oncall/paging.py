"""Paging rules (pure): alerts from a form or Alertmanager's webhook, the escalation plan,
the texts sent, and the ``ACK``/``RESOLVE`` replies.

Alertmanager's webhook (version 4) is a JSON object with ``status`` and ``alerts[]``; each alert
has ``status`` (``firing`` or ``resolved``), ``labels``, ``annotations``, ``startsAt``,
``endsAt`` and ``fingerprint``.  It re-posts a firing alert every ``repeat_interval``, so the
fingerprint is what says "the same alert" (an alert without one gets a hash of its labels,
which is how Alertmanager derives it).  No I/O here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

MAX_BODY = 1600  # characters of an alert's text kept (more is cut with an ellipsis)
MAX_ALERTS = 500  # alerts in one Alertmanager post
SEVERITIES = ("critical", "error", "warning", "info")
REPLY = re.compile(r"^\s*(ACK|RESOLVE)\b[\s:#]*([0-9]{1,12})?\s*[.!]?\s*$", re.IGNORECASE)


class PayloadError(ValueError):
    """A post that cannot be an alert; the message says what to send instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class AlertIn:
    """One alert as posted: its identity, whether it fires or is resolved, and its text."""

    fingerprint: str
    status: str  # "firing" or "resolved"
    body: str
    severity: str
    source: str  # "form" or "alertmanager"
    policy: str = ""  # the escalation policy its ``policy`` label names ("": the post's)


@dataclasses.dataclass(frozen=True)
class Step:
    """One escalation step: text and/or call ``people``, then wait for an ACK."""

    sms: bool
    call: bool
    people: tuple[int, ...]


def cut(text: str, limit: int = MAX_BODY) -> str:
    """``text`` at most ``limit`` characters, an ellipsis marking a cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def _severity(value: str, field: str) -> str:
    severity = value.strip().lower() or "critical"
    if severity not in SEVERITIES:
        raise PayloadError(f"{field} must be one of {', '.join(SEVERITIES)}, not {value!r}")
    return severity


def from_form(body: str, severity: str = "", fingerprint: str = "") -> AlertIn:
    """A plain form's alert: ``Body`` (required), ``Severity``, ``Fingerprint`` (default: the
    body's hash, so the same text posted again while open does not page twice)."""
    if not body.strip():
        raise PayloadError("Body is required: the text of the alert")
    text = cut(body)
    fp = fingerprint.strip()[:128] or _fingerprint("form", body.strip())
    return AlertIn(fp, "firing", text, _severity(severity, "Severity"), "form")


def _strings(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise PayloadError(f"{where} must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def _text(labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    name = labels.get("alertname", "alert")
    where = labels.get("instance") or labels.get("job") or ""
    detail = annotations.get("summary") or annotations.get("description") or ""
    head = f"{name} on {where}" if where else name
    return f"{head}: {detail}" if detail else head


def from_alertmanager(payload: Any) -> list[AlertIn]:
    """The alerts of one Alertmanager webhook post (already decoded from JSON)."""
    if not isinstance(payload, Mapping):
        raise PayloadError("The JSON body must be an object, as Alertmanager's webhook sends")
    alerts = payload.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError("alerts must be a non-empty list (Alertmanager's webhook, version 4)")
    if len(alerts) > MAX_ALERTS:
        raise PayloadError(f"At most {MAX_ALERTS} alerts in one post, not {len(alerts)}")
    group_status = str(payload.get("status", "firing"))
    out = []
    for i, a in enumerate(alerts):
        if not isinstance(a, Mapping):
            raise PayloadError(f"alerts[{i}] must be an object")
        labels = _strings(a.get("labels"), f"alerts[{i}].labels")
        annotations = _strings(a.get("annotations"), f"alerts[{i}].annotations")
        status = str(a.get("status") or group_status)
        if status not in ("firing", "resolved"):
            raise PayloadError(f"alerts[{i}].status must be firing or resolved, not {status!r}")
        fp = a.get("fingerprint")
        if fp is not None and (not isinstance(fp, str) or not fp.strip() or len(fp) > 128):
            raise PayloadError(f"alerts[{i}].fingerprint must be a short string")
        fingerprint = fp.strip() if fp else _fingerprint(json.dumps(labels, sort_keys=True))
        severity = labels.get("severity", "").lower()
        out.append(
            AlertIn(
                fingerprint=fingerprint,
                status=status,
                body=cut(_text(labels, annotations)),
                severity=severity if severity in SEVERITIES else "critical",
                source="alertmanager",
                policy=labels.get("policy", "").strip(),
            )
        )
    return out


def reply_command(text: str) -> tuple[str, int | None] | None:
    """``("ACK"|"RESOLVE", code or None)`` for a reply such as ``ack 12``, else None."""
    m = REPLY.match(text or "")
    if m is None:
        return None
    return m.group(1).upper(), int(m.group(2)) if m.group(2) else None


def plan(people: Sequence[int], repeat: int) -> list[Step]:
    """The escalation steps for ``people`` (who is on call first), repeated ``repeat`` times.

    Text the on-call person; no ACK: call them; no ACK: text and call each next person in
    turn; then text and call everyone at once.  Each step waits for the ACK timeout."""
    if not people:
        return []
    first, rest = people[0], tuple(people[1:])
    once = [Step(True, False, (first,)), Step(False, True, (first,))]
    once += [Step(True, True, (p,)) for p in rest]
    if rest:
        once.append(Step(True, True, tuple(people)))
    return once * max(1, repeat)


def page_text(code: int, body: str, severity: str, step: int) -> str:
    prefix = "ALERT" if step == 0 else "ALERT (escalated)"
    return cut(f"{prefix} #{code} [{severity}] {body} -- reply ACK {code} or RESOLVE {code}")


def call_twiml(code: int, body: str) -> str:
    """What a paging call says (the alert twice), escaped for XML."""
    from xml.sax.saxutils import (
        escape,
    )  # here: it imports urllib.request, which an idle appliance does not load

    said = escape(cut(f"Alert {code}. {body}", 800))
    ack = f"Reply A C K {code} by text message to acknowledge."
    return f'<Response><Say>{said}</Say><Pause length="1"/><Say>{said}</Say><Say>{ack}</Say></Response>'
