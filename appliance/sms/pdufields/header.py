"""Header tables of a TPDU: first-octet bits (TP-MTI, TP-MMS, TP-VPF, TP-SRR, TP-UDHI), TP-ST ranges."""

from __future__ import annotations

# --- TP-MTI (first octet, bits 1-0) -------------------------------------------
MTI_MASK = 0x03
MTI_DELIVER = 0x00
MTI_SUBMIT = 0x01
MTI_STATUS_REPORT = 0x02

# --- other first-octet bits ---------------------------------------------------
FO_MMS = 0x04  # SMS-DELIVER / STATUS-REPORT: TP-More-Messages-to-Send (1 = no more)
FO_VPF_MASK = 0x18  # SMS-SUBMIT: TP-Validity-Period-Format
FO_VPF_NONE = 0x00
FO_VPF_ENHANCED = 0x08
FO_VPF_RELATIVE = 0x10
FO_VPF_ABSOLUTE = 0x18
FO_SRR = 0x20  # SMS-SUBMIT: status report request
FO_UDHI = 0x40  # user data header indicator

# --- TP-VP --------------------------------------------------------------------
DEFAULT_VALIDITY = 0xA7  # relative: 24 hours

# TP-ST ranges (TS 23.040 9.2.3.15).
ST_DELIVERED_MAX = 0x1F
ST_PENDING_MAX = 0x3F
