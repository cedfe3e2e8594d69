"""TwiML parsing: pure functions from a webhook's answer to verbs the daemon executes.

``appliance.twiml.messaging`` handles the answers to SMS webhooks (``<Message>``,
``<Redirect>``); ``appliance.twiml.voice`` those to call webhooks, with one module
per verb family (``prompts``, ``gather``, ``record``, ``dial``, ``control``,
``voice_sms``) built on the shared ``reader``.  Both parsers read XML with
``xmltree`` and report with ``diagnostics``.  Nothing in this package does I/O.
"""
