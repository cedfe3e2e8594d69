"""PDU user data: the data coding scheme (TP-DCS), the user data header (concatenation), TP-UDL and TP-UD."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.sms.codec import Concat, Encoding, Segment, gsm7_decode, gsm7_encode
from appliance.sms.pdufields.octets import PduError, Reader, pack_septets, unpack_septets

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
    trailing: bytes  # octets after the TP-UDL-declared user data (ignored; for the caller to log)


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
    # Some operators declare a TP-UDL shorter than what they send (a missed-call alert 30
    # octets short); like gammu, decode by the declared length and return the excess.
    trailing = reader.rest()

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
    return UserData(text=text, concat=concat, raw=raw, trailing=trailing)


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
