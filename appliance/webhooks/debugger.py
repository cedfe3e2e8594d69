"""The request inspector's actions: replay a logged webhook request, or send a test one.

Both go through the appliance's own :class:`~appliance.webhooks.client.WebhookClient`, so the
request is signed afresh (``X-Twilio-Signature`` for the URL as sent and the AuthToken of
now), carries a new idempotency token and keeps the client's timeouts and redirect rules.
Neither runs the TwiML that comes back (a replayed SMS webhook must not send its replies
again): the answer is only logged, as a new ``webhook_log`` row that says where it came from
(``source`` ``replay`` with ``replay_of``, or ``test``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from appliance.webhooks.joblog import log_result

if TYPE_CHECKING:
    from appliance.store.database import Store
    from appliance.webhooks.client import WebhookClient

REPLAY = "replay"  # webhook_log.source of a replayed request
TEST = "test"  # webhook_log.source of a test request sent from the panel


class NotReplayable(Exception):
    """The log row is not a request that can be sent again (a warning, or unknown)."""


def send(
    store: Store,
    client: WebhookClient,
    url: str,
    method: str,
    params: Mapping[str, str],
    *,
    source: str,
    replay_of: int | None = None,
    message_sid: str | None = None,
    call_sid: str | None = None,
) -> int:
    """Send one request and log it; returns the new log row's id."""
    result, _ = client.request(url, method, params)
    now = time.time()
    request = json.dumps(dict(params), sort_keys=True)
    return store.write(
        lambda conn: log_result(
            conn,
            result,
            request=request,
            code=result.error_code,
            message=result.error_message,
            now=now,
            message_sid=message_sid,
            call_sid=call_sid,
            replay_of=replay_of,
            source=source,
        )
    )


def logged_params(raw: str | None) -> dict[str, str] | None:
    """A log row's request parameters (a JSON object of strings), or None if it holds none."""
    try:
        value = json.loads(raw or "")
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}


def replay(store: Store, client: WebhookClient, log_id: int) -> int:
    """Send logged request ``log_id`` again (the URL and method first asked for, before any
    redirect); returns the new row's id.  :class:`NotReplayable` if there is no such request."""
    row = store.read_one("SELECT * FROM webhook_log WHERE id = ?", (log_id,))
    if row is None:
        raise NotReplayable(f"no webhook request {log_id}")
    params = logged_params(row["request"])
    url = row["requested_url"] or row["url"]
    method = (row["requested_method"] or row["method"] or "").upper()
    if params is None or not url or method not in ("GET", "POST"):
        raise NotReplayable("this entry is a warning, not a request that can be sent again")
    return send(
        store,
        client,
        url,
        method,
        params,
        source=REPLAY,
        replay_of=log_id,
        message_sid=row["message_sid"],
        call_sid=row["call_sid"],
    )
