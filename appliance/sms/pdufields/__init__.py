"""The fields a TS 23.040 PDU is made of, one module per kind of field.

:mod:`~appliance.sms.pdufields.octets` (the cursor, hex, septet packing, BCD),
:mod:`~appliance.sms.pdufields.header` (first-octet bits and TP-ST ranges),
:mod:`~appliance.sms.pdufields.address` (TP-OA/DA/RA and the SMSC),
:mod:`~appliance.sms.pdufields.timestamp` (TP-SCTS and friends) and
:mod:`~appliance.sms.pdufields.userdata` (TP-DCS, the user data header, TP-UD).

Readers take a :class:`~appliance.sms.pdufields.octets.Reader` over the PDU octets and
raise :class:`~appliance.sms.pdufields.octets.PduError` on anything malformed; writers
build the octets and raise ``ValueError`` for values that cannot be encoded.
:mod:`appliance.sms.pdu` assembles whole messages from them.  Pure: no I/O, no threads,
no clocks.
"""
