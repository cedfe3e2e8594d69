"""USSD over ``AT+CUSD`` (3GPP TS 27.007 §7.15): the ``+CUSD`` line, its text, a family's requests.

Theory of operation
-------------------
A request goes out as ``AT+CUSD=1,"<str>",<dcs>``; the network answers with
``+CUSD: <m>[,<str>[,<dcs>]]``, usually unsolicited after the ``OK`` (some modems put it
before the ``OK``).  ``<m>`` says what the network wants next:

== ============================================================================
0  done: no further action
1  the network asks for more: answer with another ``AT+CUSD=1,...`` (same session)
2  the network ended the session (also what an idle session ends with)
3  another local client answered
4  operation not supported
5  the network timed out
== ============================================================================

``AT+CUSD=2`` cancels a session.  ``<dcs>`` is a Cell Broadcast data coding scheme (TS 23.038
§5): 15 is GSM-7 text, 72 UCS-2.  How ``<str>`` is written depends on the family, which its
profile says in its ``[ussd]`` table (:class:`UssdDialect`):

* SIMCom, Quectel and plain 27.007 modems take and give *text* in the TE character set
  (``AT+CSCS="GSM"`` first); UCS-2 answers come as hex of UTF-16BE whatever ``+CSCS``.
* A Huawei E1xx in its default mode wants the request as **packed GSM-7 hex**
  (``*100#`` is ``AA180C3602``) and answers GSM-7 the same way.

A text answer may hold line breaks; a modem that writes them as CR LF splits one ``+CUSD``
over several lines, which :class:`CusdAssembler` joins again.  Pure: no I/O, no threads, no
clocks (the runtime is :mod:`appliance.modem.ussdsession`, the simulated network answers in
:mod:`appliance.sim.ussd`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from appliance.sms.codec import gsm7_decode, gsm7_encode
from appliance.sms.pdufields.octets import pack_septets, unpack_septets

__all__ = [
    "CANCEL",
    "DCS_GSM7",
    "DCS_UCS2",
    "DEFAULT_BALANCE_PATTERN",
    "MAX_REQUEST_CHARS",
    "STATUS_NAMES",
    "Cusd",
    "CusdAssembler",
    "UssdDialect",
    "alphabet",
    "charset_command",
    "decode",
    "encode_request",
    "pack_gsm7_hex",
    "parse_cusd",
    "read_amount",
    "request_command",
    "request_problem",
    "ucs2_hex",
    "unpack_gsm7_hex",
]

STATUS_NAMES = {
    0: "done",
    1: "more",
    2: "ended",
    3: "other-client",
    4: "not-supported",
    5: "timeout",
}
DCS_GSM7 = 15  # GSM-7 default alphabet, language unspecified (TS 23.038 §5, group 0000)
DCS_UCS2 = 72  # 0x48: general data coding, UCS-2 (TS 23.038 §5, group 01xx)
DCS_GSM7_LANG = 0x10  # GSM-7, the text preceded by a language code and CR
DCS_UCS2_LANG = 0x11  # UCS-2, the text preceded by a language code in two GSM-7 septets
MAX_REQUEST_CHARS = 182  # a USSD string is 160 octets: 182 GSM-7 characters (TS 23.038 §6.1.2.3)
CANCEL = "AT+CUSD=2"
CR = 0x0D  # GSM-7 padding when 7 spare bits would read as '@' (TS 23.038 §6.1.2.3.1)
MAX_ASSEMBLED_LINES = 40  # lines one +CUSD may span before it is taken as broken

GSM7, OCTETS, UCS2 = "gsm7", "8bit", "ucs2"
REQUEST_MODES = ("text", "packed")
# The sum of money in a balance answer: its first group (-12.50, 151,25).
DEFAULT_BALANCE_PATTERN = r"(-?[0-9]+[.,][0-9]{2})"

# Characters a request may hold: printable ASCII whose GSM-7 code is its ASCII code, so it
# is the same byte in the "GSM" and "IRA" character sets, and no quote (it ends <str>).
_REQUEST_CHARS = frozenset(
    ch for ch in map(chr, range(0x20, 0x7F)) if ch != '"' and gsm7_decode([ord(ch)]) == ch
)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_CUSD = re.compile(
    r'^\+CUSD:\s*(\d+)\s*(?:,\s*(?:"(?P<quoted>.*)"|(?P<bare>[^",]*?))\s*(?:,\s*(?P<dcs>\d+))?)?\s*$',
    re.S,
)


@dataclasses.dataclass(frozen=True)
class UssdDialect:
    """A family's ``[ussd]`` table: how it wants requests written and writes answers."""

    request: str = "text"  # "text" (in +CSCS), or "packed": GSM-7 packed, as hex (Huawei)
    reply: str = "text"  # "text", or "packed": GSM-7 answers come as packed hex
    charset: str = "GSM"  # AT+CSCS="<charset>" before a request; "" leaves +CSCS alone
    dcs: int = DCS_GSM7  # the <dcs> of requests
    source: str = ""  # where this comes from (the family's AT manual)

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> UssdDialect:
        """Build from a profile's ``[ussd]`` table; ``ValueError`` names what is wrong."""
        if not isinstance(table, Mapping):
            raise ValueError("[ussd] must be a table")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ValueError(f"[ussd]: unknown keys {unknown}")
        d = cls(**dict(table))
        for key in ("request", "reply"):
            if getattr(d, key) not in REQUEST_MODES:
                raise ValueError(f"[ussd] {key} must be one of {REQUEST_MODES}")
        if not isinstance(d.charset, str) or not re.fullmatch(r"[A-Z0-9]*", d.charset):
            raise ValueError("[ussd] charset must be a +CSCS name such as GSM, or empty")
        if not isinstance(d.dcs, int) or isinstance(d.dcs, bool) or not 0 <= d.dcs <= 255:
            raise ValueError("[ussd] dcs must be an integer 0..255")
        if not isinstance(d.source, str):
            raise ValueError("[ussd] source must be a string")
        return d


@dataclasses.dataclass(frozen=True)
class Cusd:
    """One ``+CUSD: <m>[,<str>[,<dcs>]]``, as the modem wrote it."""

    status: int
    raw: str | None = None
    dcs: int | None = None

    @property
    def name(self) -> str:
        return STATUS_NAMES.get(self.status, f"status-{self.status}")


# -- the answer --------------------------------------------------------------------------------


def parse_cusd(line: str) -> Cusd | None:
    """``+CUSD: 1,"Menu",15`` -> ``Cusd(1, "Menu", 15)``; None if the line is not whole.

    A quote inside the string (modems do not escape them) stays in it: the string runs to
    the last quote.
    """
    m = _CUSD.match(line.strip("\r\n"))
    if m is None:
        return None
    raw = m.group("quoted")
    if raw is None and m.group("bare"):
        raw = m.group("bare")
    dcs = m.group("dcs")
    return Cusd(int(m.group(1)), raw, int(dcs) if dcs is not None else None)


def alphabet(dcs: int) -> str:
    """The alphabet of a CBS data coding scheme (TS 23.038 §5): gsm7, 8bit or ucs2."""
    group = dcs >> 4
    if group in (0x0, 0x2, 0x3):
        return GSM7
    if group == 0x1:
        return UCS2 if dcs == DCS_UCS2_LANG else GSM7
    if group in (0x4, 0x5, 0x6, 0x7, 0x9):
        if group != 0x9 and dcs & 0x20:
            return OCTETS  # compressed: shown as octets, not decompressed
        return {0: GSM7, 1: OCTETS, 2: UCS2}.get((dcs >> 2) & 0x03, GSM7)
    if group == 0xE:
        return OCTETS  # defined by the WAP Forum
    if group == 0xF:
        return OCTETS if dcs & 0x04 else GSM7
    return GSM7  # reserved groups: the default alphabet


def decode(cusd: Cusd, dialect: UssdDialect) -> str:
    """The text of an answer, by its DCS and the family's way of writing it."""
    raw = cusd.raw
    if raw is None:
        return ""
    dcs = DCS_GSM7 if cusd.dcs is None else cusd.dcs
    kind = alphabet(dcs)
    if kind == UCS2:
        return _ucs2(raw, skip_octets=2 if dcs == DCS_UCS2_LANG else 0)
    if kind == OCTETS:
        return _octets(raw)
    if dialect.reply == "packed" and _HEX.fullmatch(raw):
        text = unpack_gsm7_hex(raw)
    else:
        text = gsm_text(raw)
    if dcs == DCS_GSM7_LANG and len(text) >= 3 and text[2] == "\r":
        text = text[3:]  # "en\r" + the text (TS 23.038 §5)
    return text


def _ucs2(raw: str, skip_octets: int = 0) -> str:
    text = raw.strip()
    if not _HEX.fullmatch(text):
        return raw  # already text: a modem that converted it to the TE character set
    data = bytes.fromhex(text)[skip_octets:]
    if len(data) % 2:
        data = data[:-1]
    return data.decode("utf-16-be", errors="replace")


def _octets(raw: str) -> str:
    if not _HEX.fullmatch(raw.strip()):
        return raw
    data = bytes.fromhex(raw.strip())
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def gsm_text(raw: str) -> str:
    """Text a modem wrote in the "GSM" character set: the characters that are not ASCII in it.

    Printable ASCII is left as it is (most modems write ``$`` and ``@`` as ASCII); control
    characters other than CR and LF are GSM-7 codes (``\\x02`` is ``$``, ``\\x11`` ``_``), and
    ESC starts an extension character (``\\x1be`` is ``€``).
    """
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        code = ord(ch)
        if code == 0x1B and i + 1 < len(raw) and ord(raw[i + 1]) < 0x80:
            out.append(gsm7_decode([0x1B, ord(raw[i + 1])]))
            i += 2
            continue
        if code < 0x20 and ch not in "\r\n":
            out.append(gsm7_decode([code]))
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def unpack_gsm7_hex(hex_text: str) -> str:
    """Packed GSM-7 as hex (Huawei's USSD) -> text: ``AA180C3602`` -> ``*100#``."""
    data = bytes.fromhex(hex_text)
    count = len(data) * 8 // 7
    septets = unpack_septets(data, count)
    if len(data) % 7 == 0 and septets and septets[-1] in (CR, 0):
        septets = septets[:-1]  # 7 spare bits: the CR padding, or zeros that would read '@'
    return gsm7_decode(septets)


def pack_gsm7_hex(text: str) -> str:
    """Text -> packed GSM-7 as upper-case hex; ``ValueError`` for a character not in GSM-7."""
    septets = gsm7_encode(text)
    if len(septets) % 8 == 7:
        septets.append(CR)  # or the 7 spare bits of the last octet would read as '@'
    return pack_septets(septets).hex().upper()


def ucs2_hex(text: str) -> str:
    """Text -> hex of UTF-16BE, as modems show a UCS-2 answer (``<dcs>`` 72)."""
    return text.encode("utf-16-be").hex().upper()


# -- the request -------------------------------------------------------------------------------


def request_problem(text: str) -> str | None:
    """Why ``text`` cannot be a USSD request or answer (None: it can)."""
    if not text:
        return "empty: give a code such as *100# or the answer to a menu"
    if len(text) > MAX_REQUEST_CHARS:
        return f"longer than {MAX_REQUEST_CHARS} characters"
    bad = sorted({ch for ch in text if ch not in _REQUEST_CHARS})
    if bad:
        return (
            f"{''.join(bad)!r} cannot be sent: use digits, * and #, letters and plain"
            " punctuation (no quotes)"
        )
    return None


def encode_request(text: str, dialect: UssdDialect) -> str:
    """The ``<str>`` of a request: the text itself, or packed GSM-7 hex (Huawei)."""
    problem = request_problem(text)
    if problem is not None:
        raise ValueError(f"USSD request {text!r}: {problem}")
    return pack_gsm7_hex(text) if dialect.request == "packed" else text


def request_command(text: str, dialect: UssdDialect) -> str:
    """``AT+CUSD=1,"<str>",<dcs>`` for ``text`` on this family."""
    return f'AT+CUSD=1,"{encode_request(text, dialect)}",{dialect.dcs}'


def charset_command(dialect: UssdDialect) -> str | None:
    """The ``AT+CSCS`` a family needs before a request, or None."""
    return f'AT+CSCS="{dialect.charset}"' if dialect.charset else None


# -- split answers -----------------------------------------------------------------------------


class CusdAssembler:
    """Joins a ``+CUSD`` whose text held CR LF, so the modem wrote it over several lines.

    :meth:`feed` takes every line the modem wrote outside a command's response; it answers
    ``(mine, cusd)``: whether the line was part of a ``+CUSD``, and the whole one once the
    closing quote has come (or a broken one, its text as far as it came, after
    :data:`MAX_ASSEMBLED_LINES`).
    """

    def __init__(self) -> None:
        self._lines: list[str] = []

    @property
    def waiting(self) -> bool:
        return bool(self._lines)

    def feed(self, line: str) -> tuple[bool, Cusd | None]:
        if not self._lines:
            if not line.startswith("+CUSD:"):
                return False, None
            whole = parse_cusd(line)
            if whole is not None or '"' not in line:
                return True, whole or _broken(line)
            self._lines = [line]
            return True, None
        self._lines.append(line)
        joined = "\n".join(self._lines)
        whole = parse_cusd(joined)
        if whole is not None:
            self._lines = []
            return True, whole
        if len(self._lines) >= MAX_ASSEMBLED_LINES:
            self._lines = []
            return True, _broken(joined)
        return True, None


def _broken(text: str) -> Cusd:
    """A ``+CUSD`` that does not parse: its status if it has one, its text after the quote."""
    m = re.match(r"^\+CUSD:\s*(\d+)", text)
    status = int(m.group(1)) if m else 2
    raw = text.split('"', 1)[1] if '"' in text else None
    return Cusd(status, raw.rstrip('"') if raw is not None else None, None)


# -- the balance -------------------------------------------------------------------------------


def read_amount(text: str, pattern: str = DEFAULT_BALANCE_PATTERN) -> float | None:
    """The sum of money in an answer: the pattern's first group (or whole match), as a number.

    A decimal comma is read as a point (``151,25``); with both, the last one is the decimal
    mark (``1.234,56`` and ``1,234.56`` are both 1234.56).  ``re.error`` for a bad pattern.
    """
    m = re.search(pattern, text)
    if m is None:
        return None
    value = m.group(1) if m.groups() else m.group(0)
    if value is None:
        return None
    value = re.sub(r"[\s\u00a0\u202f']", "", value)
    if "," in value and "." in value:
        if value.rfind(",") > value.rfind("."):
            value = value.replace(".", "").replace(",", ".")
        else:
            value = value.replace(",", "")
    else:
        value = value.replace(",", ".")
    try:
        return float(value)
    except ValueError:
        return None
