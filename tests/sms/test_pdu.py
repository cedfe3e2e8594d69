from __future__ import annotations

import dataclasses
import datetime
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.sms.codec import Concat, Encoding, Segment, split
from appliance.sms.inbox import Inbox
from appliance.sms.outbox import Outbox
from appliance.sms.pdu import (
    Deliver,
    PduError,
    StatusReport,
    Submit,
    decode,
    encode_deliver,
    encode_status_report,
    encode_submit,
    status_category,
    tpdu_length,
)
from appliance.store.database import SqliteStore

TEXTBOOK_DELIVER = "07911326040000F0040B911346610089F60000208062917314480CC8F71D14969741F977FD07"
TEXTBOOK_SUBMIT = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37"
# An operator's missed-call alert: TP-UDL 0x27 (39 septets, 35 octets), 65 octets of user data.
MISSED_CALL_ALERT = (
    "07914306073011F0040C91447700091032000042507141201380"
    "27CDF47C5E2683C661361B6496BFDBA0158D76BBC16039188C56B381C274508CA683C9"
    "402819681C66B3E7291788FA068DC36C36481C1EAF41E474980D8AD16E3117"
)

GSM_CHARS = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà€[]{}~^\\|"
gsm_text = st.text(alphabet=GSM_CHARS + "abcdefghij0123456789", max_size=500)
unicode_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=200
) | st.text(alphabet="ж😀𝄞aé€", max_size=200)
numbers = st.from_regex(r"\+?[0-9]{1,20}", fullmatch=True)
zones = st.integers(min_value=-79, max_value=79).map(
    lambda q: datetime.timezone(datetime.timedelta(minutes=15 * q))
)
timestamps = st.builds(
    lambda dt, tz: dt.replace(tzinfo=tz, microsecond=0),
    st.datetimes(
        min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2069, 12, 31)
    ),
    zones,
)

UTC = datetime.UTC
T0 = datetime.datetime(2024, 5, 17, 13, 45, 9, tzinfo=UTC)


# --- known vectors ------------------------------------------------------------------


def test_textbook_deliver() -> None:
    msg = decode(TEXTBOOK_DELIVER)
    assert isinstance(msg, Deliver)
    assert msg.smsc == "+31624000000"
    assert msg.sender == "+31641600986"
    assert msg.text == "How are you?"
    assert msg.encoding is Encoding.GSM7
    assert msg.concat is None
    assert msg.message_class is None
    assert msg.pid == 0
    # SCTS octets 20 80 62 91 73 14 48: 2002-08-26 19:37:41; zone octet 0x48 has the
    # sign bit (bit 3) set and digits "04" -> minus 4 quarter hours (TS 23.040 9.2.3.11).
    assert msg.scts == datetime.datetime(
        2002, 8, 26, 19, 37, 41, tzinfo=datetime.timezone(datetime.timedelta(hours=-1))
    )
    assert msg.raw_user_data == bytes.fromhex("C8F71D14969741F977FD07")
    assert tpdu_length(TEXTBOOK_DELIVER) == len(TEXTBOOK_DELIVER) // 2 - 8


def test_textbook_submit_decodes() -> None:
    msg = decode(TEXTBOOK_SUBMIT, direction="mo")
    assert msg == Submit(
        destination="+46708251358",
        text="hellohello",
        concat=None,
        encoding=Encoding.GSM7,
        mr=0,
        srr=False,
        validity=0xAA,
    )


def test_textbook_submit_encodes_identically() -> None:
    segment = Segment("hellohello", Encoding.GSM7, None)
    pdu, length = encode_submit("+46708251358", segment, mr=0, srr=False, validity=0xAA)
    assert pdu == TEXTBOOK_SUBMIT
    assert length == 23 == tpdu_length(pdu)


def test_submit_defaults_layout() -> None:
    pdu, length = encode_submit("12345", Segment("A", Encoding.GSM7, None), mr=7)
    # 00 SMSC | 31 = SUBMIT+VPF relative+SRR | MR 07 | DA 05 81 21 43 F5 | PID 00 | DCS 00
    # | VP A7 | UDL 01 | 41
    assert pdu == "00310705812143F50000A70141"
    assert length == len(pdu) // 2 - 1


def test_submit_ucs2_layout() -> None:
    pdu, _ = encode_submit("+1", Segment("😀", Encoding.UCS2, None), validity=None, srr=False)
    # first octet 01 (no VP), DA 01 91 F1, DCS 08, UDL 04, D83D DE00
    assert pdu == "0001000191F1000804D83DDE00"


def test_submit_concat_udh_and_fill_bits() -> None:
    segment = Segment("A", Encoding.GSM7, Concat(ref=0x12, total=2, seq=1))
    pdu, _ = encode_submit("1", segment, validity=None, srr=False)
    # UDHI set (0x41); UDL = 7 header septets + 1; UD = 050003120201 then 'A' (0x41) at
    # septet 7 -> bits 49..55 -> octet 6 bits 1..7 -> 0x82.
    assert pdu == "0041000181F100000805000312020182"
    decoded = decode(pdu, direction="mo")
    assert isinstance(decoded, Submit)
    assert decoded.text == "A"
    assert decoded.concat == Concat(ref=0x12, total=2, seq=1)


def test_submit_16bit_ref_udh() -> None:
    segment = Segment("hi", Encoding.UCS2, Concat(ref=0xBEEF, total=3, seq=2))
    pdu, _ = encode_submit("1", segment, validity=None, srr=False)
    assert "0608" + "04BEEF0302" in pdu
    decoded = decode(pdu, direction="mo")
    assert isinstance(decoded, Submit)
    assert decoded.concat == Concat(ref=0xBEEF, total=3, seq=2)
    assert decoded.text == "hi"


# --- round trips --------------------------------------------------------------------


def _submit_round_trip(destination: str, text: str, ref: int) -> None:
    segments = split(text, ref)
    out: list[str] = []
    for i, segment in enumerate(segments):
        pdu, length = encode_submit(destination, segment, mr=i % 256)
        assert pdu.startswith("00")
        assert length == len(pdu) // 2 - 1
        msg = decode(pdu, direction="mo")
        assert isinstance(msg, Submit)
        assert msg.destination == destination
        assert msg.text == segment.text
        assert msg.concat == segment.concat
        assert msg.encoding is segment.encoding
        assert msg.mr == i % 256
        assert msg.srr is True
        assert msg.validity == 0xA7
        out.append(msg.text)
    assert "".join(out) == text


@settings(max_examples=150)
@given(numbers, gsm_text, st.integers(min_value=0, max_value=0xFFFF))
def test_submit_round_trip_gsm(destination: str, text: str, ref: int) -> None:
    _submit_round_trip(destination, text, ref)


@settings(max_examples=150)
@given(numbers, unicode_text, st.integers(min_value=0, max_value=0xFFFF))
def test_submit_round_trip_unicode(destination: str, text: str, ref: int) -> None:
    _submit_round_trip(destination, text, ref)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 160,
        "a" * 161,
        "€" * 80,
        "a" * 159 + "€",  # 161 septets
        "b" * 153 * 3,
        "b" * (153 * 3 + 1),
        "a" * 152 + "€" + "z",
        "[]{}~^\\|€" * 30,
        "ж" * 70,
        "ж" * 71,
        "ж" * 67 * 2,
        "ж" * 66 + "😀" + "ж" * 3,
        "😀" * 35,
        "😀" * 36,
        "",
    ],
)
@pytest.mark.parametrize("ref", [0, 255, 256, 65535])
def test_submit_round_trip_boundaries(text: str, ref: int) -> None:
    _submit_round_trip("+447700900123", text, ref)


def _deliver_round_trip(sender: str, text: str, scts: datetime.datetime, ref: int) -> None:
    for segment in split(text, ref):
        pdu = encode_deliver(sender, segment, scts=scts)
        msg = decode(pdu)
        assert isinstance(msg, Deliver)
        assert msg.sender == sender
        assert msg.text == segment.text
        assert msg.concat == segment.concat
        assert msg.encoding is segment.encoding
        assert msg.scts == scts
        assert msg.scts.utcoffset() == scts.utcoffset()
        assert msg.smsc == "+447785016005"
        assert msg.message_class is None


@settings(max_examples=150)
@given(
    numbers | st.text(alphabet="ABCXYZabcxyz0 -&", min_size=1, max_size=11),
    gsm_text | unicode_text,
    timestamps,
    st.integers(min_value=0, max_value=0xFFFF),
)
def test_deliver_round_trip(sender: str, text: str, scts: datetime.datetime, ref: int) -> None:
    _deliver_round_trip(sender, text, scts, ref)


def test_deliver_alphanumeric_sender_negative_zone_16bit_ref() -> None:
    scts = datetime.datetime(
        2031, 12, 31, 23, 59, 58, tzinfo=datetime.timezone(-datetime.timedelta(hours=5, minutes=45))
    )
    segments = split("Your code is 1234 " * 20 + "😀", ref=0xABCD)
    assert len(segments) > 1
    texts: list[str] = []
    for segment in segments:
        pdu = encode_deliver("Twilio", segment, scts=scts, smsc=None)
        assert pdu.startswith("00")
        # 6 septets -> 11 semi-octets, TOA D0.
        assert pdu[2:8] == "440BD0"
        msg = decode(pdu)
        assert isinstance(msg, Deliver)
        assert msg.sender == "Twilio"
        assert msg.smsc is None
        assert msg.scts == scts
        assert msg.concat == segment.concat
        assert msg.concat is not None and msg.concat.ref == 0xABCD
        texts.append(msg.text)
    assert "".join(texts) == "Your code is 1234 " * 20 + "😀"


def test_deliver_message_class_and_raw_data() -> None:
    pdu = encode_deliver(
        "+15551234567", Segment("hi", Encoding.GSM7, None), scts=T0, message_class=0
    )
    msg = decode(pdu)
    assert isinstance(msg, Deliver)
    assert msg.message_class == 0
    assert msg.text == "hi"


def test_deliver_zero_padding_lengths() -> None:
    # odd and even digit counts, bare digits (TOA 0x81)
    for sender in ("1", "12", "12345678901234567890"):
        msg = decode(encode_deliver(sender, Segment("x", Encoding.GSM7, None), scts=T0))
        assert isinstance(msg, Deliver)
        assert msg.sender == sender


def test_status_report_round_trip() -> None:
    scts = datetime.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=-3))
    )
    discharge = datetime.datetime(
        2024, 1, 2, 3, 4, 9, tzinfo=datetime.timezone(datetime.timedelta(hours=9, minutes=30))
    )
    pdu = encode_status_report(200, "+447700900123", scts=scts, discharge=discharge, status=0x41)
    msg = decode(pdu)
    assert msg == StatusReport(
        mr=200, recipient="+447700900123", scts=scts, discharge=discharge, status=0x41
    )
    assert status_category(msg.status) == "undelivered"


def test_status_report_with_optional_trailer() -> None:
    pdu = encode_status_report(1, "123", scts=T0, discharge=T0, status=0) + "00"  # TP-PI
    msg = decode(pdu)
    assert isinstance(msg, StatusReport)
    assert msg.status == 0


# --- DCS ----------------------------------------------------------------------------


def _deliver_with_dcs(dcs: int, ud_hex: str, udl: int) -> Deliver:
    base = encode_deliver("123", Segment("", Encoding.GSM7, None), scts=T0, smsc=None)
    # base = 00 | 04 | 03 81 21F3 | 00 | 00 | SCTS(7) | 00
    head = base[: 2 + 2 + 8 + 2]
    scts = base[16:30]
    msg = decode(f"{head}{dcs:02X}{scts}{udl:02X}{ud_hex}")
    assert isinstance(msg, Deliver)
    return msg


def test_dcs_8bit_is_latin1_with_raw_bytes() -> None:
    msg = _deliver_with_dcs(0x04, "00FF41", 3)
    assert msg.encoding is None
    assert msg.text == "\x00ÿA"
    assert msg.raw_user_data == b"\x00\xffA"


@pytest.mark.parametrize(
    ("dcs", "encoding", "message_class"),
    [
        (0x00, Encoding.GSM7, None),
        (0x08, Encoding.UCS2, None),
        (0x10, Encoding.GSM7, 0),
        (0x19, Encoding.UCS2, 1),
        (0x16, None, 2),
        (0x0C, Encoding.GSM7, None),  # reserved alphabet -> GSM-7
        (0x48, Encoding.UCS2, None),  # automatic deletion group
        (0xC0, Encoding.GSM7, None),  # MWI discard
        (0xD8, Encoding.GSM7, None),  # MWI store
        (0xE8, Encoding.UCS2, None),  # MWI store UCS-2
        (0xF0, Encoding.GSM7, 0),
        (0xF1, Encoding.GSM7, 1),
        (0xF6, None, 2),
        (0xF7, None, 3),
    ],
)
def test_dcs_groups(dcs: int, encoding: Encoding | None, message_class: int | None) -> None:
    if encoding is Encoding.UCS2:
        msg = _deliver_with_dcs(dcs, "0048", 2)
        assert msg.text == "H"
    elif encoding is Encoding.GSM7:
        msg = _deliver_with_dcs(dcs, "C8", 1)
        assert msg.text == "H"
    else:
        msg = _deliver_with_dcs(dcs, "48", 1)
        assert msg.text == "H"
    assert msg.encoding is encoding
    assert msg.message_class == message_class


def test_ucs2_surrogate_pair_and_lone_surrogate() -> None:
    assert _deliver_with_dcs(0x08, "D83DDE00", 4).text == "😀"
    assert _deliver_with_dcs(0x08, "D83D0041", 4).text == "\ufffdA"
    assert _deliver_with_dcs(0x08, "004100", 3).text == "A\ufffd"


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    ["", "0", "zz", "07911326040000F00", "0G", "00 11", "00110"],
)
def test_bad_hex_and_truncation(bad: str) -> None:
    with pytest.raises(PduError):
        decode(bad)


def test_udl_beyond_data() -> None:
    with pytest.raises(PduError, match="TP-UDL"):
        decode(TEXTBOOK_DELIVER[:-2])
    with pytest.raises(PduError, match="TP-UDL"):
        decode(TEXTBOOK_DELIVER.replace("0CC8F7", "FFC8F7"))


def test_trailing_octets_are_returned_not_rejected() -> None:
    # Decoded by the declared TP-UDL; what follows is handed back for the caller to log.
    msg = decode(TEXTBOOK_DELIVER + "00")
    assert isinstance(msg, Deliver)
    assert msg.text == "How are you?"
    assert msg.trailing == b"\x00"
    assert decode(TEXTBOOK_DELIVER) == dataclasses.replace(msg, trailing=b"")
    submit = decode(TEXTBOOK_SUBMIT + "FFFF", direction="mo")
    assert isinstance(submit, Submit)
    assert submit.text == "hellohello"
    assert submit.trailing == b"\xff\xff"


def test_operator_missed_call_alert_with_udl_30_octets_short() -> None:
    # The real-world shape (issue 11, finding 16): TP-UDL declares 39 septets (35 octets)
    # but the PDU carries 65 octets of user data.  gammu shows the declared text; so do we.
    msg = decode(MISSED_CALL_ALERT)
    assert isinstance(msg, Deliver)
    assert msg.sender == "+447700900123"
    assert msg.text == "Missed call from +447700900456 at 14:02"
    assert len(msg.trailing) == 30
    assert msg.trailing == bytes.fromhex(MISSED_CALL_ALERT)[-30:]
    assert msg.scts == datetime.datetime(
        2024, 5, 17, 14, 2, 31, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )


def test_inbox_stores_a_pdu_with_trailing_octets_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    try:
        outbox = Outbox(store, lambda: "AC" + "0" * 32)
        number = {"phone_number": "+15005550006", "sms_url": ""}  # no webhook job
        inbox = Inbox(store, outbox, lambda: "AC" + "0" * 32, lambda _modem: number, 60.0)
        with caplog.at_level(logging.WARNING, logger="appliance.sms.inbox"):
            result = inbox.ingest("modem1", "SM", 3, MISSED_CALL_ALERT, "AT+CMGR")
        assert result.kind == "message"
        row = store.read_one("SELECT body FROM messages WHERE sid = ?", (result.sid,))
        assert row is not None and row["body"] == "Missed call from +447700900456 at 14:02"
        quarantined = store.read_one("SELECT COUNT(*) FROM quarantine")
        assert quarantined is not None and quarantined[0] == 0
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert [m for m in warnings if "TP-UDL" in m and "30" in m and "quarantine" not in m]
    finally:
        store.close()


def test_invalid_semi_octets() -> None:
    with pytest.raises(PduError, match="semi-octet"):
        decode(TEXTBOOK_DELIVER.replace("20806291731448", "2A806291731448"))
    with pytest.raises(PduError, match="semi-octet"):
        decode(TEXTBOOK_DELIVER.replace("1346610089F6", "13466F0089F6"))


@pytest.mark.parametrize(
    ("yy", "year"),
    [("99", 1999), ("70", 1970), ("69", 2069), ("00", 2000), ("24", 2024)],
)
def test_scts_year_pivot(yy: str, year: int) -> None:
    # TS 23.040 gives two digits; 70-99 read as 19xx and 00-69 as 20xx (as gammu does).
    swapped = yy[::-1]
    msg = decode(TEXTBOOK_DELIVER.replace("20806291731448", swapped + "806291731448"))
    assert isinstance(msg, Deliver)
    assert msg.scts.year == year
    assert (msg.scts.month, msg.scts.day) == (8, 26)


def test_scts_years_outside_the_window_cannot_be_encoded() -> None:
    scts = datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
    msg = decode(encode_deliver("1", Segment("x", Encoding.GSM7, None), scts=scts))
    assert isinstance(msg, Deliver) and msg.scts == scts
    for year in (1969, 2070):
        with pytest.raises(ValueError, match="not representable"):
            encode_deliver("1", Segment("x", Encoding.GSM7, None), scts=scts.replace(year=year))


def test_invalid_date() -> None:
    with pytest.raises(PduError, match="TP-SCTS"):
        decode(TEXTBOOK_DELIVER.replace("20806291731448", "20319291731448"))  # 29 Feb 2013


def test_wrong_direction() -> None:
    with pytest.raises(PduError, match="TP-MTI"):
        decode(TEXTBOOK_SUBMIT)  # a SUBMIT read as mt
    with pytest.raises(PduError, match="TP-MTI"):
        decode(TEXTBOOK_DELIVER, direction="mo")
    with pytest.raises(ValueError):
        decode(TEXTBOOK_DELIVER, direction="sideways")


def test_udh_overrun_and_bad_concat_length() -> None:
    msg = _deliver_with_dcs_udhi("050003010201AA", 7)
    assert msg.concat == Concat(ref=1, total=2, seq=1)
    assert msg.raw_user_data == b"\xaa"
    with pytest.raises(PduError):
        _deliver_with_dcs_udhi("0700030102", 5)  # UDHL beyond UD
    with pytest.raises(PduError):
        _deliver_with_dcs_udhi("0400020102", 5)  # concat IE of length 2
    with pytest.raises(PduError):
        _deliver_with_dcs_udhi("03000501", 4)  # IE overruns the UDH


def test_invalid_concat_values_are_ignored() -> None:
    assert _deliver_with_dcs_udhi("050003010300", 6).concat is None  # seq 0
    assert _deliver_with_dcs_udhi("050003010003", 6).concat is None  # total 0
    assert _deliver_with_dcs_udhi("050003010203", 6).concat is None  # seq > total


def _deliver_with_dcs_udhi(ud_hex: str, udl: int) -> Deliver:
    base = encode_deliver("123", Segment("", Encoding.GSM7, None), scts=T0, smsc=None)
    pdu = f"0044{base[4:14]}04{base[16:30]}{udl:02X}{ud_hex}"
    msg = decode(pdu)
    assert isinstance(msg, Deliver)
    return msg


@settings(max_examples=2000)
@given(st.binary(max_size=200), st.booleans(), st.sampled_from(["mt", "mo"]))
def test_fuzz_random_bytes(data: bytes, has_smsc: bool, direction: str) -> None:
    try:
        decode(data.hex(), has_smsc=has_smsc, direction=direction)
    except PduError:
        pass


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_fuzz_random_text(text: str) -> None:
    try:
        decode(text)
    except PduError:
        pass


@settings(max_examples=300)
@given(st.binary(min_size=1, max_size=180), st.integers(min_value=0, max_value=3))
def test_fuzz_structured_prefix(body: bytes, mti: int) -> None:
    # A valid-looking SMSC + first octet so the fuzzer gets deep into the TPDU.
    pdu = "07911326040000F0" + bytes((mti | (body[0] & 0xFC),)).hex() + body[1:].hex()
    for direction in ("mt", "mo"):
        try:
            decode(pdu, direction=direction)
        except PduError:
            pass


def _valid_pdus() -> list[tuple[str, str]]:
    concat = Segment("€x" * 20, Encoding.GSM7, Concat(ref=300, total=2, seq=1))
    return [
        (TEXTBOOK_DELIVER, "mt"),
        (TEXTBOOK_SUBMIT, "mo"),
        (encode_deliver("Twilio", concat, scts=T0), "mt"),
        (encode_deliver("+1555", Segment("😀ж", Encoding.UCS2, None), scts=T0), "mt"),
        (encode_submit("+1555", concat)[0], "mo"),
        (encode_status_report(5, "+1555", scts=T0, discharge=T0, status=0x20), "mt"),
    ]


@pytest.mark.parametrize(("pdu", "direction"), _valid_pdus())
def test_truncations_raise_pdu_error(pdu: str, direction: str) -> None:
    decode(pdu, direction=direction)  # the full PDU is valid
    for cut in range(0, len(pdu), 2):
        with pytest.raises(PduError):
            decode(pdu[:cut], direction=direction)


# --- encoder validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "destination",
    [
        "",
        "+",
        "+44;7700",
        "447700900123;",
        "+4477OO900123",
        "abc",
        "+44 7700 900123",
        "+447700900123\r",
        "+447700900123\x1a",
        "+447700900123\n",
        "4477\rATD123",
        "+" + "1" * 21,
        "++44",
        "٣٣٣",  # non-ASCII digits
    ],
)
def test_encode_submit_rejects_bad_destination(destination: str) -> None:
    with pytest.raises(ValueError):
        encode_submit(destination, Segment("hi", Encoding.GSM7, None))


def test_encode_submit_accepts_20_digits() -> None:
    pdu, _ = encode_submit("+" + "9" * 20, Segment("hi", Encoding.GSM7, None))
    msg = decode(pdu, direction="mo")
    assert isinstance(msg, Submit)
    assert msg.destination == "+" + "9" * 20


def test_encode_rejects_oversized_or_invalid_segments() -> None:
    with pytest.raises(ValueError):
        encode_submit("1", Segment("a" * 161, Encoding.GSM7, None))
    with pytest.raises(ValueError):
        encode_submit("1", Segment("a" * 154, Encoding.GSM7, Concat(1, 2, 1)))
    with pytest.raises(ValueError):
        encode_submit("1", Segment("ж" * 71, Encoding.UCS2, None))
    with pytest.raises(ValueError):
        encode_submit("1", Segment("ж", Encoding.GSM7, None))
    with pytest.raises(ValueError):
        encode_submit("1", Segment("a", Encoding.GSM7, Concat(1, 2, 3)))
    with pytest.raises(ValueError):
        encode_submit("1", Segment("a", Encoding.GSM7, None), mr=256)
    with pytest.raises(ValueError):
        encode_deliver("1", Segment("a", Encoding.GSM7, None), scts=T0.replace(tzinfo=None))
    with pytest.raises(ValueError):
        encode_deliver("ThisIsTooLong", Segment("a", Encoding.GSM7, None), scts=T0)
    with pytest.raises(ValueError):
        encode_deliver("1", Segment("a", Encoding.GSM7, None), scts=T0, message_class=4)


# --- helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tp_st", "category"),
    [
        (0x00, "delivered"),
        (0x02, "delivered"),
        (0x1F, "delivered"),
        (0x20, "pending"),
        (0x3F, "pending"),
        (0x40, "undelivered"),
        (0x5F, "undelivered"),
        (0x60, "undelivered"),
        (0x7F, "undelivered"),
    ],
)
def test_status_category(tp_st: int, category: str) -> None:
    assert status_category(tp_st) == category


def test_tpdu_length() -> None:
    assert tpdu_length(TEXTBOOK_SUBMIT) == 23
    assert tpdu_length(TEXTBOOK_SUBMIT[2:], has_smsc=False) == 23
    with pytest.raises(PduError):
        tpdu_length("09AA")
    with pytest.raises(PduError):
        tpdu_length("xyz")
