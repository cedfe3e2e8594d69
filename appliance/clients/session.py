"""One browser phone's signalling session: its token, its registration, what it may send.

A :class:`Session` reads the messages of one signalling socket (already split into text
messages by :class:`~appliance.clients.connection.Connection`) and answers them through its
:class:`Link`; the registration table lives in a :class:`Registry` (the hub).  ``listen``
checks the token and answers ``connected``; ``register`` answers ``ready`` or ``offline``;
a refused or expired token is answered with the SDK's code, then ``close``.  The messages
about calls (``invite``, ``hangup``, ``dtmf``, ``answer``, ``reject``, ``reinvite``,
``message``) go to the session's :class:`~appliance.clients.callrequests.CallRequests`, which
hands them to the registry's :class:`~appliance.clients.calls.ClientCalls`.
A token that runs out while a call is on the socket unregisters the device and refuses new
calls (31205), but the socket stays open until its calls end, then closes.  A legacy 1.x
Device's ``listen`` on a new socket takes back its call from a dropped one
(:meth:`~appliance.clients.calls.ClientCalls.resume`).
A ``listen`` whose token cannot be checked because the database is unreachable (an API key
this process has not read yet) is held: one ``error`` 31005 and one WARNING line, no
``close``, the socket stays up, and the token is checked again each second once the store
answers, so the same Device gets its ``connected`` (and registers) on this socket.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from appliance import logs
from appliance.clients import invitation, pstream
from appliance.clients.callrequests import EXPIRED, CallRequests
from appliance.errors import StoreUnavailable, TokenError

if TYPE_CHECKING:
    from appliance.clients.calls import ClientCalls
    from appliance.clients.tokens import ClientGrant, Tokens

LOGGER = logging.getLogger(__name__)

POLICY_VIOLATION = 1008  # WebSocket close code after a refused token
GOING_AWAY = 1001  # its legacy Device's call moved to the Device's new socket
REGISTER_BURST, REGISTER_RATE = 5, 0.2  # register messages: 5 at once, then one per 5 s
MESSAGE_BURST, MESSAGE_RATE = 100, 20.0  # any message: 100 at once, then 20 a second
HELD_RETRY = 1.0  # s between checks of a held listen's token once the store answers again
HELD = (
    "The appliance's database is unreachable, so the token cannot be checked now; this"
    " connection is kept and the Device connects (then registers) once the database answers"
)


class Link(Protocol):
    """The socket a session answers on."""

    number: int

    def push(self, text: str) -> None: ...

    def shut(self, code: int, reason: str) -> None: ...

    def silent(self) -> float: ...


class Registry(Protocol):
    """What a session needs from the hub: tokens, clocks and the registration table."""

    @property
    def tokens(self) -> Tokens: ...

    @property
    def calls(self) -> ClientCalls | None: ...

    def clock(self) -> float: ...

    def wall(self) -> float: ...

    def register(self, identity: str, session: Session) -> None: ...

    def unregister(self, session: Session) -> str | None: ...

    def registered_as(self, session: Session) -> str | None: ...

    def count(self, identity: str) -> int: ...


class Session:
    """One browser's signalling state, driven by its connection's thread."""

    def __init__(self, registry: Registry, link: Link) -> None:
        self.registry, self.link, self.number = registry, link, link.number
        self.grant: ClientGrant | None = None
        self.expires_at: float | None = None  # monotonic time the token runs out
        self.expired = False  # the token ran out during a call: the socket waits for its end
        self.holder: invitation.Holder | None = None  # who the last good listen said it is
        self.held: pstream.Message | None = None  # a listen the outage kept from being checked
        self._held_check = 0.0  # monotonic time of the held listen's next check
        now = registry.clock()
        self._registers = pstream.RateLimit(REGISTER_BURST, REGISTER_RATE, now)
        self._messages = pstream.RateLimit(MESSAGE_BURST, MESSAGE_RATE, now)
        self.call_requests = CallRequests(self, lambda: registry.calls)

    def __hash__(self) -> int:
        return self.number

    def push(self, text: str) -> None:
        """Send a message to this browser (any thread): how an incoming call will ring it."""
        self.link.push(text)

    def silent(self) -> float:
        """Seconds since the browser last sent a frame on this socket (any thread)."""
        return self.link.silent()

    def replaced(self) -> None:
        """Its call moved to the legacy Device's new socket: this silent one is closed."""
        self.link.shut(GOING_AWAY, "the browser reconnected on a new socket")

    # -- what the connection calls

    def receive(self, text: str) -> None:
        """One text message from the browser (not a heartbeat)."""
        if not self._messages.allow(self.registry.clock()):
            self.refuse(
                pstream.ProtocolError(
                    f"Too many messages: at most {MESSAGE_RATE:g} a second",
                    pstream.RATE_EXCEEDED,
                )
            )
            return
        try:
            message = pstream.parse(text)
        except pstream.ProtocolError as e:
            self.refuse(e)
            return
        try:
            if message.type in CallRequests.TYPES:
                self.call_requests.handle(message)
            else:
                getattr(self, "_on_" + message.type)(message)
        except StoreUnavailable as e:  # the database is away: a clear refusal, no traceback
            logs.event(
                LOGGER,
                logging.WARNING,
                "client message refused: database unreachable",
                connection=self.number,
                type=message.type,
                error=str(e),
            )
            self.link.push(
                pstream.error(
                    pstream.GENERIC,
                    f"The appliance cannot handle the {message.type} message now: its database"
                    " is unreachable. Try again in a few seconds",
                    message.callsid,
                )
            )
        except Exception:  # a bug costs this message, not the socket
            logs.event(
                LOGGER,
                logging.ERROR,
                "client message failed",
                exc_info=True,
                connection=self.number,
                type=message.type,
            )
            self.link.push(
                pstream.error(
                    pstream.GENERIC,
                    f"The appliance failed to handle the {message.type} message; see its log",
                )
            )

    def tick(self, now: float) -> None:
        """Time passes: a token that ran out without a refresh ends the session.  With a
        call on this socket, the device is unregistered and new calls are refused at once,
        but the socket stays open until its calls end, so none is cut off or left stuck.
        A held listen is checked again, each second once the store answers."""
        if self.held is not None and now >= self._held_check:
            self._held_check = now + HELD_RETRY
            if self.registry.tokens.store.available:
                self._on_listen(self.held)
        if self.expires_at is None or now < self.expires_at:
            return
        calls = self.registry.calls
        if calls is not None and calls.on(self):
            if not self.expired:
                self._expired_in_call()
            return
        if self.expired:  # its calls have ended: the session ends as for any expiry
            self.expires_at = None
            self.link.push(pstream.close())
            self.link.shut(POLICY_VIOLATION, "token expired")
            return
        self._token_refused(TokenError(EXPIRED, code=pstream.TOKEN_EXPIRED))

    def _expired_in_call(self) -> None:
        self.expired, self.grant = True, None
        was = self.registry.unregister(self)
        logs.event(
            LOGGER,
            logging.INFO,
            "client token expired in a call",
            connection=self.number,
            was=was or "",
        )
        self.link.push(
            pstream.error(
                pstream.TOKEN_EXPIRED,
                EXPIRED + "; the call in progress goes on, new calls are refused",
            )
        )
        if was is not None:
            self.link.push(pstream.offline())

    def refuse(self, e: pstream.ProtocolError) -> None:
        logs.event(
            LOGGER,
            logging.INFO,
            "client message refused",
            connection=self.number,
            code=e.code,
            why=e.message,
        )
        self.link.push(pstream.error(e.code, e.message, e.callsid))

    # -- messages

    def _on_listen(self, message: pstream.Message) -> None:
        token = str(message.payload["token"])
        try:
            grant = self.registry.tokens.verify(token)
        except TokenError as e:
            self.held = None
            self._token_refused(e)
            return
        except StoreUnavailable:
            self._hold(message)
            return
        self.held = None
        self.grant, self.expired = grant, False
        ttl = grant.expires - self.registry.wall()
        self.expires_at = self.registry.clock() + ttl
        self.link.push(pstream.connected(grant.identity, ttl, grant.account_sid))
        logs.event(
            LOGGER,
            logging.INFO,
            "client listening",
            connection=self.number,
            identity=grant.identity or "",
            incoming=grant.incoming,
            ttl=int(ttl),
        )
        self.holder = invitation.Holder.of(grant.account_sid, grant.identity, token, message.legacy)
        calls = self.registry.calls
        if self.holder.legacy and calls is not None:  # a 1.x Device back after a dropped socket
            calls.resume(self, self.holder)
        # a refreshed token (updateToken) keeps the registration; one for another identity
        # moves it, and one that may not receive calls ends it
        registered = self.registry.registered_as(self)
        if registered is None:
            return
        if grant.incoming and grant.identity is not None:
            if grant.identity != registered:
                self.registry.register(grant.identity, self)
                logs.event(
                    LOGGER,
                    logging.INFO,
                    "client registered",
                    identity=grant.identity,
                    connection=self.number,
                    was=registered,
                )
        else:
            self.registry.unregister(self)
            self.link.push(pstream.offline())
            logs.event(
                LOGGER,
                logging.INFO,
                "client unregistered",
                identity=registered,
                connection=self.number,
                why="the new token has no incoming grant",
            )

    def _on_register(self, message: pstream.Message) -> None:
        if self.grant is None:
            self.refuse(
                pstream.ProtocolError(
                    "Register after a listen message with a valid token", pstream.TOKEN_INVALID
                )
            )
            return
        if not self._registers.allow(self.registry.clock()):
            self.refuse(
                pstream.ProtocolError(
                    f"Too many register messages: at most {REGISTER_BURST} at once, then one"
                    f" every {1 / REGISTER_RATE:g} s",
                    pstream.RATE_EXCEEDED,
                )
            )
            return
        if not message.payload["media"]["audio"]:
            was = self.registry.unregister(self)
            self.link.push(pstream.offline())
            if was is not None:
                logs.event(
                    LOGGER,
                    logging.INFO,
                    "client unregistered",
                    identity=was,
                    connection=self.number,
                    why="asked",
                )
            return
        try:
            identity = self.grant.require_incoming()
        except TokenError as e:
            self.refuse(pstream.ProtocolError(e.message, pstream.token_error(e.code)))
            self.link.push(pstream.offline())
            return
        known = self.registry.registered_as(self) == identity
        self.registry.register(identity, self)
        self.link.push(pstream.ready())
        if not known:
            logs.event(
                LOGGER,
                logging.INFO,
                "client registered",
                identity=identity,
                connection=self.number,
                devices=self.registry.count(identity),
            )

    def _hold(self, message: pstream.Message) -> None:
        """The outage keeps this listen from being checked: said once (a WARNING, an
        ``error`` 31005 the SDK raises as ConnectionError without closing anything), then
        :meth:`tick` checks it again.  A newer listen (``updateToken``) replaces it."""
        again = self.held is not None
        self.held, self._held_check = message, self.registry.clock() + HELD_RETRY
        if again:  # still unreachable at a retry, or a new token meanwhile: said already
            return
        logs.event(
            LOGGER,
            logging.WARNING,
            "client listen held: database unreachable",
            connection=self.number,
        )
        self.link.push(pstream.error(pstream.CONNECTION, HELD))

    def _token_refused(self, e: TokenError) -> None:
        was = self.registry.unregister(self)
        self.grant, self.expires_at = None, None
        logs.event(
            LOGGER,
            logging.INFO,
            "client token refused",
            connection=self.number,
            code=e.code,
            why=e.message,
            was=was or "",
        )
        self.link.push(pstream.error(pstream.token_error(e.code), e.message))
        self.link.push(pstream.close())  # the SDK stops reconnecting with this token
        self.link.shut(POLICY_VIOLATION, "token refused")
