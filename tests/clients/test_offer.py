"""A browser's SDP, checked before aiortc sees it (appliance.clients.offer): what Chrome sends
through the Voice SDK passes, with its mDNS candidates dropped; anything else is refused with
31100 and a reason, never a traceback."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.clients import offer
from appliance.clients.pstream import ProtocolError

# What Chrome's offer through the Voice SDK looks like (codecPreferences [PCMU, opus], no
# candidates: the SDK sends it as soon as setLocalDescription resolves).
CHROME = (
    "v=0\r\n"
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"
    "s=-\r\n"
    "t=0 0\r\n"
    "a=group:BUNDLE 0\r\n"
    "a=extmap-allow-mixed\r\n"
    "a=msid-semantic: WMS 5f0c2a\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 0 111 63 9 8 13 110 126\r\n"
    "c=IN IP4 0.0.0.0\r\n"
    "a=rtcp:9 IN IP4 0.0.0.0\r\n"
    "a=ice-ufrag:Kq7h\r\n"
    "a=ice-pwd:t3bW0nBvBQ6H2dS5bZ1m0Z8Y\r\n"
    "a=ice-options:trickle\r\n"
    "a=fingerprint:sha-256 5B:0C:29:AF:1C:0F:EB:87:60:4C:56:5E:4C:0B:33:9E:3B:5A:4A:91:1C:"
    "7E:D1:43:7A:9E:6B:24:2A:F5:88:5E\r\n"
    "a=setup:actpass\r\n"
    "a=mid:0\r\n"
    "a=sendrecv\r\n"
    "a=msid:5f0c2a 7b1e\r\n"
    "a=rtcp-mux\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:111 opus/48000/2\r\n"
    "a=rtcp-fb:111 transport-cc\r\n"
    "a=fmtp:111 minptime=10;useinbandfec=1\r\n"
    "a=rtpmap:63 red/48000/2\r\n"
    "a=fmtp:63 111/111\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:13 CN/8000\r\n"
    "a=rtpmap:110 telephone-event/48000\r\n"
    "a=rtpmap:126 telephone-event/8000\r\n"
    "a=ssrc:1439 cname:xyz\r\n"
)
MDNS = "a=candidate:1 1 udp 2122260223 4f3c2d1e-aaaa-bbbb-cccc-0123456789ab.local 54321 typ host generation 0\r\n"
HOST = "a=candidate:2 1 udp 2122194687 192.168.1.20 54322 typ host generation 0\r\n"


def test_chromes_offer_without_candidates_passes():
    checked = offer.check(CHROME)
    assert checked.codecs == ("PCMU", "opus")
    assert checked.candidates == 0 and checked.dropped == 0
    assert checked.sdp == CHROME


def test_mdns_candidates_are_dropped_and_host_ones_kept():
    checked = offer.check(CHROME + MDNS + HOST)
    assert checked.dropped == 1 and checked.candidates == 1
    assert ".local" not in checked.sdp and "192.168.1.20 54322" in checked.sdp


def test_opus_only_and_bare_newlines_pass():
    sdp = CHROME.replace("SAVPF 0 111 63", "SAVPF 111 63").replace("\r\n", "\n")
    assert offer.check(sdp, kind="answer").codecs == ("opus",)


@pytest.mark.parametrize(
    ("sdp", "why"),
    [
        ("", "no SDP"),
        (None, "no SDP"),
        ("x" * (64 * 1024 + 1), "at most"),
        ("o=- 1 2 IN IP4 127.0.0.1\r\n", "v=0"),
        (CHROME + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "exactly one audio"),
        (CHROME.replace("m=audio", "m=video"), "exactly one audio"),
        (CHROME.replace("UDP/TLS/RTP/SAVPF", "RTP/AVP"), "DTLS-SRTP"),
        (CHROME.replace("a=ice-ufrag:Kq7h\r\n", ""), "ice-ufrag"),
        (CHROME.replace("a=ice-pwd:t3bW0nBvBQ6H2dS5bZ1m0Z8Y\r\n", ""), "ice-pwd"),
        (CHROME.replace("a=fingerprint:sha-256", "a=fingerprint:md5"), "fingerprint"),
        (CHROME.replace("SAVPF 0 111 63", "SAVPF 63"), "neither PCMU nor Opus"),
        (CHROME + "a=candidate:garbage\r\n", "candidate"),
        (CHROME + "a=x:\x00\r\n", "printable"),
        (CHROME + "hello\r\n", "printable"),
    ],
)
def test_unusable_sdps_get_31100_and_a_reason(sdp, why):
    with pytest.raises(ProtocolError) as e:
        offer.check(sdp)
    assert e.value.code == 31100 and why in e.value.message


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=2000),
        st.lists(
            st.sampled_from(CHROME.split("\r\n") + [MDNS, HOST, "m=audio x"]), max_size=40
        ).map("\r\n".join),
        st.binary(max_size=200),
        st.integers(),
    )
)
def test_no_input_crashes_the_check(sdp):
    """Anything a page sends: a checked offer, or 31100 with a reason."""
    try:
        checked = offer.check(sdp)
    except ProtocolError as e:
        assert e.code == 31100 and e.message.startswith("The SDP cannot be used")
    else:
        assert checked.codecs and ".local " not in checked.sdp
