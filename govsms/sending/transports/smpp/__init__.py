"""SMPP 3.4 transport: one transceiver bind to the provider's SMSC, windowed submits, delivery
receipts, keep-alive and reconnection. PDUs are built and parsed by ``smpplib``.

How it works
    * One TCP connection, bound with ``bind_transceiver``: submits go out and delivery receipts
      come back on the same bind. A supervisor thread keeps the bind up (so receipts arrive while
      nothing is being sent) and reconnects with exponential backoff (``reconnect_backoff``,
      0.5 s doubling to 30 s) after the link drops.
    * A reader thread per connection handles everything the SMSC sends: ``submit_sm_resp`` and
      ``generic_nack`` (matched to the submit by sequence number), ``deliver_sm`` (receipts,
      answered with ``deliver_sm_resp``), ``enquire_link`` (answered), ``unbind``. When nothing
      has arrived for ``enquire_link_interval`` it sends its own ``enquire_link``; a link that
      does not answer it within ``submit_timeout`` is dropped and rebuilt.
    * ``submit()`` is windowed: up to ``window`` submit_sm may be outstanding at once, so the rate
      is not bound to one round trip per part. ``throughput_limit`` (submit_sm per second), when
      set, paces the sends.
    * Every part of a ``Submission`` is one submit_sm (``esm_class`` and ``data_coding`` from the
      submission, so a UDH travels with UDHI 0x40). ``registered_delivery`` is 1 on **every**
      part when ``want_report`` (0 otherwise): each part gets its own receipt, and the outbox
      marks a message delivered when all its parts are and failed when any is. Source TON/NPI
      follow ``SenderKind`` (alphanumeric 5/0, number 1/1 without '+', short code 3/0); the
      destination is TON 1 NPI 1 without '+'.

Results
    * Every part accepted: ``accepted=True`` with each part's SMSC message id in order.
    * ESME_RTHROTTLED (0x58) or ESME_RMSGQFUL (0x14) on a part: ``transient=True``, error
      ``smpp:0x58`` / ``smpp:0x14``. The transport also slows down: the effective window halves
      and sending pauses (``throttle_backoff``, 0.05 s doubling to 5 s while throttling goes on);
      after that the window grows back by one per window's worth of accepted parts (AIMD).
    * Any other error status: ``accepted=False, transient=False``, error ``smpp:0x0b`` etc.
    * Link lost, response not received within ``submit_timeout``, or the transport closed before
      a part was answered: ``transient=True`` (``smpp:link-down``, ``smpp:timeout``,
      ``smpp:closed``). Nothing is silently lost: the worker retries these. A part whose
      submit_sm reached the SMSC but whose response did not come back is therefore sent again,
      so a link loss or a response timeout can duplicate at most ``window`` submit_sm (those in
      flight at that moment). ``part_ids`` tells which parts of a message were accepted even when
      the message was not: the worker's retry skips those (``Submission.skip_parts``), so a
      multi-part message throttled half-way never sends a part twice.
    * Once a part of a message fails, its remaining parts are not sent. ``provider_ids`` is
      empty unless the message was accepted (then it holds the ids of the parts sent now).
    * ``submit()`` raises ``TransportDown`` when it cannot bind at all at the start of a batch
      (connection refused, ESME_RBINDFAIL, ...). If the link drops in the middle of a batch it
      waits up to ``submit_timeout`` for the supervisor to rebind and carries on; what could not
      be sent by then comes back transient.

Upstream (receipts and inbound SMS)
    * With an upstream set (``set_upstream``: the worker's stores them in the database), the
      reader queues every deliver_sm it reads for an upstream thread, which takes all that are
      queued, hands the final receipts and the inbound parts (``inbound.parse_inbound``:
      decoded, UDH/SAR concatenation, the SMSC's id from ``receipted_message_id``) to the
      upstream in one call, and answers each deliver_sm ESME_ROK only once it returned: nothing
      is acknowledged before it is committed, and the reader meanwhile goes on reading
      submit_sm_resp (a commit does not stall the submit window). If the upstream raises
      (database down), each is answered ESME_RX_T_APPN and the SMSC sends it again later; so
      is every deliver_sm beyond 20,000 waiting for the upstream. A deliver_sm answered on a link that then drops is sent again too: the
      upstream stores a part once by its id. Without an upstream, receipts are kept in memory
      for ``reports()`` and inbound SMS refused with ESME_RX_T_APPN.

Privacy: nothing here logs a phone number, an address or message text (nor receipt text): only
message ids, counts and status codes. smpplib's own logger, which dumps whole PDUs at DEBUG, is
held at INFO.

Modules
    * ``transport``: ``SmppTransport``, the ``Transport`` the worker calls (submit, reports,
      close) and how a ``Submission``'s parts become submit_sm.
    * ``flow``: flow control: the window, throttling backoff, the ``throughput_limit`` pace,
      response timeouts and what a batch is still waiting for.
    * ``session``: the bind's life: binding, the supervisor that keeps it up and reconnects, the
      reader thread, keep-alive, answering the SMSC.
    * ``link``: one TCP connection (smpplib's client with a thread-safe send and a buffered
      reader) and the sequence numbers.
    * ``receipts``: parsing delivery receipts into ``DeliveryReport``s.
    * ``inbound``: reading a mobile originated deliver_sm into an ``InboundPart``.
    * ``status``: the command statuses this transport acts on and their error codes.
"""

from govsms.sending.transports.smpp.receipts import parse_receipt
from govsms.sending.transports.smpp.transport import SmppTransport

__all__ = ["SmppTransport", "parse_receipt"]
