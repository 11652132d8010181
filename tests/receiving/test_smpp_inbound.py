"""Inbound SMS over SMPP through the independent npm SMSC (tests/smsc, node-smpp): each data
coding and concatenation form decoded, receipts and inbound parts handed to the upstream before
the deliver_sm_resp, a failing upstream answered with a temporary error and the SMSC's re-send
stored once, the SMSC's id of each part kept."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from govsms.sending.transports.base import DeliveryReport, InboundPart, ReportStatus, Submission
from govsms.sending.transports.smpp import SmppTransport
from govsms.sending.transports.smpp.inbound import decode_text, split_header
from govsms.sending.transports.smpp.status import ESME_RX_T_APPN
from govsms.sending.wire import DATA_CODING_GSM7, SenderKind
from tests import sensitive
from tests.smsc.fixture import Smsc, smsc  # noqa: F401

SENDER = sensitive.register("46701234567")
SHORT = "72323"


class Upstream:
    """An upstream that stores in memory, and fails while ``failing`` is set."""

    def __init__(self) -> None:
        self.reports: list[DeliveryReport] = []
        self.parts: list[InboundPart] = []
        self.calls = 0
        self.failing = False
        self.lock = threading.Lock()

    def __call__(self, reports: list[DeliveryReport], parts: list[InboundPart]) -> None:
        with self.lock:
            self.calls += 1
            if self.failing:
                raise ConnectionError("database down")
            self.reports.extend(reports)
            self.parts.extend(parts)


@pytest.fixture
def bound(smsc: Smsc) -> Iterator[Any]:  # noqa: F811
    transports: list[SmppTransport] = []

    def make(upstream: Any = None) -> SmppTransport:
        transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password, reconnect_backoff=(0.1, 1.0))
        transport.set_upstream(upstream)
        transports.append(transport)
        assert wait_for(lambda: transport.bound)
        return transport

    yield make
    for transport in transports:
        transport.close()


def wait_for(condition: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


def received(upstream: Upstream, count: int) -> list[InboundPart]:
    assert wait_for(lambda: len(upstream.parts) >= count), f"{len(upstream.parts)} of {count} parts arrived"
    return upstream.parts


@pytest.mark.parametrize(
    ("coding", "text"),
    [
        ("gsm7", "Hej! Åäö ÉÑ @£$ €{[]}~^|\\ 100%"),
        ("latin1", "Grüße från Malmö ½ ©"),
        ("ucs2", "Привет 你好 😀👍🏽 Ω"),
    ],
)
def test_each_data_coding_is_decoded(smsc: Smsc, bound, coding: str, text: str) -> None:  # noqa: F811
    upstream = Upstream()
    bound(upstream)
    text = sensitive.register(text)
    smsc.deliver({"source": SENDER, "destination": SHORT, "text": text, "coding": coding})
    [part] = received(upstream, 1)
    assert part.text == text
    assert part.source == "+" + SENDER and part.destination == SHORT
    assert part.concat is None
    assert part.provider_ref == smsc.mo_queued()[0]
    assert wait_for(lambda: smsc.mo_acknowledged() == set(smsc.mo_queued()))


def test_a_vendor_tlv_is_skipped_without_a_warning_per_sms(smsc: Smsc, bound, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    upstream = Upstream()
    bound(upstream)
    smsc.deliver(*({"source": SENDER, "destination": SHORT, "text": f"Svar {n}", "vendor_tlv": True} for n in range(3)))
    parts = received(upstream, 3)
    assert sorted(part.text for part in parts) == ["Svar 0", "Svar 1", "Svar 2"]
    assert [part.provider_ref for part in parts] == smsc.mo_queued()
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


def test_a_national_sender_is_given_as_the_smsc_gave_it(smsc: Smsc, bound) -> None:  # noqa: F811
    upstream = Upstream()
    bound(upstream)
    smsc.deliver({"source": "0701234567", "source_ton": 2, "destination": SHORT, "text": "Hej"})
    [part] = received(upstream, 1)
    assert part.source == "0701234567"


@pytest.mark.parametrize(("split", "ref"), [("udh8", 200), ("udh16", 54321), ("sar", 40000)])
@pytest.mark.parametrize("coding", ["gsm7", "ucs2"])
def test_concatenated_parts_carry_their_reference_total_and_sequence(smsc: Smsc, bound, split: str, ref: int, coding: str) -> None:  # noqa: F811
    upstream = Upstream()
    bound(upstream)
    text = sensitive.register(("Svar på kallelsen: jag kommer på tisdag. " * 8) + ("😀" if coding == "ucs2" else ""))
    smsc.deliver({"source": SENDER, "destination": SHORT, "text": text, "coding": coding, "split": split, "parts": 3, "ref": ref, "order": [2, 0, 1]})
    parts = received(upstream, 3)
    assert [part.concat for part in parts] == [(ref, 3, 3), (ref, 3, 1), (ref, 3, 2)]
    joined = "".join(part.text for part in sorted(parts, key=lambda part: part.concat[2]))  # type: ignore[index]
    assert joined == text
    assert len({part.provider_ref for part in parts}) == 3


def test_message_payload_replaces_short_message(smsc: Smsc, bound) -> None:  # noqa: F811
    upstream = Upstream()
    bound(upstream)
    text = sensitive.register("Långt svar i message_payload " * 10)
    smsc.deliver({"source": SENDER, "destination": SHORT, "text": text, "coding": "gsm7", "payload": True})
    [part] = received(upstream, 1)
    assert part.text == text


def test_receipts_go_to_the_upstream_not_to_memory(smsc: Smsc, bound) -> None:  # noqa: F811
    upstream = Upstream()
    transport = bound(upstream)
    [result] = transport.submit([Submission(
        message_id=1, sender="GovSMS", sender_kind=SenderKind.ALPHANUMERIC, recipient="+" + SENDER, parts=(b"Hej",),
        data_coding=DATA_CODING_GSM7,
    )])
    assert result.accepted
    assert wait_for(lambda: upstream.reports)
    assert [(r.provider_id, r.status) for r in upstream.reports] == [(result.provider_ids[0], ReportStatus.DELIVERED)]
    assert transport.reports() == []


def test_without_an_upstream_inbound_sms_is_refused_temporarily_and_receipts_kept_in_memory(smsc: Smsc, bound) -> None:  # noqa: F811
    transport = bound(None)
    smsc.deliver({"source": SENDER, "destination": SHORT, "text": "Hej"})
    assert wait_for(lambda: smsc.mo_answers(ESME_RX_T_APPN) >= 1)
    assert not smsc.mo_acknowledged()
    assert transport.stats["mo_refused"] >= 1


def test_a_failing_upstream_gets_a_temporary_error_and_the_resent_parts_are_handed_over_once(smsc: Smsc, bound) -> None:  # noqa: F811
    upstream = Upstream()
    upstream.failing = True
    bound(upstream)
    smsc.deliver(*({"source": SENDER, "destination": SHORT, "text": f"Svar {n}"} for n in range(5)))
    assert wait_for(lambda: smsc.mo_answers(ESME_RX_T_APPN) >= 10)  # each refused and sent again, at least twice
    assert not upstream.parts and not smsc.mo_acknowledged()
    upstream.failing = False
    assert wait_for(lambda: smsc.mo_acknowledged() == set(smsc.mo_queued()))
    assert sorted(part.text for part in upstream.parts) == [f"Svar {n}" for n in range(5)]
    assert sorted(part.provider_ref for part in upstream.parts) == sorted(smsc.mo_queued())  # type: ignore[type-var]


def test_parts_left_unanswered_when_the_link_drops_are_sent_again_after_the_rebind(smsc: Smsc, bound) -> None:  # noqa: F811
    upstream = Upstream()
    gate = threading.Event()

    def slow(reports: list[DeliveryReport], parts: list[InboundPart]) -> None:
        gate.wait(5)  # the link drops while this commit "runs": its answers never reach the SMSC
        upstream(reports, parts)

    transport = bound(slow)
    smsc.deliver(*({"source": SENDER, "destination": SHORT, "text": f"Svar {n}"} for n in range(20)))
    assert wait_for(lambda: transport.stats["inbound"] == 0 and upstream.calls == 0 and len(smsc.mo_queued()) == 20)
    time.sleep(0.2)
    smsc.drop_connections()
    assert wait_for(lambda: transport.stats["link_losses"] >= 1)  # the answers now have no connection to go on
    gate.set()
    assert wait_for(lambda: smsc.mo_acknowledged() == set(smsc.mo_queued()))
    refs = [part.provider_ref for part in upstream.parts]
    assert set(refs) == set(smsc.mo_queued())
    assert len(refs) > 20, "the SMSC sent the unanswered parts again (the upstream stores each once by its id)"


# -- decoding details (no SMSC) -----------------------------------------------------------------


def test_udh_with_other_elements_and_a_header_longer_than_the_payload() -> None:
    # a port-addressing IE (0x05) before the concatenation IE
    assert split_header(bytes([0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x01]) + b"ab") == ((7, 2, 1), b"ab")
    assert split_header(bytes([0x09, 0x00])) == (None, bytes([0x09, 0x00]))
    assert split_header(b"") == (None, b"")


def test_decode_text_edges() -> None:
    assert decode_text(0, b"\x1b\x65uro") == "€uro"
    assert decode_text(0, "Grüße".encode("latin-1")) == "Grüße"  # an SMSC whose default alphabet is Latin-1
    assert decode_text(8, "😀".encode("utf-16-be")[:2] + "a".encode("utf-16-be")) == "\ufffda"  # a lone surrogate half
    assert decode_text(8, b"\x00a\x00") == "a"  # half a code unit dropped
    assert decode_text(0x18, "Ω".encode("utf-16-be")) == "Ω"  # GSM coding group: UCS-2 with a message class
    assert decode_text(0xF0, b"Hej") == "Hej"
    assert decode_text(4, b"\xff\x00") == "\xff\x00"


@pytest.mark.parametrize(("esm_type", "stat"), [(0x08, "sme_acks"), (0x10, "sme_acks"), (0x20, "intermediate_notifications")])
def test_sme_acks_and_intermediate_notifications_are_acknowledged_not_stored(smsc: Smsc, bound, esm_type: int, stat: str) -> None:  # noqa: F811
    """Only a deliver_sm of the default message type is an SMS from a person: an SME
    acknowledgement or an intermediate notification (not a final receipt) is answered ESME_ROK,
    counted, and never reaches the inbox (or a reply route, or a forward)."""
    upstream = Upstream()
    transport = bound(upstream)
    smsc.deliver({"source": SENDER, "destination": SHORT, "text": "id:abc stat:ENROUTE", "esm_type": esm_type},
                 {"source": SENDER, "destination": SHORT, "text": "Ett riktigt svar"})
    assert wait_for(lambda: len(smsc.mo_queued()) == 2 and smsc.mo_acknowledged() == set(smsc.mo_queued()))
    assert [part.text for part in upstream.parts] == ["Ett riktigt svar"]
    assert transport.stats[stat] == 1 and transport.stats["inbound"] == 1
