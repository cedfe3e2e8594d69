"""One WSGI app for the one cheroot server: the REST API's paths go to the API, the rest to the panel."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

API_PREFIXES = ("/2010-04-01/", "/health", "/metrics", "/appliance/", "/twimlets/")


def wants_json(environ: dict[str, Any]) -> bool:
    """Whether a request for ``/`` wants the API's JSON index rather than the panel.

    Browsers name ``text/html`` in Accept; curl (``*/*``) and HTTP libraries do not, and
    keep getting the JSON index they got before the panel existed.
    """
    accept = parse_accept_header(environ.get("HTTP_ACCEPT", ""), MIMEAccept)
    names_html = any(
        value in ("text/html", "application/xhtml+xml") and q > 0 for value, q in accept
    )
    if not names_html:
        return True
    return accept.quality("application/json") > accept.quality("text/html")


def combined(api: Any, panel: Any) -> Any:
    """A WSGI app routing by path: API prefixes (and a JSON ``/``) to ``api``, the rest to ``panel``."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if (
            path.startswith(API_PREFIXES)
            or path == "/2010-04-01"
            or (path == "/" and wants_json(environ))
        ):
            return api(environ, start_response)  # type: ignore[no-any-return]
        return panel(environ, start_response)  # type: ignore[no-any-return]

    return app
