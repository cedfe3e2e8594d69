"""The Conference twimlet, until the appliance has conferences.  Pure.

The classic asked for ``Password`` (a ``<Gather>``), spoke ``Message`` and put the caller
in ``<Dial><Conference>``.  A GSM modem carries one call at a time and the appliance has
no conference bridge yet (``<Conference>`` is skipped by its TwiML parser), so this
answer says so plainly and hangs up instead of leaving the caller in silence.
"""

from __future__ import annotations

from appliance.twimlets.document import Answer, Document
from appliance.twimlets.php import Params

__all__ = ["NOT_SUPPORTED", "conference"]

NOT_SUPPORTED = "Sorry, conference calls are not supported on this line yet. Good bye."


def conference(p: Params) -> Answer:
    """Conference: every parameter (``Name``, ``Password``, ``Moderators[]``, ``Music``,
    ``Message``) is accepted and ignored."""
    del p
    doc = Document()
    doc.add("Say", NOT_SUPPORTED)
    doc.add("Hangup")
    return doc.answer()
