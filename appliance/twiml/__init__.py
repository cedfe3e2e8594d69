"""TwiML parsing: pure functions from a webhook's answer to verbs the daemon executes.

``appliance.twiml.messaging`` handles the answers to SMS webhooks (``<Message>``,
``<Redirect>``).  Nothing in this package does I/O.
"""
