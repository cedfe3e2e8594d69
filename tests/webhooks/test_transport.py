"""The webhook client's connections on urllib3 (appliance/webhooks/transport.py, wire.py):
what ``requests`` did before, kept: the URL as sent and signed, the headers, the
environment's proxies and CA bundle.  Real servers on 127.0.0.1."""

from __future__ import annotations

import base64
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests  # the reference the URLs are compared with (a test tool only)
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.webhooks import transport
from appliance.webhooks.wire import prepare_url
from tests.webhooks.test_webhooks import (
    INBOUND,
    Server,
    certificate,  # noqa: F401 - a fixture
    client,
    ok_twiml,
    reply,
    server,  # noqa: F401 - a fixture
    tls_server,  # noqa: F401 - a fixture
)

PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


@dataclass
class Proxy:
    port: int
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    """A forward proxy stand-in: it answers the (absolute-form) requests itself."""
    seen: list[tuple[str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append((self.path, dict(self.headers)))
            reply(self, 200, b"<Response/>", "text/xml")

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    try:
        yield Proxy(httpd.server_port, seen)
    finally:
        httpd.shutdown()
        httpd.server_close()


def requests_url(url: str) -> str:
    return str(requests.Request("GET", url).prepare().url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "HTTP://Example.COM/Hook",
        "https://example.com/a b/ü?x=ü y&z=%7e%2f#frag",
        "http://example.com/a/./b/../c?q=1",
        "http://user:p%40ss@example.com:8080/x?y",
        "http://example.com/100%/x",
        "http://example.com/?a=%zz",
        "http://[::1]:8080/path",
        "http://bücher.example/ä",
        "  http://example.com/lead",
    ],
)
def test_the_url_sent_is_the_one_requests_sent(url: str) -> None:
    assert prepare_url(url) == requests_url(url)


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF, exclude_characters="#"),
        max_size=30,
    )
)
def test_any_path_and_query_is_sent_as_requests_sent_it(tail: str) -> None:
    url = "https://example.com/" + tail
    try:
        expected = requests_url(url)
    except (requests.RequestException, ValueError):
        with pytest.raises(ValueError):
            prepare_url(url)
        return
    assert prepare_url(url) == expected


def test_headers_on_the_wire_are_requests_defaults_plus_twilios(
    server: Server,  # noqa: F811
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    server.routes["/sms"] = ok_twiml
    result, _ = client().request(server.url("/sms"), "POST", INBOUND)
    assert result.ok
    (seen,) = server.seen
    expected = requests.Session().headers
    assert seen.headers["Accept-Encoding"] == expected["Accept-Encoding"]
    assert seen.headers["Connection"] == "keep-alive"
    assert seen.headers["Content-Length"] == str(len(seen.body))
    assert seen.headers["Host"] == f"127.0.0.1:{server.port}"
    assert "Authorization" not in seen.headers


def test_a_url_with_only_a_user_name_sends_no_authorization(server: Server) -> None:  # noqa: F811
    server.routes["/sms"] = ok_twiml
    result, _ = client().request(f"http://user@127.0.0.1:{server.port}/sms", "POST", INBOUND)
    assert result.ok
    assert "Authorization" not in server.seen[0].headers
    assert server.seen[0].signature_valid


def test_the_environments_http_proxy_is_used_with_its_credentials(
    proxy: Proxy, no_proxy_env: pytest.MonkeyPatch
) -> None:
    no_proxy_env.setenv("http_proxy", f"http://me:s%3Acret@127.0.0.1:{proxy.port}")
    result, _ = client().request("http://webhooks.example/sms?a=1", "POST", INBOUND)
    assert result.ok, result.error_message
    ((path, headers),) = proxy.seen
    assert path == "http://webhooks.example/sms?a=1"  # absolute form, to the proxy
    assert headers["Host"] == "webhooks.example"
    assert "X-Twilio-Signature" in headers
    assert headers["Proxy-Authorization"] == "Basic " + base64.b64encode(b"me:s:cret").decode(
        "ascii"
    )


HOSTS = ("webhooks.example", "a.webhooks.example", "example", "webhooks.example:8080",
         "elsewhere.test", "10.1.2.3", "10.1.2.3:81", "[::1]:8080", "WEBHOOKS.example")  # fmt: skip


@pytest.mark.parametrize(
    "no_proxy",
    ["webhooks.example", ".example", "webhooks.example:8080", "*", "10.0.0.0/8", "10.1.2.3",
     "10.1.2.3:81", "::1", "", "example,,10.0.0.0/33", "Webhooks.Example"],
)  # fmt: skip
def test_no_proxy_rules_are_requests(no_proxy_env: pytest.MonkeyPatch, no_proxy: str) -> None:
    no_proxy_env.setenv("HTTP_PROXY", "http://proxy.test:3128")
    for value in (no_proxy, f"other.test, {no_proxy}"):
        no_proxy_env.setenv("NO_PROXY", value)
        for host in HOSTS:
            url = f"http://{host}/x"
            expected = requests.utils.select_proxy(url, requests.utils.get_environ_proxies(url))
            assert transport.proxy_for(url) == expected, (value, host)
    assert transport.proxy_for("https://webhooks.example/x") is None  # no https_proxy


def test_no_proxy_sends_to_the_server_itself(
    server: Server,  # noqa: F811
    proxy: Proxy,
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    server.routes["/sms"] = ok_twiml
    no_proxy_env.setenv("all_proxy", f"http://127.0.0.1:{proxy.port}")
    no_proxy_env.setenv("no_proxy", "127.0.0.0/8")
    result, _ = client().request(server.url("/sms"), "POST", INBOUND)
    assert result.ok
    assert len(server.seen) == 1 and proxy.seen == []


def test_a_proxy_that_refuses_is_a_connection_failure(no_proxy_env: pytest.MonkeyPatch) -> None:
    from tests.webhooks.test_webhooks import closed_port

    no_proxy_env.setenv("http_proxy", f"127.0.0.1:{closed_port()}")  # no scheme: http
    result, _ = client().request("http://webhooks.example/sms#rc=0", "POST", INBOUND)
    assert result.error_code == 11205


def test_requests_ca_bundle_is_still_honoured(
    tls_server: Server,  # noqa: F811
    certificate: tuple[str, str],  # noqa: F811
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    """A bundle named by REQUESTS_CA_BUNDLE replaces the system's CAs, as with requests."""
    tls_server.routes["/sms"] = ok_twiml
    no_proxy_env.setenv("REQUESTS_CA_BUNDLE", certificate[0])
    result, _ = client().request(tls_server.url("/sms"), "POST", INBOUND)
    assert result.ok, result.error_message
    no_proxy_env.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    result, _ = client().request(tls_server.url("/sms"), "POST", INBOUND)
    assert result.error_code == 11205  # as with requests: an OSError before connecting
    assert result.error_message is not None and "No such file" in result.error_message


def test_system_cas_without_a_bundle(
    tls_server: Server,  # noqa: F811
    certificate: tuple[str, str],  # noqa: F811
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    """No bundle in the environment: the system's CAs, which do not know the test CA
    (11220), plus ``ca_file``, which does."""
    tls_server.routes["/sms"] = ok_twiml
    no_proxy_env.delenv("REQUESTS_CA_BUNDLE", raising=False)
    no_proxy_env.delenv("CURL_CA_BUNDLE", raising=False)
    result, _ = client().request(tls_server.url("/sms"), "POST", INBOUND)
    assert result.error_code == 11220
    result, _ = client(ca_file=certificate[0]).request(tls_server.url("/sms"), "POST", INBOUND)
    assert result.ok, result.error_message
    if ssl.get_default_verify_paths().cafile:  # a bundle file (Debian's): loaded up front
        assert transport.tls_context().cert_store_stats()["x509_ca"] > 0
