"""One try of an inbound SMS webhook: the URL, its fallback, the TwiML and its ``<Redirect>``s.

:func:`run_sms` makes the requests (no lock held, nothing written) and returns an
:class:`Outcome` for the dispatcher to commit in one transaction:

* the SMS URL is requested; on a retrieval failure, the fallback URL (with
  ``ErrorCode`` and ``ErrorUrl`` added, as Twilio does); a retrieval failure of both
  asks for a retry;
* a TwiML error (11750, 12100, 12102, 12300) also tries the fallback, but is not
  retried: the same document would come back.  A body over the client's ``max_body``
  (Twilio's 64 kB) is 11750 "TwiML response body too large", not a parse failure;
* ``<Redirect>`` requests the next document with the same parameters, at most
  ``max_redirects`` times; a failed redirect ends the document (earlier messages stand);
* at most :data:`MAX_REPLIES` ``<Message>`` replies per incoming message, counted across
  redirects and the fallback; the rest are dropped with warning 14109 (Twilio's "TwiML
  Reply message limit exceeded").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from appliance.store.database import Row
from appliance.twiml import messaging
from appliance.webhooks.client import WebhookClient
from appliance.webhooks.failures import HTTP_RETRIEVAL_FAILURE
from appliance.webhooks.result import WebhookResult

__all__ = [
    "BODY_TOO_LARGE",
    "MAX_REPLIES",
    "REPLY_LIMIT_EXCEEDED",
    "Outcome",
    "conversation",
    "run_sms",
]

MAX_REPLIES = 10  # Twilio: at most 10 TwiML replies to one incoming message
REPLY_LIMIT_EXCEEDED = 14109  # warning: TwiML Reply message limit exceeded
BODY_TOO_LARGE = 11750  # error: TwiML response body too large (over 64 kB)
SCHEMA_WARNING = 12200


@dataclass
class Outcome:
    """What one job attempt produced, committed at once."""

    log: list[tuple[WebhookResult, int | None, str | None]] = field(default_factory=list)
    replies: list[messaging.Message] = field(default_factory=list)
    dropped: int = 0  # <Message>s beyond MAX_REPLIES
    success: bool = False
    retry: bool = False
    cookies: str | None = None  # the conversation's jar after the requests; None: empty
    jar_used: bool = False  # requests were made with the jar: save it (delete it if empty)


def conversation(params: Mapping[str, str]) -> str:
    """The key of a conversation's cookie jar: the From/To pair, as Twilio keeps them."""
    return f"{params.get('From', '')}|{params.get('To', '')}"


def run_sms(
    client: WebhookClient,
    job: Row,
    params: dict[str, str],
    cookies: str | None,
    *,
    max_redirects: int,
) -> Outcome:
    """Request the job's URL (then its fallback) and run the TwiML; see the module docstring."""
    outcome = Outcome()
    targets = [(job["url"], job["method"])]
    if job["fallback_url"]:
        targets.append((job["fallback_url"], job["fallback_method"]))
    for n, (url, method) in enumerate(targets):
        p = params
        if n == 1:
            first = outcome.log[-1][1]
            p = dict(params, ErrorCode=str(first or HTTP_RETRIEVAL_FAILURE), ErrorUrl=job["url"])
        result, cookies = client.request(
            url, method, p, cookies=cookies, idempotency_token=job["token"]
        )
        outcome.cookies, outcome.jar_used = cookies, True
        if not result.ok:
            outcome.log.append((result, result.error_code, result.error_message))
            outcome.retry = True
            continue
        ok = _run_twiml(client, result, p, outcome, max_redirects)
        outcome.retry = False  # success, or a TwiML error: the same document would come back
        if ok:
            outcome.success = True
            break
    if outcome.dropped:
        outcome.log.append(
            (
                outcome.log[-1][0],
                REPLY_LIMIT_EXCEEDED,
                f"TwiML Reply message limit exceeded: {outcome.dropped} <Message> verb(s) beyond"
                f" the {MAX_REPLIES} replies allowed per incoming message were not sent",
            )
        )
    return outcome


def _run_twiml(
    client: WebhookClient,
    result: WebhookResult,
    params: dict[str, str],
    outcome: Outcome,
    max_redirects: int,
) -> bool:
    """Parse the document, follow <Redirect>s; collect <Message>s.  False on a TwiML error."""
    redirects = 0
    while True:
        if result.truncated:
            message = f"TwiML response body too large: more than {client.max_body // 1024} kB"
            outcome.log.append((result, BODY_TOO_LARGE, message))
            return False
        try:
            doc = messaging.parse(result.body, result.content_type, base_url=result.url)
        except messaging.TwimlError as e:
            outcome.log.append((result, e.code, e.message))
            return False
        outcome.log.append((result, None, None))
        for warning in doc.warnings:
            outcome.log.append((result, warning.code, warning.message))
        follow: messaging.Redirect | None = None
        for verb in doc.verbs:
            if isinstance(verb, messaging.Message):
                if len(outcome.replies) < MAX_REPLIES:
                    outcome.replies.append(verb)
                else:
                    outcome.dropped += 1
            elif isinstance(verb, messaging.Redirect):
                follow = verb
                break
        if follow is None:
            return True
        redirects += 1
        if redirects > max_redirects:
            message = f"More than {max_redirects} redirects; stopped"
            outcome.log.append((result, SCHEMA_WARNING, message))
            return True
        result, outcome.cookies = client.request(
            follow.url, follow.method, params, cookies=outcome.cookies
        )
        outcome.jar_used = True
        if not result.ok:
            outcome.log.append((result, result.error_code, result.error_message))
            return True  # Twilio: a failed redirect ends the document; earlier messages stand
