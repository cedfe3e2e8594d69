"""A browser phone's identity (``client:alice``): what Twilio accepts as a client name.

Twilio: at most 256 characters, and no control characters, spaces, delimiters or "unwise"
characters (the Voice SDK's 31105 InvalidClientNameError: "Client name should not contain
control, space, delims, or unwise characters", after RFC 2396's sets).  Pure: no I/O.
"""

from __future__ import annotations

from appliance.errors import TokenError

MAX_IDENTITY = 256
DELIMS = frozenset('<>#%"')  # RFC 2396 "delims"
UNWISE = frozenset("{}|\\^[]`")  # RFC 2396 "unwise"
INVALID_CLIENT_NAME = 31105


def problem(identity: str) -> str | None:
    """Why ``identity`` is not a valid client name, or None when it is."""
    if not identity:
        return "the identity is empty"
    if len(identity) > MAX_IDENTITY:
        return f"the identity is {len(identity)} characters long (at most {MAX_IDENTITY})"
    for c in identity:
        if c.isspace():
            return "the identity contains a space"
        if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0:
            return "the identity contains a control character"
        if c in DELIMS or c in UNWISE:
            return f"the identity contains {c!r}, which a client name may not"
    return None


def check(identity: str) -> str:
    """``identity`` when it is a valid client name, else a :class:`TokenError` (31105)."""
    why = problem(identity)
    if why is not None:
        raise TokenError(
            f"Invalid client name: {why} (no spaces, control characters or any of"
            ' < > # % " { } | \\ ^ [ ] `)',
            code=INVALID_CLIENT_NAME,
        )
    return identity
