"""Tests for appliance.twiml.messaging (pure TwiML parser)."""

from __future__ import annotations

import time

import pytest
from twilio.twiml.messaging_response import (  # type: ignore[import-untyped]
    Body,
    Media,
    Message,
    MessagingResponse,
)

from appliance.twiml import messaging as tm
from appliance.twiml.messaging import Document, Redirect, TwimlError, parse

BASE = "https://app.example.com/sms/incoming?x=1"


def twiml(response: MessagingResponse) -> bytes:
    return str(response).encode("utf-8")


def codes(doc: Document) -> list[int]:
    return [w.code for w in doc.warnings]


# --------------------------------------------------------------------------- MessagingResponse


def test_empty_messaging_response_means_no_reply() -> None:
    body = twiml(MessagingResponse())
    assert body == b'<?xml version="1.0" encoding="UTF-8"?><Response />'
    doc = parse(body, "text/xml", base_url=BASE)
    assert doc.verbs == ()
    assert doc.warnings == ()


def test_message_with_all_attributes_from_the_library() -> None:
    resp = MessagingResponse()
    resp.message(
        "Hello & <you>",
        to="+15550001111",
        from_="+15550002222",
        action="/status",
        method="GET",
    )
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert doc.warnings == ()
    assert doc.verbs == (
        tm.Message(
            body="Hello & <you>",
            to="+15550001111",
            from_="+15550002222",
            action="https://app.example.com/status",
            method="GET",
            media=(),
        ),
    )


def test_status_callback_is_an_alias_of_action() -> None:
    resp = MessagingResponse()
    resp.message("hi", status_callback="cb")
    (msg,) = parse(twiml(resp), "application/xml", base_url=BASE).messages
    assert msg.action == "https://app.example.com/sms/cb"
    assert msg.method == "POST"


def test_action_wins_over_status_callback_with_a_warning() -> None:
    resp = MessagingResponse()
    resp.message("hi", action="https://a.example/x", status_callback="https://b.example/y")
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert doc.messages[0].action == "https://a.example/x"
    assert codes(doc) == [12200]


def test_body_noun_and_media_from_the_library() -> None:
    resp = MessagingResponse()
    msg = Message()
    msg.append(Body("Hi there"))
    msg.append(Media("https://cdn.example.com/cat.png"))
    resp.append(msg)
    doc = parse(twiml(resp), "text/xml; charset=utf-8", base_url=BASE)
    (sent,) = doc.messages
    assert sent.body == "Hi there"
    assert sent.media == ("https://cdn.example.com/cat.png",)
    assert len(doc.warnings) == 1
    assert doc.warnings[0].code == 12200
    assert "this appliance sends SMS only; <Media> was ignored" in doc.warnings[0].message


def test_tail_text_after_children_is_part_of_the_body() -> None:
    resp = MessagingResponse()
    msg = resp.message("Hello")
    msg.media("pic.png")
    msg.append(" and goodbye")
    body = twiml(resp)
    assert b"<Media>pic.png</Media> and goodbye</Message>" in body
    doc = parse(body, "text/xml", base_url=BASE)
    assert doc.messages[0].body == "Hello and goodbye"
    assert doc.messages[0].media == ("https://app.example.com/sms/pic.png",)


def test_media_only_message_sends_nothing_and_warns() -> None:
    resp = MessagingResponse()
    resp.message().media("https://cdn.example.com/a.png")
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert doc.verbs == ()
    assert codes(doc) == [12200, 12200]
    assert "no text" in doc.warnings[1].message


def test_multiple_messages_run_in_order() -> None:
    resp = MessagingResponse()
    resp.message("one")
    resp.message("two", to="+15550003333")
    resp.message("three")
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert [m.body for m in doc.messages] == ["one", "two", "three"]
    assert [m.to for m in doc.messages] == [None, "+15550003333", None]


def test_redirect_stops_further_verbs() -> None:
    resp = MessagingResponse()
    resp.message("before")
    resp.redirect("../next?step=2", method="GET")
    resp.message("after")
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert doc.verbs == (
        tm.Message(body="before"),
        Redirect(url="https://app.example.com/next?step=2", method="GET"),
    )
    assert doc.redirect == Redirect(url="https://app.example.com/next?step=2", method="GET")
    assert codes(doc) == [12200]
    assert "after <Redirect>" in doc.warnings[0].message


def test_redirect_defaults_to_post_and_absolute_url_is_kept() -> None:
    doc = parse(
        b"<Response><Redirect>https://other.example.com/t</Redirect></Response>",
        "text/xml",
        base_url=BASE,
    )
    assert doc.verbs == (Redirect(url="https://other.example.com/t", method="POST"),)


def test_unknown_elements_from_add_child_are_skipped_with_warnings() -> None:
    resp = MessagingResponse()
    resp.add_child("Say", "not here", voice="alice")
    msg = resp.message("ok")
    msg.add_child("Sticker", "x")
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert [m.body for m in doc.messages] == ["ok"]
    assert codes(doc) == [12200, 12200]
    assert "<Say>" in doc.warnings[0].message
    assert "<Sticker>" in doc.warnings[1].message


def test_invalid_method_warns_and_uses_post() -> None:
    doc = parse(
        b'<Response><Message method="PUT" action="/s">x</Message>'
        b'<Redirect method="DELETE">/r</Redirect></Response>',
        "text/xml",
        base_url=BASE,
    )
    assert doc.messages[0].method == "POST"
    assert doc.redirect is not None and doc.redirect.method == "POST"
    assert codes(doc) == [12200, 12200]


def test_unknown_attribute_warns_but_message_is_sent() -> None:
    resp = MessagingResponse()
    resp.message("x", shorten_urls=True)
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert doc.messages[0].body == "x"
    assert codes(doc) == [12200]
    assert "shortenUrls" in doc.warnings[0].message


def test_non_http_action_is_dropped_with_warning() -> None:
    doc = parse(
        b'<Response><Message action="javascript:alert(1)">x</Message></Response>',
        "text/xml",
        base_url=BASE,
    )
    assert doc.messages[0].action is None
    assert codes(doc) == [12200]


def test_relative_urls_resolve_against_base_url() -> None:
    doc = parse(
        b'<Response><Message action="status">a</Message>'
        b"<Redirect>/root?x=%20y</Redirect></Response>",
        "text/xml",
        base_url="http://192.168.1.10:5000/hooks/sms?From=%2B1",
    )
    assert doc.messages[0].action == "http://192.168.1.10:5000/hooks/status"
    assert doc.redirect == Redirect(url="http://192.168.1.10:5000/root?x=%20y", method="POST")


# --------------------------------------------------------------------------- body text


def test_pretty_printed_body_is_trimmed_but_inner_newlines_kept() -> None:
    doc = parse(
        b"<Response>\n  <Message>\n    Line one\n    Line two\n  </Message>\n</Response>\n",
        "text/xml",
        base_url=BASE,
    )
    assert doc.messages[0].body == "Line one\n    Line two"
    assert doc.warnings == ()


def test_non_xml_whitespace_is_not_trimmed() -> None:
    doc = parse(
        "<Response><Message>\u00a0hi\u00a0</Message></Response>".encode(),
        "text/xml",
        base_url=BASE,
    )
    assert doc.messages[0].body == "\u00a0hi\u00a0"


def test_unicode_and_cdata_body() -> None:
    doc = parse(
        "<?xml version='1.0' encoding='UTF-8'?><Response><Message><![CDATA[a < b]]> "
        "– ünïcødé 😀</Message></Response>".encode(),
        "text/xml",
        base_url=BASE,
    )
    assert doc.messages[0].body == "a < b – ünïcødé 😀"


def test_empty_message_is_ignored_with_warning() -> None:
    doc = parse(b"<Response><Message>  </Message></Response>", "text/xml", base_url=BASE)
    assert doc.verbs == ()
    assert codes(doc) == [12200]


def test_direct_text_and_body_are_joined_with_a_warning() -> None:
    doc = parse(
        b"<Response><Message>Hello <Body>World</Body></Message></Response>",
        "text/xml",
        base_url=BASE,
    )
    assert doc.messages[0].body == "Hello World"
    assert codes(doc) == [12200]


def test_long_body_is_kept_and_flagged_21617() -> None:
    resp = MessagingResponse()
    resp.message("x" * 1601)
    doc = parse(twiml(resp), "text/xml", base_url=BASE)
    assert len(doc.messages[0].body) == 1601
    assert codes(doc) == [21617]
    resp = MessagingResponse()
    resp.message("x" * 1600)
    assert parse(twiml(resp), "text/xml", base_url=BASE).warnings == ()


# --------------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    "content_type",
    [
        "text/xml",
        "application/xml",
        "text/html",
        "TEXT/HTML; charset=UTF-8",
        ' text/xml ;charset="utf-8"',
    ],
)
def test_twiml_content_types(content_type: str) -> None:
    doc = parse(b"<Response><Message>ok</Message></Response>", content_type, base_url=BASE)
    assert [m.body for m in doc.messages] == ["ok"]


def test_text_plain_is_a_reply_to_the_sender() -> None:
    doc = parse(b"  Thanks, got it!\n", "text/plain; charset=utf-8", base_url=BASE)
    assert doc.verbs == (tm.Message(body="Thanks, got it!"),)
    assert doc.warnings == ()


def test_text_plain_that_looks_like_xml_is_sent_verbatim() -> None:
    doc = parse(b"<Response/>", "text/plain", base_url=BASE)
    assert doc.messages[0].body == "<Response/>"


def test_text_plain_honours_charset() -> None:
    doc = parse("café".encode("latin-1"), "text/plain; charset=ISO-8859-1", base_url=BASE)
    assert doc.messages[0].body == "café"


def test_text_html_without_declaration_honours_charset() -> None:
    doc = parse(
        "<Response><Message>café</Message></Response>".encode("latin-1"),
        "text/html; charset=iso-8859-1",
        base_url=BASE,
    )
    assert doc.messages[0].body == "café"


@pytest.mark.parametrize("content_type", ["text/xml", "text/html", "text/plain", None])
@pytest.mark.parametrize("body", [b"", b"  \r\n\t "])
def test_empty_body_means_no_reply(content_type: str | None, body: bytes) -> None:
    assert parse(body, content_type, base_url=BASE) == Document()


@pytest.mark.parametrize(
    "content_type", ["application/json", "image/png", "application/octet-stream", "", "text/csv"]
)
def test_other_content_types_are_12300(content_type: str) -> None:
    with pytest.raises(TwimlError) as info:
        parse(b'{"Body": "hi"}', content_type, base_url=BASE)
    assert info.value.code == 12300
    assert "Content-Type" in info.value.message


def test_body_without_content_type_is_12300() -> None:
    with pytest.raises(TwimlError) as info:
        parse(b"<Response><Message>x</Message></Response>", None, base_url=BASE)
    assert info.value.code == 12300


def test_empty_json_is_still_12300() -> None:
    with pytest.raises(TwimlError) as info:
        parse(b"", "application/json", base_url=BASE)
    assert info.value.code == 12300


# --------------------------------------------------------------------------- fatal errors


@pytest.mark.parametrize(
    "body",
    [
        b"<Response><Message>unclosed</Response>",
        b"<Response>",
        b"not xml at all",
        b"<Response><Message>a & b</Message></Response>",
        b"<Response><Message>&nbsp;</Message></Response>",
        b"<Response></Response><Response></Response>",
        b"\xff\xfe\x00garbage",
    ],
)
def test_malformed_is_12100(body: bytes) -> None:
    with pytest.raises(TwimlError) as info:
        parse(body, "text/xml", base_url=BASE)
    assert info.value.code == 12100


def test_html_page_is_12100() -> None:
    page = b"<!DOCTYPE html>\n<html><body><h1>Internal Server Error</h1></body></html>"
    with pytest.raises(TwimlError) as info:
        parse(page, "text/html; charset=utf-8", base_url=BASE)
    assert info.value.code == 12100


@pytest.mark.parametrize("root", [b"<Foo/>", b"<response/>", b"<Message>hi</Message>"])
def test_wrong_root_is_12102(root: bytes) -> None:
    with pytest.raises(TwimlError) as info:
        parse(root, "text/xml", base_url=BASE)
    assert info.value.code == 12102


def test_oversized_document_is_12100() -> None:
    body = (
        b"<Response><Message>" + b"x" * (70 * 1024) + b"</Message></Response>"
    )  # ~70 KB, otherwise valid
    assert len(body) > tm.MAX_TWIML_BYTES
    with pytest.raises(TwimlError) as info:
        parse(body, "text/xml", base_url=BASE)
    assert info.value.code == 12100
    assert "bytes" in info.value.message


def test_document_just_under_the_limit_is_fine() -> None:
    head, tail = b"<Response><Message>", b"</Message></Response>"
    body = head + b"y" * (tm.MAX_TWIML_BYTES - len(head) - len(tail)) + tail
    assert len(body) == tm.MAX_TWIML_BYTES
    doc = parse(body, "text/xml", base_url=BASE)
    assert len(doc.messages[0].body) == tm.MAX_TWIML_BYTES - len(head) - len(tail)


def _billion_laughs() -> str:
    lines = ['<?xml version="1.0"?>', "<!DOCTYPE lolz [", '<!ENTITY lol0 "lol">']
    for i in range(1, 10):
        lines.append(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">')
    lines.append("]>")
    lines.append("<Response><Message>&lol9;</Message></Response>")
    return "\n".join(lines)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_billion_laughs_is_rejected_without_expansion(encoding: str) -> None:
    started = time.monotonic()
    with pytest.raises(TwimlError) as info:
        parse(_billion_laughs().encode(encoding), "text/xml", base_url=BASE)
    assert info.value.code == 12100
    assert "lol" not in info.value.message  # nothing expanded into the message
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
@pytest.mark.parametrize(
    "decl",
    [
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">',
        '<!ENTITY xxe SYSTEM "http://127.0.0.1:9/never-fetched">',
        '<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;',
    ],
)
def test_external_entities_are_rejected(encoding: str, decl: str) -> None:
    doc = f'<?xml version="1.0"?><!DOCTYPE Response [{decl}]><Response><Message>&xxe;</Message></Response>'
    with pytest.raises(TwimlError) as info:
        parse(doc.encode(encoding), "text/xml", base_url=BASE)
    assert info.value.code == 12100
    assert "root:" not in info.value.message


def test_external_dtd_reference_is_rejected() -> None:
    doc = b'<?xml version="1.0"?><!DOCTYPE Response SYSTEM "file:///etc/passwd"><Response/>'
    with pytest.raises(TwimlError) as info:
        parse(doc, "text/xml", base_url=BASE)
    assert info.value.code == 12100


def test_comments_processing_instructions_and_leading_whitespace_are_tolerated() -> None:
    doc = parse(
        b'\n  <?xml version="1.0" encoding="UTF-8"?>\n<!-- generated -->'
        b"<Response><?php echo 1 ?><Message>a<!-- c -->b</Message></Response>",
        "text/xml",
        base_url=BASE,
    )
    assert [m.body for m in doc.messages] == ["ab"]


def test_namespaced_twiml_is_accepted() -> None:
    doc = parse(
        b'<Response xmlns="http://www.twilio.com/2010/TwiML"><Message to="+1">ns</Message>'
        b"</Response>",
        "text/xml",
        base_url=BASE,
    )
    assert doc.messages == (tm.Message(body="ns", to="+1"),)


def test_twiml_error_is_an_appliance_error() -> None:
    from appliance.errors import ApplianceError

    err = TwimlError(12300, "Invalid Content-Type")
    assert isinstance(err, ApplianceError)
    assert (err.code, err.message, str(err)) == (
        12300,
        "Invalid Content-Type",
        "Invalid Content-Type",
    )
