"""SMS AT command handlers: settings, storage, PDU/text-mode send, inbound routing."""

from __future__ import annotations

from typing import Any

from .dispatcher import PROMPTED, CommandDispatcher
from .errors import AtError, cms
from .linediscipline import PROMPT
from .storage import (
    STAT_REC_READ,
    STAT_REC_UNREAD,
    STAT_STO_SENT,
    STAT_STO_UNSENT,
    Memory,
    StoredSms,
    tpdu_octets,
)


class SmsCommands(CommandDispatcher):
    """27.005 SMS: ``AT+CMGF/CSCA/CSMP/CSMS/CNMA/CNMI``, ``AT+CPMS/CMGR/CMGL/CMGD``,
    ``AT+CMGS`` and the network side's :meth:`accept_deliver` / :meth:`accept_status_report`."""

    # ------------------------------------------------------------------ settings
    def at_CMGF(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"+CMGF: {self.state.cmgf}"]
        if kind == "test":
            return ["+CMGF: (0,1)"]
        mode = int(arg or "0")
        if mode not in (0, 1):
            raise cms(303)
        self.state.cmgf = mode
        return []

    def at_CSCA(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            sc = self.state.extra.get("csca", self.profile.smsc)
            return [f'+CSCA: "{sc}",{145 if sc.startswith("+") else 129}']
        if kind == "set":
            self.state.extra["csca"] = self._unquote(arg.split(",")[0])
        return []

    def at_CSMP(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return [f"+CSMP: {self.state.csmp}"]
        if kind == "set":
            self.state.csmp = arg
        return []

    def at_CSMS(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CSMS: (0,1)"]
        if kind == "read":
            return [f"+CSMS: {self.state.csms},1,1,1"]
        svc = int(arg or "0")
        if svc not in (0, 1):
            raise cms(303)
        self.state.csms = svc
        return ["+CSMS: 1,1,1"]

    def at_CNMA(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CNMA: (0-2)"]
        return []

    def at_CNMI(self, kind: str, arg: str) -> list[str]:
        if kind == "read":
            return ["+CNMI: " + ",".join(str(v) for v in self.state.cnmi)]
        if kind == "test":
            return [f"+CNMI: {self.profile.cnmi_test}"]
        vals = self._ints(arg)
        if len(vals) > 5:
            raise cms(303)
        limits = (3, 3, 3, 2, 1)
        cur = list(self.state.cnmi)
        for i, v in enumerate(vals):
            if v is None:
                continue
            if not 0 <= v <= limits[i]:
                raise cms(303)
            cur[i] = v
        self.state.cnmi = (cur[0], cur[1], cur[2], cur[3], cur[4])
        return []

    # ------------------------------------------------------------------ storage
    def _memory(self, name: str) -> Memory:
        mem = self.memories.get(name)
        if mem is None:
            raise cms(302)
        return mem

    def _used(self, mem: Memory) -> int:
        if self.faults.storage_full and mem is self.receive_memory():
            return mem.capacity
        return mem.used

    def at_CPMS(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            groups = ["(" + ",".join(f'"{m}"' for m in g) + ")" for g in self.profile.cpms_test]
            return ["+CPMS: " + ",".join(groups)]
        self._require_sim()
        if kind == "read":
            parts = []
            for name in self.state.cpms:
                mem = self._memory(name)
                parts.append(f'"{name}",{self._used(mem)},{mem.capacity}')
            return ["+CPMS: " + ",".join(parts)]
        if kind != "set":
            raise cms(302)
        names = [self._unquote(a) for a in arg.split(",")]
        if not 1 <= len(names) <= 3:
            raise cms(302)
        new = list(self.state.cpms)
        for i, name in enumerate(names):
            if not name:
                continue
            if name not in self.profile.cpms_test[i]:
                raise cms(302)
            new[i] = name
        self.state.cpms = new
        out = []
        for name in new:
            mem = self._memory(name)
            out.append(f"{self._used(mem)},{mem.capacity}")
        return ["+CPMS: " + ",".join(out)]

    def at_CMGR(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        self._require_sim()
        if self.state.cmgf != 0:
            raise cms(302)  # text-mode reading is not simulated
        mem = self._memory(self.state.cpms[0])
        index = int(arg)
        if not mem.valid(index):
            raise cms(321)
        msg = mem.get(index)
        if msg is None:
            if self.profile.empty_slot == "ok":
                return []
            raise cms(321)
        lines = [f"+CMGR: {msg.stat},,{msg.length}", msg.pdu]
        if msg.stat == STAT_REC_UNREAD:
            msg.stat = STAT_REC_READ
        return lines

    def at_CMGL(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return ["+CMGL: (0-4)"]
        self._require_sim()
        if self.state.cmgf != 0:
            raise cms(302)
        stat = int(arg or "0")
        if stat not in (0, 1, 2, 3, 4):
            raise cms(302)
        mem = self._memory(self.state.cpms[0])
        lines: list[str] = []
        for index, msg in mem.items():
            if stat == 4 or msg.stat == stat:
                lines.append(f"+CMGL: {index},{msg.stat},,{msg.length}")
                lines.append(msg.pdu)
                if msg.stat == STAT_REC_UNREAD:
                    msg.stat = STAT_REC_READ
        return lines

    def at_CMGD(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            mem = self._memory(self.state.cpms[0])
            used = ",".join(str(i) for i, _ in mem.items())
            return [f"+CMGD: ({used}),(0-4)"]
        self._require_sim()
        vals = self._ints(arg)
        mem = self._memory(self.state.cpms[0])
        index = vals[0]
        flag = vals[1] if len(vals) > 1 and vals[1] is not None else 0
        if flag not in (0, 1, 2, 3, 4):
            raise cms(302)
        if flag == 0:
            if index is None or not mem.valid(index):
                raise cms(321)
            if not mem.delete(index) and self.profile.empty_slot == "error":
                raise cms(321)
            return []
        wanted = {
            1: {STAT_REC_READ},
            2: {STAT_REC_READ, STAT_STO_SENT},
            3: {STAT_REC_READ, STAT_STO_SENT, STAT_STO_UNSENT},
            4: {0, 1, 2, 3},
        }[flag]
        for i, msg in list(mem.items()):
            if msg.stat in wanted:
                mem.delete(i)
        return []

    # ------------------------------------------------------------------ sending
    def at_CMGS(self, kind: str, arg: str) -> list[str]:
        if kind == "test":
            return []
        if kind != "set":
            raise cms(302)
        self._require_sim()
        if self.state.cmgf == 1:
            dest = self._unquote(arg.split(",")[0])
            if not dest:
                raise cms(304)
            self._pdu_text_dest = dest
            self._pdu_len = 0
        else:
            try:
                length = int(arg)
            except ValueError:
                raise cms(304) from None
            if not 7 <= length <= 164:
                raise cms(304)
            self._pdu_text_dest = None
            self._pdu_len = length
        self._pdu_mode = True
        self._buf.clear()
        self._overflow = False
        self._write(PROMPT)
        return PROMPTED

    def _end_pdu(self, cancel: bool) -> None:
        """Called from feed() when Ctrl-Z / ESC ends the prompt."""
        raw = bytes(self._buf)
        overflow = self._overflow
        self._buf.clear()
        self._overflow = False
        self._pdu_mode = False
        if cancel:
            self._run(lambda: self._respond_locked([], None))
            return
        self._run(lambda: self._submit(raw, overflow))

    def _submit(self, raw: bytes, overflow: bool) -> None:
        from appliance.sms import pdu as pdumod

        try:
            if overflow:
                raise cms(304)
            text_dest = self._pdu_text_dest
            if text_dest is not None:
                body = raw.decode("latin-1").strip("\r\n")
                record: Any = ("text", text_dest, body)
                first = self.state.csmp.split(",")[0].strip()
                srr = bool(int(first) & 0x20) if first.isdigit() else False
            else:
                hexstr = raw.decode("latin-1").strip()
                if (
                    not hexstr
                    or len(hexstr) % 2
                    or any(c not in "0123456789abcdefABCDEF" for c in hexstr)
                ):
                    raise cms(304)
                if tpdu_octets(hexstr) != self._pdu_len:
                    raise cms(304)
                try:
                    submit = pdumod.decode(hexstr, has_smsc=True, direction="mo")
                except (pdumod.PduError, ValueError):
                    raise cms(304) from None
                if not isinstance(submit, pdumod.Submit):
                    raise cms(304)
                record = submit
                srr = submit.srr
        except AtError as err:
            self._respond_locked([], err)
            return
        # the radio round trip: the modem answers nothing else meanwhile
        if self.latency > 0:
            self._unplugged.wait(self.latency)
        with self._lock:
            if not self.plugged:
                return
            if self.faults.cms_error_count > 0:
                self.faults.cms_error_count -= 1
                self._respond([], cms(self.faults.cms_error))
                return
            if not self.registered():
                self._respond([], cms(331))
                return
            mr = self._mr
            self._mr = (self._mr + 1) % 256
            self.sent_count += 1
            # In the network's outbox before the +CMGS: whoever has the answer finds it there
            # (lock order modem -> network, as in the network's pump).
            self.network.submitted(self, record, mr, srr)
            self._respond([f"+CMGS: {mr}"], None)

    # ------------------------------------------------------------------ inbound (network side)
    def accept_deliver(self, pdu_hex: str, *, flash: bool = False) -> bool:
        """The network hands an SMS-DELIVER PDU (hex incl. SMSC) over; False = try later."""
        with self._lock:
            if not self.plugged or not self.booted or not self.registered():
                return False
            mode, mt = self.state.cnmi[0], self.state.cnmi[1]
            length = tpdu_octets(pdu_hex)
            if mode != 0 and (flash or mt == 2):
                self._urc([f"+CMT: ,{length}", pdu_hex.upper()])
                return True
            mem = self.receive_memory()
            if self.faults.storage_full and mem is self.receive_memory():
                return False
            index = mem.store(StoredSms(STAT_REC_UNREAD, pdu_hex.upper(), length))
            if index is None:
                return False
            if mode != 0 and mt in (1, 3):
                self._urc([f'+CMTI: "{mem.name}",{index}'])
            return True

    def accept_status_report(self, pdu_hex: str) -> bool:
        with self._lock:
            if not self.plugged or not self.booted or not self.registered():
                return False
            mode, ds = self.state.cnmi[0], self.state.cnmi[3]
            length = tpdu_octets(pdu_hex)
            if ds == 0:
                return True  # not routed to the TE: the report is dropped
            if ds == 1 and mode != 0:
                self._urc([f"+CDS: {length}", pdu_hex.upper()])
                return True
            mem = self.report_memory()
            if self.faults.storage_full and mem is self.receive_memory():
                return False
            index = mem.store(StoredSms(STAT_REC_UNREAD, pdu_hex.upper(), length))
            if index is None:
                return False
            if mode != 0:
                self._urc([f'+CDSI: "{mem.name}",{index}'])
            return True

    def store_raw(self, pdu_hex: str, memory: str | None = None, stat: int = 0) -> int:
        """Put a PDU straight into storage (no URC); returns the index."""
        with self._lock:
            mem = self.memories[memory] if memory else self.receive_memory()
            index = mem.store(StoredSms(stat, pdu_hex.upper(), tpdu_octets(pdu_hex)))
            if index is None:
                raise RuntimeError(f"memory {mem.name} is full")
            return index
