"""SMS storage of the simulated modem: the ``AT+CPMS`` message memories and their slots."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# SMS storage status values (3GPP 27.005 <stat> in PDU mode)
STAT_REC_UNREAD = 0
STAT_REC_READ = 1
STAT_STO_UNSENT = 2
STAT_STO_SENT = 3


@dataclass
class StoredSms:
    stat: int
    pdu: str  # hex including the SMSC field, as +CMGR shows it
    length: int  # TPDU length in octets (the <length> field)


def tpdu_octets(pdu_hex: str) -> int:
    """TPDU length of a hex PDU that starts with an SMSC field (robust for broken PDUs)."""
    total = len(pdu_hex) // 2
    try:
        smsc_len = int(pdu_hex[0:2], 16)
    except ValueError:
        return total
    return max(0, total - 1 - smsc_len)


class Memory:
    """One message memory ("SM", "ME", "SR", ...) with a fixed capacity."""

    def __init__(self, name: str, capacity: int, base: int) -> None:
        self.name = name
        self.capacity = capacity
        self.base = base
        self.slots: dict[int, StoredSms] = {}

    @property
    def used(self) -> int:
        return len(self.slots)

    def indices(self) -> range:
        return range(self.base, self.base + self.capacity)

    def store(self, msg: StoredSms) -> int | None:
        for i in self.indices():
            if i not in self.slots:
                self.slots[i] = msg
                return i
        return None

    def get(self, index: int) -> StoredSms | None:
        return self.slots.get(index)

    def valid(self, index: int) -> bool:
        return index in self.indices()

    def delete(self, index: int) -> bool:
        return self.slots.pop(index, None) is not None

    def items(self) -> Iterator[tuple[int, StoredSms]]:
        return iter(sorted(self.slots.items()))


class UnionMemory(Memory):
    """A memory that spans others (Quectel "MT" = "ME" + "SM"), indices laid end to end."""

    def __init__(self, name: str, members: list[Memory], base: int) -> None:
        super().__init__(name, sum(m.capacity for m in members), base)
        self.members = members

    def _locate(self, index: int) -> tuple[Memory, int] | None:
        offset = index - self.base
        for m in self.members:
            if 0 <= offset < m.capacity:
                return m, m.base + offset
            offset -= m.capacity
        return None

    def _global(self, member: Memory, local: int) -> int:
        offset = 0
        for m in self.members:
            if m is member:
                return self.base + offset + (local - m.base)
            offset += m.capacity
        raise KeyError(member.name)

    @property
    def used(self) -> int:
        return sum(m.used for m in self.members)

    def store(self, msg: StoredSms) -> int | None:
        for m in self.members:
            local = m.store(msg)
            if local is not None:
                return self._global(m, local)
        return None

    def get(self, index: int) -> StoredSms | None:
        loc = self._locate(index)
        return loc[0].get(loc[1]) if loc else None

    def delete(self, index: int) -> bool:
        loc = self._locate(index)
        return loc[0].delete(loc[1]) if loc else False

    def items(self) -> Iterator[tuple[int, StoredSms]]:
        out = [(self._global(m, i), s) for m in self.members for i, s in m.slots.items()]
        return iter(sorted(out, key=lambda t: t[0]))
