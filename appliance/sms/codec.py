"""SMS text encoding and segmentation (pure: no I/O, no threads, no clocks).

Theory of operation
-------------------
An SMS carries at most 140 octets of user data.  Text is carried either in the
GSM 03.38 (3GPP TS 23.038) 7-bit default alphabet -- 160 septets packed into
140 octets -- or in UCS-2, where each UTF-16 code unit takes two octets (70
units).  Characters from the GSM "extension table" (``€ [ ] { } ~ ^ \\ |`` and
form feed) cost two septets: the escape septet ``0x1B`` followed by the
extension code.  Characters outside the BMP (emoji) cost two UTF-16 units (a
surrogate pair).

A message is encoded in GSM-7 only if *every* character is representable;
otherwise the whole message is sent as UCS-2 (that is what handsets and Twilio
do, and it is why one emoji turns a 160-character message into three
segments).

Longer messages are split into concatenated segments, each of which carries a
User Data Header (UDH) with a concatenation information element.  The 8-bit
reference IE (IEI 0x00, 6 octet UDH) leaves 153 septets or 67 UCS-2 units per
segment; the 16-bit reference IE (IEI 0x08, 7 octet UDH, used when ``ref`` >
255) leaves 152 septets or 66 units.  A split never separates an escape pair
or a surrogate pair, so every segment is independently decodable.

Twilio limits bodies to 1600 characters (code points); longer bodies raise
:class:`BodyTooLong` carrying Twilio's error code 21617.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "MAX_BODY_CHARS",
    "BodyTooLong",
    "Concat",
    "Encoding",
    "Segment",
    "count_segments",
    "encoding_for",
    "gsm7_decode",
    "gsm7_encode",
    "is_gsm7",
    "reassemble",
    "septet_length",
    "split",
]


class Encoding(enum.Enum):
    """Character encoding of an SMS segment."""

    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


MAX_BODY_CHARS = 1600
"""Twilio's body limit, counted in characters (code points)."""

#: Septet capacity of a single (non-concatenated) GSM-7 message.
GSM7_SINGLE_SEPTETS = 160
#: Septet capacity of one segment with an 8-bit-reference concat UDH (6 octets = 7 septets).
GSM7_MULTI_SEPTETS = 153
#: Septet capacity of one segment with a 16-bit-reference concat UDH (7 octets = 8 septets).
GSM7_MULTI_SEPTETS_16BIT_REF = 152
#: UTF-16 code unit capacity of a single UCS-2 message (140 octets).
UCS2_SINGLE_UNITS = 70
#: UTF-16 code unit capacity of one segment with an 8-bit-reference concat UDH.
UCS2_MULTI_UNITS = 67
#: UTF-16 code unit capacity of one segment with a 16-bit-reference concat UDH.
UCS2_MULTI_UNITS_16BIT_REF = 66

#: Largest reference that fits the 8-bit concat IE (IEI 0x00).
MAX_REF_8BIT = 0xFF
#: Largest reference that fits the 16-bit concat IE (IEI 0x08).
MAX_REF_16BIT = 0xFFFF
#: The concat IE counts segments in one octet.
MAX_SEGMENTS = 255

#: The escape septet that introduces an extension-table character.
ESCAPE = 0x1B
#: Character shown for the reserved double escape (0x1B 0x1B) and a dangling escape.
_ESCAPE_FALLBACK = " "

# GSM 03.38 default alphabet, indexed by septet value.  0x1B is the escape and
# is represented by a placeholder that never appears in the encode map.
_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x00ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(_BASIC_TABLE) == 128

# GSM 03.38 extension table: septet following ESCAPE -> character.
_EXTENSION_TABLE: dict[int, str] = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

_BASIC_ENCODE: dict[str, int] = {ch: i for i, ch in enumerate(_BASIC_TABLE) if i != ESCAPE}
_EXTENSION_ENCODE: dict[str, int] = {ch: code for code, ch in _EXTENSION_TABLE.items()}
_GSM7_CHARS = frozenset(_BASIC_ENCODE).union(_EXTENSION_ENCODE)  # either table: GSM-7


class BodyTooLong(ValueError):
    """The body exceeds Twilio's 1600 character limit (Twilio error 21617)."""

    code = 21617

    def __init__(
        self,
        message: str = "The concatenated message body exceeds the 1600 character limit.",
    ) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class Concat:
    """Concatenation info: ``seq`` is 1-based; ``ref`` 0-255 (IEI 0x00) or 0-65535 (IEI 0x08)."""

    ref: int
    total: int
    seq: int


@dataclass(frozen=True)
class Segment:
    """One SMS worth of text."""

    text: str  # the characters carried by this segment
    encoding: Encoding
    concat: Concat | None  # None for a single-segment message


def is_gsm7(text: str) -> bool:
    """True if every character is in the GSM 03.38 default alphabet or extension table."""
    return _GSM7_CHARS.issuperset(text)


def encoding_for(text: str) -> Encoding:
    """GSM-7 if the whole text is representable in it, else UCS-2."""
    return Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2


def _char_septets(ch: str) -> int:
    return 2 if ch in _EXTENSION_ENCODE else 1


def septet_length(text: str) -> int:
    """Number of septets ``text`` takes in GSM-7; extension characters count 2.

    Characters outside the GSM alphabet are counted as 1 (the caller should
    check :func:`is_gsm7` first; :func:`gsm7_encode` rejects them).
    """
    return len(text) + sum(map(text.count, _EXTENSION_ENCODE))


def _utf16_units(ch: str) -> int:
    return 2 if ord(ch) > 0xFFFF else 1


def _chunk(text: str, cost_of: Callable[[str], int], capacity: int) -> list[str]:
    """Greedily cut ``text`` into chunks whose cost is <= capacity, never splitting a char."""
    chunks: list[str] = []
    start = 0
    used = 0
    for i, ch in enumerate(text):
        cost = cost_of(ch)
        if used + cost > capacity:
            chunks.append(text[start:i])
            start = i
            used = 0
        used += cost
    chunks.append(text[start:])
    return chunks


def _plan(text: str, ref: int) -> tuple[Encoding, list[str]]:
    encoding = encoding_for(text)
    wide_ref = ref > MAX_REF_8BIT
    if encoding is Encoding.GSM7:
        if septet_length(text) <= GSM7_SINGLE_SEPTETS:
            return encoding, [text]
        capacity = GSM7_MULTI_SEPTETS_16BIT_REF if wide_ref else GSM7_MULTI_SEPTETS
        return encoding, _chunk(text, _char_septets, capacity)
    if sum(_utf16_units(ch) for ch in text) <= UCS2_SINGLE_UNITS:
        return encoding, [text]
    capacity = UCS2_MULTI_UNITS_16BIT_REF if wide_ref else UCS2_MULTI_UNITS
    return encoding, _chunk(text, _utf16_units, capacity)


def split(text: str, ref: int = 0) -> list[Segment]:
    """Split ``text`` into SMS segments.

    Raises :class:`BodyTooLong` if ``len(text) > MAX_BODY_CHARS`` and
    ``ValueError`` if ``ref`` is outside 0-65535.  A ``ref`` above 255 selects
    the 16-bit concat IE, which costs one UDH octet, so segments then carry 152
    septets / 66 UCS-2 units instead of 153 / 67.
    """
    if len(text) > MAX_BODY_CHARS:
        raise BodyTooLong()
    if not 0 <= ref <= MAX_REF_16BIT:
        raise ValueError(f"concat reference {ref} outside 0-{MAX_REF_16BIT}")
    encoding, chunks = _plan(text, ref)
    if len(chunks) == 1:
        return [Segment(text=text, encoding=encoding, concat=None)]
    total = len(chunks)
    if total > MAX_SEGMENTS:  # pragma: no cover - unreachable within MAX_BODY_CHARS
        raise BodyTooLong()
    return [
        Segment(text=chunk, encoding=encoding, concat=Concat(ref=ref, total=total, seq=i))
        for i, chunk in enumerate(chunks, start=1)
    ]


def count_segments(text: str) -> int:
    """Number of segments :func:`split` produces (with an 8-bit reference).

    Unlike :func:`split` this does not raise for bodies over the limit, so it
    can be used to report the size of an over-long body.
    """
    return len(_plan(text, 0)[1])


def gsm7_encode(text: str) -> list[int]:
    """Septet values for ``text`` (escape + code for extension characters).

    Raises ``ValueError`` naming the first character that is not GSM-7.
    """
    septets: list[int] = []
    for index, ch in enumerate(text):
        basic = _BASIC_ENCODE.get(ch)
        if basic is not None:
            septets.append(basic)
            continue
        extension = _EXTENSION_ENCODE.get(ch)
        if extension is None:
            raise ValueError(f"character {ch!r} at index {index} is not in the GSM-7 alphabet")
        septets.extend((ESCAPE, extension))
    return septets


def gsm7_decode(septets: Sequence[int]) -> str:
    """Decode septet values to text; never raises.

    Values are masked to 7 bits.  An escape followed by a code with no
    extension character decodes to the base-table character for that code (TS
    23.038 6.2.1.1); a double escape or a dangling escape at the end decodes to
    a space.
    """
    out: list[str] = []
    escaped = False
    for raw in septets:
        value = raw & 0x7F
        if escaped:
            escaped = False
            if value == ESCAPE:
                out.append(_ESCAPE_FALLBACK)
            else:
                out.append(_EXTENSION_TABLE.get(value, _BASIC_TABLE[value]))
        elif value == ESCAPE:
            escaped = True
        else:
            out.append(_BASIC_TABLE[value])
    if escaped:
        out.append(_ESCAPE_FALLBACK)
    return "".join(out)


def reassemble(parts: Mapping[int, str], total: int) -> tuple[str, list[int]]:
    """Join ``parts`` (keyed by 1-based seq) in order; also return the sorted missing seqs.

    Keys outside ``1..total`` are ignored.
    """
    present = [seq for seq in range(1, total + 1) if seq in parts]
    missing = [seq for seq in range(1, total + 1) if seq not in parts]
    return "".join(parts[seq] for seq in present), missing
