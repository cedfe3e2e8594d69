"""PDU timestamps (TP-SCTS, TP-DT): seven swapped-BCD octets, the last the zone in quarter hours."""

from __future__ import annotations

import datetime

from appliance.sms.pdufields.octets import PduError, Reader, swapped_bcd

SCTS_OCTETS = 7
TZ_SIGN_BIT = 0x08
QUARTER_HOUR = datetime.timedelta(minutes=15)
MAX_TZ_QUARTERS = 79  # two BCD digits, the top bit of the tens digit being the sign
SCTS_CENTURY = 2000


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
