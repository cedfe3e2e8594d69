"""PDU timestamps (TP-SCTS, TP-DT): seven swapped-BCD octets, the last the zone in quarter hours."""

from __future__ import annotations

import datetime

from appliance.sms.pdufields.octets import PduError, Reader, swapped_bcd

SCTS_OCTETS = 7
TZ_SIGN_BIT = 0x08
QUARTER_HOUR = datetime.timedelta(minutes=15)
MAX_TZ_QUARTERS = 79  # two BCD digits, the top bit of the tens digit being the sign
# Two-digit years (TS 23.040 9.2.3.11 gives no century): 70-99 read as 1970-1999 and
# 00-69 as 2000-2069, the usual pivot (gammu, POSIX strptime %y).
SCTS_PIVOT = 70  # two-digit years from here up are 19xx, below it 20xx
SCTS_FIRST_YEAR = 1900 + SCTS_PIVOT  # 1970
SCTS_LAST_YEAR = 2000 + SCTS_PIVOT - 1  # 2069


def read_timestamp(reader: Reader, what: str) -> datetime.datetime:
    raw = reader.take(SCTS_OCTETS, what)
    year, month, day, hour, minute, second = (swapped_bcd(o, what) for o in raw[:6])
    tz_octet = raw[6]
    negative = bool(tz_octet & TZ_SIGN_BIT)
    quarters = swapped_bcd(tz_octet & ~TZ_SIGN_BIT, f"{what} zone")
    offset = QUARTER_HOUR * (-quarters if negative else quarters)
    century = 1900 if year >= SCTS_PIVOT else 2000
    try:
        return datetime.datetime(
            century + year,
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
    if not SCTS_FIRST_YEAR <= when.year <= SCTS_LAST_YEAR:
        raise ValueError(f"{what} year {when.year} not representable")
    fields = (
        when.year % 100,
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
