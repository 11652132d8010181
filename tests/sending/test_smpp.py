"""The SMPP transport against an independent SMSC (node-smpp in its own process, tests/smsc):
what arrives on the wire, receipts, throttling, reconnection and the no-loss guarantee."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pytest

from govsms.sending.transports.base import ReportStatus, Submission, SubmitResult, TransportDown
from govsms.sending.transports.smpp import SmppTransport, parse_receipt
from govsms.sending.wire import DATA_CODING_GSM7, DATA_CODING_UCS2, ESM_CLASS_UDHI, SenderKind
from tests import sensitive
from tests.smsc.fixture import Smsc, smsc  # noqa: F401

RECIPIENT = sensitive.register("+46701234567")
RECIPIENT_DIGITS = RECIPIENT.removeprefix("+")


def gsm7(text: str) -> bytes:
    """Unpacked GSM 03.38 septets of a text of letters, digits, spaces and . , (their GSM codes
    are their ASCII codes)."""
    assert all(c.isascii() and (c.isalnum() or c in " .,") for c in text)
    return text.encode("ascii")


def concatenated(septets: bytes, reference: int) -> tuple[bytes, ...]:
    chunks = [septets[i : i + 153] for i in range(0, len(septets), 153)]
    return tuple(bytes([0x05, 0x00, 0x03, reference, len(chunks), seq]) + chunk for seq, chunk in enumerate(chunks, start=1))


def submission(message_id: int, text: str = "Hello from govsms", **overrides: object) -> Submission:
    values: dict[str, object] = {
        "message_id": message_id,
        "sender": "GovSMS",
        "sender_kind": SenderKind.ALPHANUMERIC,
        "recipient": RECIPIENT,
        "parts": (gsm7(sensitive.register(text)),),
        "data_coding": DATA_CODING_GSM7,
    }
    values.update(overrides)
    return Submission(**values)  # type: ignore[arg-type]


@pytest.fixture
def connect(smsc: Smsc) -> Iterator:  # noqa: F811
    """``connect(**options)``: an SmppTransport bound to the test's SMSC, closed afterwards."""
    transports: list[SmppTransport] = []

    def make(**options: object) -> SmppTransport:
        options.setdefault("reconnect_backoff", (0.1, 2.0))
        transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, smsc.password, **options)  # type: ignore[arg-type]
        transports.append(transport)
        return transport

    yield make
    for transport in transports:
        transport.close()


def wait_for(condition, timeout: float = 10.0, interval: float = 0.02):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def collect_reports(transport: SmppTransport, wanted: set[str], timeout: float = 10.0) -> dict:
    reports: dict = {}
    deadline = time.monotonic() + timeout
    while not wanted <= reports.keys() and time.monotonic() < deadline:
        reports.update((report.provider_id, report) for report in transport.reports())
        time.sleep(0.02)
    return reports


def submit_until_accepted(transport: SmppTransport, batch: list[Submission], rounds: int = 50) -> tuple[dict[int, SubmitResult], int]:
    """What the worker does: submit, then retry the transient ones. ``(final results, retried)``."""
    final: dict[int, SubmitResult] = {}
    pending = batch
    retried = 0
    for _ in range(rounds):
        results = transport.submit(pending)
        assert [r.message_id for r in results] == [s.message_id for s in pending]
        again = []
        for item, result in zip(pending, results, strict=True):
            assert result.accepted or result.transient, result
            if result.accepted:
                final[item.message_id] = result
            else:
                again.append(item)
        retried += len(again)
        if not again:
            return final, retried
        pending = again
        time.sleep(0.05)
    raise AssertionError(f"{len(pending)} messages still not accepted after {rounds} rounds")


# -- what arrives -------------------------------------------------------------------------------


def test_single_gsm7_part_arrives_with_data_coding_0_and_no_udh(smsc: Smsc, connect) -> None:  # noqa: F811
    transport = connect()
    [result] = transport.submit([submission(1, "Your appointment is on Monday at 10.")])
    assert result.accepted and not result.transient and result.error is None
    [entry] = smsc.accepted()
    assert entry["message_id"] == result.provider_ids[0]
    assert entry["data_coding"] == 0
    assert entry["esm_class"] == 0
    assert entry["short_message"] == gsm7("Your appointment is on Monday at 10.")
    assert entry["destination_addr"] == RECIPIENT_DIGITS
    assert (entry["dest_addr_ton"], entry["dest_addr_npi"]) == (1, 1)
    assert entry["registered_delivery"] == 1


def test_three_part_gsm7_message_arrives_as_three_submits_with_udh(smsc: Smsc, connect) -> None:  # noqa: F811
    text = sensitive.register(" ".join(f"Sentence number {n} of a long letter." for n in range(12)))
    septets = gsm7(text)
    assert 306 < len(septets) <= 459
    parts = concatenated(septets, reference=0x2A)
    assert len(parts) == 3
    transport = connect()
    [result] = transport.submit([submission(7, parts=parts)])
    assert result.accepted and len(result.provider_ids) == 3 and len(set(result.provider_ids)) == 3
    received = smsc.accepted()
    assert [entry["message_id"] for entry in received] == list(result.provider_ids)
    for seq, entry in enumerate(received, start=1):
        assert entry["esm_class"] == ESM_CLASS_UDHI
        assert entry["data_coding"] == 0
        assert entry["short_message"][:6] == bytes([0x05, 0x00, 0x03, 0x2A, 0x03, seq])
        assert entry["registered_delivery"] == 1  # a receipt for every part
    assert b"".join(entry["short_message"][6:] for entry in received) == septets


def test_ucs2_message_arrives_with_data_coding_8_in_utf16be(smsc: Smsc, connect) -> None:  # noqa: F811
    text = sensitive.register("Привет, Åsa! 你好 👋")
    transport = connect()
    [result] = transport.submit([submission(3, parts=(text.encode("utf-16-be"),), data_coding=DATA_CODING_UCS2)])
    assert result.accepted
    [entry] = smsc.accepted()
    assert entry["data_coding"] == 8
    assert entry["esm_class"] == 0
    assert entry["short_message"] == text.encode("utf-16-be")
    assert entry["short_message"].decode("utf-16-be") == text


@pytest.mark.parametrize(
    ("kind", "sender", "wire_sender", "ton_npi"),
    [
        (SenderKind.ALPHANUMERIC, "Kommunen", "Kommunen", (5, 0)),
        (SenderKind.NUMBER, "+46709876543", "46709876543", (1, 1)),
        (SenderKind.SHORT_CODE, "72323", "72323", (3, 0)),
    ],
)
def test_sender_ton_and_npi_follow_the_sender_kind(smsc: Smsc, connect, kind, sender, wire_sender, ton_npi) -> None:  # noqa: F811
    sensitive.register(sender)
    transport = connect()
    [result] = transport.submit([submission(1, sender=sender, sender_kind=kind)])
    assert result.accepted
    [entry] = smsc.accepted()
    assert entry["source_addr"] == wire_sender
    assert (entry["source_addr_ton"], entry["source_addr_npi"]) == ton_npi
    assert (entry["destination_addr"], entry["dest_addr_ton"], entry["dest_addr_npi"]) == (RECIPIENT_DIGITS, 1, 1)


def test_no_receipt_requested_when_the_submission_wants_none(smsc: Smsc, connect) -> None:  # noqa: F811
    transport = connect()
    [result] = transport.submit([submission(1, want_report=False)])
    assert result.accepted
    assert smsc.accepted()[0]["registered_delivery"] == 0
    time.sleep(0.3)
    assert transport.reports() == []


# -- receipts -------------------------------------------------------------------------------------


def test_receipts_come_back_as_delivery_reports_for_the_provider_ids(smsc: Smsc, connect) -> None:  # noqa: F811
    transport = connect()
    parts = concatenated(gsm7(sensitive.register("x" * 200)), reference=9)
    results = transport.submit([submission(1), submission(2, parts=parts), submission(3)])
    ids = {provider_id for result in results for provider_id in result.provider_ids}
    assert len(ids) == 4
    reports = collect_reports(transport, ids)
    assert reports.keys() == ids
    for report in reports.values():
        assert report.status is ReportStatus.DELIVERED
        assert report.error is None
        assert isinstance(report.done_at, datetime)
    assert transport.reports() == []  # drained


def test_failed_and_expired_receipts(smsc: Smsc, connect) -> None:  # noqa: F811
    undeliverable, expired = sensitive.register("+46700000001"), sensitive.register("+46700000002")
    smsc.restart(receipt_stats={undeliverable[1:]: "UNDELIV", expired[1:]: "EXPIRED"})
    transport = connect()
    results = transport.submit([submission(1, recipient=undeliverable), submission(2, recipient=expired), submission(3)])
    [failed_id], [expired_id], [delivered_id] = (result.provider_ids for result in results)
    reports = collect_reports(transport, {failed_id, expired_id, delivered_id})
    assert reports[failed_id].status is ReportStatus.FAILED and reports[failed_id].error == "smpp:undeliv:001"
    assert reports[expired_id].status is ReportStatus.EXPIRED
    assert reports[delivered_id].status is ReportStatus.DELIVERED


@pytest.mark.parametrize(
    ("stat", "status"),
    [
        ("DELIVRD", ReportStatus.DELIVERED),
        ("EXPIRED", ReportStatus.EXPIRED),
        ("UNDELIV", ReportStatus.FAILED),
        ("REJECTD", ReportStatus.FAILED),
        ("DELETED", ReportStatus.FAILED),
        ("UNKNOWN", ReportStatus.FAILED),
    ],
)
def test_parse_receipt_stat(stat: str, status: ReportStatus) -> None:
    text = f"id:0123456789 sub:001 dlvr:001 submit date:2511261200 done date:2511261201 stat:{stat} err:000 text:stat:DELIVRD hi"
    report = parse_receipt(text.encode())
    assert report is not None
    assert report.provider_id == "0123456789"
    assert report.status is status
    assert report.done_at == datetime.fromisoformat("2025-11-26T12:01:00+00:00")


def test_parse_receipt_prefers_tlvs_and_skips_intermediate_states() -> None:
    report = parse_receipt(b"id:1 stat:UNDELIV err:012", receipted_message_id=b"abc")
    assert report is not None and report.provider_id == "abc" and report.error == "smpp:undeliv:012"
    tlv_only = parse_receipt(b"", receipted_message_id=b"abc", message_state=3)
    assert tlv_only is not None and tlv_only.status is ReportStatus.EXPIRED
    assert parse_receipt(b"id:1 sub:001 dlvr:000 stat:ENROUTE err:000") is None
    assert parse_receipt(b"id:1 sub:001 dlvr:000 stat:ACCEPTD err:000") is None
    assert parse_receipt(b"nonsense") is None


# -- binding and errors ---------------------------------------------------------------------------


def test_wrong_password_raises_transport_down(smsc: Smsc) -> None:  # noqa: F811
    transport = SmppTransport(smsc.host, smsc.port, smsc.system_id, "wrong", reconnect_backoff=(0.1, 1.0))
    try:
        with pytest.raises(TransportDown, match=r"0x0d"):
            transport.submit([submission(1)])
    finally:
        transport.close()
    assert smsc.received() == []


def test_no_smsc_at_all_raises_transport_down(smsc: Smsc, connect) -> None:  # noqa: F811
    smsc.stop()
    transport = connect()
    with pytest.raises(TransportDown):
        transport.submit([submission(1)])


def test_other_error_statuses_are_permanent_failures(smsc: Smsc, connect) -> None:  # noqa: F811
    invalid = sensitive.register("+46700000009")
    smsc.restart(reject_dests=[invalid[1:]])
    transport = connect()
    results = transport.submit([submission(1), submission(2, recipient=invalid), submission(3)])
    assert [r.accepted for r in results] == [True, False, True]
    assert results[1] == SubmitResult(message_id=2, accepted=False, error="smpp:0x0b", transient=False, part_ids=(None,))


def test_a_multipart_message_stops_at_its_first_failed_part(smsc: Smsc, connect) -> None:  # noqa: F811
    smsc.restart(throttle_every=2)
    transport = connect(window=1)
    parts = concatenated(gsm7(sensitive.register("y" * 400)), reference=1)
    [result] = transport.submit([submission(1, parts=parts)])
    assert (result.accepted, result.error, result.transient, result.provider_ids) == (False, "smpp:0x58", True, ())
    assert result.part_ids[0] and result.part_ids[1:] == (None, None)  # which parts the SMSC has
    assert len(smsc.received()) == 2  # part 1 accepted, part 2 throttled, part 3 never sent
    # The retry sends only what is missing (the next submit_sm is accepted, the one after throttled).
    [again] = transport.submit([submission(1, parts=parts, skip_parts=frozenset({0}))])
    assert again.part_ids[0] is None and again.part_ids[1] and again.part_ids[2] is None and not again.accepted
    [last] = transport.submit([submission(1, parts=parts, skip_parts=frozenset({0, 1}))])
    assert last.accepted and last.part_ids[:2] == (None, None) and last.provider_ids == (last.part_ids[2],)
    accepted = [pdu["short_message"][5] for pdu in smsc.accepted()]
    assert sorted(accepted) == [1, 2, 3]  # each part reached the SMSC once


# -- throttling -----------------------------------------------------------------------------------


def test_throttled_submits_are_transient_and_all_get_through_when_retried(smsc: Smsc, connect) -> None:  # noqa: F811
    smsc.restart(throttle_every=4)
    transport = connect(window=16, throttle_backoff=(0.01, 0.5))
    batch = [submission(i, f"Throttle test {i}") for i in range(200)]
    first = transport.submit(batch)
    throttled = [r for r in first if not r.accepted]
    assert throttled and all(r.transient and r.error == "smpp:0x58" for r in throttled)
    final, _ = submit_until_accepted(transport, [b for b, r in zip(batch, first, strict=True) if not r.accepted])
    accepted = {r.message_id for r in first if r.accepted} | final.keys()
    assert accepted == set(range(200))
    arrived = Counter(entry["short_message"] for entry in smsc.accepted())
    assert set(arrived) == {gsm7(f"Throttle test {i}") for i in range(200)}
    assert max(arrived.values()) == 1  # throttled submits were refused, so nothing is doubled


def test_rate_limited_smsc_slows_the_transport_down(smsc: Smsc, connect) -> None:  # noqa: F811
    smsc.restart(rate_limit=300, throttle_status="0x14")  # ESME_RMSGQFUL, the other "slow down"
    transport = connect(window=64)
    batch = [submission(i, f"Rate test {i}") for i in range(900)]
    started = time.monotonic()
    final, retried = submit_until_accepted(transport, batch)
    elapsed = time.monotonic() - started
    assert final.keys() == set(range(900))
    assert transport.stats["throttled"] == retried > 0
    # The SMSC takes 300/s after a burst of 300: about two seconds at best. Backing off keeps
    # the refusals to a fraction of the traffic instead of hammering at full speed.
    assert elapsed > 1.5
    assert retried < len(batch)
    assert len({entry["short_message"] for entry in smsc.accepted()}) == 900


# -- the window -----------------------------------------------------------------------------------


def test_window_keeps_many_submits_outstanding(smsc: Smsc, connect) -> None:  # noqa: F811
    smsc.restart(resp_delay_ms=200)
    transport = connect(window=32)
    started = time.monotonic()
    results = transport.submit([submission(i) for i in range(64)])
    elapsed = time.monotonic() - started
    assert all(r.accepted for r in results)
    assert elapsed < 2.0, f"64 submits with 200 ms responses took {elapsed:.2f} s: not windowed"  # one at a time: 12.8 s


def test_unanswered_submits_time_out_as_transient(smsc: Smsc, connect) -> None:  # noqa: F811
    smsc.restart(resp_delay_ms=3000)
    transport = connect(window=8, submit_timeout=0.5)
    results = transport.submit([submission(i) for i in range(3)])
    assert all(r.transient and not r.accepted for r in results)
    # The oldest times out; the link that stopped answering is dropped with the rest in flight.
    assert results[0].error == "smpp:timeout"
    assert {r.error for r in results} <= {"smpp:timeout", "smpp:link-down"}
    assert transport.stats["timeouts"] >= 1
    smsc.restart(resp_delay_ms=0)
    final, _ = submit_until_accepted(transport, [submission(i) for i in range(3)])
    assert final.keys() == {0, 1, 2}


# -- the link -------------------------------------------------------------------------------------


def test_enquire_link_keeps_an_idle_bind_up(smsc: Smsc, connect) -> None:  # noqa: F811
    transport = connect(enquire_link_interval=0.2)
    transport.submit([submission(1)])
    time.sleep(1.2)  # several enquire_link round trips
    assert transport.bound
    assert transport.stats["link_losses"] == 0
    assert transport.submit([submission(2)])[0].accepted


def test_dropped_connection_rebinds_and_receipts_still_arrive(smsc: Smsc, connect) -> None:  # noqa: F811
    smsc.restart(receipt_delay_ms=500)
    transport = connect()
    [result] = transport.submit([submission(1)])
    smsc.drop_connections()  # before the receipt is due: the SMSC keeps it for the next bind
    assert wait_for(lambda: transport.stats["link_losses"] >= 1)
    assert wait_for(lambda: transport.bound and transport.stats["binds"] >= 2)
    reports = collect_reports(transport, set(result.provider_ids))
    assert reports.keys() == set(result.provider_ids)


@pytest.mark.parametrize("resp_delay_ms", [0, 20], ids=["prompt", "slow-answers"])
def test_smsc_restart_in_the_middle_of_a_run_loses_nothing(smsc: Smsc, connect, resp_delay_ms: int) -> None:  # noqa: F811
    """Slow answers keep a full window received but unanswered when the SMSC dies: the worst
    case for duplicates."""
    if resp_delay_ms:
        smsc.restart(resp_delay_ms=resp_delay_ms)
    window = 32
    transport = connect(window=window)
    total = 2000
    batch = [submission(i, f"Restart test {i}") for i in range(total)]
    outcome: dict[str, list[SubmitResult]] = {}
    runner = threading.Thread(target=lambda: outcome.setdefault("results", transport.submit(batch)))
    runner.start()
    assert wait_for(lambda: len(smsc.accepted()) >= 500, timeout=30), "the run did not get going"
    smsc.restart(kill=True)  # a crash: no unbind, answers on the wire are lost
    runner.join(timeout=120)
    assert not runner.is_alive()
    results = outcome["results"]
    assert len(results) == total
    assert all(r.accepted or r.transient for r in results)
    assert transport.stats["link_losses"] >= 1
    assert len(smsc.accepted()) < total * 2  # it was interrupted, not run twice

    transient = [item for item, result in zip(batch, results, strict=True) if not result.accepted]
    final, _ = submit_until_accepted(transport, transient)
    assert {r.message_id for r in results if r.accepted} | final.keys() == set(range(total))

    arrived = Counter(entry["short_message"] for entry in smsc.accepted())
    assert set(arrived) == {gsm7(f"Restart test {i}") for i in range(total)}  # every message at least once
    duplicates = sum(arrived.values()) - total
    assert duplicates <= window, f"{duplicates} duplicates with a window of {window}"


def test_close_unbinds(smsc: Smsc, connect) -> None:  # noqa: F811
    transport = connect()
    transport.submit([submission(1)])
    transport.close()
    assert not transport.bound
    with pytest.raises(TransportDown):
        transport.submit([submission(2)])
