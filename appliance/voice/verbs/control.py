"""Verbs that end or move the call: ``<Hangup>``, ``<Reject>`` (once answered), ``<Redirect>``."""

from __future__ import annotations

from typing import Any

from appliance.voice.documents import FAILED
from appliance.voice.session import CallSession


def hangup(session: CallSession, verb: Any, doc: Any) -> Any:
    session.hangup()


def reject(session: CallSession, verb: Any, doc: Any) -> Any:
    session.hangup()  # after answering, Reject is a hang-up (before, the flow rejects it)


def redirect(session: CallSession, verb: Any, doc: Any) -> Any:
    result = session.documents.fetch(verb.url, verb.method or "POST", {})
    return result if result is not None else FAILED
