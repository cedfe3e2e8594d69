"""Opt-out keywords (STOP / START / HELP), as Twilio's Advanced Opt-Out defaults do them.

An inbound body that is exactly one keyword (trimmed, any case, trailing
punctuation ignored: "stop", " Stop. ") is handled by the appliance itself, in
the same transaction that stores the message:

* an opt-out keyword (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT) records
  the sender in ``opt_outs`` for the number that received it and queues
  Twilio's confirmation reply;
* an opt-in keyword (START, YES, UNSTOP) removes that row and queues the
  re-subscribe confirmation;
* a help keyword (HELP, INFO) queues the configured help text.

The message is still posted to the SMS URL, with ``OptOutType`` (STOP, START
or HELP) added.  From then on, sends from that number to an opted-out
recipient fail with 21610 (:func:`is_opted_out` is the check); only the
appliance's own keyword replies are exempt.  A message queued or scheduled
*before* the STOP is not sent either: when the modem thread claims it, it
fails with 21610 instead (:func:`opted_out_at`; the outbox compares it with
the message's creation time, so the confirmation queued with the STOP, and
the exempt replies queued after it, still go out).

The table is the migration 0017's (:mod:`appliance.store.migrations.optouts`); until then it
was created on first use, with the same DDL, so a box upgraded after an opt-out keeps its rows.
"""

from __future__ import annotations

import dataclasses
import re
import sqlite3
import time

from appliance.config import Config
from appliance.store.database import Store

UNSUBSCRIBED_CODE = 21610
UNSUBSCRIBED_MESSAGE = "Attempt to send to unsubscribed recipient"

DEFAULT_OPT_OUT_KEYWORDS = "STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT"
DEFAULT_OPT_IN_KEYWORDS = "START, YES, UNSTOP"
DEFAULT_HELP_KEYWORDS = "HELP, INFO"
DEFAULT_HELP_TEXT = "Reply STOP to unsubscribe. Msg&Data Rates May Apply."
STOP_REPLY = (
    "You have successfully been unsubscribed. You will not receive any more messages "
    "from this number. Reply START to resubscribe."
)
START_REPLY = (
    "You have successfully been re-subscribed to messages from this number. "
    "Reply HELP for help. Reply STOP to unsubscribe. Msg&Data Rates May Apply."
)

# Trailing noise a keyword may carry ("STOP.", "stop!", "Stop ?").
_TRAILING = re.compile(r"[\s.!?,;:]+$")
# Separators in a keyword list setting: "STOP, QUIT", "STOP QUIT", or a TOML array str()-ed.
_SEPARATORS = re.compile(r"[\s,;\[\]'\"]+")


def parse_keywords(text: str) -> frozenset[str]:
    """A keyword list setting ("STOP, QUIT" or ["STOP", "QUIT"]) as a set of upper-case words."""
    return frozenset(w.upper() for w in _SEPARATORS.split(text) if w)


def normalize_body(body: str) -> str:
    """The body as a keyword candidate: trimmed, trailing punctuation dropped, upper-cased."""
    return _TRAILING.sub("", body.strip()).upper()


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the inbox does with keywords (built from the configuration)."""

    enabled: bool = True
    opt_out_keywords: frozenset[str] = parse_keywords(DEFAULT_OPT_OUT_KEYWORDS)
    opt_in_keywords: frozenset[str] = parse_keywords(DEFAULT_OPT_IN_KEYWORDS)
    help_keywords: frozenset[str] = parse_keywords(DEFAULT_HELP_KEYWORDS)
    help_text: str = DEFAULT_HELP_TEXT
    opt_out_text: str = STOP_REPLY
    opt_in_text: str = START_REPLY

    @classmethod
    def from_config(cls, config: Config) -> Policy:
        return cls(
            enabled=config.opt_out_enabled,
            opt_out_keywords=parse_keywords(config.opt_out_keywords),
            opt_in_keywords=parse_keywords(config.opt_in_keywords),
            help_keywords=parse_keywords(config.help_keywords),
            help_text=config.help_text,
            opt_out_text=config.opt_out_text,
            opt_in_text=config.opt_in_text,
        )

    def classify(self, body: str) -> tuple[str, str] | None:
        """("STOP"|"START"|"HELP", the keyword) when ``body`` is exactly one keyword, else None."""
        if not self.enabled:
            return None
        word = normalize_body(body)
        if not word:
            return None
        # Opt-out wins if a word is configured in several lists: never keep sending by mistake.
        if word in self.opt_out_keywords:
            return "STOP", word
        if word in self.opt_in_keywords:
            return "START", word
        if word in self.help_keywords:
            return "HELP", word
        return None

    def reply_for(self, kind: str) -> str:
        if kind == "STOP":
            return self.opt_out_text
        if kind == "START":
            return self.opt_in_text
        return self.help_text


def is_opted_out(conn_or_store: sqlite3.Connection | Store, number: str, recipient: str) -> bool:
    """Whether ``recipient`` has opted out of messages from our ``number``.

    Works on a write transaction's connection (atomic with the insert that
    follows) or on a :class:`Store` (its per-thread read connection).
    """
    sql = "SELECT 1 FROM opt_outs WHERE phone_number = ? AND sender = ?"
    if isinstance(conn_or_store, Store):
        return conn_or_store.read_one(sql, (number, recipient)) is not None
    return conn_or_store.execute(sql, (number, recipient)).fetchone() is not None


def opted_out_at(conn: sqlite3.Connection, number: str, recipient: str) -> float | None:
    """When ``recipient`` opted out of our ``number`` (epoch), or None if they have not."""
    row = conn.execute(
        "SELECT opted_out_at FROM opt_outs WHERE phone_number = ? AND sender = ?",
        (number, recipient),
    ).fetchone()
    return None if row is None else float(row[0])


def opt_out(
    conn: sqlite3.Connection, number: str, sender: str, keyword: str, now: float | None = None
) -> None:
    """Record that ``sender`` opted out of ``number`` (idempotent; keeps the latest keyword/time)."""
    conn.execute(
        "INSERT INTO opt_outs (phone_number, sender, opted_out_at, keyword) VALUES (?,?,?,?)"
        " ON CONFLICT (phone_number, sender) DO UPDATE SET opted_out_at = excluded.opted_out_at,"
        " keyword = excluded.keyword",
        (number, sender, time.time() if now is None else now, keyword),
    )


def opt_in(conn: sqlite3.Connection, number: str, sender: str) -> bool:
    """Remove the opt-out of ``sender`` for ``number``; True if there was one."""
    cur = conn.execute(
        "DELETE FROM opt_outs WHERE phone_number = ? AND sender = ?", (number, sender)
    )
    return cur.rowcount > 0
