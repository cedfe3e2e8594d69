"""PDU octets: the reading cursor and its error, hex, GSM-7 septet packing, semi-octet BCD."""

from __future__ import annotations

import re

BCD_DIGITS = "0123456789*#abc"  # semi-octet values 0-14; 15 (F) is the filler
BCD_FILLER = 0xF
HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})*")


class PduError(ValueError):
    """Malformed PDU; the message says what is wrong and at which octet."""


class Reader:
    """Cursor over PDU octets that raises PduError on overrun."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def octet(self, what: str) -> int:
        if self.pos >= len(self.data):
            raise PduError(f"truncated PDU: missing {what} at octet {self.pos}")
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, count: int, what: str) -> bytes:
        if self.pos + count > len(self.data):
            raise PduError(
                f"truncated PDU: {what} needs {count} octets at octet {self.pos}, "
                f"only {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk


def parse_hex(pdu_hex: str) -> bytes:
    text = pdu_hex.strip()
    if not HEX_RE.fullmatch(text):
        raise PduError("PDU is not an even-length hex string")
    return bytes.fromhex(text)


def unpack_septets(data: bytes, count: int, start: int = 0) -> list[int]:
    """Septets ``start .. start+count-1`` of GSM-7 packed ``data``."""
    value = int.from_bytes(data, "little")
    return [(value >> (7 * i)) & 0x7F for i in range(start, start + count)]


def pack_septets(septets: list[int], start: int = 0) -> bytes:
    """Pack septets LSB-first, the first one at septet position ``start``."""
    value = 0
    for i, septet in enumerate(septets, start=start):
        value |= septet << (7 * i)
    return value.to_bytes((7 * (start + len(septets)) + 7) // 8, "little")


def decode_bcd(data: bytes, digits: int, where: str) -> str:
    out: list[str] = []
    for i in range(digits):
        nibble = (data[i // 2] >> (4 * (i % 2))) & 0x0F
        if nibble == BCD_FILLER:
            raise PduError(f"invalid semi-octet F inside {where}")
        out.append(BCD_DIGITS[nibble])
    if digits % 2 and data[-1] >> 4 != BCD_FILLER:
        raise PduError(f"{where}: odd-length address not padded with F")
    return "".join(out)


def swapped_bcd(octet: int, what: str) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise PduError(f"invalid semi-octet in {what}: {octet:02X}")
    return low * 10 + high


def bcd(digits: str) -> bytes:
    padded = digits + "F" if len(digits) % 2 else digits
    return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))


def check_octet(value: int, what: str) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} {value} is not an octet")
