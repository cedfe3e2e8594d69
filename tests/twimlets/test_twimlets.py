"""Every built-in twimlet, with known inputs, gives the classic twimlet's TwiML exactly.

Documents are compared as canonical XML (lxml C14N: elements, their order, attributes and
text) and, on top of that, attribute by attribute in order.  The parameters go through
:class:`~appliance.twimlets.php.Params` as a query string and a POST body, the way the
HTTP layer hands them over.
"""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest
from lxml import etree

from appliance import twimlets
from appliance.twimlets import announcements, conference, dialing, menu, voicemail, whisper
from appliance.twimlets.document import Answer
from appliance.twimlets.php import (
    Params,
    loose_equal,
    parse_pairs,
    sort_strings,
    stripslashes,
    truthy,
    urlencode,
)

CALLER = "+14155550100"
OURS = "+15005550006"


def P(query: str = "", **form: str) -> Params:
    """Params of a query string (as written in a twimlet URL) and a POST body."""
    return Params(parse_qsl(query, keep_blank_values=True), list(form.items()))


def shape(xml: bytes) -> list[tuple[str, list[tuple[str, str]], str]]:
    root = etree.fromstring(xml, etree.XMLParser(remove_blank_text=True))
    return [(el.tag, list(el.attrib.items()), el.text or "") for el in root.iter()]


def c14n(xml: bytes) -> bytes:
    root = etree.fromstring(xml, etree.XMLParser(remove_blank_text=True))
    return etree.tostring(root, method="c14n")


def assert_twiml(answer: Answer | bytes, expected: str) -> None:
    body = answer if isinstance(answer, bytes) else answer.twiml
    if isinstance(answer, Answer):
        assert answer.location is None, answer.location
    want = f'<?xml version="1.0" encoding="UTF-8"?>{expected}'.encode()
    assert c14n(body) == c14n(want), body.decode()
    assert shape(body) == shape(want), body.decode()


def assert_302(answer: Answer, location: str) -> None:
    assert answer.location == location and answer.twiml == b""


# --------------------------------------------------------------------------- PHP's rules


def test_query_arrays_parse_as_php_did():
    pairs = [
        ("PhoneNumbers[]", "a"),
        ("PhoneNumbers[]", "b"),
        ("Options[1]", "x"),
        ("Options[01]", "y"),
        ("Options[]", "z"),
        ("Message", "plain"),
        ("Odd[", "no close"),
        ("PhoneNumbers[5]", "c"),
        ("PhoneNumbers[]", "d"),
    ]
    assert parse_pairs(pairs) == {
        "PhoneNumbers": {"0": "a", "1": "b", "5": "c", "6": "d"},
        "Options": {"1": "x", "01": "y", "2": "z"},
        "Message": "plain",
        "Odd[": "no close",
    }
    # A later plain value replaces the array, and a later array replaces the string.
    assert parse_pairs([("A[]", "1"), ("A", "2")]) == {"A": "2"}
    assert parse_pairs([("A", "2"), ("A[]", "1")]) == {"A": {"0": "1"}}


def test_get_is_the_query_and_request_lets_the_post_body_win():
    p = P(
        "Message=query&FailUrl=/q&Options[1]=a", Message="body", Digits="1", **{"Options[2]": "b"}
    )
    assert p.get("Message") == "query" and p.request("Message") == "body"
    assert p.get("Digits") is None and p.request("Digits") == "1"
    assert p.request("Options") == {"1": "a", "2": "b"}  # PHP merges $_GET and $_POST arrays
    assert p.first_of("From", "Caller") == ""
    assert P(Caller=CALLER).first_of("From", "Caller") == CALLER
    assert P(From=OURS, Caller=CALLER).first_of("From", "Caller") == OURS


def test_php_string_helpers():
    assert urlencode("a b~*+/é") == "a+b%7E%2A%2B%2F%C3%A9"
    assert stripslashes(r"It\'s a \\ \"test\"\0") == 'It\'s a \\ "test"'
    assert [truthy(v) for v in (None, "", "0", "00", "a")] == [False, False, False, True, True]
    assert loose_equal("+14155551212", "14155551212")
    assert not loose_equal("+14155551212", "4155551212")
    assert loose_equal("007", "7") and not loose_equal("abc", "ABC")
    # Numeric strings sort as numbers, others byte by byte ("+" before "1" before "5").
    assert sort_strings(["+447700900123", "15005550006", "555-0100", "+9"]) == [
        "+9",
        "15005550006",
        "+447700900123",
        "555-0100",
    ]


def test_names_presets_and_relative_urls():
    assert len(twimlets.NAMES) == 11 and len(set(twimlets.NAMES)) == 11
    for _label, url in twimlets.PRESETS:  # each answers a signed request: tests/oncall
        assert twimlets.is_twimlet_url(url)
    assert ("Forward to on-call (support line)", "/twimlets/oncall") in twimlets.PRESETS
    assert not twimlets.is_twimlet_url("/welcome/voice")
    assert not twimlets.is_twimlet_url("/twimlets/message?Message=two words")
    assert not twimlets.is_twimlet_url("http://twimlets.com/forward")


# --------------------------------------------------------------------------- Forward


FWD = "/twimlets/forward"


def test_forward_dials_with_the_defaults():
    assert_twiml(
        dialing.forward(P("PhoneNumber=415-555-1212", From=CALLER, To=OURS), FWD),
        '<Response><Dial action="/twimlets/forward?Dial=true" timeout="20">'
        "415-555-1212</Dial></Response>",
    )
    # Timeout "0" is false in PHP: the default; an unknown parameter changes nothing.
    assert_twiml(
        dialing.forward(P("PhoneNumber=%2B14155551212&Timeout=0&Colour=blue"), FWD),
        '<Response><Dial action="/twimlets/forward?Dial=true" timeout="20">'
        "+14155551212</Dial></Response>",
    )


def test_forward_carries_fail_url_timeout_and_caller_id():
    query = (
        "PhoneNumber=%2B14155551212&Timeout=35&CallerId=%2B15005550006"
        "&FailUrl=http%3A%2F%2Fexample.com%2Fbusy%3Fa%3D1%26b%3D2"
    )
    assert_twiml(
        dialing.forward(P(query), FWD),
        '<Response><Dial action="/twimlets/forward?Dial=true&amp;FailUrl='
        'http%3A%2F%2Fexample.com%2Fbusy%3Fa%3D1%26b%3D2" timeout="35" callerId="+15005550006">'
        "+14155551212</Dial></Response>",
    )
    # CallerId present but empty is still written (isset), and a missing PhoneNumber dials nothing.
    assert_twiml(
        dialing.forward(P("CallerId="), FWD),
        '<Response><Dial action="/twimlets/forward?Dial=true" timeout="20" callerId=""/></Response>',
    )


def test_forward_after_the_dial_hangs_up_or_goes_to_fail_url():
    fail = "Dial=true&FailUrl=http%3A%2F%2Fexample.com%2Fvm"
    hangup = "<Response><Hangup/></Response>"
    assert_twiml(dialing.forward(P(fail, DialCallStatus="completed"), FWD), hangup)
    assert_twiml(dialing.forward(P(fail, DialStatus="answered"), FWD), hangup)
    for status in ("no-answer", "busy", "failed", "canceled"):
        assert_302(dialing.forward(P(fail, DialCallStatus=status), FWD), "http://example.com/vm")
    assert_twiml(dialing.forward(P("Dial=true", DialCallStatus="busy"), FWD), hangup)
    # Dial=true without a dial status is a first request again.
    assert_twiml(
        dialing.forward(P("Dial=true&PhoneNumber=1"), FWD),
        '<Response><Dial action="/twimlets/forward?Dial=true" timeout="20">1</Dial></Response>',
    )


def test_forward_allowed_callers():
    query = (
        "PhoneNumber=%2B14155551212&AllowedCallers[0]=1-650-555-1212&AllowedCallers[1]=510-555-1212"
    )
    dials = (
        '<Response><Dial action="/twimlets/forward?Dial=true" timeout="20">'
        "+14155551212</Dial></Response>"
    )
    restricted = (
        "<Response><Say>Sorry, you are calling from a restricted number. Good bye.</Say></Response>"
    )
    assert_twiml(dialing.forward(P(query, From="+16505551212", To=OURS), FWD), dials)
    assert_twiml(dialing.forward(P(query, Caller="+16505551212", Called=OURS), FWD), dials)
    assert_twiml(dialing.forward(P(query, From="+17185551212", To=OURS), FWD), restricted)
    # As in the classic: 10 digits never match an E.164 caller...
    assert_twiml(dialing.forward(P(query, From="+15105551212", To=OURS), FWD), restricted)
    # ...but did in API 2008-08-01, whose From had 10 digits and whose entries lost their 1.
    old = {"From": "5105551212", "To": "5005550006", "ApiVersion": "2008-08-01"}
    assert_twiml(dialing.forward(P(query, **old), FWD), dials)
    old["From"] = "6505551212"
    assert_twiml(dialing.forward(P(query, **old), FWD), dials)
    # The called number counts too; a list of empty entries restricts nobody.
    assert_twiml(
        dialing.forward(P(query + "&AllowedCallers[2]=15005550006", From="+1", To=OURS), FWD),
        dials,
    )
    assert_twiml(
        dialing.forward(P("PhoneNumber=%2B14155551212&AllowedCallers[0]=", From="+1"), FWD), dials
    )


# --------------------------------------------------------------------------- Simulring


SIM = "/twimlets/simulring"


def test_simulring_dials_every_number_in_sorted_order_with_a_whisper():
    query = (
        "PhoneNumbers[]=%2B447700900123&PhoneNumbers[]=15005550006&PhoneNumbers[]="
        "&PhoneNumbers[]=555-0100&Message=Call+for+sales&Timeout=15"
        "&FailUrl=%2Ftwimlets%2Fvoicemail%3FSms%3D%252B1555"
    )
    whisper_url = "whisper?Message=Call+for+sales"
    assert_twiml(
        dialing.simulring(P(query, From=CALLER), SIM),
        '<Response><Dial action="/twimlets/simulring?Dial=true&amp;FailUrl='
        '%2Ftwimlets%2Fvoicemail%3FSms%3D%252B1555" timeout="15">'
        f'<Number url="{whisper_url}">15005550006</Number>'
        f'<Number url="{whisper_url}">+447700900123</Number>'
        f'<Number url="{whisper_url}">555-0100</Number>'
        "</Dial></Response>",
    )


def test_simulring_defaults_one_bare_number_and_the_action():
    assert_twiml(
        dialing.simulring(P("PhoneNumbers=%2B14155551212"), SIM),
        '<Response><Dial action="/twimlets/simulring?Dial=true&amp;FailUrl=" timeout="20">'
        '<Number url="whisper?Message=">+14155551212</Number></Dial></Response>',
    )
    fail = "Dial=true&FailUrl=%2Ffail"
    assert_302(dialing.simulring(P(fail, DialCallStatus="no-answer"), SIM), "/fail")
    assert_twiml(
        dialing.simulring(P(fail, DialCallStatus="completed"), SIM),
        "<Response><Hangup/></Response>",
    )


# --------------------------------------------------------------------------- Find Me


FM = "/twimlets/findme"


def test_findme_dials_the_first_number_and_carries_the_rest():
    numbers = "&".join(f"PhoneNumbers[]=%2B1415555{i:04d}" for i in range(12))
    rest = "".join(f"&amp;PhoneNumbers%5B%5D=%2B1415555{i:04d}" for i in range(1, 10))
    assert_twiml(
        dialing.findme(P(numbers + "&Message=Hi+there&FailUrl=%2Fvm", From=CALLER), FM),
        '<Response><Dial action="/twimlets/findme?Dial=true&amp;FailUrl=%2Fvm&amp;Timeout='
        f'&amp;Message=Hi+there{rest}" timeout="60">'
        '<Number url="whisper?Message=Hi+there&amp;HumanCheck=1">+14155550000</Number>'
        "</Dial></Response>",
    )


def test_findme_hunts_on_then_hangs_up_or_fails_over():
    action = (
        "Dial=true&FailUrl=%2Fvm&Timeout=9&Message=&PhoneNumbers%5B%5D=%2B2&PhoneNumbers%5B%5D=%2B3"
    )
    assert_twiml(
        dialing.findme(P(action, DialCallStatus="no-answer"), FM),
        '<Response><Dial action="/twimlets/findme?Dial=true&amp;FailUrl=%2Fvm&amp;Timeout=9'
        '&amp;Message=&amp;PhoneNumbers%5B%5D=%2B3" timeout="9">'
        '<Number url="whisper?Message=&amp;HumanCheck=1">+2</Number></Dial></Response>',
    )
    assert_twiml(
        dialing.findme(P(action, DialCallStatus="completed"), FM), "<Response><Hangup/></Response>"
    )
    assert_302(dialing.findme(P("Dial=true&FailUrl=%2Fvm", DialCallStatus="busy"), FM), "/vm")
    assert_twiml(
        dialing.findme(P("Dial=true", DialCallStatus="busy"), FM), "<Response><Hangup/></Response>"
    )


# --------------------------------------------------------------------------- Call Me


def test_callme():
    assert_twiml(
        dialing.callme(P("PhoneNumber=%2B14155551212&Message=It%27s+me"), "/twimlets/callme"),
        '<Response><Dial action="/twimlets/callme?Dial=true" timeout="20">'
        '<Number url="whisper?Message=It%27s+me">+14155551212</Number></Dial></Response>',
    )
    assert_twiml(
        dialing.callme(P("PhoneNumber=1&FailUrl=&Timeout=5"), "/twimlets/callme"),
        '<Response><Dial action="/twimlets/callme?Dial=true&amp;FailUrl=" timeout="5">'
        '<Number url="whisper?Message=">1</Number></Dial></Response>',
    )
    assert_302(
        dialing.callme(P("Dial=true&FailUrl=%2Fx", DialCallStatus="busy"), "/twimlets/callme"), "/x"
    )


# --------------------------------------------------------------------------- Whisper


def test_whisper_announces_the_caller_and_bridges_on_a_key():
    assert_twiml(
        whisper.whisper(P("Message=", From="+1 415")),
        '<Response><Gather numDigits="1"><Say>You are receiving a call from +. 1.  4. 1. 5. .'
        "  Press any key to accept.</Say></Gather></Response>",
    )
    assert_twiml(
        whisper.whisper(P("Message=%20http://example.com/ring.mp3&HumanCheck=1", From=CALLER)),
        '<Response><Gather numDigits="1"><Play> http://example.com/ring.mp3</Play></Gather>'
        "<Hangup/></Response>",
    )
    assert_twiml(
        whisper.whisper(P("Message=Sales+call%5C%21&HumanCheck=", Caller=CALLER)),
        '<Response><Gather numDigits="1"><Say>Sales call!</Say></Gather><Hangup/></Response>',
    )
    assert_twiml(whisper.whisper(P("Message=x", Digits="5")), "<Response/>")
    assert_twiml(whisper.whisper(P("Message=x", Digits="")), "<Response><Hangup/></Response>")


# --------------------------------------------------------------------------- Voicemail


def test_voicemail_greets_then_records():
    answer, notice = voicemail.voicemail(P("Sms=%2B14155551212", From=CALLER))
    assert notice is None
    assert_twiml(
        answer, "<Response><Say>Please leave a message after the beep.</Say><Record/></Response>"
    )
    answer, _ = voicemail.voicemail(
        P("Message=http%3A%2F%2Fexample.com%2Fgreeting.mp3&Transcribe=true")
    )
    assert_twiml(
        answer, "<Response><Play>http://example.com/greeting.mp3</Play><Record/></Response>"
    )
    answer, _ = voicemail.voicemail(P("Message=Leave+it+at+the+tone&Transcribe=false"))
    assert_twiml(answer, "<Response><Say>Leave it at the tone</Say><Record/></Response>")


def test_voicemail_notification_step():
    url = "http://192.0.2.1:8080/2010-04-01/Accounts/AC1/Recordings/RE1"
    answer, notice = voicemail.voicemail(
        P("Sms=%2B14155551212&Email=me%40example.com", From="+14155550100", RecordingUrl=url)
    )
    assert_twiml(answer, "<Response><Say>Thanks. Good bye.</Say><Hangup/></Response>")
    assert notice == voicemail.Notice(
        caller="+14155550100",
        recording_url=url,
        sms_to="+14155551212",
        email_to="me@example.com",
    )
    assert notice.sms_body == f"New voicemail from +14155550100: {url}.mp3"
    assert notice.email_subject == "New Voicemail Message from (415) 555-0100"
    assert notice.email_body == (
        "You have a new voicemail from (415) 555-0100\n\n"
        f"Click this link to listen to the message:\n{url}.mp3"
    )
    # The Sms and Email targets come from the twimlet's URL, never from the POST body.
    _, notice = voicemail.voicemail(P("", RecordingUrl=url, Sms="+1999", Email="x@y"))
    assert notice is not None and (notice.sms_to, notice.email_to) == ("", "")
    assert [voicemail.phone_format(n) for n in ("+14155550100", "5550100", "+447700900123")] == [
        "(415) 555-0100",
        "555-0100",
        "447700900123",
    ]


# --------------------------------------------------------------------------- Menu


MENU_URL = "/twimlets/menu?Message=Press+1&Options%5B1%5D=%2Fsales"


def test_menu_gathers_for_the_longest_option_and_loops():
    query = (
        "Message=Press+1+or+10&Options[1]=%2Fsales&Options[10]=http%3A%2F%2Fx%2Fhelp&Options[2]="
    )
    assert_twiml(
        menu.menu(P(query), MENU_URL),
        '<Response><Gather numDigits="2"><Say>Press 1 or 10</Say></Gather>'
        f"<Redirect>{MENU_URL.replace('&', '&amp;')}</Redirect></Response>",
    )
    assert_302(menu.menu(P(query, Digits="10"), MENU_URL), "http://x/help")
    assert_302(menu.menu(P(query, Digits="1"), MENU_URL), "/sales")
    assert_twiml(
        menu.menu(P(query, Digits="2"), MENU_URL),
        "<Response><Say>I'm sorry, that wasn't a valid option.</Say>"
        '<Gather numDigits="2"><Say>Press 1 or 10</Say></Gather>'
        f"<Redirect>{MENU_URL.replace('&', '&amp;')}</Redirect></Response>",
    )


def test_menu_without_options_or_message():
    # One bare Options value is option "0"; a blank Message is still said (no trim here).
    assert_302(menu.menu(P("Options=%2Fzero", Digits="0"), "/twimlets/menu"), "/zero")
    assert_twiml(
        menu.menu(P("Message=http://x/menu.mp3"), "/twimlets/menu"),
        '<Response><Gather numDigits="1"><Play>http://x/menu.mp3</Play></Gather>'
        "<Redirect>/twimlets/menu</Redirect></Response>",
    )
    assert_twiml(
        menu.menu(P(), "/twimlets/menu"),
        '<Response><Gather numDigits="1"/><Redirect>/twimlets/menu</Redirect></Response>',
    )


# --------------------------------------------------------------------------- Message, Echo


def test_message_plays_or_says_each_entry_in_order():
    query = "Message[0]=Hello&Message[1]=http%3A%2F%2Fx%2Fa.mp3&Message[2]=+++&Message[3]=Bye%5C%27"
    assert_twiml(
        announcements.message(P(query)),
        "<Response><Say>Hello</Say><Play>http://x/a.mp3</Play><Say>Bye'</Say></Response>",
    )
    assert_twiml(
        announcements.message(P("Message=Just+one")), "<Response><Say>Just one</Say></Response>"
    )
    assert_twiml(announcements.message(P("", Message="posted")), "<Response/>")  # $_GET only
    # Text XML cannot carry is dropped, markup is escaped.
    assert_twiml(
        announcements.message(P("Message=a%01%3Cb%3E%26")),
        "<Response><Say>a&lt;b&gt;&amp;</Say></Response>",
    )


def test_echo_answers_the_twiml_parameter_as_is():
    doc = '<Response><Say voice="alice">Hi &amp; bye</Say></Response>'
    assert announcements.echo(P("Twiml=" + urlencode(doc))) == doc.encode()
    assert announcements.echo(P()) == b""


# --------------------------------------------------------------------------- Hold Music


class Reversed(random.Random):
    def shuffle(self, x):  # type: ignore[override]
        x.reverse()


def test_holdmusic_plays_the_files_shuffled_with_the_message_between():
    files = ["/twimlets/holdmusic/a.wav", "/twimlets/holdmusic/b%20c.mp3"]
    url = "/twimlets/holdmusic?Message=Please+hold&Bucket=com.twilio.music.ambient"
    assert_twiml(
        announcements.holdmusic(P(url.split("?")[1]), url, files, Reversed()),
        "<Response><Play>/twimlets/holdmusic/b%20c.mp3</Play><Say>Please hold</Say>"
        "<Play>/twimlets/holdmusic/a.wav</Play><Say>Please hold</Say>"
        f"<Redirect>{url.replace('&', '&amp;')}</Redirect></Response>",
    )
    answer = announcements.holdmusic(P(), "/twimlets/holdmusic", files, random.Random(1))
    plays = [t for tag, _, t in shape(answer.twiml) if tag == "Play"]
    assert sorted(plays) == sorted(files)
    assert_twiml(
        announcements.holdmusic(P("Bucket=x"), "/twimlets/holdmusic", []),
        "<Response><Say>Failed to fetch the hold music.</Say></Response>",
    )


# --------------------------------------------------------------------------- Conference


def test_conference_says_it_is_not_supported_yet():
    assert_twiml(
        conference.conference(P("Name=standup&Password=1234&Moderators[]=%2B1")),
        "<Response><Say>Sorry, conference calls are not supported on this line yet. Good bye."
        "</Say><Hangup/></Response>",
    )


@pytest.mark.parametrize("location", ["http://x/a b", "http://x/é\r\nSet-Cookie: a=b"])
def test_a_302_location_is_one_line_of_ascii(location):
    answer = dialing.forward(
        P("Dial=true&FailUrl=" + urlencode(location), DialCallStatus="busy"), FWD
    )
    assert answer.location is not None and answer.location.isascii()
    assert " " not in answer.location and "\n" not in answer.location
