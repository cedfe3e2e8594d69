"""Send outcomes: what the modem's refusals and the network's status reports mean for a message.

A ``+CMS ERROR`` (3GPP 27.005 3.2.5) is either worth retrying later or maps onto one
of Twilio's asynchronous error codes; a status report's TP-Status (TS 23.040 9.2.3.15)
maps onto a message status and, when undelivered, an error code.
"""

from __future__ import annotations

from appliance.sms import pdu

# +CMS ERROR codes (3GPP 27.005 3.2.5) that mean "try again later".
RETRYABLE_CMS = {
    38,  # network out of order
    41,  # temporary failure
    42,  # congestion
    47,  # resources unavailable
    331,  # no network service
    332,  # network timeout
    500,  # unknown error (SIM800 answers this for transient radio failures)
    512,  # (SIMCom) another SMS being received: "MM establishment failure"
    515,  # device busy
}
# +CMS ERROR codes mapped to Twilio's asynchronous error codes.
CMS_TO_TWILIO = {
    1: 30005,  # unassigned number
    8: 30004,  # operator determined barring
    10: 30004,  # call barred
    21: 30007,  # short message transfer rejected
    27: 30003,  # destination out of service
    28: 30005,  # unidentified subscriber
    29: 30004,  # facility rejected
    30: 30005,  # unknown subscriber
}


def twilio_error_for_cms(code: int | None) -> int:
    return CMS_TO_TWILIO.get(code or 0, 30008)


def report_outcome(tp_st: int) -> tuple[str, int | None]:
    """TP-Status of a status report -> (message status, Twilio error code)."""
    category = pdu.status_category(tp_st)
    if category == "delivered":
        return "delivered", None
    if category == "pending":
        return "sent", None
    if tp_st in (0x41, 0x44, 0x62):  # incompatible destination, SC-specific, no response from SME
        return "undelivered", 30003
    if tp_st in (0x43, 0x45):  # connection rejected by SME, error in SME
        return "undelivered", 30005
    if tp_st in (0x42, 0x48, 0x63):  # rejected, barring
        return "undelivered", 30007 if tp_st == 0x42 else 30004
    if tp_st in (0x46, 0x47, 0x66):  # validity expired / deleted
        return "undelivered", 30003
    return "undelivered", 30008
