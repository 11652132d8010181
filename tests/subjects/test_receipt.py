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
    # No key to trust (none given, the installation's not loadable here): said plainly, not "Genuine".
    assert "Genuine" not in ran.stdout and "NOT CHECKED AGAINST A TRUSTED KEY" in ran.stdout and "/audit" in ran.stdout
    public = json.loads(content)["receipt"]["public_key"]
    ran = govsms(_env(tmp_path), "dsr", "verify-receipt", str(path), "--public-key", public)
    assert ran.returncode == 0 and "Genuine: the signing key is the key given with --public-key" in ran.stdout
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


def _installation_env(tmp_path: Path) -> dict[str, str]:
    """The environment of the installation that signed the test receipts (its keys loadable)."""
    from tests.conftest import TEST_MASTER_KEYS, TEST_SECRET_KEY, TEST_SIGNING_KEY

    return {**_env(tmp_path), "GOVSMS_MASTER_KEYS": TEST_MASTER_KEYS, "GOVSMS_SECRET_KEY": TEST_SECRET_KEY,
            "GOVSMS_AUDIT_SIGNING_KEY": TEST_SIGNING_KEY}


def _self_signed(body: dict[str, object]) -> bytes:
    forger = bytes(range(32))
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forged_key = Ed25519PrivateKey.from_private_bytes(forger).public_key().public_bytes_raw()
    forged_body = {**body, "public_key": forged_key.hex()}
    return receipt_file(forged_body, sign_receipt(forged_body, forger))


def test_without_public_key_the_installations_audit_key_is_trusted(receipt: tuple[bytes, KeyRing], tmp_path: Path) -> None:
    """A forged receipt (self-signed, checkpoint and all) is refused by the installation's own
    key; the genuine one verifies against it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    content, keys = receipt
    body = json.loads(content)["receipt"]
    forger = bytes(range(32))
    head = bytes(32)
    checkpoint = {"seq": body["audit_seq"], "head_hash": head.hex(), "signed_at": "2026-11-30T00:00:00Z",
                  "signature": Ed25519PrivateKey.from_private_bytes(forger).sign(checkpoint_message(body["audit_seq"], head)).hex()}
    path = tmp_path / "forged.json"
    path.write_bytes(_self_signed({**body, "checkpoint": checkpoint}))
    ran = govsms(_installation_env(tmp_path), "dsr", "verify-receipt", str(path))
    assert ran.returncode == 1 and "NOT GENUINE" in ran.stderr and "another key" in ran.stderr and "installation" in ran.stderr
    assert "Genuine" not in ran.stdout
    path.write_bytes(content)
    ran = govsms(_installation_env(tmp_path), "dsr", "verify-receipt", str(path))
    assert ran.returncode == 0, ran.stderr
    assert "Genuine: the signing key is this installation's audit signing key" in ran.stdout
    assert "covers the event" not in ran.stdout and "Checked: the access log's checkpoint" in ran.stdout


@pytest.mark.parametrize("installation", [False, True])
def test_a_self_signed_file_missing_fields_exits_1_without_a_traceback(tmp_path: Path, installation: bool) -> None:
    """The reviewer's forge2: well signed by the key it names, but no reference, no account name."""
    from govsms.subjects.receipt import public_key_of

    seed = bytes(range(32))
    body = {"version": 1, "kind": "govsms-erasure-receipt", "public_key": public_key_of(seed).hex(), "checkpoint": None, "account": "x"}
    path = tmp_path / "forged2.json"
    path.write_bytes(receipt_file(body, sign_receipt(body, seed)))
    ran = govsms(_installation_env(tmp_path) if installation else _env(tmp_path), "dsr", "verify-receipt", str(path))
    assert ran.returncode == 1 and "NOT GENUINE" in ran.stderr and "Traceback" not in ran.stderr
    with pytest.raises(ReceiptInvalid, match="no 'reference'"):
        verify_receipt(path.read_bytes())
    bad_account = {**body, **{name: value for name, value in _complete_fields().items() if name != "account"}, "account": "x"}
    with pytest.raises(ReceiptInvalid, match="'account'"):
        verify_receipt(receipt_file(bad_account, sign_receipt(bad_account, seed)))


def _complete_fields() -> dict[str, object]:
    return {"reference": "DSR-2026-0001", "erasure": 1, "number_fingerprint": "00" * 16, "actor": "user:1", "started_at": "x",
            "erased_at": "x", "unblocked": False, "erased": [], "kept": [], "audit_seq": 1}


def test_the_checkpoint_carries_its_own_key_and_a_changed_audit_key_keeps_the_receipt_genuine(
    session: Session, connection: Connection, vault: Vault, keys: KeyRing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The log was sealed over the erasure's event under the old audit key; the receipt is signed
    under the new one. It names the checkpoint's key, verifies with and without the new key, and
    a checkpoint that names another key than the one that signed it fails."""
    from dataclasses import replace as with_seed

    from govsms.audit.chain import seal_and_witness
    from govsms.subjects import erasure as erasure_module
    from govsms.subjects.erasure import receipt_of
    from govsms.subjects.receipt import public_key_of

    held = hold_person(session)
    factory = factory_on(connection, vault)
    monkeypatch.setattr(erasure_module, "seal_and_witness", lambda *args, **kwargs: None)
    done = erase_subject(factory, held.dpo, lifecycle_holdings(), TYPED, sealer=sealer_for(keys, tmp_path), now=now())
    assert done.receipt["checkpoint"] is None
    seal_and_witness(factory, keys.audit_signing_seed, tmp_path / "witness.jsonl", now=now())  # sealed under the old key
    monkeypatch.setattr(erasure_module, "seal_and_witness", seal_and_witness)
    rotated = with_seed(keys, audit_signing_seed=bytes(range(1, 33)))
    assert done.erasure.id is not None
    later = receipt_of(factory, held.dpo, lifecycle_holdings(), done.erasure.id, sealer=sealer_for(rotated, tmp_path), now=now())
    body = verify_receipt(later.file, trusted_key=public_key_of(rotated.audit_signing_seed))
    assert body["public_key"] == public_key_of(rotated.audit_signing_seed).hex()
    stored = session.exec(select(AuditCheckpoint).where(AuditCheckpoint.seq == body["checkpoint"]["seq"])).one()
    assert body["checkpoint"]["public_key"] == stored.public_key.hex() == public_key_of(keys.audit_signing_seed).hex()
    path = tmp_path / "receipt.json"
    path.write_bytes(later.file)
    ran = govsms(_env(tmp_path), "dsr", "verify-receipt", str(path), "--public-key", body["public_key"])
    assert ran.returncode == 0 and "named in the signed receipt" in ran.stdout
    # A checkpoint naming a key that did not sign it is refused (the receipt re-signed to match).
    wrong = {**body, "checkpoint": {**body["checkpoint"], "public_key": body["public_key"]}}
    with pytest.raises(ReceiptInvalid, match="checkpoint's signature"):
        verify_receipt(receipt_file(wrong, sign_receipt(wrong, rotated.audit_signing_seed)))
