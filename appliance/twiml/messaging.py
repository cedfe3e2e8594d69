"""Parser for messaging TwiML (the answer to an SMS webhook).  Pure: no I/O.

``parse(body, content_type, base_url=...)`` turns what a webhook answered into a
:class:`Document`: the verbs to execute in order (:class:`Message`, :class:`Redirect`)
and :class:`Warning` records for the debugger log.  Fatal problems raise
:class:`TwimlError` with Twilio's code.

Content types (Twilio reference A7):

* ``text/xml``, ``application/xml``, ``text/html`` (parameters and case ignored) →
  TwiML.
* ``text/plain`` → one :class:`Message` with the text, sent back to the sender.
* A body that is empty or only whitespace with one of those types → no verbs (no
  reply).  An empty body *without* a Content-Type (e.g. a 204) → no verbs as well.
* Anything else (``application/json``, ``image/png``, a missing type with a body, …)
  → ``TwimlError(12300)``.

XML is parsed safely: documents above :data:`MAX_TWIML_BYTES`, any ``<!DOCTYPE``
or ``<!ENTITY`` declaration (billion laughs, external entities), undefined entity
references and anything not well-formed → ``TwimlError(12100)``; entities are never
expanded and nothing is ever fetched.  The root element must be ``<Response>``
(``TwimlError(12102)``).  Namespaces are ignored (element and attribute names are
matched by local name, case-sensitively).  The XML reader is
:func:`appliance.twiml.xmltree.parse_xml`, shared with the voice parser.

Message body whitespace: the text of a ``<Message>`` is all of its direct text (the
text before, between and after its children, as ``twilio``'s ``append()`` produces it)
plus the text of its ``<Body>`` nouns, in document order; leading and trailing XML
whitespace (space, tab, CR, LF) of the result is removed, everything inside is kept
verbatim (newlines included).  ``text/plain`` answers are trimmed the same way.

Everything that is valid XML but not valid messaging TwiML is skipped with a
``Warning(12200)``: unknown verbs/nouns/attributes, bad ``method`` values (POST is
used), unusable URLs, ``<Media>`` (this appliance sends SMS only), verbs after
``<Redirect>``.  A body longer than 1600 characters is kept and flagged with
``Warning(21617)``: enforcing the limit is the caller's job.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from appliance.twiml.diagnostics import (
    BODY_TOO_LONG,
    DOCUMENT_PARSE_FAILURE,
    INVALID_CONTENT_TYPE,
    INVALID_ROOT,
    SCHEMA_WARNING,
    TwimlError,
    Warning,
)
from appliance.twiml.xmltree import (
    MAX_TWIML_BYTES,
    attributes,
    codec,
    local_name,
    parse_xml,
    xml_strip,
)

__all__ = [
    "BODY_TOO_LONG",
    "DOCUMENT_PARSE_FAILURE",
    "INVALID_CONTENT_TYPE",
    "INVALID_ROOT",
    "MAX_BODY_CHARS",
    "MAX_MEDIA",
    "MAX_TWIML_BYTES",
    "SCHEMA_WARNING",
    "TWIML_CONTENT_TYPES",
    "Document",
    "Message",
    "Redirect",
    "TwimlError",
    "Warning",
    "attributes",
    "local_name",
    "parse",
    "parse_xml",
    "xml_strip",
]

MAX_BODY_CHARS = 1600
MAX_MEDIA = 10

TWIML_CONTENT_TYPES = frozenset({"text/xml", "application/xml", "text/html"})
_METHODS = ("GET", "POST")
_MESSAGE_ATTRIBUTES = frozenset({"to", "from", "action", "method", "statusCallback"})
_MEDIA_IGNORED = "this appliance sends SMS only; <Media> was ignored"

TwimlWarning = Warning


@dataclass(frozen=True)
class Message:
    """Send ``body`` by SMS.  ``to``/``from_`` None mean: reply to the sender, from the
    number that received the message.  ``action`` (absolute URL or None) is the status
    callback of the created message, requested with ``method``.  ``media`` lists the
    (absolute) ``<Media>`` URLs that were *not* sent (SMS only)."""

    body: str
    to: str | None = None
    from_: str | None = None
    action: str | None = None
    method: str = "POST"
    media: tuple[str, ...] = ()


@dataclass(frozen=True)
class Redirect:
    """Fetch new TwiML from ``url`` (absolute) with ``method``; later verbs never run."""

    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Document:
    """The verbs to run in order, plus the warnings found while parsing."""

    verbs: tuple[Message | Redirect, ...] = ()
    warnings: tuple[Warning, ...] = ()

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(v for v in self.verbs if isinstance(v, Message))

    @property
    def redirect(self) -> Redirect | None:
        for verb in self.verbs:
            if isinstance(verb, Redirect):
                return verb
        return None


# --------------------------------------------------------------------------- entry point


def parse(body: bytes, content_type: str | None, *, base_url: str) -> Document:
    """Parse a webhook answer; see the module docstring for the rules.

    ``base_url`` is the URL that returned the document (after redirects): relative
    ``action`` and ``<Redirect>`` URLs are resolved against it.
    """
    media_type, ct_params = _parse_content_type(content_type)
    blank = not body.strip()
    if media_type is None:
        if blank:
            return Document()
        raise TwimlError(
            INVALID_CONTENT_TYPE, "Invalid Content-Type: the answer has a body but no Content-Type"
        )
    if media_type != "text/plain" and media_type not in TWIML_CONTENT_TYPES:
        raise TwimlError(
            INVALID_CONTENT_TYPE,
            f"Invalid Content-Type {media_type!r}: expected text/xml, application/xml, "
            "text/html or text/plain",
        )
    if len(body) > MAX_TWIML_BYTES:
        raise TwimlError(
            DOCUMENT_PARSE_FAILURE,
            f"Document parse failure: the answer is {len(body)} bytes, "
            f"more than the {MAX_TWIML_BYTES} allowed",
        )
    if blank:
        return Document()
    if media_type == "text/plain":
        return _plain_text(body, ct_params.get("charset"))
    root = parse_xml(body, ct_params.get("charset"))
    return _Builder(base_url).document(root)


# --------------------------------------------------------------------------- helpers


def _parse_content_type(value: str | None) -> tuple[str | None, dict[str, str]]:
    if value is None:
        return None, {}
    media_type, _, rest = value.partition(";")
    media_type = media_type.strip().lower()
    params: dict[str, str] = {}
    for item in rest.split(";"):
        key, sep, val = item.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"').strip()
    return (media_type or None), params


def _plain_text(body: bytes, charset: str | None) -> Document:
    if body.startswith(codecs.BOM_UTF8):
        text = body.decode("utf-8-sig", errors="replace")
    else:
        text = body.decode(codec(charset) or "utf-8", errors="replace")
    text = xml_strip(text)
    if not text:
        return Document()
    warnings = []
    if len(text) > MAX_BODY_CHARS:
        warnings.append(_too_long(len(text)))
    return Document(verbs=(Message(body=text),), warnings=tuple(warnings))


def _too_long(length: int) -> Warning:
    return Warning(
        BODY_TOO_LONG,
        f"The concatenated message body exceeds the {MAX_BODY_CHARS} character limit "
        f"({length} characters)",
    )


class _Builder:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.warnings: list[Warning] = []

    def warn(self, message: str, code: int = SCHEMA_WARNING) -> None:
        self.warnings.append(Warning(code, message))

    def document(self, root: Any) -> Document:
        verbs: list[Message | Redirect] = []
        redirected = False
        if xml_strip(root.text or ""):
            self.warn("text directly inside <Response> was ignored")
        for child in root:
            name = local_name(child)
            if xml_strip(child.tail or ""):
                self.warn("text directly inside <Response> was ignored")
            if redirected:
                self.warn(
                    f"<{name}> after <Redirect> was ignored: verbs after a Redirect never run"
                )
                continue
            if name == "Message":
                message = self.message(child)
                if message is not None:
                    verbs.append(message)
            elif name == "Redirect":
                redirect = self.redirect(child)
                if redirect is not None:
                    verbs.append(redirect)
                    redirected = True
            else:
                self.warn(
                    f"unknown verb <{name}> was ignored (messaging TwiML has <Message>, <Redirect>)"
                )
        return Document(verbs=tuple(verbs), warnings=tuple(self.warnings))

    def method(self, value: str | None, where: str) -> str:
        if value is None:
            return "POST"
        method = xml_strip(value).upper()
        if method in _METHODS:
            return method
        self.warn(f"invalid method {value!r} on {where}; POST is used")
        return "POST"

    def url(self, value: str | None, where: str) -> str | None:
        if value is None:
            return None
        raw = xml_strip(value)
        if not raw:
            self.warn(f"empty URL in {where} was ignored")
            return None
        resolved = urljoin(self.base_url, raw) if self.base_url else raw
        try:
            parts = urlsplit(resolved)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            self.warn(
                f"invalid URL {raw!r} in {where} was ignored (an absolute http(s) URL is needed)"
            )
            return None
        return resolved

    def message(self, element: Any) -> Message | None:
        attrs = attributes(element)
        for name in sorted(set(attrs) - _MESSAGE_ATTRIBUTES):
            self.warn(f"unknown attribute {name!r} on <Message> was ignored")
        to = xml_strip(attrs.get("to", "")) or None
        from_ = xml_strip(attrs.get("from", "")) or None
        method = self.method(attrs.get("method"), "<Message>")
        action_raw = attrs.get("action")
        if action_raw is None:
            action_raw = attrs.get("statusCallback")
        elif "statusCallback" in attrs:
            self.warn("<Message> has both action and statusCallback; statusCallback was ignored")
        action = self.url(action_raw, "<Message action>")

        pieces = [element.text or ""]
        direct_text = bool(xml_strip(element.text or ""))
        bodies = 0
        media: list[str] = []
        for child in element:
            name = local_name(child)
            if name == "Body":
                bodies += 1
                pieces.append("".join(child.itertext()))
            elif name == "Media":
                url = self.url("".join(child.itertext()), "<Media>")
                if url is not None:
                    media.append(url)
                    self.warn(f"{_MEDIA_IGNORED} ({url})")
            else:
                self.warn(f"unknown noun <{name}> inside <Message> was ignored")
            pieces.append(child.tail or "")
            direct_text = direct_text or bool(xml_strip(child.tail or ""))
        if bodies > 1 or (bodies and direct_text):
            self.warn(
                "<Message> should have its text either directly or in a single <Body>; the parts were joined"
            )
        if len(media) > MAX_MEDIA:
            self.warn(f"<Message> has {len(media)} <Media>; at most {MAX_MEDIA} are allowed")
        body = xml_strip("".join(pieces))
        if not body:
            if media:
                self.warn("<Message> has only <Media> and no text; nothing was sent (SMS only)")
            else:
                self.warn("empty <Message> was ignored")
            return None
        if len(body) > MAX_BODY_CHARS:
            self.warnings.append(_too_long(len(body)))
        return Message(
            body=body, to=to, from_=from_, action=action, method=method, media=tuple(media)
        )

    def redirect(self, element: Any) -> Redirect | None:
        attrs = attributes(element)
        for name in sorted(set(attrs) - {"method"}):
            self.warn(f"unknown attribute {name!r} on <Redirect> was ignored")
        method = self.method(attrs.get("method"), "<Redirect>")
        for child in element:
            self.warn(f"unknown noun <{local_name(child)}> inside <Redirect> was ignored")
        text = (element.text or "") + "".join(child.tail or "" for child in element)
        if not xml_strip(text):
            self.warn("<Redirect> without a URL was ignored")
            return None
        url = self.url(text, "<Redirect>")
        if url is None:
            return None
        return Redirect(url=url, method=method)
