"""``GET /metrics``: the Prometheus exposition of :mod:`appliance.system.metrics`.

Who may scrape (docs/api.md, "Who may call what"): a client on loopback (a Prometheus or an
agent on the Pi itself) needs no credential; any other needs ``Authorization: Bearer
<metrics_token>``, a read-only secret of its own.  The AuthToken is never accepted here: a
scraper's configuration sits in plain files on another machine, and the AuthToken would give
whoever reads them the admin surface.  A request that came through a reverse proxy
(``Forwarded``, ``X-Forwarded-For``, ``X-Real-IP``) is not taken for a local one, even though
its socket is on loopback.  With ``metrics_enabled = false`` the route is 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from flask import Blueprint, Response, request

from appliance.api.common import daemon, error_response

LOGGER = logging.getLogger(__name__)
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")

bp = Blueprint("metrics", __name__)


def local_client() -> bool:
    """Whether the request comes from this machine (loopback, and not relayed by a proxy)."""
    if any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        ip = ipaddress.ip_address((request.remote_addr or "").split("%")[0])
    except ValueError:
        return False  # a Unix socket, or nothing: not known to be local
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _bearer() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def refused() -> Response | None:
    """The answer for a scraper that may not read the metrics, or None if it may."""
    if local_client():
        return None
    d = daemon()
    token = d.metrics.token
    if not token:
        return error_response(
            403, 20003, "Metrics are served to loopback only; set metrics_token to scrape remotely"
        )
    if hmac.compare_digest(token.encode(), d.account.auth_token.encode()):
        LOGGER.warning("metrics_token is the AuthToken: remote scrapes refused until it is not")
        return error_response(
            403, 20003, "metrics_token must not be the AuthToken; set a token of its own"
        )
    given = _bearer()
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        rv = error_response(401, 20003, "Authenticate with Authorization: Bearer <metrics_token>")
        rv.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return rv
    return None


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format (OpenMetrics when the scraper asks for it)."""
    m = daemon().metrics
    if not m.enabled:
        return error_response(404, 20404, "Metrics are off (metrics_enabled = false)")
    answer = refused()
    if answer is not None:
        return answer
    body, content_type = m.render(request.headers.get("Accept", ""))
    return Response(body, content_type=content_type)
