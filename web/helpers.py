"""What the page families share: the daemon, time formatting, small form helpers."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from flask import Flask, current_app, request

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

PAGE_SIZE = 50


def daemon() -> Appliance:
    return current_app.config["DAEMON"]  # type: ignore[no-any-return]


def when(ts: float | None) -> str:
    """A timestamp as ``2026-11-22 07:00:03`` (UTC), or an empty string."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


def ago(ts: float | None) -> str:
    if ts is None:
        return "never"
    return age(time.time() - float(ts))


def age(elapsed: float) -> str:
    """``elapsed`` seconds as ``12 s ago``, ``3 min ago``, ``2 h ago``, ``5 d ago``."""
    seconds = max(0, int(elapsed))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def page() -> int:
    try:
        return max(0, min(100_000, int(request.args.get("page", "0"))))
    except ValueError:
        return 0


def page_url(n: int) -> str:
    """This page's URL at page ``n``, keeping the other query parameters (the filter)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    if n > 0:
        args.append(("page", str(n)))
    return "?" + urlencode(args)


def register_filters(app: Flask) -> None:
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["age"] = age
    app.jinja_env.globals["page_url"] = page_url
