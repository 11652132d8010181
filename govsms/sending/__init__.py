"""Sending SMS: text rules, senders, recipients, blocklist, pricing, dispatch, outbox, transports."""
