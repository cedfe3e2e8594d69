"""Tests for appliance.webhooks against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import gzip
import http.cookiejar
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]
from werkzeug.datastructures import MultiDict

from appliance.webhooks import client as wh
from appliance.webhooks.client import Timeouts, WebhookClient, parse_overrides, signature

TOKEN = "12345-test-auth-token"

INBOUND = {
    "MessageSid": "SM" + "a" * 32,
    "SmsSid": "SM" + "a" * 32,
    "AccountSid": "AC" + "b" * 32,
    "From": "+15550001111",
    "To": "+15550002222",
    "Body": "Hello & welcome, ünïcode 😀 +1 = 2?",
    "NumMedia": "0",
    "ToCity": "",
}

FAST = Timeouts(connect=1.0, read=2.0, total=3.0, retries=0)


# --------------------------------------------------------------------------- test server


@dataclass
class Seen:
    method: str
    path: str  # raw request target (path + query)
    headers: dict[str, str]
    body: bytes
    url: str  # what a web app would reconstruct
    signature_valid: bool


@dataclass
class Server:
    port: int
    routes: dict[str, Callable[[BaseHTTPRequestHandler, Seen], None]]
    scheme: str = "http"
    seen: list[Seen] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"


def reply(
    handler: BaseHTTPRequestHandler,
    status: int = 200,
    body: bytes = b"",
    content_type: str | None = "text/xml",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    if content_type:
        handler.send_header("Content-Type", content_type)
    for key, value in (headers or {}).items():
        handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = self.server.app.url(self.path)
        params: dict[str, str] = {}
        if self.command == "POST":
            params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        valid = RequestValidator(TOKEN).validate(
            url, params, self.headers.get("X-Twilio-Signature", "")
        )
        seen = Seen(self.command, self.path, dict(self.headers), body, url, valid)
        app = self.server.app
        app.seen.append(seen)
        route = app.routes.get(urlsplit(self.path).path)
        try:
            if route is None:
                reply(self, 404, b"not found", "text/plain")
            else:
                route(self, seen)
        except OSError:  # the client gave up (timeouts, caps): expected in these tests
            self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: Server


@contextlib.contextmanager
def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Server]:
    httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
    scheme = "http"
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    httpd.app = Server(port=httpd.server_port, routes={}, scheme=scheme)
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield httpd.app
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with _serve() as app:
        yield app


def ok_twiml(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
    reply(handler, 200, b"<Response><Message>ok</Message></Response>", "text/xml")


def client(**kwargs: object) -> WebhookClient:
    kwargs.setdefault("timeouts", FAST)
    return WebhookClient(TOKEN, **kwargs)  # type: ignore[arg-type]


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


# --------------------------------------------------------------------------- signature


def test_signature_matches_twilio_docs_vector() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert RequestValidator("12345").validate(url, params, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")


def test_signature_with_repeated_keys_matches_the_validator() -> None:
    params = {"b": ["2", "1", "2"], "a": "x", "B": "upper"}
    multi = MultiDict([("b", "2"), ("b", "1"), ("b", "2"), ("a", "x"), ("B", "upper")])
    url = "https://example.com/hook"
    expected = RequestValidator("tok").compute_signature(url, multi)
    assert signature("tok", url, params) == expected
    assert RequestValidator("tok").validate(url, multi, signature("tok", url, params))


def test_signature_orders_keys_by_code_point_and_is_key_sensitive() -> None:
    # "To" < "body" in code-point order; changing any value changes the signature.
    sig = signature("t", "https://x/y", {"body": "b", "To": "a"})
    import base64
    import hashlib
    import hmac

    expected = base64.b64encode(
        hmac.new(b"t", b"https://x/yToabodyb", hashlib.sha1).digest()
    ).decode()
    assert sig == expected
    assert signature("t", "https://x/y", {"body": "c", "To": "a"}) != sig
    assert signature("u", "https://x/y", {"body": "b", "To": "a"}) != sig


def test_idempotency_tokens_are_unique() -> None:
    tokens = {wh.idempotency_token() for _ in range(100)}
    assert len(tokens) == 100


# --------------------------------------------------------------------------- success, headers, signature on the wire


def test_post_success_is_signed_and_validated_by_the_twilio_validator(server: Server) -> None:
    server.routes["/sms"] = ok_twiml
    result, cookies = client().request(
        server.url("/sms"), "POST", INBOUND, idempotency_token="tok-123"
    )
    assert result.ok
    assert result.error_code is None and result.error_message is None
    assert result.status == 200
    assert result.content_type == "text/xml"
    assert result.body == b"<Response><Message>ok</Message></Response>"
    assert result.url == server.url("/sms") == result.requested_url
    assert result.method == result.requested_method == "POST"
    assert result.request_params == {k: [v] for k, v in INBOUND.items()}
    assert result.attempts == 1
    assert cookies is None

    (seen,) = server.seen
    assert seen.method == "POST"
    assert seen.signature_valid
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.headers["User-Agent"] == "TwilioProxy/1.1"
    assert seen.headers["Accept"] == "*/*"
    assert seen.headers["I-Twilio-Idempotency-Token"] == "tok-123"
    assert dict(parse_qsl(seen.body.decode("utf-8"), keep_blank_values=True)) == INBOUND
    assert "X-Twilio-Webhooks-Signature-Settings" not in seen.headers


def test_post_to_url_with_query_signs_the_query(server: Server) -> None:
    server.routes["/sms"] = ok_twiml
    result, _ = client().request(server.url("/sms?tenant=7&x=a%20b"), "POST", INBOUND)
    assert result.ok
    (seen,) = server.seen
    assert seen.path == "/sms?tenant=7&x=a%20b"
    assert seen.signature_valid


def test_get_puts_params_in_the_query_and_signs_the_full_url(server: Server) -> None:
    server.routes["/sms"] = ok_twiml
    result, _ = client().request(server.url("/sms"), "get", INBOUND)
    assert result.ok and result.method == "GET"
    (seen,) = server.seen
    assert seen.method == "GET"
    assert seen.body == b""
    assert "Content-Type" not in seen.headers
    assert dict(parse_qsl(urlsplit(seen.path).query, keep_blank_values=True)) == INBOUND
    # validate(full_url, {}, sig) as Twilio documents for GET
    assert seen.signature_valid
    assert RequestValidator(TOKEN).validate(seen.url, {}, seen.headers["X-Twilio-Signature"])


def test_get_appends_to_an_existing_query_with_ampersand(server: Server) -> None:
    server.routes["/sms"] = ok_twiml
    result, _ = client().request(server.url("/sms?keep=1"), "GET", {"From": "+1555", "Body": "a b"})
    assert result.ok
    (seen,) = server.seen
    assert seen.path == "/sms?keep=1&From=%2B1555&Body=a+b"
    assert seen.signature_valid


def test_connection_override_fragment_is_not_sent(server: Server) -> None:
    server.routes["/sms"] = ok_twiml
    result, _ = client().request(server.url("/sms?a=1#ct=1000&rt=1500"), "POST", INBOUND)
    assert result.ok
    assert result.url == result.requested_url == server.url("/sms?a=1")
    (seen,) = server.seen
    assert seen.path == "/sms?a=1"
    assert seen.signature_valid


def test_auth_token_may_be_a_callable(server: Server) -> None:
    server.routes["/sms"] = ok_twiml
    result, _ = WebhookClient(lambda: TOKEN, timeouts=FAST).request(
        server.url("/sms"), "POST", INBOUND
    )
    assert result.ok
    assert server.seen[0].signature_valid


def test_userinfo_is_not_part_of_the_signed_url(server: Server) -> None:
    server.routes["/sms"] = ok_twiml
    url = f"http://user:pw@127.0.0.1:{server.port}/sms"
    result, _ = client().request(url, "POST", INBOUND)
    assert result.ok
    (seen,) = server.seen
    assert seen.headers["Authorization"].startswith("Basic ")
    assert seen.signature_valid


# --------------------------------------------------------------------------- HTTP failures


def test_500_is_11200_and_body_is_kept(server: Server) -> None:
    server.routes["/sms"] = lambda h, s: reply(h, 500, b"boom", "text/plain")
    result, _ = client().request(server.url("/sms"), "POST", INBOUND)
    assert not result.ok
    assert result.status == 500
    assert result.error_code == 11200
    assert result.error_message is not None and "500" in result.error_message
    assert result.body == b"boom"
    assert result.attempts == 1  # default policy retries connect failures only


def test_404_is_11200(server: Server) -> None:
    result, _ = client().request(server.url("/nowhere"), "POST", INBOUND)
    assert result.status == 404
    assert result.error_code == 11200


def test_body_delimited_by_connection_close(server: Server) -> None:
    def until_close(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        for part in (b"thanks ", b"for ", b"writing"):
            handler.wfile.write(part)
            handler.wfile.flush()
            time.sleep(0.02)

    server.routes["/old-school"] = until_close
    result, _ = client().request(server.url("/old-school"), "POST", INBOUND)
    assert result.ok
    assert result.body == b"thanks for writing"


def test_204_is_success_with_empty_body(server: Server) -> None:
    server.routes["/cb"] = lambda h, s: reply(h, 204, b"", None)
    result, _ = client().request(server.url("/cb"), "POST", {"MessageStatus": "sent"})
    assert result.ok
    assert result.status == 204
    assert result.body == b""
    assert result.content_type is None


def test_connection_refused_is_11205_and_retried_once() -> None:
    url = f"http://127.0.0.1:{closed_port()}/sms"
    result, cookies = WebhookClient(TOKEN, timeouts=Timeouts(connect=1, read=1, total=3)).request(
        url, "POST", INBOUND
    )
    assert result.error_code == 11205
    assert result.status is None
    assert result.body == b""
    assert result.attempts == 2  # Twilio's default: one retry on connection failure
    assert result.error_message is not None and "connection" in result.error_message.lower()
    assert cookies is None


def test_connection_refused_without_retries() -> None:
    url = f"http://127.0.0.1:{closed_port()}/sms#rc=0"
    result, _ = client().request(url, "POST", INBOUND)
    assert result.error_code == 11205
    assert result.attempts == 1


def test_unresolvable_host_is_11210() -> None:
    result, _ = client().request("http://no-such-host.invalid/sms", "POST", INBOUND)
    assert result.error_code == 11210
    assert result.status is None


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://example.com/x",
        "javascript:alert(1)",
        "/relative/path",
        "http:///no-host",
        "http://127.0.0.1:99999/bad-port",
        "",
    ],
)
def test_non_http_urls_are_refused_without_any_io(url: str) -> None:
    result, _ = client().request(url, "POST", INBOUND)
    assert result.error_code == 11100
    assert result.status is None
    assert result.body == b""
    assert result.error_message is not None and "Invalid URL" in result.error_message


def test_invalid_method_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        client().request("http://127.0.0.1/", "PUT", {})


def test_read_timeout_is_11200(server: Server) -> None:
    def slow(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        time.sleep(1.5)
        reply(handler, 200, b"<Response/>")

    server.routes["/slow"] = slow
    started = time.monotonic()
    result, _ = client(timeouts=Timeouts(connect=1, read=0.3, total=5, retries=0)).request(
        server.url("/slow"), "POST", INBOUND
    )
    assert time.monotonic() - started < 1.2
    assert result.error_code == 11200
    assert result.status is None
    assert result.error_message is not None and "timeout" in result.error_message


def test_read_timeout_retried_when_policy_says_rt(server: Server) -> None:
    def slow(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        time.sleep(0.6)
        reply(handler, 200, b"<Response/>")

    server.routes["/slow"] = slow
    result, _ = client(timeouts=Timeouts(connect=1, read=0.2, total=5)).request(
        server.url("/slow#rc=2&rp=rt"), "POST", INBOUND, idempotency_token="same"
    )
    assert result.error_code == 11200
    assert result.attempts == 3
    deadline = time.monotonic() + 2
    while len(server.seen) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [s.headers["I-Twilio-Idempotency-Token"] for s in server.seen] == ["same"] * 3


def test_5xx_retry_via_override_keeps_idempotency_token(server: Server) -> None:
    calls: list[int] = []

    def flaky(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        calls.append(1)
        if len(calls) < 3:
            reply(handler, 503, b"busy", "text/plain")
        else:
            ok_twiml(handler, seen)

    server.routes["/sms"] = flaky
    result, _ = client().request(server.url("/sms#rc=5&rp=5xx"), "POST", INBOUND)
    assert result.ok
    assert result.attempts == 3
    tokens = {s.headers["I-Twilio-Idempotency-Token"] for s in server.seen}
    assert tokens == {result.idempotency_token}
    assert all(s.signature_valid for s in server.seen)


def test_trickling_body_hits_the_total_timeout(server: Server) -> None:
    def trickle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.05)

    server.routes["/trickle"] = trickle
    started = time.monotonic()
    result, _ = client(timeouts=Timeouts(connect=1, read=0.5, total=0.8, retries=0)).request(
        server.url("/trickle"), "POST", INBOUND
    )
    elapsed = time.monotonic() - started
    assert 0.7 < elapsed < 1.5
    assert result.error_code == 11200
    assert result.status == 200  # headers arrived, the body never completed
    assert result.error_message is not None and "total timeout" in result.error_message


def test_trickling_headers_hit_the_total_timeout(server: Server) -> None:
    def trickle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(1000):
            handler.wfile.write(b"X")
            handler.wfile.flush()
            time.sleep(0.05)

    server.routes["/trickle"] = trickle
    started = time.monotonic()
    result, _ = client(timeouts=Timeouts(connect=1, read=0.5, total=0.8, retries=0)).request(
        server.url("/trickle"), "POST", INBOUND
    )
    assert time.monotonic() - started < 1.5
    assert result.error_code == 11200
    assert result.status is None
    assert result.error_message is not None and "total timeout" in result.error_message


def test_garbage_status_line_is_11206(server: Server) -> None:
    def garbage(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        handler.close_connection = True

    server.routes["/ssh"] = garbage
    result, _ = client().request(server.url("/ssh"), "POST", INBOUND)
    assert result.error_code == 11206


def test_short_body_is_11206(server: Server) -> None:
    def short(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.send_header("Content-Length", "100")
        handler.end_headers()
        handler.wfile.write(b"<Response>")
        handler.close_connection = True

    server.routes["/short"] = short
    result, _ = client().request(server.url("/short"), "POST", INBOUND)
    assert result.error_code == 11206
    assert result.status == 200


def test_server_closing_without_answer_is_11205(server: Server) -> None:
    def hang_up(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.close_connection = True

    server.routes["/bye"] = hang_up
    result, _ = client().request(server.url("/bye"), "POST", INBOUND)
    assert result.error_code == 11205
    assert result.status is None


# --------------------------------------------------------------------------- bodies


def test_oversized_body_is_truncated_and_flagged(server: Server) -> None:
    big = b"<Response><Message>" + b"x" * 100_000 + b"</Message></Response>"
    server.routes["/big"] = lambda h, s: reply(h, 200, big, "text/xml")
    result, _ = client().request(server.url("/big"), "POST", INBOUND)
    assert result.ok
    assert result.truncated
    assert len(result.body) == 64 * 1024
    assert result.body == big[: 64 * 1024]


def test_body_of_exactly_max_body_is_not_truncated(server: Server) -> None:
    body = b"y" * 1000
    server.routes["/b"] = lambda h, s: reply(h, 200, body, "text/plain")
    result, _ = client(max_body=1000).request(server.url("/b"), "POST", INBOUND)
    assert result.body == body and not result.truncated
    result, _ = client(max_body=999).request(server.url("/b"), "POST", INBOUND)
    assert result.body == body[:999] and result.truncated


def test_gzip_body_is_decoded_and_a_gzip_bomb_is_capped(server: Server) -> None:
    small = b"<Response><Message>zipped</Message></Response>"
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))
    server.routes["/gz"] = lambda h, s: reply(
        h, 200, gzip.compress(small), "text/xml", {"Content-Encoding": "gzip"}
    )
    server.routes["/bomb"] = lambda h, s: reply(
        h, 200, bomb, "text/xml", {"Content-Encoding": "gzip"}
    )
    result, _ = client().request(server.url("/gz"), "POST", INBOUND)
    assert result.ok and result.body == small
    result, _ = client().request(server.url("/bomb"), "POST", INBOUND)
    assert result.truncated and len(result.body) == 64 * 1024


# --------------------------------------------------------------------------- redirects


def test_302_turns_post_into_get_and_resigns(server: Server) -> None:
    server.routes["/old"] = lambda h, s: reply(h, 302, b"", None, {"Location": "/new?v=2"})
    server.routes["/new"] = ok_twiml
    result, _ = client().request(server.url("/old"), "POST", INBOUND)
    assert result.ok
    assert result.requested_url == server.url("/old")
    assert result.requested_method == "POST"
    assert result.url == server.url("/new?v=2")  # base URL for relative TwiML URLs
    assert result.method == "GET"
    assert result.redirects == (server.url("/new?v=2"),)
    first, second = server.seen
    assert first.method == "POST" and first.signature_valid
    assert second.method == "GET" and second.path == "/new?v=2" and second.body == b""
    assert second.signature_valid
    assert RequestValidator(TOKEN).validate(second.url, {}, second.headers["X-Twilio-Signature"])


@pytest.mark.parametrize("status", [307, 308])
def test_307_308_keep_post_and_body_and_resign(server: Server, status: int) -> None:
    server.routes["/old"] = lambda h, s: reply(
        h, status, b"", None, {"Location": server.url("/moved?x=1")}
    )
    server.routes["/moved"] = ok_twiml
    result, _ = client().request(server.url("/old"), "POST", INBOUND)
    assert result.ok
    assert result.method == "POST"
    assert result.url == server.url("/moved?x=1")
    first, second = server.seen
    assert second.method == "POST"
    assert second.body == first.body
    assert second.signature_valid
    assert second.headers["X-Twilio-Signature"] != first.headers["X-Twilio-Signature"]


def test_get_redirect_goes_to_location_as_given(server: Server) -> None:
    server.routes["/old"] = lambda h, s: reply(h, 301, b"", None, {"Location": "/new"})
    server.routes["/new"] = ok_twiml
    result, _ = client().request(server.url("/old"), "GET", {"From": "+1"})
    assert result.ok
    assert [s.path for s in server.seen] == ["/old?From=%2B1", "/new"]
    assert all(s.signature_valid for s in server.seen)


def test_redirect_loop_is_11215(server: Server) -> None:
    server.routes["/loop"] = lambda h, s: reply(h, 302, b"", None, {"Location": "/loop"})
    result, _ = client(max_redirects=3).request(server.url("/loop"), "POST", INBOUND)
    assert result.error_code == 11215
    assert len(server.seen) == 4


def test_redirect_to_file_url_is_refused(server: Server) -> None:
    server.routes["/evil"] = lambda h, s: reply(
        h, 302, b"", None, {"Location": "file:///etc/passwd"}
    )
    result, _ = client().request(server.url("/evil"), "POST", INBOUND)
    assert result.error_code == 11100
    assert len(server.seen) == 1


def test_3xx_without_location_is_11200(server: Server) -> None:
    server.routes["/304"] = lambda h, s: reply(h, 302, b"", None)
    result, _ = client().request(server.url("/304"), "POST", INBOUND)
    assert result.error_code == 11200
    assert result.status == 302


# --------------------------------------------------------------------------- cookies


def test_cookies_round_trip_through_the_serialized_jar(server: Server) -> None:
    def set_cookie(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        reply(
            handler,
            200,
            b"<Response/>",
            headers={"Set-Cookie": "session=abc123; Path=/; HttpOnly"},
        )

    server.routes["/first"] = set_cookie
    server.routes["/second"] = ok_twiml
    hook = client()
    result, jar = hook.request(server.url("/first"), "POST", INBOUND)
    assert result.ok
    assert jar is not None
    stored = json.loads(jar)
    assert [c["name"] for c in stored] == ["session"]
    assert "Cookie" not in server.seen[0].headers

    result, jar2 = hook.request(server.url("/second"), "POST", INBOUND, cookies=jar)
    assert result.ok
    assert server.seen[1].headers["Cookie"] == "session=abc123"
    assert jar2 == jar

    # without the stored jar, nothing is sent
    hook.request(server.url("/second"), "POST", INBOUND)
    assert "Cookie" not in server.seen[2].headers


def test_cookie_set_on_redirect_is_sent_to_the_target(server: Server) -> None:
    server.routes["/login"] = lambda h, s: reply(
        h, 302, b"", None, {"Location": "/app", "Set-Cookie": "k=v; Path=/"}
    )
    server.routes["/app"] = ok_twiml
    result, jar = client().request(server.url("/login"), "POST", INBOUND)
    assert result.ok
    assert server.seen[1].headers["Cookie"] == "k=v"
    assert jar is not None and '"k"' in jar


def test_cookies_respect_path_and_expiry(server: Server) -> None:
    server.routes["/set"] = lambda h, s: reply(
        h,
        200,
        b"<Response/>",
        headers={"Set-Cookie": "scoped=1; Path=/private"},
    )
    server.routes["/other"] = ok_twiml
    server.routes["/expire"] = lambda h, s: reply(
        h, 200, b"<Response/>", headers={"Set-Cookie": "scoped=; Path=/private; Max-Age=0"}
    )
    server.routes["/private/x"] = ok_twiml
    hook = client()
    _, jar = hook.request(server.url("/set"), "POST", INBOUND)
    hook.request(server.url("/other"), "POST", INBOUND, cookies=jar)
    assert "Cookie" not in server.seen[1].headers
    hook.request(server.url("/private/x"), "POST", INBOUND, cookies=jar)
    assert server.seen[2].headers["Cookie"] == "scoped=1"
    _, jar = hook.request(server.url("/expire"), "POST", INBOUND, cookies=jar)
    assert jar is None


def _cookie(name: str, value: str, expires: int | None = None) -> http.cookiejar.Cookie:
    return http.cookiejar.Cookie(
        0, name, value, None, False, "example.com", True, False, "/", True,
        False, expires, expires is None, None, None, {},
    )  # fmt: skip


def test_cookie_serialization_helpers() -> None:
    assert wh.COOKIE_IDLE_SECONDS == 4 * 3600
    assert len(wh.deserialize_cookies(None)) == 0
    assert len(wh.deserialize_cookies("not json")) == 0
    assert len(wh.deserialize_cookies('{"a": 1}')) == 0
    assert len(wh.deserialize_cookies('[{"name": "missing fields"}, 3]')) == 0
    jar = wh.deserialize_cookies(None)
    jar.set_cookie(_cookie("a", "1"))
    jar.set_cookie(_cookie("old", "x", expires=1))  # long expired
    data = wh.serialize_cookies(jar)
    again = wh.deserialize_cookies(data)
    assert [(c.name, c.value, c.domain) for c in again] == [("a", "1", "example.com")]
    assert wh.serialize_cookies(again) == data


def test_cookie_jar_is_capped() -> None:
    jar = wh.deserialize_cookies(None)
    for i in range(wh.MAX_COOKIES + 20):
        jar.set_cookie(_cookie(f"c{i:03d}", "v"))
    assert len(json.loads(wh.serialize_cookies(jar))) == wh.MAX_COOKIES


# --------------------------------------------------------------------------- overrides


def test_parse_overrides() -> None:
    default = Timeouts()
    assert parse_overrides("https://x/y?a=1", default) == ("https://x/y?a=1", default)
    url, t = parse_overrides("https://x/y?a=1#ct=1000&rt=2000&tt=3000&rc=2&rp=5xx,ct", default)
    assert url == "https://x/y?a=1"
    assert t == Timeouts(
        connect=1.0, read=2.0, total=3.0, retries=2, retry_policy=frozenset({"5xx", "ct"})
    )


def test_parse_overrides_clamps_and_ignores_garbage() -> None:
    default = Timeouts()
    url, t = parse_overrides("http://x/#ct=99999&rt=1&tt=60000&rc=9&rp=bogus&e=ie1&sni=y", default)
    assert url == "http://x/"
    assert t.connect == 10.0 and t.read == 0.1 and t.total == 15.0 and t.retries == 5
    assert t.retry_policy == frozenset({"ct"})
    url, t = parse_overrides("http://x/#section-2", default)
    assert (url, t) == ("http://x/", default)
    _, t = parse_overrides("http://x/#rt=abc", default)
    assert t == default


def test_defaults_match_twilio() -> None:
    t = Timeouts()
    assert (t.connect, t.read, t.total, t.retries) == (5.0, 15.0, 15.0, 1)
    assert t.retries_on("ct") and not t.retries_on("rt") and not t.retries_on("5xx")
    assert Timeouts(retry_policy=frozenset({"all"})).retries_on("4xx")


# --------------------------------------------------------------------------- connect timeouts


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A listening port whose accept queue is full: SYNs are dropped, connect() hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port: int = listener.getsockname()[1]
    fillers = []
    for _ in range(5):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    time.sleep(0.1)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_connect_timeout_is_11205_and_retried(blackhole_port: int) -> None:
    started = time.monotonic()
    result, _ = WebhookClient(TOKEN, timeouts=Timeouts(connect=0.3, read=1, total=3)).request(
        f"http://127.0.0.1:{blackhole_port}/sms", "POST", INBOUND
    )
    assert 0.5 < time.monotonic() - started < 1.5
    assert result.error_code == 11205
    assert result.attempts == 2
    assert result.error_message is not None and "connect timeout" in result.error_message


def test_total_timeout_bounds_connect_attempts_and_retries(blackhole_port: int) -> None:
    started = time.monotonic()
    result, _ = client(timeouts=Timeouts(connect=5, read=5, total=5)).request(
        f"http://127.0.0.1:{blackhole_port}/sms#ct=400&tt=700&rc=5", "POST", INBOUND
    )
    assert time.monotonic() - started < 1.2
    assert result.error_code == 11205
    assert result.attempts == 2  # 0.4 s + the 0.3 s left, then the budget is spent


# --------------------------------------------------------------------------- https


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[str, str]) -> Iterator[Server]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with _serve(context) as app:
        yield app


def test_https_untrusted_certificate_is_11220(tls_server: Server) -> None:
    tls_server.routes["/sms"] = ok_twiml
    result, _ = client().request(tls_server.url("/sms"), "POST", INBOUND)
    assert result.error_code == 11220
    assert tls_server.seen == []


def test_https_success_is_signed_over_the_https_url(
    tls_server: Server, certificate: tuple[str, str]
) -> None:
    tls_server.routes["/sms"] = ok_twiml
    result, _ = client(ca_file=certificate[0]).request(tls_server.url("/sms?q=1"), "POST", INBOUND)
    assert result.ok, result.error_message
    (seen,) = tls_server.seen
    assert seen.url.startswith("https://127.0.0.1:")
    assert seen.signature_valid


def test_https_trickling_body_hits_the_total_timeout(
    tls_server: Server, certificate: tuple[str, str]
) -> None:
    def trickle(handler: BaseHTTPRequestHandler, seen: Seen) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/xml")
        handler.end_headers()  # no Content-Length: body until close
        handler.close_connection = True
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.05)

    tls_server.routes["/trickle"] = trickle
    started = time.monotonic()
    result, _ = client(
        timeouts=Timeouts(connect=1, read=0.5, total=0.8, retries=0),
        ca_file=certificate[0],
    ).request(tls_server.url("/trickle"), "POST", INBOUND)
    assert time.monotonic() - started < 1.5
    assert result.error_code == 11200
    assert result.error_message is not None and "total timeout" in result.error_message


# --------------------------------------------------------------------------- with the TwiML parser


def test_result_feeds_the_twiml_parser_with_the_post_redirect_base_url(server: Server) -> None:
    from appliance.twiml import messaging

    server.routes["/sms"] = lambda h, s: reply(h, 307, b"", None, {"Location": "/v2/sms"})
    server.routes["/v2/sms"] = lambda h, s: reply(
        h,
        200,
        b'<Response><Message action="status">hi</Message><Redirect>next</Redirect></Response>',
        "text/html; charset=utf-8",
    )
    result, _ = client().request(server.url("/sms"), "POST", INBOUND)
    assert result.ok
    doc = messaging.parse(result.body, result.content_type, base_url=result.url)
    assert doc.messages[0].action == server.url("/v2/status")
    assert doc.redirect == messaging.Redirect(url=server.url("/v2/next"), method="POST")
