"""Requests for what lives on another node of a fleet: recording media and modem admin routes.

A call's audio, and so its recordings' files, exist only on the node that held the call
(``calls.node_id``); a modem answers AT commands and USSD only on the node holding its name
(``modem_owners``).  A request for one of them that reaches another node is forwarded to the
owner's URL (``nodes.url``: its ``public_url``, or the address it bound), and the answer is
streamed back (issue 16, slice 6; docs/fleet.md).

**Who may ask.**  The receiving node checks the caller first (the API's Basic auth, or the
panel's sign-in), as for a local answer.  The forwarded request then carries a node-to-node
credential, :data:`HEADER`: this node's id, the time, and an HMAC-SHA256 keyed with the
account's AuthToken (the fleet shares it through the database, and never sends it) over the
id, the time, the method, the path and the SHA-256 of the body.  The owner accepts it instead of
the caller's credentials for the routes forwarded (:func:`verify`) within :data:`WINDOW`
seconds either way (nodes' clocks differ a little); without the AuthToken nobody can make
one, and one seen on the wire fetches the same path with the same body only, for minutes.
A request that carries the header is never forwarded again (no loops).

**When the owner is down**: a node whose heartbeat is older than the fleet's lease is not
tried (503 at once, naming it); one that does not accept the connection within
:data:`CONNECT_TIMEOUT` seconds, or answer within the read time-out, gives 503 too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import time
from collections.abc import Callable, Iterator

import urllib3
import urllib3.exceptions

from appliance.store.database import Row, Store
from appliance.store.fleet import LEASE

HEADER = "X-Appliance-Node-Proxy"
WINDOW = 300.0  # seconds a signature is good for, either side of its time
CONNECT_TIMEOUT = 3.0  # seconds to reach the owner before answering 503
MEDIA_READ_TIMEOUT = 15.0  # seconds the owner may take between two chunks of a recording
CHUNK = 64 * 1024
# Headers of the owner's answer passed on to the caller.
PASSED = ("Content-Type", "Content-Length", "Content-Disposition", "Last-Modified", "ETag")


class NodeDown(Exception):
    """The owning node is down or did not answer in time (the message names it)."""


@dataclasses.dataclass(frozen=True)
class Owner:
    """The node holding a recording's file or a modem: its id, name, URL, and whether its
    heartbeat is recent (up) or it stopped."""

    node_id: str
    name: str
    url: str
    up: bool
    age: float  # seconds since its last heartbeat

    def describe(self) -> str:
        return f"node {self.name} ({self.url or 'no URL'})"


def _owner(row: Row | None, now: float) -> Owner | None:
    if row is None or row["node_id"] is None or row["name"] is None:
        return None
    heartbeat = float(str(row["heartbeat"]))
    stopped = row["stopped"]
    stopped_after = stopped is not None and float(str(stopped)) >= heartbeat
    age = max(0.0, now - heartbeat)
    return Owner(
        node_id=str(row["node_id"]),
        name=str(row["name"]),
        url=str(row["url"] or "").rstrip("/"),
        up=not stopped_after and age <= LEASE,
        age=age,
    )


def _now(store: Store) -> float:
    return float(store.read(f"SELECT {store.dialect.now}")[0][0])


def recording_owner(store: Store, sid: str) -> Owner | None:
    """The node that held the call of recording ``sid`` (its file is there); None if the
    recording, its call or the call's node is unknown (calls from before slice 6 on a
    modem line only had it for outbound calls)."""
    row = store.read_one(
        "SELECT c.node_id, n.name, n.url, n.heartbeat, n.stopped FROM recordings r"
        " JOIN calls c ON c.sid = r.call_sid LEFT JOIN nodes n ON n.id = c.node_id"
        " WHERE r.sid = ?",
        (sid,),
    )
    return _owner(row, _now(store))


_LIVE_CALL = (
    "SELECT c.node_id, n.name, n.url, n.heartbeat, n.stopped FROM calls c"
    " LEFT JOIN nodes n ON n.id = c.node_id WHERE c.sid = ?"
    " AND c.status IN ('queued', 'ringing', 'in-progress')"
)


def call_owner(store: Store, sid: str) -> Owner | None:
    """The node holding live call ``sid`` (its flow and audio run there: Media Streams);
    None if the call is not live or has no node."""
    return _owner(store.read_one(_LIVE_CALL, (sid,)), _now(store))


def dialled_leg_owner(store: Store, sid: str) -> Owner | None:
    """The node holding call ``sid`` if it is a live leg a ``<Dial>`` rang (only that node
    can tell whether it is bridged, which a redirect needs); None otherwise."""
    row = store.read_one(_LIVE_CALL + " AND c.direction = 'outbound-dial'", (sid,))
    return _owner(row, _now(store))


def modem_owner(store: Store, modem: str) -> Owner | None:
    """The node holding modem name ``modem`` (its lease, run out or not); None if none."""
    row = store.read_one(
        "SELECT o.node_id, n.name, n.url, n.heartbeat, n.stopped FROM modem_owners o"
        " LEFT JOIN nodes n ON n.id = o.node_id WHERE o.modem = ?",
        (modem,),
    )
    return _owner(row, _now(store))


def _mac(token: str, node: str, at: str, method: str, path: str, body: bytes) -> str:
    message = "\n".join((node, at, method.upper(), path, hashlib.sha256(body).hexdigest()))
    return hmac.new(token.encode(), message.encode(), hashlib.sha256).hexdigest()


def sign(token: str, node: str, method: str, path: str, body: bytes, now: float) -> str:
    """The :data:`HEADER` value for a request this node forwards."""
    at = str(int(now))
    return f"{node} {at} {_mac(token, node, at, method, path, body)}"


def verify(token: str, value: str, method: str, path: str, body: bytes, now: float) -> bool:
    """Whether ``value`` (a :data:`HEADER`) was made with ``token`` for this request, within
    :data:`WINDOW` seconds of ``now``."""
    parts = value.split(" ")
    if len(parts) != 3 or not token:
        return False
    node, at, given = parts
    try:
        when = int(at)
    except ValueError:
        return False
    if abs(now - when) > WINDOW:
        return False
    return hmac.compare_digest(_mac(token, node, at, method, path, body), given)


@dataclasses.dataclass
class Answer:
    """The owner's answer: status, the headers passed on, and the body as chunks."""

    status: int
    headers: dict[str, str]
    response: urllib3.BaseHTTPResponse

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self.response.stream(CHUNK)
        finally:
            self.response.release_conn()


class NodeProxy:
    """Forwards requests to other nodes; one connection pool per process."""

    def __init__(self, me: str, token: Callable[[], str]) -> None:
        self.me = me  # this node's id
        self.token = token  # the AuthToken now (it can be rotated)
        self.pool = urllib3.PoolManager(num_pools=8, maxsize=4, retries=False)

    def forward(
        self,
        owner: Owner,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        content_type: str = "",
        read_timeout: float = MEDIA_READ_TIMEOUT,
    ) -> Answer:
        """Send ``method path`` (with ``body``) to ``owner``, signed; the answer, streamed.
        Raises :class:`NodeDown` when the owner is down, unreachable or too slow."""
        if not owner.up:
            raise NodeDown(
                f"{owner.describe()} holds it and is down (its last heartbeat was"
                f" {owner.age:.0f} s ago)"
            )
        if not owner.url.startswith(("http://", "https://")):
            raise NodeDown(f"{owner.describe()} holds it and has no URL this node can reach")
        headers = {HEADER: sign(self.token(), self.me, method, path, body, time.time())}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = self.pool.request(
                method,
                owner.url + path,
                body=body or None,
                headers=headers,
                preload_content=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout),
            )
        except urllib3.exceptions.HTTPError as e:
            reason = getattr(e, "reason", None) or e
            raise NodeDown(f"{owner.describe()} holds it and did not answer ({reason})") from None
        passed = {k: v for k in PASSED if (v := response.headers.get(k)) is not None}
        return Answer(response.status, passed, response)

    def close(self) -> None:
        self.pool.clear()
