"""Twilio's request signature (``X-Twilio-Signature``) and idempotency tokens.

The signature is HMAC-SHA1 (base64) over the URL *as sent on the wire* plus, for POST
only, the sorted parameters (Twilio reference A5/A6/A7); see :func:`signature`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence

__all__ = ["ParamValue", "param_values", "signature"]

#: One webhook parameter: a single value or several values for the same key.
ParamValue = str | Sequence[str]


def param_values(value: ParamValue) -> list[str]:
    """The values of one parameter as a list of strings."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def signature(auth_token: str, url: str, params: Mapping[str, ParamValue]) -> str:
    """Twilio's ``X-Twilio-Signature`` (HMAC-SHA1, base64) for ``url`` and ``params``.

    ``url`` + for each key in code-point order, for each *distinct* value of that key in
    code-point order: key + value.  Pass ``{}`` as ``params`` for GET requests.
    """
    data = url
    for key in sorted(params):
        for value in sorted(set(param_values(params[key]))):
            data += key + value
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")
