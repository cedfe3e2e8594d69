"""The panel: a Flask app over the daemon, one blueprint per page family.

:func:`create_app` builds it; :func:`appliance.server.Server` serves it from the
same cheroot server as the REST API (:func:`web.dispatch.combined`).  Every page is
behind sign-in and every form carries a CSRF token (:mod:`web.security`); the one
exception is :mod:`web.welcome`, a public TwiML document like Twilio's demo URL.  The panel
only reads the store and calls the same cores as the REST API (the outbox,
the numbers table, the broadcasts); it never talks to a modem itself, except through a
modem's USSD session (:mod:`web.ussd`), which runs on the modem's thread like the API's.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask

from web import (
    atmonitor,
    auth,
    backup,
    broadcasts,
    calls,
    certificate,
    compose,
    contacts,
    dashboard,
    errorpages,
    fleet,
    live,
    messages,
    numbers,
    oncall,
    scheduled,
    security,
    softphone,
    subscribers,
    ussd,
    voicesdk,
    webhooks,
    welcome,
)
from web.helpers import register_filters

if TYPE_CHECKING:
    from appliance.system.runtime import Appliance

LOGGER = logging.getLogger(__name__)


def create_app(daemon: Appliance, test_config: dict[str, Any] | None = None) -> Flask:
    """The panel's WSGI app for ``daemon``; ``test_config`` overrides Flask settings."""
    app = Flask(__name__)
    app.config.update(
        DAEMON=daemon,
        SECRET_KEY=daemon.store.ensure_setting("panel_secret_key", lambda: secrets.token_hex(32)),
        SESSION_COOKIE_NAME="panel_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=daemon.config.panel_secure_cookie,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,  # a 10,000-row CSV is well under 1 MiB
        LOGIN_ATTEMPTS=daemon.config.panel_login_attempts,
    )
    if test_config:
        app.config.update(test_config)
    app.extensions["login_throttle"] = auth.Throttle(app.config["LOGIN_ATTEMPTS"])
    security.init_app(app)
    errorpages.init_app(app)
    live.init_app(app)
    atmonitor.init_app(app)  # the AT monitor's and the radio page's feeds on the live stream
    dashboard.init_app(app)
    fleet.init_app(app)
    register_filters(app)
    for module in (
        auth,
        dashboard,
        numbers,
        messages,
        contacts,
        calls,
        webhooks,
        subscribers,
        broadcasts,
        compose,
        scheduled,
        ussd,
        oncall,
        softphone,
        atmonitor,
        welcome,
        live,
        backup,
        fleet,
        certificate,
        voicesdk,
    ):
        app.register_blueprint(module.bp)
    voicesdk.warn_if_missing(app)
    return app
