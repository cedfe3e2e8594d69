"""Twilio-style identifiers: two letters and 32 lowercase hex digits."""

from __future__ import annotations

import secrets
import uuid


def new(prefix: str) -> str:
    """A fresh random SID such as ``SM`` + 32 hex digits."""
    assert len(prefix) == 2 and prefix.isupper()
    return prefix + secrets.token_hex(16)


def auth_token() -> str:
    """A fresh auth token: 32 lowercase hex digits, like Twilio's."""
    return secrets.token_hex(16)


def is_sid(value: str, prefix: str) -> bool:
    return (
        len(value) == 34
        and value.startswith(prefix)
        and all(c in "0123456789abcdef" for c in value[2:])
    )


def idempotency_token() -> str:
    """A fresh value for the ``I-Twilio-Idempotency-Token`` header."""
    return str(uuid.uuid4())
