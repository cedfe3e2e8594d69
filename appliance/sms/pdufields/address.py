"""PDU addresses: TP-OA / TP-DA / TP-RA (numbers or alphanumeric) and the SMSC address."""

from __future__ import annotations

import re

from appliance.sms.codec import gsm7_decode, gsm7_encode
from appliance.sms.pdufields.octets import (
    BCD_FILLER,
    PduError,
    Reader,
    bcd,
    decode_bcd,
    pack_septets,
    unpack_septets,
)

# --- type of address ----------------------------------------------------------
TOA_INTERNATIONAL = 0x91
TOA_UNKNOWN_ISDN = 0x81
TOA_ALPHANUMERIC = 0xD0
TON_MASK = 0x70
TON_INTERNATIONAL = 0x10
TON_ALPHANUMERIC = 0x50
MAX_ADDRESS_DIGITS = 20
MAX_ALPHANUMERIC_CHARS = 11

DEFAULT_SMSC = "+447785016005"
NUMBER_RE = re.compile(rf"(\+?)([0-9]{{1,{MAX_ADDRESS_DIGITS}}})", re.ASCII)


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


def parse_number(number: str, what: str) -> tuple[int, str]:
    """("+digits" | "digits") -> (TOA, digits); ValueError for anything else."""
    match = NUMBER_RE.fullmatch(number)
    if match is None:
        raise ValueError(
            f"{what} {number!r} must be '+' and/or 1-{MAX_ADDRESS_DIGITS} ASCII digits"
        )
    toa = TOA_INTERNATIONAL if match.group(1) else TOA_UNKNOWN_ISDN
    return toa, match.group(2)


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
