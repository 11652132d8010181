"""Receiving: inbound SMS from every transport, routed to the right account (virtual number,
keyword on a shared number, reply to the latest SMS sent to that number, else the operator's
queue), STOP words, the inbox and forwarding to e-mail and mobile (DESIGN.md "Receiving")."""
