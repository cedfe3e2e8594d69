"""SMS on the simulated network: delivery queues, the outbox and status reports.

:class:`SmsNetwork` (mixed into :class:`~.network.Network`)

* delivers inbound SMS to a modem (``deliver_sms``): splits the body with
  ``appliance.sms.codec.split``, encodes SMS-DELIVER PDUs and hands them to the modem,
  optionally shuffled, interleaved with other messages, or with parts dropped;
  messages the modem cannot take right now (unplugged, no coverage, storage full)
  wait in a per-modem queue and are retried whenever the modem's state changes;
* records what the appliance sent (the OUTBOX): every accepted SMS-SUBMIT segment and
  every reassembled message;
* sends a status report after an accepted submit with TP-SRR set, after
  ``report_delay`` seconds, with TP-ST ``report_status`` (``None`` = no report).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .scheduler import Scheduler
from .subscriber import Line, Subscriber


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class OutboxSegment:
    """One SMS-SUBMIT the network accepted from a modem."""

    modem: str
    from_number: str
    destination: str
    text: str
    concat: Any  # appliance.sms.Concat | None
    mr: int
    srr: bool
    time: float
    encoding: str | None = None

    def as_dict(self) -> dict[str, Any]:
        c = self.concat
        return {
            "modem": self.modem,
            "from": self.from_number,
            "destination": self.destination,
            "text": self.text,
            "concat": None if c is None else {"ref": c.ref, "total": c.total, "seq": c.seq},
            "mr": self.mr,
            "srr": self.srr,
            "time": self.time,
            "encoding": self.encoding,
        }


@dataclass
class OutboxMessage:
    """A complete (reassembled) message the appliance sent."""

    modem: str
    from_number: str
    destination: str
    text: str
    segments: int
    time: float
    mrs: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "modem": self.modem,
            "from": self.from_number,
            "destination": self.destination,
            "text": self.text,
            "segments": self.segments,
            "time": self.time,
            "mrs": list(self.mrs),
        }


@dataclass
class _Pending:
    kind: str  # "deliver" | "report"
    pdu: str
    flash: bool = False


@dataclass
class Delivery:
    """What deliver_sms() queued: the concat ref, the number of parts, the PDUs."""

    modem: str
    sender: str
    ref: int | None
    total: int
    pdus: list[str]
    dropped: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "modem": self.modem,
            "from": self.sender,
            "ref": self.ref,
            "parts": self.total,
            "dropped": self.dropped,
        }


class SmsNetwork:
    """SMS routing, mixed into :class:`~.network.Network`."""

    scheduler: Scheduler
    modems: dict[str, Subscriber]
    _lock: threading.RLock

    def modem(self, which: str | Subscriber) -> Subscriber:
        raise NotImplementedError

    def _sms_init(
        self, report_status: int | None, report_delay: float, smsc: str | None, seed: int | None
    ) -> None:
        self.report_status = report_status
        self.report_delay = report_delay
        self.smsc = smsc
        self._queues: dict[str, deque[_Pending]] = {}
        self._ref = itertools.count(1)
        self._rand = random.Random(seed)
        self.segments: list[OutboxSegment] = []
        self.messages: list[OutboxMessage] = []
        self._partial: dict[tuple[str, str, int, int], dict[int, OutboxSegment]] = {}
        self._kick_pending = False

    def attach(self, modem: Subscriber) -> None:
        with self._lock:
            self._queues.setdefault(modem.name, deque())

    def pending(self, which: str | Subscriber) -> int:
        with self._lock:
            return len(self._queues.get(self.modem(which).name, ()))

    # ------------------------------------------------------------------ inbound
    def next_ref(self) -> int:
        with self._lock:
            ref = next(self._ref) % 256
            if ref == 0:
                ref = next(self._ref) % 256
            return ref

    def encode(
        self, sender: str, body: str, *, message_class: int | None = None, ref: int | None = None
    ) -> tuple[int | None, list[str]]:
        """SMS-DELIVER PDUs for ``body`` from ``sender`` (several when it needs concatenation)."""
        from appliance.sms import codec as sms
        from appliance.sms import pdu

        if ref is None:
            ref = self.next_ref()
        segments = sms.split(body, ref=ref)
        scts = _now()
        pdus = [
            pdu.encode_deliver(sender, seg, scts=scts, smsc=self.smsc, message_class=message_class)
            for seg in segments
        ]
        return (ref if len(segments) > 1 else None), pdus

    def deliver_sms(
        self,
        modem: str | Subscriber,
        sender: str,
        body: str,
        *,
        shuffle: bool = False,
        interleave_with: Iterable[tuple[str, str]] | None = None,
        drop_parts: Iterable[int] | None = None,
        message_class: int | None = None,
    ) -> Delivery:
        """Send an SMS from ``sender`` to ``modem``; returns what was queued.

        ``drop_parts`` are 1-based part numbers never delivered (reassembly timeouts);
        ``interleave_with`` is a list of (sender, body) whose parts are delivered
        alternately with this message's parts; ``shuffle`` randomises the order.
        """
        target = self.modem(modem)
        ref, pdus = self.encode(sender, body, message_class=message_class)
        drop = set(drop_parts or ())
        kept = [p for i, p in enumerate(pdus, 1) if i not in drop]
        streams = [kept]
        for other_sender, other_body in interleave_with or ():
            streams.append(self.encode(other_sender, other_body, message_class=message_class)[1])
        ordered: list[str] = []
        for i in range(max(len(s) for s in streams)):
            for s in streams:
                if i < len(s):
                    ordered.append(s[i])
        if shuffle:
            self._rand.shuffle(ordered)
        flash = message_class == 0
        self.enqueue(target, [_Pending("deliver", p, flash) for p in ordered])
        return Delivery(target.name, sender, ref, len(pdus), pdus, sorted(drop))

    def deliver_pdu(self, modem: str | Subscriber, pdu_hex: str, *, flash: bool = False) -> None:
        """Queue one raw SMS-DELIVER PDU (hex incl. SMSC), e.g. a deliberately broken one."""
        self.enqueue(self.modem(modem), [_Pending("deliver", pdu_hex, flash)])

    def enqueue(self, modem: Line, items: list[_Pending]) -> None:
        with self._lock:
            self._queues.setdefault(modem.name, deque()).extend(items)
        self.kick()

    def kick(self) -> None:
        """Retry pending deliveries soon (called when any modem state changes)."""
        with self._lock:
            if self._kick_pending:
                return
            self._kick_pending = True
        self.scheduler.call_later(0.0, self._pump)

    def _pump(self) -> None:
        # runs on the scheduler thread only (the sole consumer of the queues); the
        # network lock is not held while calling into a modem (lock order modem → network)
        with self._lock:
            self._kick_pending = False
            work = [(self.modems.get(n), q) for n, q in self._queues.items()]
        for modem, queue in work:
            if modem is None:
                continue
            while queue:
                item = queue[0]
                if item.kind == "report":
                    ok = modem.accept_status_report(item.pdu)
                else:
                    ok = modem.accept_deliver(item.pdu, flash=item.flash)
                if not ok:
                    break
                queue.popleft()

    # ------------------------------------------------------------------ outbound
    def submitted(self, modem: Line, record: Any, mr: int, srr: bool) -> None:
        """A modem accepted an SMS-SUBMIT (a pdu.Submit, or ("text", dest, body))."""
        now = time.time()
        if isinstance(record, tuple):
            _, destination, text = record
            seg = OutboxSegment(modem.name, modem.number, destination, text, None, mr, srr, now)
        else:
            enc = record.encoding
            seg = OutboxSegment(
                modem.name,
                modem.number,
                record.destination,
                record.text,
                record.concat,
                mr,
                srr,
                now,
                None if enc is None else getattr(enc, "name", str(enc)),
            )
        with self._lock:
            self.segments.append(seg)
            if seg.concat is None or seg.concat.total <= 1:
                self.messages.append(
                    OutboxMessage(modem.name, modem.number, seg.destination, seg.text, 1, now, [mr])
                )
            else:
                self._collect(seg)
        if srr and self.report_status is not None:
            status = self.report_status
            self.scheduler.call_later(self.report_delay, lambda: self._report(modem, seg, status))

    def _collect(self, seg: OutboxSegment) -> None:
        from appliance.sms import codec as sms

        c = seg.concat
        key = (seg.modem, seg.destination, c.ref, c.total)
        parts = self._partial.setdefault(key, {})
        parts[c.seq] = seg
        text, missing = sms.reassemble({k: v.text for k, v in parts.items()}, c.total)
        if missing:
            return
        del self._partial[key]
        ordered = [parts[i] for i in sorted(parts)]
        self.messages.append(
            OutboxMessage(
                seg.modem,
                seg.from_number,
                seg.destination,
                text,
                c.total,
                seg.time,
                [p.mr for p in ordered],
            )
        )

    def _report(self, modem: Line, seg: OutboxSegment, status: int) -> None:
        from appliance.sms import pdu

        sent = datetime.fromtimestamp(seg.time, UTC).replace(microsecond=0)
        report = pdu.encode_status_report(
            seg.mr, seg.destination, scts=sent, discharge=_now(), status=status, smsc=self.smsc
        )
        self.enqueue(modem, [_Pending("report", report)])

    # ------------------------------------------------------------------ outbox queries
    def outbox(self, modem: str | None = None) -> list[OutboxMessage]:
        with self._lock:
            return [m for m in self.messages if modem is None or m.modem == modem]

    def outbox_segments(self, modem: str | None = None) -> list[OutboxSegment]:
        with self._lock:
            return [s for s in self.segments if modem is None or s.modem == modem]

    def clear_outbox(self) -> None:
        with self._lock:
            self.segments.clear()
            self.messages.clear()
            self._partial.clear()

    def wait_outbox(self, count: int, timeout: float = 10.0, modem: str | None = None) -> bool:
        """Poll until ``count`` complete messages are in the outbox (for tests/bench)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.outbox(modem)) >= count:
                return True
            time.sleep(0.02)
        return len(self.outbox(modem)) >= count

    # ------------------------------------------------------------------ broken input
    MALFORMED_KINDS = ("truncated", "bad_udh", "bad_length", "junk")

    def malformed_pdu(
        self,
        modem: str | Subscriber,
        kind: str = "truncated",
        sender: str = "+447700900999",
    ) -> str:
        """Queue a deliberately broken SMS-DELIVER PDU for ``modem``; returns its hex.

        ``truncated``: user data cut short; ``bad_udh``: UDHI set on a message without a
        header (the header length points past the end); ``bad_length``: TP-UDL = 255;
        ``junk``: random octets after a valid SMSC field.
        """
        target = self.modem(modem)
        _, pdus = self.encode(sender, "This message was damaged in transit")
        good = pdus[0]
        p = 2 + 2 * int(good[0:2], 16)  # first TPDU octet (hex index)
        oa_digits = int(good[p + 2 : p + 4], 16)
        udl = p + 2 * (1 + 2 + (oa_digits + 1) // 2 + 1 + 1 + 7)
        if kind == "truncated":
            bad = good[: len(good) - 12]
        elif kind == "bad_udh":
            first = int(good[p : p + 2], 16) | 0x40
            bad = good[:p] + f"{first:02X}" + good[p + 2 :]
        elif kind == "bad_length":
            bad = good[:udl] + "FF" + good[udl + 2 :]
        elif kind == "junk":
            bad = good[:p] + "".join(f"{self._rand.randrange(256):02X}" for _ in range(24))
        else:
            raise ValueError(f"malformed_pdu kind must be one of {self.MALFORMED_KINDS}")
        self.deliver_pdu(target, bad)
        return bad
