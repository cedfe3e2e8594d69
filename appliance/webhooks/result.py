"""What one webhook request came to: the answer, or the Twilio error code, and how it got there."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class WebhookResult:
    """What happened to one webhook request (including its redirects and retries).

    ``url``/``method`` are the request that produced ``status`` and ``body``: after
    HTTP redirects, the last hop (so relative URLs in a TwiML answer resolve against
    ``url``).  ``requested_url``/``requested_method`` are what the caller asked for
    (the URL without its ``#`` override fragment); ``redirects`` the hops in between.
    ``request_params`` are the webhook's parameters as given (a 301/302/303 hop turns
    the request into a GET of the ``Location``, which does not carry them).
    ``body`` is at most ``max_body`` bytes (``truncated`` says more was sent).
    """

    url: str
    method: str
    request_params: dict[str, list[str]]
    status: int | None
    content_type: str | None
    body: bytes
    error_code: int | None
    error_message: str | None
    elapsed: float
    requested_url: str = ""
    requested_method: str = ""
    truncated: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    redirects: tuple[str, ...] = ()
    attempts: int = 1
    idempotency_token: str = ""

    @property
    def ok(self) -> bool:
        """True for a 2xx answer read without error."""
        return self.error_code is None and self.status is not None and 200 <= self.status < 300
