"""A call's TwiML documents: fetch them (with the fallback URL and a loop bound), parse them,
and log every request and error on the call.

The voice URL may answer TwiML, ``text/plain`` (read aloud, then hang up) or ``audio/*``
(played, then hang up); the last two become one-verb documents, :class:`PlainText`
and :class:`AudioBody`.  A request that fails on both the URL and its fallback yields
None (or :data:`FAILED` where the flow must apologise and hang up).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from appliance import logs
from appliance.errors import StoreUnavailable
from appliance.twimlets import is_twimlet_url
from appliance.voice import call, timeline
from appliance.voice.backlog import Backlog, once
from appliance.voice.call import CallLeg
from appliance.voice.callbacks import call_params
from appliance.voice.channel import CallEnded
from appliance.webhooks.joblog import log_result

if TYPE_CHECKING:
    from appliance.store.database import Row
    from appliance.voice.context import Context
    from appliance.webhooks.client import WebhookResult

LOGGER = logging.getLogger(__name__)

TWIML_TYPES = ("text/xml", "application/xml", "text/html")


@dataclasses.dataclass(frozen=True)
class PlainText:
    """A text/plain answer: read aloud, then hang up (Twilio's rule)."""

    text: str
    url: str

    @property
    def verbs(self) -> tuple[Any, ...]:
        return (self,)


@dataclasses.dataclass(frozen=True)
class AudioBody:
    """An audio/* answer: played, then hang up."""

    body: bytes
    url: str

    @property
    def verbs(self) -> tuple[Any, ...]:
        return (self,)


class _Failed:
    verbs: tuple[Any, ...] = ()


FAILED: Any = _Failed()  # no document could be had: apologise and hang up


class Documents:
    """Fetches and parses one call's TwiML; records its webhook requests and call events."""

    def __init__(self, ctx: Context, leg: CallLeg) -> None:
        self.ctx = ctx
        self.leg = leg
        self.sid = leg.sid
        self.url = ""  # where the current document came from: the default action URL
        self._cookies: str | None = None
        self._count = 0
        # Parameters only the first request carries, under the standard ones (a browser's
        # call: ApplicationSid and its connect params; appliance.clients.calls)
        self.first_params: dict[str, str] = {}
        self._last: Row | None = None  # the row as last read: what an outage's requests use

    def row(self) -> Row:
        """The call's row; :class:`CallEnded` if it is gone.  While the database is away
        (PostgreSQL) the row as last read, so a call's requests (an action, a
        ``<Redirect>``) go on with its parameters (its SID, From, To, URLs: none changes
        during a call, and nothing can change them while the database is away);
        :class:`StoreUnavailable` if it was never read."""
        try:
            row = self.ctx.store.read_one("SELECT * FROM calls WHERE sid = ?", (self.sid,))
        except StoreUnavailable:
            if self._last is None:
                raise
            return self._last
        if row is None:
            raise CallEnded()
        self._last = row
        return row

    def first(self, row: Row, status: str) -> Any:
        """The call's first document: its inline TwiML, else its Voice URL's answer."""
        if row["twiml"]:
            return self.parse(row["twiml"].encode(), self.ctx.base_url())
        url = row["url"]
        if not url:
            self.event("error", 11200, "no Voice URL configured for this number")
            return None
        return self.fetch(
            url, row["method"] or "POST", {}, status=status, defaults=self.first_params
        )

    def fetch(
        self,
        url: str,
        method: str,
        extra: dict[str, str],
        *,
        status: str | None = None,
        defaults: Mapping[str, str] | None = None,
    ) -> Any:
        """Request TwiML (the fallback URL if that fails); None if both fail.  ``defaults`` go
        under the call's standard parameters, ``extra`` over them."""
        self._count += 1
        if self._count > self.ctx.max_documents:
            self.event(
                "error", 11215, f"more than {self.ctx.max_documents} TwiML documents: a loop?"
            )
            return None
        row = self.row()
        params = dict(defaults or {})
        params.update(call_params(row, self.ctx.account_sid(), status or self.leg.status))
        params.update(extra)
        url = self.absolute(url)
        result, self._cookies = self.ctx.client.request(url, method, params, cookies=self._cookies)
        doc, code, message = self._interpret(result)
        self._log(result, params, code, message)
        if doc is not None:
            return doc
        fallback = row["fallback_url"]
        if not fallback:
            return None
        params.update({"ErrorCode": str(code or 11200), "ErrorUrl": url})
        result, self._cookies = self.ctx.client.request(
            self.absolute(fallback), row["fallback_method"] or "POST", params, cookies=self._cookies
        )
        doc, code, message = self._interpret(result)
        self._log(result, params, code, message)
        return doc

    def action(self, url: str | None, method: str, extra: dict[str, str]) -> Any:
        """A verb's action request (default: the document's URL); its document, or FAILED."""
        target = url or self.url or self.row()["url"]
        if not target:
            return None
        result = self.fetch(target, method or "POST", extra)
        return result if result is not None else FAILED

    def after_hangup(self, url: str | None, method: str | None, extra: dict[str, str]) -> None:
        """The action request of a verb the caller hung up on: sent and logged, never run."""
        target = url or self.url or self.row()["url"]
        if not target:
            return
        row = self.row()
        params = call_params(row, self.ctx.account_sid(), call.COMPLETED)
        params.update(extra)
        result, self._cookies = self.ctx.client.request(
            self.absolute(target), method or "POST", params, cookies=self._cookies
        )
        self._log(result, params, result.error_code, result.error_message)

    def absolute(self, url: str) -> str:
        """A built-in twimlet's relative URL (``/twimlets/…``, allowed as a number's Voice
        URL) on the appliance's own base URL; any other URL as it is."""
        if is_twimlet_url(url):
            return self.ctx.base_url().rstrip("/") + url
        return url

    def parse(self, body: bytes, url: str) -> Any:
        """Inline TwiML (REST Twiml=, an update): a parse error is recorded on the call."""
        doc, code, message = self._parse_doc(body, url)
        if doc is None:
            self.event("error", code, message or "")
        return doc

    def _interpret(self, result: WebhookResult) -> tuple[Any, int | None, str | None]:
        if not result.ok:
            return (
                None,
                result.error_code or 11200,
                result.error_message or "HTTP retrieval failure",
            )
        ctype = (result.content_type or "").split(";")[0].strip().lower()
        if result.truncated and not ctype.startswith("audio/"):
            kb = len(result.body) // 1024
            return None, 11750, f"TwiML response body too large: more than {kb} kB"
        if ctype == "text/plain":
            text = result.body.decode("utf-8", "replace")
            return PlainText(text, result.url), None, None
        if ctype.startswith("audio/"):
            return AudioBody(result.body, result.url), None, None
        if ctype and ctype not in TWIML_TYPES:
            return None, 12300, f"Invalid Content-Type: {ctype}"
        doc, code, message = self._parse_doc(result.body, result.url)
        if doc is not None:
            self.url = result.url
        return doc, code, message

    def _parse_doc(self, body: bytes, url: str) -> tuple[Any, int | None, str | None]:
        """Voice TwiML -> (document, None, None), or (None, Twilio error code, message)."""
        from appliance.twiml import voice as twiml

        try:
            doc = twiml.parse(body, url)
        except twiml.TwimlError as e:
            return None, e.code, e.message
        self._warnings(doc)
        return doc, None, None

    def _warnings(self, doc: Any) -> None:
        for w in getattr(doc, "warnings", ()):
            self.event("warning", getattr(w, "code", None), getattr(w, "message", str(w)))

    def _log(
        self, result: WebhookResult, params: dict[str, str], code: int | None, message: str | None
    ) -> None:
        now = time.time()
        Backlog.of(self.ctx.store).write(
            f"webhook log of {self.sid}",
            once(
                lambda conn: log_result(
                    conn,
                    result,
                    request=json.dumps(params, sort_keys=True),
                    code=code,
                    message=message,
                    now=now,
                    call_sid=self.sid,
                ),
                lambda conn: conn.execute(  # the time fixed now: a re-run finds its line
                    "SELECT 1 FROM webhook_log WHERE call_sid = ? AND at = ? AND url = ?",
                    (self.sid, now, result.url),
                ).fetchone(),
            ),
        )
        if code is not None:
            self.event("error", code, message or "")

    def event(self, kind: str, code: int | None, detail: str) -> None:
        """Record an event (an error, a warning, a note) on the call."""
        now = time.time()
        if code or kind != "info":
            logs.event(
                LOGGER,
                logging.WARNING,
                f"call {kind}",  # "call error", "call warning"
                sid=self.sid,
                error_code=code or None,
                detail=detail,
            )
        values = (self.sid, now, kind, code or None, detail[:2000])
        Backlog.of(self.ctx.store).write(  # an outage keeps it; a re-run does not double it
            f"{kind} event of {self.sid}",
            timeline.kept_event(values),
        )
