"""Connections of the appliance's outbound HTTP (webhooks, ``<Play>`` media, campaign sources), on urllib3.

The appliance talked HTTP through ``requests`` until an idle daemon's memory was measured
(docs/design.md, "HTTP client"); this module keeps what ``requests`` gave it:

* **TLS**: certificates and host names verified against the system's CAs (OpenSSL's default
  paths, which ``SSL_CERT_FILE``/``SSL_CERT_DIR`` move), or against the bundle that
  ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` names when one is set (a file or a folder; it
  replaces the system's, as it did with ``requests``); ``ca_file`` adds a private CA (PEM) on
  top.  One context per CA setting, made on first use.
* **Proxies** from the environment: ``http_proxy``, ``https_proxy``, ``all_proxy`` (lower case
  first, then upper case) with ``no_proxy`` (host names with their sub-domains, ``host:port``,
  IPv4 addresses and CIDR ranges, or just ``*``); ``user:password@`` in a proxy URL becomes
  ``Proxy-Authorization``.  ``https://`` goes through a ``CONNECT`` tunnel.
* **Pools**: one connection pool per origin (scheme, host, port), ten connections each, kept
  until :meth:`Pools.close`; their sockets honour the total deadline of
  :mod:`appliance.webhooks.deadline`.
* The headers ``requests`` added to every request: ``Accept-Encoding`` (the codings urllib3
  decodes) and ``Connection: keep-alive``.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import urllib3
import urllib3.exceptions
import urllib3.util
import urllib3.util.ssl_

from appliance.webhooks.deadline import POOL_CLASSES

__all__ = [
    "DEFAULT_HEADERS",
    "Answer",
    "Pools",
    "basic_auth",
    "failure_text",
    "proxy_for",
    "tls_context",
]

#: Sent with every request unless the caller sets them (what ``requests`` sent).
DEFAULT_HEADERS: dict[str, str] = {
    "Accept-Encoding": ", ".join(
        part.strip()
        for part in urllib3.util.make_headers(accept_encoding=True)["accept-encoding"].split(",")
    ),
    "Connection": "keep-alive",
}

POOL_SIZE = 10  # connections kept per origin (requests' default)


@functools.lru_cache(maxsize=8)
def tls_context(ca_file: str | None = None, bundle: str | None = None) -> ssl.SSLContext:
    """The client context: verification against ``bundle`` (a PEM file or a hashed folder)
    or, without one, the system's CAs; and also against ``ca_file`` when given.

    Raises ``OSError`` or ``ssl.SSLError`` when a file cannot be loaded."""
    context = urllib3.util.ssl_.create_urllib3_context()
    if bundle:
        if os.path.isdir(bundle):
            context.load_verify_locations(capath=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    else:
        context.load_default_certs()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def environment_bundle() -> str | None:
    """The CA bundle ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` names, if any."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def basic_auth(username: str, password: str) -> str:
    """``Basic …`` for ``username`` and ``password`` (Latin-1, as ``requests`` encodes them;
    a character outside Latin-1 raises ``UnicodeEncodeError``)."""
    raw = username.encode("latin1") + b":" + password.encode("latin1")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def failure_text(exc: BaseException) -> str:
    """``NewConnectionError: …`` for a failed request (what ``MaxRetryError`` wraps, if so)."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    return f"{exc.__class__.__name__}: {exc}"


def _environ(key: str) -> str | None:
    return os.environ.get(key) or os.environ.get(key.upper()) or None


def _bypassed(url: str) -> bool:
    """Whether ``no_proxy`` exempts ``url`` (the rules ``requests`` applied)."""
    parts = urlsplit(url)
    hostname = parts.hostname
    if hostname is None:
        return True
    no_proxy = _environ("no_proxy") or ""
    if no_proxy == "*":
        return True
    entries = [e.lower() for e in no_proxy.replace(" ", "").split(",") if e]
    try:
        address = ipaddress.IPv4Address(hostname)
    except ValueError:
        address = None
    if address is not None:
        for entry in entries:
            if "/" in entry:
                try:
                    if address in ipaddress.IPv4Network(entry, strict=False):
                        return True
                except ValueError:
                    continue
            elif entry == hostname:
                return True
        return False
    with_port = f"{hostname}:{parts.port}" if parts.port else hostname
    for entry in entries:
        entry = entry.lstrip(".")
        if entry in (hostname, with_port):
            return True
        if hostname.endswith("." + entry) or with_port.endswith("." + entry):
            return True
    return False


def proxy_for(url: str) -> str | None:
    """The proxy URL the environment gives for ``url``, or None (direct)."""
    scheme = urlsplit(url).scheme.lower()
    proxy = _environ(f"{scheme}_proxy") or _environ("all_proxy")
    if not proxy or _bypassed(url):
        return None
    if "://" not in proxy:
        proxy = "http://" + proxy
    return proxy


@dataclass(frozen=True)
class Answer:
    """A response read whole by :meth:`Pools.fetch` (``headers`` are case-insensitive)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        """The body as text: the charset of ``Content-Type``, else UTF-8; bad bytes replaced."""
        charset = "utf-8"
        for param in self.headers.get("Content-Type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.body.decode(charset, "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")


class Pools:
    """Connection pools per origin, direct or through the environment's proxies.

    Thread-safe; :meth:`close` closes every pooled connection (the object stays usable).
    """

    def __init__(self, *, ca_file: str | None = None, size: int = POOL_SIZE) -> None:
        self.ca_file = ca_file
        self.size = size
        self._lock = threading.Lock()
        self._managers: dict[str | None, urllib3.PoolManager] = {}

    def _manager(self, proxy: str | None) -> urllib3.PoolManager:
        with self._lock:
            manager = self._managers.get(proxy)
            if manager is not None:
                return manager
            kwargs: dict[str, Any] = {"num_pools": self.size, "maxsize": self.size}
            if proxy is None:
                manager = urllib3.PoolManager(**kwargs)
            elif proxy.lower().startswith("socks"):
                try:
                    from urllib3.contrib.socks import SOCKSProxyManager
                except ImportError:  # PySocks is not installed
                    raise urllib3.exceptions.ProxySchemeUnknown(urlsplit(proxy).scheme) from None
                manager = SOCKSProxyManager(proxy, **kwargs)  # its own pool classes
            else:
                parts = urlsplit(proxy)
                headers = {}
                if parts.username and parts.password is not None:  # requests' rule
                    headers["Proxy-Authorization"] = basic_auth(
                        unquote(parts.username), unquote(parts.password)
                    )
                manager = urllib3.ProxyManager(proxy, proxy_headers=headers, **kwargs)
            if type(manager) in (urllib3.PoolManager, urllib3.ProxyManager):
                manager.pool_classes_by_scheme = dict(POOL_CLASSES)
            self._managers[proxy] = manager
            return manager

    def urlopen(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: bytes | None = None,
        timeout: urllib3.Timeout,
        redirects: int = 0,
    ) -> urllib3.BaseHTTPResponse:
        """One request, not retried, its body left unread (stream it, then ``close()``).

        ``url`` is absolute; its user info is not sent (put it in ``Authorization``).
        ``redirects`` > 0 follows that many redirects (urllib3's rules: 303 becomes a GET,
        ``Authorization`` and ``Cookie`` are dropped for another host); more is an error.
        Raises urllib3's exceptions (``MaxRetryError`` wraps a connection failure).

        Redirects are followed with the proxy of the first URL."""
        manager = self._manager(proxy_for(url))
        if redirects > 0 or url[:6].lower() == "https:":
            self._with_tls(manager)
        retries = (
            urllib3.Retry(total=None, connect=0, read=False, status=0, other=0, redirect=redirects)
            if redirects > 0
            else urllib3.Retry(0, read=False)
        )
        return manager.urlopen(
            method,
            url,
            body=body,
            headers={**DEFAULT_HEADERS, **headers},
            redirect=redirects > 0,
            retries=retries,
            timeout=timeout,
            preload_content=False,
            decode_content=False,
            chunked=False,
        )

    def fetch(
        self,
        method: str,
        url: str,
        *,
        connect: float,
        read: float,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        redirects: int = 30,
    ) -> Answer:
        """A whole exchange: ``form`` is sent as a form body; ``user:password@`` in ``url``
        becomes ``Authorization``; at most ``redirects`` redirects are followed.  Raises
        ``urllib3.exceptions.HTTPError`` or ``OSError`` when there is no answer, and
        ``ValueError`` for a URL that cannot be sent."""
        sent = dict(headers or {})
        parts = urlsplit(url)
        if parts.username is not None and parts.password is not None:
            sent["Authorization"] = basic_auth(unquote(parts.username), unquote(parts.password))
        body = None
        if form is not None:
            body = urlencode(form).encode("ascii")
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["Content-Length"] = str(len(body))
        response = self.urlopen(
            method,
            url,
            headers=sent,
            body=body,
            timeout=urllib3.Timeout(connect=connect, read=read),
            redirects=redirects,
        )
        try:
            data = response.read(decode_content=True)
        finally:
            response.close()
            response.release_conn()
        return Answer(response.status, response.headers, data)

    def _with_tls(self, manager: urllib3.PoolManager) -> None:
        """Give ``manager``'s HTTPS pools the context (made, with its CAs, on first use:
        a plain-HTTP appliance never loads them, and a bad bundle fails HTTPS only)."""
        if "ssl_context" not in manager.connection_pool_kw:
            context = tls_context(self.ca_file, environment_bundle())
            with self._lock:
                manager.connection_pool_kw.setdefault("ssl_context", context)

    def close(self) -> None:
        with self._lock:
            managers = list(self._managers.values())
            self._managers.clear()
        for manager in managers:
            manager.clear()
