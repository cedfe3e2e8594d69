"""User-defined messages with the official Voice JavaScript SDK (2.18.5 from npm, unchanged) in
headless Chromium, as Twilio's own SDK integration test drives them: the page's
``call.sendMessage()`` fires ``messageSent`` and reaches the app's subscription Callback,
signed and once; the app's ``user_defined_messages.create()`` (the official Python library)
fires the page's ``messageReceived`` with the content; an unknown messageType is the Call's
error 31210.  The page and its call are test_outgoing_browser.py's."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import sync_playwright
from twilio.request_validator import RequestValidator

from tests.clients import browserapp
from tests.clients.test_outgoing_browser import FLAGS, site  # noqa: F401 - the page's fixture
from tests.clients.test_signalling_browser import browser_page, events
from tests.conftest import wait_for
from tests.webapp import WebApp

pytestmark = pytest.mark.timeout(120)

HOOKS = """() => {
  window.sent = []; window.received = [];
  window.call.on('messageSent', (m) => window.sent.push(m));
  window.call.on('messageReceived', (m) => window.received.push(m));
}"""


def test_the_official_sdk_sends_and_receives_user_defined_messages(phones, site):  # noqa: F811
    p = browserapp.appliance(phones)
    d = p.daemon
    webapp = WebApp()
    try:
        api, _, token = browserapp.app_token(p, webapp, '<Say>Hi.</Say><Pause length="60"/>')
        port = d.server.https_port
        with sync_playwright() as pw:
            page = browser_page(pw, port, *FLAGS)
            sid = browserapp.place_call(page, site, port, token, webapp)["CallSid"]
            page.evaluate(HOOKS)
            call = api.calls(sid)
            call.user_defined_message_subscriptions.create(callback=webapp.url("/messages"))

            # page -> app: messageSent, then the Callback, signed, with Twilio's parameters
            event_sid = page.evaluate(
                "() => window.call.sendMessage({content: {hello: 'world', n: [1, 2]},"
                " messageType: 'user-defined-message'})"
            )
            assert event_sid.startswith("KX") and len(event_sid) == 34
            sent = wait_for(lambda: page.evaluate("window.sent"), timeout=10)
            assert sent[0]["voiceEventSid"] == event_sid
            req = webapp.wait(path="/messages", timeout=10)
            assert RequestValidator(d.account.auth_token).validate(
                req.url, req.flat, req.headers["X-Twilio-Signature"]
            )
            form = req.flat
            assert form["Content"] == json.dumps(
                {"hello": "world", "n": [1, 2]}, separators=(",", ":")
            )
            assert (form["ContentType"], form["SequenceNumber"]) == ("application/json", "1")
            assert (form["CallSid"], form["Sid"], form["AccountSid"]) == (
                sid,
                event_sid,
                d.account.sid,
            )

            # app -> page: messageReceived with the parsed content and the resource's sid
            made = call.user_defined_messages.create(
                content=json.dumps({"message": "ahoy, world!"})
            )
            received = wait_for(lambda: page.evaluate("window.received"), timeout=10)
            assert received == [
                {
                    "content": {"message": "ahoy, world!"},
                    "contentType": "application/json",
                    "messageType": "user-defined-message",
                    "voiceEventSid": made.sid,
                }
            ]

            # an unknown messageType: the Call's error 31210 (the SDK's
            # CallMessageEventTypeInvalidError), and nothing posted
            page.evaluate(
                "() => window.call.sendMessage({content: {a: 1}, messageType: 'other-type'})"
            )
            wait_for(lambda: "call:error:31210" in events(page), timeout=10)
            time.sleep(0.5)
            assert len(webapp.to("/messages")) == 1  # exactly once
            assert len(page.evaluate("window.sent")) == 1
            assert [e for e in events(page) if "error" in e] == ["call:error:31210"]
            page.evaluate("window.call.disconnect()")
            wait_for(lambda: "disconnect" in events(page), timeout=10)
        wait_for(lambda: api.calls(sid).fetch().status == "completed")
    finally:
        webapp.close()
