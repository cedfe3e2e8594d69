"""Answering for another node of the fleet: the request forwarded there, its answer streamed.

Recording media, the modem admin routes (AT, USSD), a ``<Dial>``ed leg's redirect, Media
Streams and a browser call's user-defined messages need the node that holds the file, the
modem or the call (docs/fleet.md).  The views
find that node (:mod:`appliance.system.nodeproxy`) after this node checked the caller, and
answer with :func:`relay`; the owner checks the node's signature
(:func:`appliance.api.authentication.node_signed`).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Response, request

from appliance.api.common import daemon, error_response
from appliance.system import nodeproxy


def relay(
    owner: nodeproxy.Owner, what: str, read_timeout: float = nodeproxy.MEDIA_READ_TIMEOUT
) -> Response:
    """This request (its path; for a POST, its form) sent to ``owner``, signed, and the
    answer passed back as it comes; 503 / 20503 naming the node when it is down or silent."""
    body = b""
    content_type = ""
    if request.method == "POST":
        body = urlencode(request.form.to_dict(flat=False), doseq=True).encode()
        content_type = "application/x-www-form-urlencoded"
    try:
        answer = daemon().proxy.forward(
            owner,
            request.method,
            request.path,
            body=body,
            content_type=content_type,
            read_timeout=read_timeout,
        )
    except nodeproxy.NodeDown as e:
        return error_response(503, 20503, f"{what} is on another node of the fleet: {e}")
    return Response(
        answer.chunks(), status=answer.status, headers=answer.headers, direct_passthrough=True
    )
