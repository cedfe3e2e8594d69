"""Phone numbers: validation and normalisation to E.164 with phonenumbers.

Every number that reaches the modem passes through :func:`normalize`, so it
can only ever be ``+`` followed by digits: nothing in it can end or extend an
AT command.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from appliance.errors import InvalidNumber

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Numbers remembered with their E.164 form: parsing one with phonenumbers costs about as much
# as the rest of a REST create, and an app sends to the same recipients again and again.
NORMALIZED_CACHE = 4096


def normalize(number: str, *, field: str = "To") -> str:
    """Return ``number`` in E.164, or raise :class:`InvalidNumber` (Twilio 21211).

    Twilio accepts numbers with spaces, dashes and brackets as long as they
    carry a country code; national numbers without one are refused.
    A pure function of its arguments: valid numbers are remembered (invalid ones raise
    again each time, and are not kept).
    """
    return _normalize(number, field)


@functools.lru_cache(maxsize=NORMALIZED_CACHE)
def _normalize(number: str, field: str) -> str:
    text = (number or "").strip()
    if number and number[0] == " " and text[:1].isdigit():
        # A '+' sent unencoded in a form body (curl -d To=+1...) arrives as a space.
        text = "+" + text
    if not text.startswith("+"):
        raise InvalidNumber(
            f"The '{field}' number {number} is not a valid phone number. "
            "Use E.164 with a country code, such as +14155552671.",
        )
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise InvalidNumber(f"The '{field}' number {number} is not a valid phone number.") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if not _E164.match(e164) or not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(f"The '{field}' number {number} is not a valid phone number.")
    # Letters are accepted by phonenumbers as vanity digits (1-800-FLOWERS); Twilio refuses them.
    if re.search(r"[A-Za-z;]", text):
        raise InvalidNumber(f"The '{field}' number {number} is not a valid phone number.")
    return e164


def sender(number: str) -> str:
    """Normalise a sender number reported by the network (untrusted, never refused).

    International numbers come with '+'; national and alphanumeric senders
    (e.g. "VODAFONE") are kept as they are, minus control characters.
    """
    cleaned = "".join(ch for ch in number if ch.isprintable()).strip()
    return cleaned[:32]
