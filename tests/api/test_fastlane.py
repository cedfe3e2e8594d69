"""The fast lane (appliance.api.fastlane): which creates it answers itself, which it hands
to the Flask route with the body intact, and that its answers are the route's."""

from __future__ import annotations

import base64
import io
import json
from typing import Any
from urllib.parse import urlencode

import requests
from werkzeug.test import EnvironBuilder

from appliance.api import create_app
from appliance.api.fastlane import _parsed_form, _plain_form, fast_lane
from tests.conftest import NUMBER, PHONE, wait_for

PATH = "/2010-04-01/Accounts/{sid}/Messages.json"


class Route:
    """Stands in for the Flask route behind the lane: records what reaches it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.bodies.append(environ["wsgi.input"].read())
        start_response("299 ROUTE", [("Content-Type", "text/plain")])
        return [b"route"]


def lane_for(d):
    app = create_app(d)
    route = Route()
    app.wsgi_app = route  # the lane wraps whatever the app's WSGI callable is
    return fast_lane(app, d), route


def call(lane, d, data: bytes | dict[str, str], *, auth: str | None = None, **kw: Any):
    body = data if isinstance(data, bytes) else urlencode(data).encode()
    user = auth or base64.b64encode(f"{d.account.sid}:{d.account.auth_token}".encode()).decode()
    kw.setdefault("content_type", "application/x-www-form-urlencoded")
    kw.setdefault("path", PATH.format(sid=d.account.sid))
    env = EnvironBuilder(
        method=kw.pop("method", "POST"),
        input_stream=io.BytesIO(body),
        content_length=len(body),
        headers={"Authorization": f"Basic {user}", **kw.pop("headers", {})},
        **kw,
    ).get_environ()
    seen: list[str] = []
    out = b"".join(lane(env, lambda status, headers: seen.append(status)))
    return seen[0], out


def test_a_plain_create_is_answered_by_the_lane_and_is_on_disk(sim, make_daemon):
    d = make_daemon()
    lane, route = lane_for(d)
    status, out = call(lane, d, {"To": PHONE, "From": NUMBER, "Body": "fast"})
    assert status == "201 CREATED" and route.bodies == []
    sid = json.loads(out)["sid"]
    row = d.store.read_one("SELECT body, to_number FROM messages WHERE sid = ?", (sid,))
    assert tuple(row) == ("fast", PHONE)


def test_anything_unusual_goes_to_the_route_with_its_body(sim, make_daemon):
    d = make_daemon()
    lane, route = lane_for(d)
    cases: list[tuple[bytes | dict[str, str], dict[str, Any]]] = [
        ({"To": PHONE, "From": NUMBER, "Body": "x", "MediaUrl": "http://x/y.png"}, {}),
        ({"To": PHONE, "From": NUMBER, "Body": "x", "ScheduleType": "fixed"}, {}),
        ({"To": PHONE, "From": NUMBER, "Body": ""}, {}),  # invalid: the route words it
        ({"To": "+1 555", "From": NUMBER, "Body": "x"}, {}),
        ({"To": PHONE, "From": NUMBER, "Body": "x"}, {"auth": "bm9ib2R5Om5vdGhpbmc="}),
        ({"To": PHONE, "From": NUMBER, "Body": "x"}, {"content_type": "multipart/form-data"}),
        ({"To": PHONE, "From": NUMBER, "Body": "x"}, {"path": PATH.format(sid="AC" + "1" * 32)}),
        (b"To=%2B14155550100&From=%2B15005550006&Body=\xff", {}),  # not UTF-8
    ]
    for data, kw in cases:
        route.bodies.clear()
        status, _ = call(lane, d, data, **dict(kw))
        sent = data if isinstance(data, bytes) else urlencode(data).encode()
        assert status == "299 ROUTE", (data, kw)
        if kw.get("content_type") != "multipart/form-data":
            assert route.bodies == [sent], (data, kw)
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 0  # nothing stored twice


def test_answers_match_the_routes(sim, make_daemon):
    """Through the real server: a plain create (the lane) and one with an ignored extra
    parameter (the route) give the same JSON shape and headers; errors found only in
    the write (an opt-out) are worded as the route words them."""
    d = make_daemon()
    url = f"http://127.0.0.1:{d.server.port}" + PATH.format(sid=d.account.sid)
    auth = (d.account.sid, d.account.auth_token)
    plain = {"To": PHONE, "From": NUMBER, "Body": "same"}
    fast = requests.post(url, data=plain, auth=auth, timeout=10)
    slow = requests.post(url, data={**plain, "SmartEncoded": "true"}, auth=auth, timeout=10)
    assert fast.status_code == slow.status_code == 201
    assert fast.headers["Content-Type"] == slow.headers["Content-Type"] == "application/json"
    assert fast.text.endswith("\n") and slow.text.endswith("\n")
    a, b = fast.json(), slow.json()
    assert list(a) == list(b)  # the same keys in the same (sorted) order
    for key in ("sid", "uri", "subresource_uris", "date_created", "date_updated", "status"):
        a.pop(key), b.pop(key)
    assert a == b
    # An unknown From is found by the lane's write (nothing stored) and worded as the route does.
    stranger = {"To": PHONE, "From": "+15005550001", "Body": "x"}
    lane_says = requests.post(url, data=stranger, auth=auth, timeout=10)
    route_says = requests.post(url, data={**stranger, "SmartEncoded": "1"}, auth=auth, timeout=10)
    assert lane_says.status_code == route_says.status_code == 400
    assert lane_says.json() == route_says.json() and lane_says.json()["code"] == 21606
    assert d.store.read_one("SELECT COUNT(*) FROM messages")[0] == 2
    modem = sim.modems["modem1"]
    modem.network.deliver_sms(modem, PHONE, "STOP")
    wait_for(lambda: d.store.read_one("SELECT 1 FROM opt_outs"), timeout=15)
    refused = requests.post(url, data=plain, auth=auth, timeout=10)
    assert refused.status_code == 400 and refused.json()["code"] == 21610
    assert refused.json()["more_info"] == "https://www.twilio.com/docs/errors/21610"


def test_the_form_is_read_as_parse_qsl_reads_it():
    """The lane reads the usual form itself (plain names): each of these as ``parse_qsl``
    reads it (first value of a name; None for a parameter the lane leaves to the route)."""
    forms = [
        b"To=%2B14155550100&From=%2B15005550006&Body=Load+test",
        b"To=+14155550100&From=%2b15005550006&Body=a%20b+c%2Bd",
        b"Body=&To=x&&From=y&Body=second",
        b"Body&To=%E2%82%AC&From=%ZZ%",
        b"To=x=y&From=%C3%28&Body=%ff",  # bad UTF-8 escapes: werkzeug's handler
        b"T%6F=x&From=y&Body=z",  # an escaped name: read by parse_qsl
        b"To=x&Body+=y",
        b"To=x&MediaUrl=y",
        b"",
        b"&&",
    ]
    for raw in forms:
        assert _plain_form(raw) == _parsed_form(raw.decode()), raw
    assert _plain_form(b"T%6F=x&From=y") == {"To": "x", "From": "y"}
    assert _plain_form(b"To=x&MediaUrl=y") is None
    assert _plain_form(b"Body=a+b%2Bc&Body=d") == {"Body": "a b+c"}
