"""The signed erasure receipt (govsms.subjects.receipt) and ``govsms dsr verify-receipt``: a
genuine receipt verifies (exit 0), with the right --public-key too; one byte changed anywhere
(whitespace included) fails (exit 1); another key's signature is refused with --public-key. The
receipt names the number only by its fingerprint, and carries the access log's checkpoint that
covers its event. The PDF renders in Swedish and English."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from govsms.audit.chain import checkpoint_message
from govsms.audit.models import AuditCheckpoint
from govsms.audit.record import canonical_json
from govsms.keys.ring import KeyRing
from govsms.keys.store import Vault
from govsms.lifecycle import lifecycle_holdings
from govsms.subjects.erasure import erase_subject
from govsms.subjects.receipt import ReceiptInvalid, number_fingerprint, receipt_file, render_receipt_pdf, sign_receipt, verify_receipt
from tests.cli import govsms
from tests.dpa.test_dpa import pdf_text
from tests.subjects.people import E164, TYPED, factory_on, hold_person, sealer_for
from tests.factories import now


@pytest.fixture
def receipt(session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path) -> tuple[bytes, KeyRing]:
    held = hold_person(session)
    done = erase_subject(factory_on(connection, vault), held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path), now=now())
    return done.file, keys


def _env(tmp_path: Path) -> dict[str, str]:
    return {"GOVSMS_DATA_DIR": str(tmp_path / "var")}


def test_the_receipt_says_what_was_erased_and_is_signed(receipt: tuple[bytes, KeyRing], session: Session) -> None:
    content, keys = receipt
    body = verify_receipt(content)
    assert E164.encode() not in content and b"0701234567" not in content and "Åsa".encode() not in content
    document = json.loads(content)
    assert content == canonical_json(document).encode()
    assert body["reference"].startswith("DSR-") and body["version"] == 1 and body["actor"].startswith("user:")
    erased = {line["table"]: line["rows"] for line in body["erased"]}
    assert erased["contact"] == 1 and erased["outbound_message"] == 3
    kept = {line["table"]: line for line in body["kept"]}
    assert kept["block_entry"]["rows"] == 1 and "keyed hash" in kept["block_entry"]["reason"]
    assert {"audit_event", "statistics_day"} <= set(kept)
    # The fingerprint: SHA-256 over the number's blind index, 16 bytes, hex.
    from govsms.keys.store import vault_of

    index = vault_of(session).blind_indexes(session, body["account"]["id"], [E164], now=now())[E164]
    assert body["number_fingerprint"] == hashlib.sha256(index).digest()[:16].hex() == number_fingerprint(index)
    # The checkpoint covers the SUBJECT_ERASED event, and is the database's own.
    checkpoint = body["checkpoint"]
    assert checkpoint is not None and checkpoint["seq"] >= body["audit_seq"]
    stored = session.exec(select(AuditCheckpoint).where(AuditCheckpoint.seq == checkpoint["seq"])).one()
    assert stored.head_hash.hex() == checkpoint["head_hash"] and stored.signature.hex() == checkpoint["signature"]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.from_private_bytes(keys.audit_signing_seed).public_key()
    assert public.public_bytes_raw().hex() == body["public_key"]
    public.verify(bytes.fromhex(checkpoint["signature"]), checkpoint_message(checkpoint["seq"], bytes.fromhex(checkpoint["head_hash"])))


def test_verify_receipt_exits_0_and_1_after_any_changed_byte(receipt: tuple[bytes, KeyRing], tmp_path: Path) -> None:
    content, keys = receipt
    path = tmp_path / "receipt.json"
    path.write_bytes(content)
    ran = govsms(_env(tmp_path), "dsr", "verify-receipt", str(path))
    assert ran.returncode == 0, ran.stderr
    assert "Genuine" in ran.stdout
    public = json.loads(content)["receipt"]["public_key"]
    assert govsms(_env(tmp_path), "dsr", "verify-receipt", str(path), "--public-key", public).returncode == 0
    for position in range(len(content)):
        changed = bytearray(content)
        changed[position] ^= 0x01
        path.write_bytes(bytes(changed))
        ran = govsms(_env(tmp_path), "dsr", "verify-receipt", str(path))
        assert ran.returncode == 1, f"byte {position} changed ({content[position:position + 1]!r}) still verifies"
        assert "NOT GENUINE" in ran.stderr
    for extra in (content + b"\n", b" " + content, content.replace(b'","', b'", "', 1), content.replace(b'"signature":"', b'"signature": "')):
        path.write_bytes(extra)
        assert govsms(_env(tmp_path), "dsr", "verify-receipt", str(path)).returncode == 1


def test_another_key_is_refused_with_public_key(receipt: tuple[bytes, KeyRing], tmp_path: Path) -> None:
    content, keys = receipt
    body = json.loads(content)["receipt"]
    forger = bytes(range(32))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged_key = Ed25519PrivateKey.from_private_bytes(forger).public_key().public_bytes_raw()
    forged_body = {**body, "public_key": forged_key.hex(), "checkpoint": None}
    forged = receipt_file(forged_body, sign_receipt(forged_body, forger))
    path = tmp_path / "forged.json"
    path.write_bytes(forged)
    # On its own it is a well-formed receipt signed by the key it names; the published key refuses it.
    assert govsms(_env(tmp_path), "dsr", "verify-receipt", str(path)).returncode == 0
    ran = govsms(_env(tmp_path), "dsr", "verify-receipt", str(path), "--public-key", body["public_key"])
    assert ran.returncode == 1 and "another key" in ran.stderr
    with pytest.raises(ReceiptInvalid):
        verify_receipt(forged, trusted_key=bytes.fromhex(body["public_key"]))


def test_a_missing_file_or_a_bad_key_is_a_usage_error(tmp_path: Path) -> None:
    assert govsms(_env(tmp_path), "dsr", "verify-receipt", str(tmp_path / "none.json")).returncode == 2
    (tmp_path / "r.json").write_bytes(b"{}")
    assert govsms(_env(tmp_path), "dsr", "verify-receipt", str(tmp_path / "r.json"), "--public-key", "abc").returncode == 2
    assert govsms(_env(tmp_path), "dsr", "verify-receipt", str(tmp_path / "r.json")).returncode == 1


@pytest.mark.parametrize(("lang", "title"), [("sv", "Bekräftelse på radering"), ("en", "Confirmation of erasure")])
def test_the_pdf_for_the_data_subject(receipt: tuple[bytes, KeyRing], lang: str, title: str, tmp_path: Path) -> None:
    content, _keys = receipt
    document = json.loads(content)
    pdf = render_receipt_pdf(document["receipt"], bytes.fromhex(document["signature"]), lang=lang)
    assert pdf.startswith(b"%PDF")
    text = " ".join(pdf_text(pdf, tmp_path).split())
    assert title in text and document["receipt"]["reference"] in text and document["receipt"]["number_fingerprint"][:16] in text
    assert ("Blockeringslista" if lang == "sv" else "Blocklist") in text


def test_a_receipt_built_before_the_seal_gets_its_checkpoint_at_download(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sealer had not reached the erasure's event (a gap it waits out): the receipt carries no
    checkpoint; downloaded later, it is signed again with the checkpoint that covers the event."""
    from govsms.subjects import erasure as erasure_module
    from govsms.subjects.erasure import receipt_of

    held = hold_person(session)
    factory, sealer = factory_on(connection, vault), sealer_for(keys, tmp_path)
    real_seal = erasure_module.seal_and_witness
    monkeypatch.setattr(erasure_module, "seal_and_witness", lambda *args, **kwargs: None)
    done = erase_subject(factory, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer, now=now())
    assert done.receipt["checkpoint"] is None and verify_receipt(done.file)["checkpoint"] is None
    monkeypatch.setattr(erasure_module, "seal_and_witness", real_seal)
    assert done.erasure.id is not None
    later = receipt_of(factory, held.dpo, lifecycle_holdings(), done.erasure.id, sealer=sealer, now=now())
    body = verify_receipt(later.file)
    assert body["checkpoint"] is not None and body["checkpoint"]["seq"] >= body["audit_seq"] == done.receipt["audit_seq"]
    assert {key: value for key, value in body.items() if key != "checkpoint"} == {key: value for key, value in done.receipt.items() if key != "checkpoint"}
    again = receipt_of(factory, held.dpo, lifecycle_holdings(), done.erasure.id, sealer=sealer, now=now())
    assert again.file == later.file  # built once with its checkpoint, then the same bytes every time
