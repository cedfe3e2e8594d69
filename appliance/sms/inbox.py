"""The inbound pipeline's durable half: PDUs from the modem become messages.

Theory of operation
-------------------
The modem thread reads a stored SMS (``AT+CMGR``) and calls :meth:`Inbox.ingest`
*before* it deletes the SMS from the modem (``AT+CMGD``).  ``ingest`` commits,
in one transaction:

* a ``modem_slots`` row (modem, memory, index, hash of the PDU): "this slot's
  content is safe on disk, delete it";
* the message (or the part of a multipart message, or the quarantined raw PDU
  if it cannot be decoded), the webhook job that will post it, and the keyword
  job that hands it to the lists' join/leave keywords (:mod:`appliance.campaigns.keywords`).

If the daemon dies after the commit and before the delete, the next storage
sweep finds the same PDU in the same slot, sees the ``modem_slots`` row with
the same hash, and only deletes it: nothing is lost and nothing is posted
twice.  Identical messages that arrive separately are not mistaken for
duplicates, because the slot row is removed once the modem confirms the delete.

Multipart messages are reassembled in the database (:mod:`appliance.sms.reassembly`):
when the last part arrives, the message is created and the parts removed, in the
same transaction.  Parts older than the reassembly timeout are delivered as they
are, with error 30009 (Missing inbound segment).

Opt-out keywords (STOP, START, HELP and their synonyms; see :mod:`appliance.sms.optout`)
are handled in the transaction that creates the message: the opt-out row and
the confirmation reply are committed with the message and its webhook job, or
not at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import sqlite3
import time
from collections.abc import Callable

from appliance import logs, sids
from appliance.errors import ApplianceError
from appliance.numbers import sender as clean_sender
from appliance.sids import idempotency_token
from appliance.sms import optout, pdu, reassembly
from appliance.sms.outbox import Outbox
from appliance.sms.statuscallback import dumps
from appliance.sms.webhookparams import country as country  # re-exported (its old home)
from appliance.sms.webhookparams import sms_webhook_params
from appliance.store.database import Row, Store

LOGGER = logging.getLogger(__name__)
MAX_BODY = 1600


@dataclasses.dataclass(frozen=True)
class Ingested:
    kind: str  # "message", "part", "report", "quarantined", "duplicate"
    sid: str | None = None


def pdu_hash(pdu_hex: str) -> str:
    return hashlib.sha256(pdu_hex.strip().upper().encode()).hexdigest()


class Inbox:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        account_sid: Callable[[], str],
        number_of: Callable[[str], Row],
        reassembly_timeout: float,
        opt_out: optout.Policy | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self._account_sid = account_sid
        self._number_of = number_of
        self.reassembly_timeout = reassembly_timeout
        self.opt_out = optout.Policy() if opt_out is None else opt_out
        self.listeners: list[Callable[[], None]] = []
        # Told (conn, modem, number, sender, text, now) first, in the message's transaction;
        # one that returns True has handled it: no opt-out keyword, no webhook (on-call ACKs).
        self.interceptors: list[
            Callable[[sqlite3.Connection, str, str, str, str, float], bool]
        ] = []

    def _notify(self) -> None:
        for listener in self.listeners:
            listener()

    def known_slot(self, modem: str, memory: str, index: int, pdu_hex: str) -> bool:
        row = self.store.read_one(
            "SELECT pdu_hash FROM modem_slots WHERE modem = ? AND memory = ? AND idx = ?",
            (modem, memory, index),
        )
        return row is not None and row[0] == pdu_hash(pdu_hex)

    def slot_deleted(self, modem: str, memory: str, index: int) -> None:
        self.store.write(
            lambda conn: conn.execute(
                "DELETE FROM modem_slots WHERE modem = ? AND memory = ? AND idx = ?",
                (modem, memory, index),
            )
        )

    def forget_slots(self, modem: str, memory: str, keep: set[int]) -> None:
        """After a full listing: slot rows for indexes no longer in storage are stale."""

        def fn(conn: sqlite3.Connection) -> None:
            rows = conn.execute(
                "SELECT idx FROM modem_slots WHERE modem = ? AND memory = ?", (modem, memory)
            ).fetchall()
            for row in rows:
                if row["idx"] not in keep:
                    conn.execute(
                        "DELETE FROM modem_slots WHERE modem = ? AND memory = ? AND idx = ?",
                        (modem, memory, row["idx"]),
                    )

        self.store.write(fn)

    def ingest(
        self, modem: str, memory: str | None, index: int | None, pdu_hex: str, source: str
    ) -> Ingested:
        """Commit what one PDU carries.  ``memory``/``index`` are None for direct delivery (+CMT/+CDS)."""
        try:
            decoded = pdu.decode(pdu_hex, has_smsc=True, direction="mt")
            error = None
        except pdu.PduError as e:
            decoded, error = None, str(e)
        if isinstance(decoded, pdu.Submit):
            decoded, error = None, "an SMS-SUBMIT PDU in the receive storage"
        if isinstance(decoded, pdu.Deliver) and decoded.trailing:
            LOGGER.warning(
                "%s: PDU from %s has %d octets after its declared user data (TP-UDL);"
                " decoded by the declared length, ignored %s",
                modem,
                source,
                len(decoded.trailing),
                decoded.trailing.hex().upper(),
            )
        report_sid: str | None = None
        if isinstance(decoded, pdu.StatusReport):
            report_sid = self.outbox.apply_report(modem, decoded)
        now = time.time()
        replied: list[str] = []  # reply SIDs queued for keywords (filled by _create)

        def fn(conn: sqlite3.Connection) -> Ingested:
            replied.clear()  # in case the writer ever re-runs fn
            if memory is not None and index is not None:
                conn.execute(
                    "INSERT INTO modem_slots (modem, memory, idx, pdu_hash, stored_at) VALUES (?,?,?,?,?)"
                    " ON CONFLICT (modem, memory, idx) DO UPDATE SET pdu_hash = excluded.pdu_hash,"
                    " stored_at = excluded.stored_at",
                    (modem, memory, index, pdu_hash(pdu_hex), now),
                )
            if decoded is None:
                conn.execute(
                    "INSERT INTO quarantine (modem, source, raw, error, received_at) VALUES (?,?,?,?,?)",
                    (modem, source, pdu_hex[:2000], error or "undecodable", now),
                )
                logs.event(
                    LOGGER,
                    logging.WARNING,
                    "undecodable PDU quarantined",
                    modem=modem,
                    source=source,
                    error=error,
                )
                return Ingested("quarantined")
            if isinstance(decoded, pdu.StatusReport):
                return Ingested("report", report_sid)
            assert isinstance(decoded, pdu.Deliver)
            sender = clean_sender(decoded.sender)
            if decoded.concat is None or decoded.concat.total <= 1:
                sid = self._create(conn, modem, sender, decoded.text, 1, None, now, replied)
                return Ingested("message", sid)
            c = decoded.concat
            text = reassembly.add_part(
                conn, modem, sender, c, decoded.text, now, self.store.dialect.lock
            )
            if text is None:
                return Ingested("part")
            sid = self._create(conn, modem, sender, text, c.total, None, now, replied)
            return Ingested("message", sid)

        result = self.store.write(fn)
        if result.kind == "message":
            self._notify()
            if replied:
                self.outbox.wake(modem)
        return result

    def expire(self, now: float | None = None) -> list[str]:
        """Deliver multipart messages whose missing parts did not come in time (error 30009)."""
        now = time.time() if now is None else now
        cutoff = now - self.reassembly_timeout

        replied: list[str] = []
        woken: set[str] = set()

        def fn(conn: sqlite3.Connection) -> list[str]:
            replied.clear()
            woken.clear()
            created = []
            for m in reassembly.take_overdue(conn, cutoff):
                before = len(replied)
                created.append(
                    self._create(conn, m.modem, m.sender, m.text, m.segments, m.error, now, replied)
                )
                if len(replied) > before:
                    woken.add(m.modem)
            return created

        created = self.store.write(fn)
        if created:
            self._notify()
        for modem in sorted(woken):
            self.outbox.wake(modem)
        return created

    def next_expiry(self) -> float | None:
        oldest = reassembly.oldest_part(self.store)
        return None if oldest is None else oldest + self.reassembly_timeout

    def _create(
        self,
        conn: sqlite3.Connection,
        modem: str,
        sender: str,
        text: str,
        segments: int,
        error: tuple[int, str] | None,
        now: float,
        replied: list[str] | None = None,
    ) -> str:
        number = self._number_of(modem)
        if len(text) > MAX_BODY and error is None:
            error = (21617, "Inbound body exceeded 1600 characters and was truncated")
        text = text[:MAX_BODY]
        sid = sids.new("SM")
        conn.execute(
            "INSERT INTO messages (sid, account_sid, direction, modem, from_number, to_number, body,"
            " status, num_segments, segments_sent, error_code, error_message, date_created, date_updated,"
            " date_sent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                sid,
                self._account_sid(),
                "inbound",
                modem,
                sender,
                number["phone_number"],
                text,
                "received",
                segments,
                segments,
                error[0] if error else None,
                error[1] if error else None,
                now,
                now,
                now,
            ),
        )
        # Taken by a keyword pass (any node's) once committed, whatever the seq order.  On
        # SQLite a deleted newest message's seq comes back: its job, if still there, is this one's.
        conn.execute(
            "INSERT INTO keyword_jobs (seq) SELECT seq FROM messages WHERE sid = ?"
            " ON CONFLICT (seq) DO NOTHING",
            (sid,),
        )
        if any(
            hook(conn, modem, number["phone_number"], sender, text, now)
            for hook in self.interceptors
        ):
            if replied is not None:
                replied.append(sid)  # the hook's reply: wake the modem
            logs.event(
                LOGGER,
                logging.INFO,
                "message received",
                sid=sid,
                modem=modem,
                from_=sender,
                handled="on-call reply",
            )
            return sid
        keyword = self.opt_out.classify(text)
        if keyword is not None:
            reply = self._keyword(conn, modem, number["phone_number"], sender, keyword, sid, now)
            if reply is not None and replied is not None:
                replied.append(reply)
        if number["sms_url"]:
            row = conn.execute("SELECT * FROM messages WHERE sid = ?", (sid,)).fetchone()
            conn.execute(
                "INSERT INTO webhook_jobs (kind, message_sid, url, method, fallback_url, fallback_method,"
                " params, token, state, next_attempt_at, created) VALUES ('sms',?,?,?,?,?,?,?,'pending',?,?)",
                (
                    sid,
                    number["sms_url"],
                    number["sms_method"],
                    number["sms_fallback_url"],
                    number["sms_fallback_method"],
                    dumps(sms_webhook_params(row, keyword[0] if keyword else None)),
                    idempotency_token(),
                    now,
                    now,
                ),
            )
        logs.event(
            LOGGER,
            logging.WARNING if error else logging.INFO,
            "message received",
            sid=sid,
            modem=modem,
            from_=sender,
            to=number["phone_number"],
            segments=segments,
            error_code=error[0] if error else None,
            error=error[1] if error else None,
        )
        logs.event(LOGGER, logging.DEBUG, "message body", sid=sid, body=text)
        return sid

    def _keyword(
        self,
        conn: sqlite3.Connection,
        modem: str,
        number: str,
        sender: str,
        keyword: tuple[str, str],
        sid: str,
        now: float,
    ) -> str | None:
        """Apply an opt-out/opt-in/help keyword and queue its reply; returns the reply's SID.

        Runs inside the transaction that creates the inbound message ``sid``.
        """
        kind, word = keyword
        if kind == "STOP":
            optout.opt_out(conn, number, sender, word, now)
        elif kind == "START":
            optout.opt_in(conn, number, sender)
        logs.event(
            LOGGER,
            logging.INFO,
            "opt-out keyword",
            sid=sid,
            modem=modem,
            keyword=kind,
            from_=sender,
        )
        try:
            # The confirmation goes out even to a sender who has just opted out (Twilio does).
            return self.outbox.insert(
                conn,
                modem=modem,
                from_number=number,
                to=sender,
                body=self.opt_out.reply_for(kind),
                direction="outbound-reply",
                opt_out_exempt=True,
            )
        except ApplianceError as e:  # OutboxError, InvalidNumber
            # E.g. an alphanumeric sender ("VODAFONE") or an empty help_text: no reply can go out,
            # but the message and the opt-out must still be stored.
            logs.event(
                LOGGER,
                logging.WARNING,
                "keyword reply not sent",
                sid=sid,
                modem=modem,
                keyword=kind,
                to=sender,
                error_code=e.code,
                error=e.message,
            )
            return None
