"""Sign-in: one panel password (hashed), set at first run or with ``appliance panel-password``."""

from __future__ import annotations

import hmac
import logging
import threading
import time
import urllib.parse

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.wrappers import Response as BaseResponse

from appliance.store.database import Store
from web.helpers import daemon

LOGGER = logging.getLogger(__name__)


def is_admin() -> bool:
    """Whether this request's session is a signed-in panel administrator's."""
    return session.get("user") == ADMIN


bp = Blueprint("auth", __name__)

SETTING = "panel_password_hash"
ADMIN = "admin"  # the session user of a signed-in panel administrator
MIN_LENGTH = 8
WINDOW = 300.0  # seconds over which failed sign-ins are counted


class Throttle:
    """Failed sign-ins per client address; ``limit`` in :data:`WINDOW` seconds, then wait."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._lock = threading.Lock()
        self._failures: dict[str, list[float]] = {}

    def wait(self, client: str) -> float:
        """Seconds ``client`` must wait before trying again (0: may try now)."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(client, []) if now - t < WINDOW]
            self._failures[client] = recent
            if len(recent) < self.limit:
                return 0.0
            return WINDOW - (now - recent[-self.limit])

    def failed(self, client: str) -> None:
        with self._lock:
            self._failures.setdefault(client, []).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


def check_password_strength(password: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters"
    if len(password) > 1024:
        return "That password is too long"
    return None


def set_password(store: Store, password: str) -> None:
    """Store the hash of the panel password (CLI and first-run page)."""
    problem = check_password_strength(password)
    if problem:
        raise ValueError(problem)
    hashed = generate_password_hash(password)
    store.write(
        lambda conn: conn.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (SETTING, hashed),
        )
    )


def password_is_set(store: Store) -> bool:
    return store.setting(SETTING) is not None


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no //) may follow sign-in."""
    if not target:
        return url_for("dashboard.index")
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("dashboard.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | BaseResponse:
    store = daemon().store
    if not password_is_set(store):
        return redirect(url_for("auth.setup"))
    error = ""
    throttle: Throttle = current_app.extensions["login_throttle"]
    client = request.remote_addr or "?"
    if request.method == "POST":
        wait = throttle.wait(client)
        if wait > 0:
            seconds = int(wait) + 1
            error = f"Too many failed sign-ins. Try again in {seconds} seconds."
            LOGGER.warning("panel sign-in refused for %s: throttled", client)
            rv = make_response(render_template("login.html", error=error), 429)
            rv.headers["Retry-After"] = str(seconds)  # RFC 9110 10.2.3: delay-seconds
            return rv
        hashed = store.setting(SETTING) or ""
        if check_password_hash(hashed, request.form.get("password", "")):
            throttle.succeeded(client)
            session.clear()
            session.permanent = True
            session["user"] = ADMIN
            return redirect(_safe_next(request.args.get("next")))
        throttle.failed(client)
        LOGGER.warning("panel sign-in failed from %s", client)
        error = "Wrong password."
    return render_template("login.html", error=error)


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> str | BaseResponse:
    """First run only: choose the panel password (refused once one is set)."""
    store = daemon().store
    if password_is_set(store):
        return redirect(url_for("auth.login"))
    error = ""
    token_error = ""
    if request.method == "POST":
        # Whoever reaches the page first must not own the appliance: the first-run form
        # asks for the AuthToken, which only the installer has (`appliance account`).
        given = request.form.get("auth_token", "").strip()
        if not hmac.compare_digest(given.encode(), daemon().account.auth_token.encode()):
            token_error = "This is not the appliance's AuthToken (see `appliance account`)"
            LOGGER.warning("panel set-up refused for %s: wrong AuthToken", request.remote_addr)
            return render_template("setup.html", error="", token_error=token_error), 403  # type: ignore[return-value]
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = "The two passwords differ"
        else:
            error = check_password_strength(password) or ""
        if not error:
            set_password(store, password)
            session.clear()
            session.permanent = True
            session["user"] = ADMIN
            flash("Password set. Welcome!")
            return redirect(url_for("dashboard.index"))
    return render_template("setup.html", error=error, token_error=token_error)


@bp.post("/logout")
def logout() -> BaseResponse:
    session.clear()
    return redirect(url_for("auth.login"))
