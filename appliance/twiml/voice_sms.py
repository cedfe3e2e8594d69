"""The ``<Sms>`` verb of voice TwiML (also written ``<Message>``): a text sent during a call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.twiml.reader import VerbReader
from appliance.twiml.xmltree import local_name, xml_strip

__all__ = ["CODES", "Sms", "sms"]

#: Twilio's warning codes for ``<Sms>``, by (verb, attribute).
CODES: dict[tuple[str, str], int] = {
    ("Sms", "to"): 14101,
    ("Sms", "from"): 14102,
    ("Sms", "body"): 14103,
    ("Sms", "method"): 14104,
    ("Sms", "statusCallback"): 14105,
}

_KNOWN = frozenset({"to", "from", "action", "method", "statusCallback"})


@dataclass(frozen=True)
class Sms:
    """Send an SMS during the call (``<Sms>`` or ``<Message>``).  ``to``/``from_`` None
    mean the caller and the appliance's number in the call."""

    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"
    status_callback: str | None = None


def sms(reader: VerbReader, element: Any, name: str) -> Sms | None:
    """``<Sms>`` or ``<Message>`` (``name``); None if it has no text."""
    attrs = reader.attrs(element, _KNOWN)
    pieces = [element.text or ""]
    for child in element:
        if local_name(child) == "Body":
            pieces.append("".join(child.itertext()))
        else:
            reader.warn(f"unknown noun <{local_name(child)}> inside <{name}> was ignored")
        pieces.append(child.tail or "")
    body = xml_strip("".join(pieces))
    if not body:
        reader.warn(f"empty <{name}> was skipped", CODES[("Sms", "body")])
        return None
    to = from_ = None
    for attr in ("to", "from"):
        if attr in attrs:
            value = xml_strip(attrs[attr]) or None
            if value is None:
                reader.invalid("Sms", attr, attrs[attr], None)
            if attr == "to":
                to = value
            else:
                from_ = value
    status_callback = None
    if "statusCallback" in attrs:
        status_callback = reader.url(
            attrs["statusCallback"],
            f"<{name} statusCallback>",
            CODES[("Sms", "statusCallback")],
        )
    action = None
    if "action" in attrs:
        action = reader.url(attrs["action"], f"<{name} action>")
    return Sms(
        body=body,
        to=to,
        from_=from_,
        action=action,
        method=reader.method(attrs, "Sms"),
        status_callback=status_callback,
    )
