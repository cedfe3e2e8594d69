"""3GPP TS 23.040 SMS PDU encoding and decoding (pure: no I/O, no threads, no clocks).

Theory of operation
-------------------
In PDU mode a modem exchanges hex-encoded TPDUs, optionally prefixed by the
SMSC address (``+CMT``/``+CMGL`` include it; ``AT+CMGS`` is sent ``00`` meaning
"use the modem's default SMSC").  A TPDU starts with a first octet whose two
low bits (TP-MTI) give its type; its meaning depends on direction:

* ``mt`` (network -> modem): ``00`` SMS-DELIVER, ``10`` SMS-STATUS-REPORT;
* ``mo`` (modem -> network): ``01`` SMS-SUBMIT.

Addresses are a length (in digits, or in semi-octets for alphanumeric), a
type-of-address octet (0x91 international, 0x81 national/unknown, 0xD0
alphanumeric) and nibble-swapped BCD digits padded with ``F`` (alphanumeric
addresses are packed GSM-7).  Timestamps are seven nibble-swapped BCD octets,
the last being the zone in quarter hours with its sign in bit 3.

The data coding scheme (TP-DCS, TS 23.038 section 4) selects GSM-7 (septets
packed LSB first), 8-bit data, or UCS-2 (UTF-16-BE; surrogate pairs decode to
real code points), and optionally a message class.  TP-UDL counts septets for
GSM-7 and octets otherwise.  When TP-UDHI is set the user data starts with a
User Data Header; for GSM-7 the text then starts at the next septet boundary
(fill bits).  The concatenation IEs 0x00 (8-bit reference) and 0x08 (16-bit
reference) are mapped to :class:`~appliance.sms.Concat`.

:func:`decode` validates structure strictly and raises only :class:`PduError`
for malformed input; content problems (a lone surrogate, an unknown escape)
are decoded leniently with replacement characters.  One structural slip is
tolerated because operators make it: octets after the user data that TP-UDL
declares are not an error; the message is decoded by the declared length and
the excess is returned in ``trailing`` for the caller to log.  Timestamps carry
a two-digit year: 70-99 read as 19xx, 00-69 as 20xx.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from appliance.sms.codec import Concat, Encoding, Segment
from appliance.sms.pdufields.address import (
    DEFAULT_SMSC,
    number_address,
    read_address,
    read_smsc,
    sender_address,
    smsc_part,
)
from appliance.sms.pdufields.header import (
    DEFAULT_VALIDITY,
    FO_MMS,
    FO_SRR,
    FO_UDHI,
    FO_VPF_ABSOLUTE,
    FO_VPF_ENHANCED,
    FO_VPF_MASK,
    FO_VPF_RELATIVE,
    MTI_DELIVER,
    MTI_MASK,
    MTI_STATUS_REPORT,
    MTI_SUBMIT,
    ST_DELIVERED_MAX,
    ST_PENDING_MAX,
)
from appliance.sms.pdufields.octets import PduError, Reader, check_octet, parse_hex
from appliance.sms.pdufields.timestamp import encode_timestamp, read_timestamp
from appliance.sms.pdufields.userdata import (
    DCS_CLASS_MASK,
    DCS_CLASS_PRESENT,
    encode_user_data,
    parse_dcs,
    read_user_data,
)

__all__ = [
    "Deliver",
    "PduError",
    "StatusReport",
    "Submit",
    "decode",
    "encode_deliver",
    "encode_status_report",
    "encode_submit",
    "status_category",
    "tpdu_length",
]


@dataclass(frozen=True)
class Deliver:
    """SMS-DELIVER (network -> modem)."""

    sender: str
    text: str
    scts: datetime.datetime
    concat: Concat | None
    encoding: Encoding | None  # None for 8-bit data
    message_class: int | None
    smsc: str | None
    pid: int
    raw_user_data: bytes  # the user data octets after the UDH
    trailing: bytes = b""  # octets after the declared TP-UDL (not part of the message)


@dataclass(frozen=True)
class Submit:
    """SMS-SUBMIT (modem -> network).

    ``validity`` is the relative TP-VP octet; it is ``None`` when absent and
    also for the (rare) enhanced and absolute formats, which are skipped.
    """

    destination: str
    text: str
    concat: Concat | None
    encoding: Encoding | None
    mr: int
    srr: bool
    validity: int | None
    trailing: bytes = b""  # octets after the declared TP-UDL (not part of the message)


@dataclass(frozen=True)
class StatusReport:
    """SMS-STATUS-REPORT; ``status`` is the raw TP-ST (see :func:`status_category`)."""

    mr: int
    recipient: str
    scts: datetime.datetime
    discharge: datetime.datetime
    status: int


# =============================================================================
# Decoding
# =============================================================================


def _decode_deliver(reader: Reader, first: int, smsc: str | None) -> Deliver:
    sender = read_address(reader, "TP-OA")
    pid = reader.octet("TP-PID")
    encoding, message_class = parse_dcs(reader.octet("TP-DCS"))
    scts = read_timestamp(reader, "TP-SCTS")
    ud = read_user_data(reader, encoding, bool(first & FO_UDHI))
    return Deliver(
        sender=sender,
        text=ud.text,
        scts=scts,
        concat=ud.concat,
        encoding=encoding,
        message_class=message_class,
        smsc=smsc,
        pid=pid,
        raw_user_data=ud.raw,
        trailing=ud.trailing,
    )


def _decode_status_report(reader: Reader) -> StatusReport:
    mr = reader.octet("TP-MR")
    recipient = read_address(reader, "TP-RA")
    scts = read_timestamp(reader, "TP-SCTS")
    discharge = read_timestamp(reader, "TP-DT")
    status = reader.octet("TP-ST")
    reader.rest()  # optional TP-PI / PID / DCS / UD are not needed
    return StatusReport(mr=mr, recipient=recipient, scts=scts, discharge=discharge, status=status)


def _decode_submit(reader: Reader, first: int) -> Submit:
    mr = reader.octet("TP-MR")
    destination = read_address(reader, "TP-DA")
    reader.octet("TP-PID")
    encoding, _message_class = parse_dcs(reader.octet("TP-DCS"))
    vpf = first & FO_VPF_MASK
    validity: int | None = None
    if vpf == FO_VPF_RELATIVE:
        validity = reader.octet("TP-VP")
    elif vpf in (FO_VPF_ENHANCED, FO_VPF_ABSOLUTE):
        reader.take(7, "TP-VP")
    ud = read_user_data(reader, encoding, bool(first & FO_UDHI))
    return Submit(
        destination=destination,
        text=ud.text,
        concat=ud.concat,
        encoding=encoding,
        mr=mr,
        srr=bool(first & FO_SRR),
        validity=validity,
        trailing=ud.trailing,
    )


def decode(
    pdu_hex: str, *, has_smsc: bool = True, direction: str = "mt"
) -> Deliver | StatusReport | Submit:
    """Decode a hex PDU.

    ``direction`` is ``"mt"`` (SMS-DELIVER or SMS-STATUS-REPORT) or ``"mo"``
    (SMS-SUBMIT).  Raises :class:`PduError` for any malformed input, and
    ``ValueError`` only for a bad ``direction`` argument.
    """
    if direction not in ("mt", "mo"):
        raise ValueError(f"direction must be 'mt' or 'mo', not {direction!r}")
    reader = Reader(parse_hex(pdu_hex))
    smsc = read_smsc(reader) if has_smsc else None
    first = reader.octet("first octet")
    mti = first & MTI_MASK
    if direction == "mt":
        if mti == MTI_DELIVER:
            return _decode_deliver(reader, first, smsc)
        if mti == MTI_STATUS_REPORT:
            return _decode_status_report(reader)
    elif mti == MTI_SUBMIT:
        return _decode_submit(reader, first)
    raise PduError(f"unsupported TP-MTI {mti:02b} for direction {direction!r}")


def tpdu_length(pdu_hex: str, *, has_smsc: bool = True) -> int:
    """Length in octets of the TPDU, i.e. excluding the SMSC part (the AT+CMGS length)."""
    data = parse_hex(pdu_hex)
    if not has_smsc:
        return len(data)
    if not data:
        raise PduError("truncated PDU: missing SMSC length at octet 0")
    smsc_part = 1 + data[0]
    if smsc_part > len(data):
        raise PduError(f"SMSC length {data[0]} exceeds the PDU ({len(data)} octets)")
    return len(data) - smsc_part


def status_category(tp_st: int) -> str:
    """Map TP-ST to "delivered", "pending" (temporary, SC still trying) or "undelivered".

    0x00-0x1F delivered; 0x20-0x3F pending; 0x40-0x7F (permanent error, or
    temporary error with the SC no longer trying) and reserved 0x80-0xFF
    undelivered.
    """
    if not 0 <= tp_st <= 0xFF:
        raise ValueError(f"TP-ST {tp_st} is not an octet")
    if tp_st <= ST_DELIVERED_MAX:
        return "delivered"
    if tp_st <= ST_PENDING_MAX:
        return "pending"
    return "undelivered"


# =============================================================================
# Encoding
# =============================================================================


def encode_submit(
    destination: str,
    segment: Segment,
    *,
    mr: int = 0,
    srr: bool = True,
    validity: int | None = DEFAULT_VALIDITY,
) -> tuple[str, int]:
    """Encode an SMS-SUBMIT for ``AT+CMGS``.

    Returns ``(hex, tpdu_octets)``: the hex starts with ``00`` (use the
    modem's default SMSC) and ``tpdu_octets`` excludes that octet, which is
    exactly the ``AT+CMGS=<n>`` argument.  ``destination`` must be
    ``+<digits>`` or ``<digits>`` (1-20 ASCII digits); anything else raises
    ``ValueError`` (AT-command injection defence).
    """
    address = number_address(destination, "destination")
    check_octet(mr, "TP-MR")
    if validity is not None:
        check_octet(validity, "TP-VP")
    alphabet, user_data = encode_user_data(segment)
    first = MTI_SUBMIT
    if validity is not None:
        first |= FO_VPF_RELATIVE
    if srr:
        first |= FO_SRR
    if segment.concat is not None:
        first |= FO_UDHI
    tpdu = bytearray((first, mr))
    tpdu += address
    tpdu += bytes((0x00, alphabet))  # TP-PID, TP-DCS
    if validity is not None:
        tpdu.append(validity)
    tpdu += user_data
    return "00" + tpdu.hex().upper(), len(tpdu)


def encode_deliver(
    sender: str,
    segment: Segment,
    *,
    scts: datetime.datetime,
    smsc: str | None = DEFAULT_SMSC,
    message_class: int | None = None,
) -> str:
    """Encode an SMS-DELIVER (as the network would send it), including the SMSC part.

    ``sender`` is ``+<digits>``, ``<digits>`` or an alphanumeric GSM-7 name of
    up to 11 characters.
    """
    address = sender_address(sender)
    alphabet, user_data = encode_user_data(segment)
    dcs = alphabet
    if message_class is not None:
        if not 0 <= message_class <= DCS_CLASS_MASK:
            raise ValueError(f"message class {message_class} outside 0-3")
        dcs |= DCS_CLASS_PRESENT | message_class
    first = MTI_DELIVER | FO_MMS
    if segment.concat is not None:
        first |= FO_UDHI
    tpdu = bytearray((first,))
    tpdu += address
    tpdu += bytes((0x00, dcs))  # TP-PID, TP-DCS
    tpdu += encode_timestamp(scts, "scts")
    tpdu += user_data
    return (smsc_part(smsc) + tpdu).hex().upper()


def encode_status_report(
    mr: int,
    recipient: str,
    *,
    scts: datetime.datetime,
    discharge: datetime.datetime,
    status: int,
    smsc: str | None = DEFAULT_SMSC,
) -> str:
    """Encode an SMS-STATUS-REPORT, including the SMSC part."""
    check_octet(mr, "TP-MR")
    check_octet(status, "TP-ST")
    tpdu = bytearray((MTI_STATUS_REPORT | FO_MMS, mr))
    tpdu += number_address(recipient, "recipient")
    tpdu += encode_timestamp(scts, "scts")
    tpdu += encode_timestamp(discharge, "discharge")
    tpdu.append(status)
    return (smsc_part(smsc) + tpdu).hex().upper()
