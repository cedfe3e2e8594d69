"""Live pages: server-sent events telling open pages that messages, calls, webhooks or health moved.

``GET /live/events`` is a ``text/event-stream`` whose body is a generator: about once a
second (:data:`POLL_SECONDS`) it reads a few maxima from the store (the newest message seq,
the newest update among the last messages and the newest read mark, the same for calls, the
newest webhook log id, the newest modem health report: each an index or rowid lookup) and
sends an event for each that changed; a ``messages`` event carries the total of unread
messages (:func:`unread_total`, computed once per change for every stream).
``web/static/live.js`` listens and re-fetches the parts of the page marked ``data-live``.

A page may ask for a *feed* besides (``?feed=at:modem1``): a source registered by another
page family in ``app.extensions["live_feeds"]`` (the AT monitor's lines, a modem's signal
every few seconds), polled on the same stream and sent as ``feed`` events.

Streams are bounded, at both ends.  In the browser, every panel tab shares one stream
through a SharedWorker (``live.js``), because a browser opens at most six HTTP/1.1
connections to a host and each open EventSource holds one: six tabs with a stream each
would leave none for the pages themselves.  On the server, cheroot serves each stream on
one of its worker threads; the server has :func:`limit` threads more than ``http_threads``
for them (``appliance/server.py``), and a stream over that limit is refused with 503 and a
``Retry-After``, which the page answers by trying again later, backing off
(:data:`BUSY_RETRY_MS`, doubling to a minute).  Each stream ends after
:data:`STREAM_SECONDS` and the browser opens a new one; a comment line every
:data:`HEARTBEAT_SECONDS` finds a closed tab (the write fails, cheroot closes the body).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from flask import Blueprint, Response, abort, current_app, request, session

from appliance.errors import StoreUnavailable
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
BUSY_RETRY_MS = 5000  # the first wait after being turned away over the limit (live.js doubles it)
RECENT = 200  # the newest rows whose updates (a status change) count as news
TOPICS = ("messages", "calls", "webhooks", "health")


class Feed(Protocol):
    """A source of events one page asks its stream for (``?feed=kind:arg``)."""

    interval: float  # seconds between polls

    def poll(self) -> list[tuple[str, dict[str, Any]]]:
        """The events since the last poll, as (name, data)."""
        ...


FeedFactory = Callable[[str], Feed]  # given the feed's argument; aborts (403, 404) if refused


class Streams:
    """How many event streams are open; at most ``limit``.  Also the unread total's cache."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.open = 0
        self.refused = 0  # streams turned away since start (over the limit)
        self.stopping = threading.Event()  # set when the server stops: every stream ends
        self._lock = threading.Lock()
        self._unread: tuple[tuple[Any, ...], int] | None = None

    def acquire(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                self.refused += 1
                return False
            self.open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.open -= 1

    def stop(self) -> None:
        self.stopping.set()

    def unread(self, store: Store, messages: dict[str, Any]) -> int:
        """:func:`unread_total`, counted again only when messages or read marks moved."""
        key = (messages.get("seq"), messages.get("read"))
        cached = self._unread
        if cached is not None and cached[0] == key:
            return cached[1]
        total = unread_total(store)
        self._unread = (key, total)
        return total


def limit(http_threads: int) -> int:
    """Streams allowed at once (and threads the server adds for them): half ``http_threads``."""
    return max(1, http_threads // 2)


def versions(store: Store) -> dict[str, dict[str, Any]]:
    """What the pages watch, one small dict per topic (compared as a whole)."""
    rowkey = store.dialect.rowkey("calls")
    row = store.read_one(
        "SELECT (SELECT MAX(seq) FROM messages) AS message_seq,"  # noqa: S608 - RECENT is ours
        f" (SELECT MAX(date_updated) FROM (SELECT date_updated FROM messages ORDER BY seq DESC"
        f"  LIMIT {RECENT}) AS recent_messages) AS message_updated,"
        " (SELECT MAX(at) FROM conversation_reads) AS read_at,"
        f" (SELECT MAX({rowkey}) FROM calls) AS call_rowid,"
        f" (SELECT MAX(date_updated) FROM (SELECT date_updated FROM calls ORDER BY {rowkey} DESC"
        f"  LIMIT {RECENT}) AS recent_calls) AS call_updated,"
        " (SELECT MAX(id) FROM webhook_log) AS webhook_id,"
        " (SELECT MAX(updated) FROM modem_health) AS health_updated"
    )
    assert row is not None
    return {
        "messages": {
            "seq": row["message_seq"] or 0,
            "updated": row["message_updated"],
            "read": row["read_at"],
        },
        "calls": {"rowid": row["call_rowid"] or 0, "updated": row["call_updated"]},
        "webhooks": {"id": row["webhook_id"] or 0},
        "health": {"updated": row["health_updated"]},
    }


def unread_total(store: Store) -> int:
    """Inbound messages after their conversation's read mark, in every conversation."""
    # Every inbound message, less those up to each conversation's mark (one range each of the
    # partial index messages_inbound): no scan of the read messages (migration 0010).
    row = store.read_one(
        "SELECT (SELECT COUNT(*) FROM messages WHERE direction = 'inbound')"
        " - (SELECT COALESCE(SUM((SELECT COUNT(*) FROM messages m WHERE m.direction = 'inbound'"
        " AND m.from_number = r.party AND m.seq <= r.last_seq)), 0) FROM conversation_reads r)"
    )
    return int(row[0]) if row else 0


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
    feed: Feed | None = None,
    unread: Callable[[dict[str, Any]], int] | None = None,
) -> Generator[str, None, None]:
    """The event stream's body: a hello with every topic, then each change, then bye (also
    when the database becomes unreachable: the page's next stream finds it back)."""
    try:
        yield from _changes(store, poll, lifetime, heartbeat, stopping, since, feed, unread)
    except StoreUnavailable:
        yield event("bye", {})


def _changes(
    store: Store,
    poll: float,
    lifetime: float,
    heartbeat: float,
    stopping: threading.Event,
    since: dict[str, dict[str, Any]] | None,
    feed: Feed | None,
    unread: Callable[[dict[str, Any]], int] | None,
) -> Generator[str, None, None]:
    now = versions(store)
    seen = now if since is None else {**now, **since}
    yield f"retry: {RETRY_MS}\n\n" + event("hello", now)
    started = last_write = time.monotonic()
    tick = min(poll, feed.interval) if feed is not None else poll
    next_look = started
    while True:
        wrote = False
        if feed is not None:
            for name, data in feed.poll():
                yield event("feed", {"name": name, "data": data})
                wrote = True
        if time.monotonic() >= next_look:
            next_look = time.monotonic() + poll
            # The first round compares with what the page was rendered from (``since``), so a
            # change between rendering the page and opening the stream is not missed.
            for topic, value in now.items():
                if value != seen[topic]:
                    data = dict(value)
                    if topic == "messages":
                        before = seen[topic].get("seq")
                        data["inbound"] = _inbound_after(store, int(before or 0))
                        if unread is not None:
                            data["unread"] = unread(value)
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
        if stopping.wait(tick):
            return
        if time.monotonic() >= next_look:
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


def _feed() -> Feed | None:
    """The feed this stream was asked for (``?feed=kind:arg``), if any; 404 if unknown."""
    asked = request.args.get("feed", "")
    if not asked:
        return None
    kind, _, arg = asked.partition(":")
    factory: FeedFactory | None = current_app.extensions["live_feeds"].get(kind)
    if factory is None:
        abort(404)
    return factory(arg)


@bp.get("/events")
def events() -> Response:
    config = current_app.config
    streams: Streams = current_app.extensions["live_streams"]
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    feed = _feed()  # refused (403, 404) before taking a place
    if streams.stopping.is_set() or not streams.acquire():
        # 503 and Retry-After for any client; EventSource gives up on a non-200 answer, and
        # live.js then tries again after BUSY_RETRY_MS, doubling each time (to a minute).
        return Response(
            f"retry: {BUSY_RETRY_MS}\n\n" + event("busy", {}),
            status=503,
            mimetype="text/event-stream",
            headers={**headers, "Retry-After": str(BUSY_RETRY_MS // 1000)},
        )
    store = daemon().store
    chunks = stream(
        store,
        float(config.get("LIVE_POLL_SECONDS", POLL_SECONDS)),
        float(config.get("LIVE_STREAM_SECONDS", STREAM_SECONDS)),
        float(config.get("LIVE_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)),
        streams.stopping,
        parse_since(request.args.get("v", "")),
        feed,
        lambda messages: streams.unread(store, messages),
    )
    return Response(Body(chunks, streams), mimetype="text/event-stream", headers=headers)


def stop_streams(app: Any) -> None:
    """End every open stream (the server is stopping: its threads must not wait for them)."""
    app.extensions["live_streams"].stop()


def page_versions() -> str:
    """The versions a page is rendered from, as JSON for its stream's ``?v=``."""
    return json.dumps(versions(daemon().store), separators=(",", ":"))


def page_unread() -> int:
    """The unread total for the menu and the title (0 when not signed in)."""
    if not session.get("user"):
        return 0
    store = daemon().store
    streams: Streams = current_app.extensions["live_streams"]
    return streams.unread(store, versions(store)["messages"])


def init_app(app: Any) -> None:
    app.extensions["live_streams"] = Streams(limit(app.config["DAEMON"].config.http_threads))
    app.extensions.setdefault("live_feeds", {})
    app.jinja_env.globals["live_versions"] = page_versions
    app.jinja_env.globals["live_unread"] = page_unread


def register_feed(app: Any, kind: str, factory: FeedFactory) -> None:
    """Let pages ask their stream for ``kind`` (``?feed=kind:arg``)."""
    app.extensions.setdefault("live_feeds", {})[kind] = factory
