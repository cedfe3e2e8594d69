"""Sign-in required on every page, CSRF tokens on every form, and safe response headers."""

from __future__ import annotations

import hmac
import logging
import secrets

from flask import Flask, Response, abort, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from web import certificate, voicesdk, welcome

LOGGER = logging.getLogger(__name__)

OPEN_ENDPOINTS = {"auth.login", "auth.setup", "static", *certificate.OPEN, *voicesdk.OPEN}
# Documents for webhook clients, not people: no session, so neither sign-in nor CSRF.
PUBLIC_ENDPOINTS = welcome.PUBLIC
CSRF_FIELD = "csrf_token"


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def check_csrf() -> None:
    sent = request.form.get(CSRF_FIELD) or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not hmac.compare_digest(str(sent), str(expected)):
        abort(400, "The form has expired or did not come from this panel; reload and try again.")


def guard() -> BaseResponse | None:
    """``before_request``: CSRF on every state-changing request, then sign-in."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        check_csrf()
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    if not session.get("user"):
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    return None


def headers(rv: Response) -> Response:
    rv.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " media-src 'self'; frame-ancestors 'none'; form-action 'self'",
    )
    rv.headers.setdefault("X-Frame-Options", "DENY")
    rv.headers.setdefault("X-Content-Type-Options", "nosniff")
    rv.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        rv.headers.setdefault("Cache-Control", "no-store")
    return rv


def init_app(app: Flask) -> None:
    app.before_request(guard)
    app.after_request(headers)
    app.jinja_env.globals["csrf_token"] = csrf_token
