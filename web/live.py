"""Live pages: server-sent events telling open pages that messages, calls, webhooks or health moved.

``GET /live/events`` is a ``text/event-stream`` whose body is a generator: about once a
second (:data:`POLL_SECONDS`) it reads a few maxima from the store (the newest message seq
and the newest update among the last messages, the same for calls, the newest webhook log
id, the newest modem health report: each an index or rowid lookup) and sends an event for
each that changed.  ``web/static/live.js`` listens and re-fetches the parts of the page
marked ``data-live``.

cheroot serves each stream on one of its ``http_threads`` worker threads, so streams are
bounded: at most :func:`limit` at once (a stream over the limit is told to come back in
:data:`BUSY_RETRY_MS`), and each ends after :data:`STREAM_SECONDS`; the browser's
EventSource reconnects by itself after ``retry`` milliseconds.  A comment line every
:data:`HEARTBEAT_SECONDS` finds a closed tab (the write fails, cheroot closes the generator).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, current_app, request

from web.helpers import daemon

if TYPE_CHECKING:
    from appliance.store.database import Store

bp = Blueprint("live", __name__, url_prefix="/live")

POLL_SECONDS = 1.0  # how often a stream looks at the store
STREAM_SECONDS = 300.0  # a stream ends after this; the browser reconnects
# A comment line this often when nothing else is sent: a tab closed (or a page left) is noticed
# at the second write after it (the first still fits in the socket's buffer), so a stream's
# thread is free again a few seconds after its page is gone.
HEARTBEAT_SECONDS = 2.0
RETRY_MS = 1000  # the EventSource's reconnection delay after a stream ends
BUSY_RETRY_MS = 5000  # ... and after being turned away over the limit
RECENT = 200  # the newest rows whose updates (a status change) count as news
TOPICS = ("messages", "calls", "webhooks", "health")


class Streams:
    """How many event streams are open; at most ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.open = 0
        self.stopping = threading.Event()  # set when the server stops: every stream ends
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.open -= 1

    def stop(self) -> None:
        self.stopping.set()


def limit(http_threads: int) -> int:
    """Streams allowed at once: half the server's threads, so pages and the API still get some."""
    return max(1, http_threads // 2)


def versions(store: Store) -> dict[str, dict[str, Any]]:
    """What the pages watch, one small dict per topic (compared as a whole)."""
    row = store.read_one(
        "SELECT (SELECT MAX(seq) FROM messages) AS message_seq,"  # noqa: S608 - RECENT is ours
        f" (SELECT MAX(date_updated) FROM (SELECT date_updated FROM messages ORDER BY seq DESC"
        f"  LIMIT {RECENT})) AS message_updated,"
        " (SELECT MAX(rowid) FROM calls) AS call_rowid,"
        f" (SELECT MAX(date_updated) FROM (SELECT date_updated FROM calls ORDER BY rowid DESC"
        f"  LIMIT {RECENT})) AS call_updated,"
        " (SELECT MAX(id) FROM webhook_log) AS webhook_id,"
        " (SELECT MAX(updated) FROM modem_health) AS health_updated"
    )
    assert row is not None
    return {
        "messages": {"seq": row["message_seq"] or 0, "updated": row["message_updated"]},
        "calls": {"rowid": row["call_rowid"] or 0, "updated": row["call_updated"]},
        "webhooks": {"id": row["webhook_id"] or 0},
        "health": {"updated": row["health_updated"]},
    }


def _inbound_after(store: Store, seq: int) -> int:
    row = store.read_one(
        "SELECT COUNT(*) FROM messages WHERE seq > ? AND direction = 'inbound'", (seq,)
    )
    return int(row[0]) if row else 0


def parse_since(text: str) -> dict[str, dict[str, Any]] | None:
    """The versions a page was rendered from (``?v=``, JSON from :func:`versions`), if sane."""
    if not text or len(text) > 2000:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {
        k: {
            name: v
            for name, v in given.items()
            if isinstance(name, str) and isinstance(v, int | float | None)
        }
        for k, given in value.items()
        if k in TOPICS and isinstance(given, dict)
    }


def event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def stream(
    store: Store,
    poll: float,
    lifetime: float,
    heartbeat: float,
    stopping: threading.Event,
    since: dict[str, dict[str, Any]] | None = None,
) -> Generator[str, None, None]:
    """The event stream's body: a hello with every topic, then each change, then bye."""
    now = versions(store)
    seen = now if since is None else {**now, **since}
    yield f"retry: {RETRY_MS}\n\n" + event("hello", now)
    started = last_write = time.monotonic()
    while True:
        # The first round compares with what the page was rendered from (``since``), so a
        # change between rendering the page and opening the stream is not missed.
        wrote = False
        for topic, value in now.items():
            if value != seen[topic]:
                data = dict(value)
                if topic == "messages":
                    before = seen[topic].get("seq")
                    data["inbound"] = _inbound_after(store, int(before or 0))
                yield event(topic, data)
                wrote = True
        seen = now
        if wrote:
            last_write = time.monotonic()
        elif time.monotonic() - last_write >= heartbeat:
            yield ": ping\n\n"
            last_write = time.monotonic()
        if time.monotonic() - started >= lifetime:
            break
        if stopping.wait(poll):
            return
        now = versions(store)
    yield event("bye", {})


class Body:
    """A stream's response body: gives its place in :class:`Streams` back when closed.

    The WSGI server closes the body when the stream ends or the client goes away, whether or
    not it was ever iterated (a generator's own ``finally`` would not run if it never started).
    """

    def __init__(self, chunks: Generator[str, None, None], streams: Streams) -> None:
        self.chunks, self.streams = chunks, streams
        self._released = False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[str]:
        return self.chunks

    def close(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        try:
            self.chunks.close()
        finally:
            self.streams.release()


@bp.get("/events")
def events() -> Response:
    config = current_app.config
    streams: Streams = current_app.extensions["live_streams"]
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if streams.stopping.is_set() or not streams.acquire():
        return Response(
            f"retry: {BUSY_RETRY_MS}\n\n" + event("busy", {}),
            mimetype="text/event-stream",
            headers=headers,
        )
    chunks = stream(
        daemon().store,
        float(config.get("LIVE_POLL_SECONDS", POLL_SECONDS)),
        float(config.get("LIVE_STREAM_SECONDS", STREAM_SECONDS)),
        float(config.get("LIVE_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)),
        streams.stopping,
        parse_since(request.args.get("v", "")),
    )
    return Response(Body(chunks, streams), mimetype="text/event-stream", headers=headers)


def stop_streams(app: Any) -> None:
    """End every open stream (the server is stopping: its threads must not wait for them)."""
    app.extensions["live_streams"].stop()


def page_versions() -> str:
    """The versions a page is rendered from, as JSON for its stream's ``?v=``."""
    return json.dumps(versions(daemon().store), separators=(",", ":"))


def init_app(app: Any) -> None:
    app.extensions["live_streams"] = Streams(limit(app.config["DAEMON"].config.http_threads))
    app.jinja_env.globals["live_versions"] = page_versions
