"""The fields a TS 23.040 PDU is made of: addresses, timestamps, septets, DCS, UDH, user data.

Readers take a :class:`Reader` over the PDU octets and raise :class:`PduError`
on anything malformed; writers build the octets and raise ``ValueError`` for
values that cannot be encoded.  :mod:`appliance.pdu` assembles whole messages
from them.  Pure: no I/O, no threads, no clocks.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from appliance.sms.codec import Concat, Encoding, Segment, gsm7_decode, gsm7_encode

# --- TP-MTI (first octet, bits 1-0) -------------------------------------------
MTI_MASK = 0x03
MTI_DELIVER = 0x00
MTI_SUBMIT = 0x01
MTI_STATUS_REPORT = 0x02

# --- other first-octet bits ---------------------------------------------------
FO_MMS = 0x04  # SMS-DELIVER / STATUS-REPORT: TP-More-Messages-to-Send (1 = no more)
FO_VPF_MASK = 0x18  # SMS-SUBMIT: TP-Validity-Period-Format
FO_VPF_NONE = 0x00
FO_VPF_ENHANCED = 0x08
FO_VPF_RELATIVE = 0x10
FO_VPF_ABSOLUTE = 0x18
FO_SRR = 0x20  # SMS-SUBMIT: status report request
FO_UDHI = 0x40  # user data header indicator

# --- type of address ----------------------------------------------------------
TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN_ISDN = 0x81
TOA_ALPHANUMERIC = 0xD0
TON_MASK = 0x70
TON_INTERNATIONAL = 0x10
TON_ALPHANUMERIC = 0x50
MAX_ADDRESS_DIGITS = 20
MAX_ALPHANUMERIC_CHARS = 11

# --- data coding scheme -------------------------------------------------------
DCS_GSM7 = 0x00
DCS_UCS2 = 0x08
DCS_CLASS_PRESENT = 0x10  # general data coding group: bits 1-0 are the message class
DCS_ALPHABET_MASK = 0x0C
DCS_ALPHABET_GSM7 = 0x00
DCS_ALPHABET_8BIT = 0x04
DCS_ALPHABET_UCS2 = 0x08
DCS_COMPRESSED = 0x20
DCS_CLASS_MASK = 0x03

# --- user data ----------------------------------------------------------------
MAX_UD_OCTETS = 140
MAX_UD_SEPTETS = 160
IEI_CONCAT_8BIT = 0x00
IEI_CONCAT_16BIT = 0x08
IEDL_CONCAT_8BIT = 3
IEDL_CONCAT_16BIT = 4

SCTS_OCTETS = 7
TZ_SIGN_BIT = 0x08
QUARTER_HOUR = datetime.timedelta(minutes=15)
MAX_TZ_QUARTERS = 79  # two BCD digits, the top bit of the tens digit being the sign
SCTS_CENTURY = 2000

DEFAULT_SMSC = "+447785016005"
DEFAULT_VALIDITY = 0xA7  # relative: 24 hours

# TP-ST ranges (TS 23.040 9.2.3.15).
ST_DELIVERED_MAX = 0x1F
ST_PENDING_MAX = 0x3F

BCD_DIGITS = "0123456789*#abc"  # semi-octet values 0-14; 15 (F) is the filler
BCD_FILLER = 0xF
HEX_RE = re.compile(r"(?:[0-9A-Fa-f]{2})*")
NUMBER_RE = re.compile(rf"(\+?)([0-9]{{1,{MAX_ADDRESS_DIGITS}}})", re.ASCII)


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


def format_number(toa: int, digits: str) -> str:
    if toa & TON_MASK == TON_INTERNATIONAL and digits:
        return "+" + digits
    return digits


def read_address(reader: Reader, what: str) -> str:
    """TP-OA / TP-DA / TP-RA: length in semi-octets, TOA, value."""
    length = reader.octet(f"{what} length")
    if length > MAX_ADDRESS_DIGITS:
        raise PduError(f"{what} length {length} exceeds {MAX_ADDRESS_DIGITS} semi-octets")
    toa = reader.octet(f"{what} type")
    value = reader.take((length + 1) // 2, what)
    if toa & TON_MASK == TON_ALPHANUMERIC:
        return gsm7_decode(unpack_septets(value, length * 4 // 7))
    return format_number(toa, decode_bcd(value, length, what))


def read_smsc(reader: Reader) -> str | None:
    """SMSC information: length in octets (including TOA), TOA, BCD."""
    length = reader.octet("SMSC length")
    if length == 0:
        return None
    if length > 1 + MAX_ADDRESS_DIGITS // 2:
        raise PduError(f"SMSC length {length} too long")
    toa = reader.octet("SMSC type")
    value = reader.take(length - 1, "SMSC address")
    digits = 2 * len(value)
    if value and value[-1] >> 4 == BCD_FILLER:
        digits -= 1
    return format_number(toa, decode_bcd(value, digits, "SMSC address"))


def swapped_bcd(octet: int, what: str) -> int:
    low, high = octet & 0x0F, octet >> 4
    if low > 9 or high > 9:
        raise PduError(f"invalid semi-octet in {what}: {octet:02X}")
    return low * 10 + high


def read_timestamp(reader: Reader, what: str) -> datetime.datetime:
    raw = reader.take(SCTS_OCTETS, what)
    year, month, day, hour, minute, second = (swapped_bcd(o, what) for o in raw[:6])
    tz_octet = raw[6]
    negative = bool(tz_octet & TZ_SIGN_BIT)
    quarters = swapped_bcd(tz_octet & ~TZ_SIGN_BIT, f"{what} zone")
    offset = QUARTER_HOUR * (-quarters if negative else quarters)
    try:
        return datetime.datetime(
            SCTS_CENTURY + year,
            month,
            day,
            hour,
            minute,
            second,
            tzinfo=datetime.timezone(offset),
        )
    except ValueError as exc:
        raise PduError(f"invalid {what}: {exc}") from None


def parse_dcs(dcs: int) -> tuple[Encoding | None, int | None]:
    """(encoding, message_class) per TS 23.038 section 4; None encoding = 8-bit data."""
    group = dcs >> 4
    if group <= 0x7:  # 00xx general / 01xx marked for automatic deletion
        message_class = dcs & DCS_CLASS_MASK if dcs & DCS_CLASS_PRESENT else None
        if dcs & DCS_COMPRESSED:
            return None, message_class  # compressed: not decodable, expose raw octets
        alphabet = dcs & DCS_ALPHABET_MASK
        if alphabet == DCS_ALPHABET_8BIT:
            return None, message_class
        if alphabet == DCS_ALPHABET_UCS2:
            return Encoding.UCS2, message_class
        return Encoding.GSM7, message_class  # 00 and reserved 11 -> GSM-7
    if group in (0xC, 0xD):  # message waiting indication, discard / store, GSM-7
        return Encoding.GSM7, None
    if group == 0xE:  # message waiting indication, store, UCS-2
        return Encoding.UCS2, None
    if group == 0xF:  # data coding / message class
        encoding = None if dcs & DCS_ALPHABET_8BIT else Encoding.GSM7
        return encoding, dcs & DCS_CLASS_MASK
    return Encoding.GSM7, None  # reserved groups 1000-1011: assume GSM-7


def parse_udh(udh: bytes) -> Concat | None:
    """Walk the information elements; return the concat IE if present and valid."""
    concat: Concat | None = None
    pos = 0
    while pos < len(udh):
        if pos + 2 > len(udh):
            raise PduError(f"UDH information element header truncated at UDH octet {pos}")
        iei, iedl = udh[pos], udh[pos + 1]
        data = udh[pos + 2 : pos + 2 + iedl]
        if len(data) != iedl:
            raise PduError(f"UDH information element {iei:02X} overruns the UDH")
        pos += 2 + iedl
        if iei == IEI_CONCAT_8BIT:
            if iedl != IEDL_CONCAT_8BIT:
                raise PduError(f"concat IE 00 has length {iedl}, expected {IEDL_CONCAT_8BIT}")
            ref, total, seq = data[0], data[1], data[2]
        elif iei == IEI_CONCAT_16BIT:
            if iedl != IEDL_CONCAT_16BIT:
                raise PduError(f"concat IE 08 has length {iedl}, expected {IEDL_CONCAT_16BIT}")
            ref, total, seq = (data[0] << 8) | data[1], data[2], data[3]
        else:
            continue
        # TS 23.040 9.2.3.24.1: ignore the IE if total is 0 or seq is out of range.
        if total and 1 <= seq <= total:
            concat = Concat(ref=ref, total=total, seq=seq)
    return concat


@dataclass(frozen=True)
class UserData:
    text: str
    concat: Concat | None
    raw: bytes


def read_user_data(reader: Reader, encoding: Encoding | None, udhi: bool) -> UserData:
    udl = reader.octet("TP-UDL")
    if encoding is Encoding.GSM7:
        if udl > MAX_UD_SEPTETS:
            raise PduError(f"TP-UDL {udl} exceeds {MAX_UD_SEPTETS} septets")
        octets = (udl * 7 + 7) // 8
    else:
        if udl > MAX_UD_OCTETS:
            raise PduError(f"TP-UDL {udl} exceeds {MAX_UD_OCTETS} octets")
        octets = udl
    start = reader.pos
    if start + octets > len(reader.data):
        raise PduError(
            f"TP-UDL {udl} needs {octets} octets at octet {start}, "
            f"only {len(reader.data) - start} present"
        )
    ud = reader.take(octets, "user data")
    if reader.pos != len(reader.data):
        raise PduError(f"{len(reader.data) - reader.pos} trailing octets after user data")

    concat: Concat | None = None
    header_octets = 0
    if udhi:
        if not ud:
            raise PduError("TP-UDHI set but user data is empty")
        udhl = ud[0]
        header_octets = udhl + 1
        if header_octets > len(ud):
            raise PduError(f"UDH length {udhl} exceeds user data ({len(ud)} octets)")
        concat = parse_udh(ud[1:header_octets])
    raw = ud[header_octets:]

    if encoding is Encoding.GSM7:
        first_septet = (header_octets * 8 + 6) // 7
        if first_septet > udl:
            raise PduError(f"UDH ({header_octets} octets) longer than TP-UDL {udl} septets")
        text = gsm7_decode(unpack_septets(ud, udl - first_septet, first_septet))
    elif encoding is Encoding.UCS2:
        text = raw.decode("utf-16-be", errors="replace")
    else:
        text = raw.decode("latin-1")
    return UserData(text=text, concat=concat, raw=raw)


def parse_number(number: str, what: str) -> tuple[int, str]:
    """("+digits" | "digits") -> (TOA, digits); ValueError for anything else."""
    match = NUMBER_RE.fullmatch(number)
    if match is None:
        raise ValueError(
            f"{what} {number!r} must be '+' and/or 1-{MAX_ADDRESS_DIGITS} ASCII digits"
        )
    toa = TOA_INTERNATIONAL if match.group(1) else TOA_UNKNOWN_ISDN
    return toa, match.group(2)


def bcd(digits: str) -> bytes:
    padded = digits + "F" if len(digits) % 2 else digits
    return bytes(int(padded[i + 1] + padded[i], 16) for i in range(0, len(padded), 2))


def number_address(number: str, what: str) -> bytes:
    toa, digits = parse_number(number, what)
    return bytes((len(digits), toa)) + bcd(digits)


def sender_address(sender: str) -> bytes:
    if NUMBER_RE.fullmatch(sender):
        return number_address(sender, "sender")
    if not sender or len(sender) > MAX_ALPHANUMERIC_CHARS:
        raise ValueError(f"alphanumeric sender {sender!r} must be 1-{MAX_ALPHANUMERIC_CHARS} chars")
    septets = gsm7_encode(sender)
    if len(septets) > MAX_ALPHANUMERIC_CHARS:
        raise ValueError(f"alphanumeric sender {sender!r} exceeds {MAX_ALPHANUMERIC_CHARS} septets")
    packed = pack_septets(septets)
    semi_octets = (len(septets) * 7 + 3) // 4
    return bytes((semi_octets, TOA_ALPHANUMERIC)) + packed


def smsc_part(smsc: str | None) -> bytes:
    if smsc is None:
        return b"\x00"
    toa, digits = parse_number(smsc, "SMSC")
    body = bytes((toa,)) + bcd(digits)
    return bytes((len(body),)) + body


def encode_timestamp(when: datetime.datetime, what: str) -> bytes:
    offset = when.utcoffset()
    if offset is None:
        raise ValueError(f"{what} must be timezone-aware")
    quarters, remainder = divmod(offset, QUARTER_HOUR)
    if remainder or abs(quarters) > MAX_TZ_QUARTERS:
        raise ValueError(f"{what} zone {offset} is not a whole quarter hour within ±19:45")
    if not SCTS_CENTURY <= when.year < SCTS_CENTURY + 100:
        raise ValueError(f"{what} year {when.year} not representable")
    fields = (
        when.year - SCTS_CENTURY,
        when.month,
        when.day,
        when.hour,
        when.minute,
        when.second,
    )
    out = bytearray((value % 10) << 4 | value // 10 for value in fields)
    magnitude = abs(quarters)
    tz = (magnitude % 10) << 4 | magnitude // 10
    out.append(tz | TZ_SIGN_BIT if quarters < 0 else tz)
    return bytes(out)


def udh(concat: Concat | None) -> bytes:
    if concat is None:
        return b""
    if not 1 <= concat.total <= 0xFF or not 1 <= concat.seq <= concat.total:
        raise ValueError(f"invalid concat {concat}")
    if 0 <= concat.ref <= 0xFF:
        ie = bytes((IEI_CONCAT_8BIT, IEDL_CONCAT_8BIT, concat.ref, concat.total, concat.seq))
    elif concat.ref <= 0xFFFF:
        ie = bytes(
            (
                IEI_CONCAT_16BIT,
                IEDL_CONCAT_16BIT,
                concat.ref >> 8,
                concat.ref & 0xFF,
                concat.total,
                concat.seq,
            )
        )
    else:
        raise ValueError(f"concat reference {concat.ref} outside 0-65535")
    return bytes((len(ie),)) + ie


def encode_user_data(segment: Segment) -> tuple[int, bytes]:
    """(TP-DCS alphabet bits, TP-UDL + TP-UD octets) for a segment."""
    header = udh(segment.concat)
    if segment.encoding is Encoding.GSM7:
        septets = gsm7_encode(segment.text)
        first_septet = (len(header) * 8 + 6) // 7
        udl = first_septet + len(septets)
        if udl > MAX_UD_SEPTETS:
            raise ValueError(f"segment needs {udl} septets, more than {MAX_UD_SEPTETS}")
        body = bytearray(pack_septets(septets, first_septet))
        body[: len(header)] = header  # the septets start after the header and fill bits
        return DCS_ALPHABET_GSM7, bytes((udl,)) + bytes(body)
    payload = header + segment.text.encode("utf-16-be", errors="surrogatepass")
    if len(payload) > MAX_UD_OCTETS:
        raise ValueError(f"segment needs {len(payload)} octets, more than {MAX_UD_OCTETS}")
    return DCS_ALPHABET_UCS2, bytes((len(payload),)) + payload


def check_octet(value: int, what: str) -> None:
    if not 0 <= value <= 0xFF:
        raise ValueError(f"{what} {value} is not an octet")
