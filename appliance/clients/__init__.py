"""Browser phones (Twilio Client): the tokens they present and their signalling.

:mod:`~appliance.clients.tokens` checks Access Tokens (HS256 with an API key's secret) and
legacy capability tokens (HS256 with the AuthToken); :mod:`~appliance.clients.identity` the
client names in them.  Signalling (``wss://<appliance>:<https_port>/signal``, the Voice
JavaScript SDK's protocol): :mod:`~appliance.clients.pstream` (the protocol, pure),
:mod:`~appliance.clients.session` (one browser's state), :mod:`~appliance.clients.connection`
(its WebSocket) and :mod:`~appliance.clients.hub` (the live sockets and who is registered).
The TwiML Apps the tokens name are the REST API's ``Applications``
(:mod:`appliance.api.applications`); HTTPS, which browsers need, is :mod:`appliance.system.tls`.
"""
