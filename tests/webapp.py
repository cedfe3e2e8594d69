"""A real web app on 127.0.0.1 for the tests: records every request, answers as told."""

from __future__ import annotations

import dataclasses
import queue
import threading
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclasses.dataclass
class Request:
    method: str
    path: str
    url: str
    headers: dict[str, str]
    form: dict[str, list[str]]
    query: dict[str, list[str]]
    body: bytes

    def param(self, name: str) -> str | None:
        values = self.form.get(name) or self.query.get(name)
        return values[0] if values else None

    @property
    def flat(self) -> dict[str, str]:
        source = self.form if self.method == "POST" else self.query
        return {k: v[0] for k, v in source.items()}


Reply = tuple[int, str, bytes] | tuple[int, str, bytes, dict[str, str]]


class WebApp:
    """A threaded HTTP server; ``routes[path](request) -> (status, content_type, body[, headers])``."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.arrivals: queue.Queue[Request] = queue.Queue()
        self.routes: dict[str, Callable[[Request], Reply]] = {}
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parsed = urllib.parse.urlsplit(self.path)
                host = self.headers.get("Host", "")
                form = (
                    urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
                    if self.command == "POST" and body
                    else {}
                )
                req = Request(
                    method=self.command,
                    path=parsed.path,
                    url=f"http://{host}{self.path}",
                    headers={k: v for k, v in self.headers.items()},
                    form=form,
                    query=urllib.parse.parse_qs(parsed.query, keep_blank_values=True),
                    body=body,
                )
                app.requests.append(req)
                route = app.routes.get(parsed.path)
                reply: Reply = route(req) if route else (200, "text/xml", b"<Response/>")
                status, ctype, payload = reply[0], reply[1], reply[2]
                headers = reply[3] if len(reply) > 3 else {}  # type: ignore[misc]
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                app.arrivals.put(req)

            do_GET = _handle
            do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def wait(self, timeout: float = 10.0, path: str | None = None) -> Request:
        """The next request (to ``path``, if given) that has been answered."""
        while True:
            req = self.arrivals.get(timeout=timeout)
            if path is None or req.path == path:
                return req

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def twiml(xml: str) -> Callable[[Request], Reply]:
    return lambda req: (200, "text/xml", xml.encode())
