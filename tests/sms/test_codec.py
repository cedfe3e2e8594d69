from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.sms.codec import (
    MAX_BODY_CHARS,
    BodyTooLong,
    Concat,
    Encoding,
    Segment,
    count_segments,
    encoding_for,
    gsm7_decode,
    gsm7_encode,
    is_gsm7,
    reassemble,
    septet_length,
    split,
)

EXTENSION_CHARS = "€[]{}~^\\|\f"
GSM_BASIC_SAMPLE = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà"
GSM_CHARS = GSM_BASIC_SAMPLE + EXTENSION_CHARS + "abcdefghijklmnopqrstuvwxyz0123456789"

gsm_text = st.text(alphabet=GSM_CHARS, max_size=400)
any_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), max_size=300
)  # no lone surrogates


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


# --- alphabet ------------------------------------------------------------------


def test_is_gsm7_basic_and_extension() -> None:
    assert is_gsm7(GSM_CHARS)
    assert is_gsm7("")
    assert not is_gsm7("ç")  # lower-case c-cedilla is not in GSM 03.38
    assert not is_gsm7("hello 😀")
    assert not is_gsm7("`")


def test_encoding_for() -> None:
    assert encoding_for("Hello [world] €5") is Encoding.GSM7
    assert encoding_for("Привет") is Encoding.UCS2
    assert encoding_for("a" * 500 + "😀") is Encoding.UCS2


def test_septet_length_counts_extension_twice() -> None:
    assert septet_length("abc") == 3
    assert septet_length("€") == 2
    assert septet_length("{a}") == 5
    assert septet_length(EXTENSION_CHARS) == 2 * len(EXTENSION_CHARS)


def test_gsm7_encode_known_values() -> None:
    assert gsm7_encode("@A€") == [0x00, 0x41, 0x1B, 0x65]
    assert gsm7_encode("[]") == [0x1B, 0x3C, 0x1B, 0x3E]
    assert gsm7_encode("£$") == [0x01, 0x02]


def test_gsm7_encode_rejects_non_gsm() -> None:
    with pytest.raises(ValueError, match="index 2"):
        gsm7_encode("ab😀")


def test_gsm7_decode_unknown_escape_and_dangling_escape() -> None:
    # 0x1B 0x41 is not in the extension table -> base character 'A'.
    assert gsm7_decode([0x1B, 0x41]) == "A"
    # Reserved double escape -> space; dangling escape at the end -> space.
    assert gsm7_decode([0x1B, 0x1B, 0x42]) == " B"
    assert gsm7_decode([0x41, 0x1B]) == "A "
    # Values are masked to 7 bits, never raising.
    assert gsm7_decode([0xC1]) == "A"


@given(gsm_text)
def test_gsm7_round_trip(text: str) -> None:
    septets = gsm7_encode(text)
    assert len(septets) == septet_length(text)
    assert all(0 <= s <= 0x7F for s in septets)
    assert gsm7_decode(septets) == text


@given(st.lists(st.integers(min_value=-1000, max_value=1000), max_size=200))
def test_gsm7_decode_never_raises(septets: list[int]) -> None:
    assert isinstance(gsm7_decode(septets), str)


# --- split ------------------------------------------------------------------------


def test_empty_text_is_one_empty_segment() -> None:
    assert split("") == [Segment(text="", encoding=Encoding.GSM7, concat=None)]
    assert count_segments("") == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 153 * 5, 5),
        ("a" * (153 * 5 + 1), 6),
        ("€" * 80, 1),  # 160 septets
        ("€" * 80 + "a", 2),  # 161 septets
        ("ж" * 70, 1),
        ("ж" * 71, 2),
        ("ж" * 134, 2),
        ("ж" * 135, 3),
        ("😀" * 35, 1),  # 70 units
        ("😀" * 35 + "a", 2),  # 71 units
    ],
)
def test_segment_count_boundaries(text: str, expected: int) -> None:
    segments = split(text)
    assert len(segments) == expected
    assert count_segments(text) == expected
    assert "".join(s.text for s in segments) == text


def test_multipart_segments_are_full_and_numbered() -> None:
    segments = split("x" * 400, ref=42)
    assert [len(s.text) for s in segments] == [153, 153, 94]
    assert [s.concat for s in segments] == [Concat(ref=42, total=3, seq=i) for i in (1, 2, 3)]
    assert all(s.encoding is Encoding.GSM7 for s in segments)


def test_single_segment_has_no_concat() -> None:
    (segment,) = split("hello", ref=9)
    assert segment.concat is None


def test_escape_pair_never_split() -> None:
    # 152 plain septets then '€' (2 septets) would straddle the 153 boundary.
    text = "a" * 152 + "€" + "b" * 10
    segments = split(text)
    assert segments[0].text == "a" * 152
    assert segments[1].text == "€" + "b" * 10
    assert all(septet_length(s.text) <= 153 for s in segments)


def test_surrogate_pair_never_split_at_67() -> None:
    # 66 BMP units then an emoji (2 units) straddles the 67-unit boundary.
    text = "ж" * 66 + "😀" + "ж" * 10
    segments = split(text)
    assert segments[0].text == "ж" * 66
    assert segments[1].text == "😀" + "ж" * 10
    assert all(s.encoding is Encoding.UCS2 for s in segments)


def test_one_emoji_makes_whole_message_ucs2() -> None:
    segments = split("a" * 100 + "😀")
    assert {s.encoding for s in segments} == {Encoding.UCS2}
    assert len(segments) == 2


def test_16bit_ref_reduces_capacity() -> None:
    gsm = split("a" * 400, ref=300)
    assert [len(s.text) for s in gsm] == [152, 152, 96]
    assert gsm[0].concat == Concat(ref=300, total=3, seq=1)
    ucs = split("ж" * 140, ref=70000 - 5000)
    assert [len(s.text) for s in ucs] == [66, 66, 8]


def test_bad_ref_rejected() -> None:
    with pytest.raises(ValueError):
        split("hi", ref=65536)
    with pytest.raises(ValueError):
        split("hi", ref=-1)


@settings(max_examples=200)
@given(gsm_text | any_text, st.integers(min_value=0, max_value=0xFFFF))
def test_split_invariants(text: str, ref: int) -> None:
    segments = split(text, ref)
    assert "".join(s.text for s in segments) == text
    assert len({s.encoding for s in segments}) == 1
    assert segments[0].encoding is encoding_for(text)
    wide = ref > 255
    if len(segments) == 1:
        assert segments[0].concat is None
        if segments[0].encoding is Encoding.GSM7:
            assert septet_length(text) <= 160
        else:
            assert _utf16_units(text) <= 70
    else:
        assert [s.concat for s in segments] == [
            Concat(ref=ref, total=len(segments), seq=i) for i in range(1, len(segments) + 1)
        ]
        for s in segments:
            if s.encoding is Encoding.GSM7:
                assert septet_length(s.text) <= (152 if wide else 153)
            else:
                assert _utf16_units(s.text) <= (66 if wide else 67)
    assert count_segments(text) == len(split(text))


def test_body_limit() -> None:
    assert MAX_BODY_CHARS == 1600
    assert len(split("a" * 1600)) == 11
    assert len(split("😀" * 1600)) == 49  # counted in code points, not UTF-16 units
    with pytest.raises(BodyTooLong) as info:
        split("a" * 1601)
    assert info.value.code == 21617
    assert str(info.value) == "The concatenated message body exceeds the 1600 character limit."
    assert isinstance(info.value, ValueError)


# --- reassemble -------------------------------------------------------------------


def test_reassemble_out_of_order() -> None:
    parts = {3: "c", 1: "a", 2: "b"}
    assert reassemble(parts, 3) == ("abc", [])


def test_reassemble_reports_missing() -> None:
    assert reassemble({4: "d", 1: "a"}, 4) == ("ad", [2, 3])
    assert reassemble({}, 2) == ("", [1, 2])


@given(any_text)
def test_reassemble_inverts_split(text: str) -> None:
    segments = split(text)
    parts = {i: s.text for i, s in enumerate(segments, start=1)}
    shuffled = dict(reversed(list(parts.items())))
    assert reassemble(shuffled, len(segments)) == (text, [])
