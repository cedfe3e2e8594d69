"""A self-hosted Twilio in a box: SMS over a GSM modem with Twilio's webhooks, TwiML and REST API."""

__version__ = "0.1.0.dev0"
