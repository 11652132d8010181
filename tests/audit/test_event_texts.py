"""``audit verify`` builds each event's MAC text and chained document by putting encoded values
together: byte for byte what ``canonical_json`` gives for ``event_body`` and ``event_document``,
whatever the values hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from govsms.audit.chain import event_document
from govsms.audit.record import canonical_json, event_body, event_texts

texts = st.text(max_size=20)
rows = st.builds(
    SimpleNamespace,
    seq=st.integers(min_value=1, max_value=2**62),
    occurred_at=st.integers(min_value=0, max_value=10**15).map(lambda us: datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)),
    account_id=st.none() | st.integers(min_value=1, max_value=2**31),
    actor=texts, action=texts, target_type=st.none() | texts, target_id=st.none() | texts, request_id=texts,
    subject_ids=st.lists(st.integers(min_value=1, max_value=2**62), max_size=6).map(json.dumps),
    details=st.dictionaries(texts, st.none() | st.booleans() | st.integers() | texts, max_size=4).map(json.dumps),
    mac=st.none() | st.binary(min_size=32, max_size=32),
)


@settings(max_examples=400)
@given(rows)
def test_event_texts_are_the_canonical_json_of_the_body_and_the_document(row: SimpleNamespace) -> None:
    body, document, subjects = event_texts(row)
    assert body == canonical_json(event_body(row))
    assert document == canonical_json(event_document(row))
    assert subjects == json.loads(row.subject_ids)


@given(st.integers(min_value=0, max_value=10**15).map(lambda us: datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)))
def test_a_stored_time_read_raw_is_written_as_the_event_body_writes_it(moment: datetime) -> None:
    from govsms.audit.chain import _at_text

    expected = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    naive = moment.replace(tzinfo=None)
    assert _at_text(naive.strftime("%Y-%m-%d %H:%M:%S.%f")) == expected  # SQLite's text
    assert _at_text(naive) == expected  # PostgreSQL's timestamp
    assert _at_text(moment) == expected
    assert _at_text(naive.isoformat()) == expected  # a text without microseconds, or with a T
