"""The hardened XML reader both TwiML parsers share, and its element-name helpers.

:func:`parse_xml` turns a document's bytes into an lxml element tree rooted at
``<Response>``, or raises :class:`~appliance.twiml.diagnostics.TwimlError`:
documents with any ``<!DOCTYPE``/``<!ENTITY`` (billion laughs, external entities),
entity references or anything not well-formed → 12100; another root → 12102.
Entities are never expanded, no DTD is loaded, nothing is fetched, ``huge_tree`` is
off.  Namespaces are ignored: names are matched by local name, case-sensitively.
The size limit (:data:`MAX_TWIML_BYTES`) is checked by the callers, before parsing.

lxml is imported by the first parse, not with this module: an idle appliance does not
load it (its extension is about 4 MB resident; docs/design.md, "What an idle appliance
loads").
"""

from __future__ import annotations

import codecs
from typing import Any

from appliance.twiml.diagnostics import DOCUMENT_PARSE_FAILURE, INVALID_ROOT, TwimlError

__all__ = [
    "MAX_TWIML_BYTES",
    "attributes",
    "codec",
    "local_name",
    "parse_xml",
    "xml_strip",
]

MAX_TWIML_BYTES = 64 * 1024

_XML_WHITESPACE = " \t\r\n"
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE)


def codec(charset: str | None) -> str | None:
    """The Python codec name of an HTTP ``charset``, or None if absent or unknown."""
    if not charset:
        return None
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def parse_xml(body: bytes, charset: str | None) -> Any:
    """The ``<Response>`` root element of ``body``; see the module docstring for the rules.

    ``charset`` (from the HTTP Content-Type) applies only when the document has no
    byte-order mark and no XML declaration.
    """
    from lxml import etree  # here: see the module docstring

    data = body
    if not data.startswith(_BOMS):
        # Tolerate whitespace before the XML declaration (template engines emit it).
        data = data.lstrip()
        name = codec(charset)
        if name and name != "utf-8" and not data.startswith(b"<?xml"):
            # No declaration: the HTTP charset is the only encoding information.
            try:
                data = data.decode(name).encode("utf-8")
            except UnicodeError as exc:
                raise TwimlError(DOCUMENT_PARSE_FAILURE, f"Document parse failure: {exc}") from exc
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise TwimlError(
            DOCUMENT_PARSE_FAILURE,
            "Document parse failure: DOCTYPE and ENTITY declarations are not allowed in TwiML",
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
        recover=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except (etree.LxmlError, ValueError) as exc:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"Document parse failure: {exc}") from exc
    if root is None:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, "Document parse failure: no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # Reached only for encodings the byte scan above cannot see (UTF-16, …).
        raise TwimlError(
            DOCUMENT_PARSE_FAILURE,
            "Document parse failure: DOCTYPE and ENTITY declarations are not allowed in TwiML",
        )
    for _ in root.iter(etree.Entity):
        raise TwimlError(
            DOCUMENT_PARSE_FAILURE, "Document parse failure: entity references are not allowed"
        )
    if local_name(root) != "Response":
        raise TwimlError(
            INVALID_ROOT,
            f"The root element must be <Response>, not <{local_name(root) or root.tag}>",
        )
    return root


def local_name(element: Any) -> str:
    """An element's tag without its namespace ('' for comments and the like)."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def attributes(element: Any) -> dict[str, str]:
    """An element's attributes by local name."""
    return {str(key).rpartition("}")[2]: str(value) for key, value in element.attrib.items()}


def xml_strip(text: str) -> str:
    """``text`` without leading and trailing XML whitespace (space, tab, CR, LF)."""
    return text.strip(_XML_WHITESPACE)
