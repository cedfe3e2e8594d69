"""An inbound message's webhook: Twilio's request parameters for a received message row."""

from __future__ import annotations

import phonenumbers

from appliance.sms.statuscallback import API_VERSION
from appliance.store.database import Row


def country(number: str) -> str:
    """ISO country of an E.164 number ("US"), or "" when unknown."""
    if not number.startswith("+"):
        return ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    # The exact region when the number is a known one (+1 416... is CA), else the country code's main region.
    region = phonenumbers.region_code_for_number(
        parsed
    ) or phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return "" if region in (None, "ZZ", "001") else str(region)


def sms_webhook_params(row: Row, opt_out_type: str | None = None) -> dict[str, str]:
    """Twilio's inbound SMS webhook parameters for a message row.

    ``opt_out_type`` (STOP, START or HELP) is added as ``OptOutType`` for keyword messages.
    """
    sid = row["sid"]
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": row["account_sid"],
        "From": row["from_number"],
        "To": row["to_number"],
        "Body": row["body"],
        "NumMedia": "0",
        "NumSegments": str(row["num_segments"]),
        "SmsStatus": "received",
        "ApiVersion": API_VERSION,
        "FromCity": "",
        "FromState": "",
        "FromZip": "",
        "FromCountry": country(row["from_number"]),
        "ToCity": "",
        "ToState": "",
        "ToZip": "",
        "ToCountry": country(row["to_number"]),
    }
    if opt_out_type:
        params["OptOutType"] = opt_out_type
    return params
