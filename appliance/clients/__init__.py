"""Browser phones (Twilio Client): the tokens they present, and, later, their signalling.

:mod:`~appliance.clients.tokens` checks Access Tokens (HS256 with an API key's secret) and
legacy capability tokens (HS256 with the AuthToken); :mod:`~appliance.clients.identity` the
client names in them.  The TwiML Apps the tokens name are the REST API's ``Applications``
(:mod:`appliance.api.applications`); HTTPS, which browsers need, is :mod:`appliance.system.tls`.
"""
