"""The PHP rules the classic twimlets relied on, so the same URLs give the same TwiML.  Pure.

The twimlets were PHP scripts: their parameters went through PHP's query parsing
(``PhoneNumbers[]=a&PhoneNumbers[]=b`` is a list, ``Options[1]=url`` a map, a bare
``PhoneNumbers=a`` a string), their tests through PHP's truthiness and ``trim``, their
URLs through ``urlencode``, and Simulring's numbers through ``sort``, which compares two
numeric strings as numbers.  This module has those rules, and :class:`Params`, a
request's parameters as the scripts saw them: ``$_GET`` (the query string) and
``$_REQUEST`` (the query string, then the POST body over it).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from urllib.parse import quote_plus

__all__ = [
    "Params",
    "Value",
    "loose_equal",
    "parse_pairs",
    "sort_strings",
    "stripslashes",
    "trim",
    "truthy",
    "urlencode",
]

#: One parameter as PHP parsed it: a string, or an ordered map (``name[key]=…``).
Value = str | dict[str, str]

_TRIMMED = " \t\n\r\0\x0b"  # what PHP's trim() strips
_WHITESPACE = " \t\n\r\x0b\x0c"  # what a PHP numeric string may lead or trail with
_NUMERIC = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT_KEY = re.compile(r"0|-?[1-9][0-9]*")
_INT64 = 2**63


def trim(s: str) -> str:
    """PHP ``trim()``."""
    return s.strip(_TRIMMED)


def truthy(s: str | None) -> bool:
    """PHP's truth of a request string: set, not empty and not ``"0"``."""
    return bool(s) and s != "0"


def urlencode(s: str) -> str:
    """PHP ``urlencode()``: a space is ``+``, everything but ``A-Za-z0-9-_.`` is %XX."""
    return quote_plus(s, safe="").replace("~", "%7E")


def stripslashes(s: str) -> str:
    """PHP ``stripslashes()``: drop each backslash, keep the character it escapes
    (``\\\\`` is one backslash; ``\\0``, a NUL byte in PHP, is dropped: XML cannot carry it)."""
    out: list[str] = []
    escaped = False
    for ch in s:
        if escaped:
            out.append("" if ch == "0" else ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


def _number(s: str) -> Decimal | None:
    """The value of a PHP numeric string, or None if ``s`` is not one."""
    core = s.strip(_WHITESPACE)
    if not _NUMERIC.fullmatch(core):
        return None
    try:
        return Decimal(core)
    except InvalidOperation:
        return None


def _compare(a: str, b: str) -> int:
    """PHP's ``<=>`` of two strings: as numbers when both are numeric, else byte by byte."""
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    ab, bb = a.encode("utf-8"), b.encode("utf-8")
    return (ab > bb) - (ab < bb)


def loose_equal(a: str, b: str) -> bool:
    """PHP ``==`` of two strings (``in_array()`` without strict): ``"+14155551212"`` equals
    ``"14155551212"``, as both are numeric."""
    return _compare(a, b) == 0


def sort_strings(values: Iterable[str]) -> list[str]:
    """PHP ``sort()`` of strings (SORT_REGULAR, stable as in PHP 8)."""
    return sorted(values, key=functools.cmp_to_key(_compare))


def _key(raw: str) -> str:
    """A PHP array key as written: an integer-like key in its canonical form."""
    if _INT_KEY.fullmatch(raw) and -_INT64 <= int(raw) < _INT64:
        return str(int(raw))
    return raw


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Value]:
    """Decoded ``name=value`` pairs as PHP's ``parse_str`` keeps them, one level deep:
    ``a[]=x`` appends, ``a[k]=x`` sets key ``k``, a later plain ``a=x`` replaces the map.
    A name with ``[`` but no closing ``]`` is a plain name, as in PHP."""
    out: dict[str, Value] = {}
    for name, value in pairs:
        base, bracket, rest = name.partition("[")
        close = rest.find("]")
        if not bracket or close < 0 or not base:
            out[name] = value
            continue
        sub = rest[:close]
        current = out.get(base)
        array = current if isinstance(current, dict) else {}
        if sub == "":
            ints = [int(k) for k in array if _INT_KEY.fullmatch(k)]
            sub = str(max(max(ints) + 1, 0) if ints else 0)
        array[_key(sub)] = value
        out[base] = array
    return out


class Params:
    """A request's parameters as a twimlet saw them.

    ``get(name)`` is ``$_GET[name]`` (the query string only), ``request(name)`` is
    ``$_REQUEST[name]`` (the query string, then the POST body over it: a map merges, a
    string replaces).  A missing parameter is None; ``string()`` and ``strings()`` give a
    scalar or a list as the scripts used them.
    """

    def __init__(
        self,
        query: Iterable[tuple[str, str]] = (),
        form: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.query = parse_pairs(query)
        body = parse_pairs(form)
        merged: dict[str, Value] = dict(self.query)
        for name, value in body.items():
            before = merged.get(name)
            if isinstance(before, dict) and isinstance(value, dict):
                merged[name] = {**before, **value}
            else:
                merged[name] = value
        self.merged = merged

    @classmethod
    def of(
        cls, query: Mapping[str, str] | None = None, form: Mapping[str, str] | None = None
    ) -> Params:
        """Params from two plain dicts (tests, callers without repeated names)."""
        return cls(list((query or {}).items()), list((form or {}).items()))

    def get(self, name: str) -> Value | None:
        return self.query.get(name)

    def request(self, name: str) -> Value | None:
        return self.merged.get(name)

    @staticmethod
    def string(value: Value | None) -> str:
        """A parameter used as a string: absent is ``""``; a map (PHP's ``"Array"``) is too."""
        return value if isinstance(value, str) else ""

    @staticmethod
    def strings(value: Value | None) -> list[str]:
        """A parameter used as a list (``if (!is_array($x)) $x = array($x)``), in order."""
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return list(value.values())

    def first_of(self, name: str, fallback: str) -> str:
        """``strlen($_REQUEST[name]) ? $_REQUEST[name] : $_REQUEST[fallback]``
        (``From``/``Caller``, ``To``/``Called``)."""
        value = self.string(self.request(name))
        return value if value else self.string(self.request(fallback))
