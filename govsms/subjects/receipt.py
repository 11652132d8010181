"""The signed receipt of an erasure (GDPR Art. 17, the DPA's clause 10.6: written confirmation of
deletion).

The receipt is a JSON object (``build_receipt``); the file handed out is

    {"receipt": {...}, "signature": "<128 lowercase hex digits>"}

in canonical JSON (``govsms.audit.record.canonical_json``: sorted keys, no spaces, UTF-8), with no
trailing newline. The signature is Ed25519, under the audit signing key, over the bytes of
``canonical_json(receipt)``; the receipt carries the whole public key (``public_key``, 32 bytes
in hex). ``verify_receipt`` accepts a file only if it is exactly the canonical serialisation of
what it parses to, so any changed byte (whitespace included) makes it fail.

The number is never in a receipt. ``number_fingerprint`` names it: the first 16 bytes, in hex, of
SHA-256 over the number's blind index (the HMAC of the number in E.164 form under the account's
index key). Whoever has the account's index key and the number can recompute it; nobody else can
learn the number from it.

``audit_seq`` is the sequence number of the SUBJECT_ERASED event in the access log, and
``checkpoint`` the signed checkpoint of the log that covers it (its ``seq`` is at or after
``audit_seq``; ``head_hash`` is the chain hash there; ``signature`` is Ed25519 over
``govsms-audit-export|<seq>|<head_hash>`` under the checkpoint's own key, ``public_key``, which is
the receipt's key unless the audit key was changed in between; a receipt without it was signed
by the receipt's key): an auditor's export of the log shows the event in the chain it signs.
``checkpoint`` is null when the log was not sealed that far yet.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from govsms.audit.chain import checkpoint_message
from govsms.audit.record import canonical_json

VERSION = 1
KIND = "govsms-erasure-receipt"
FINGERPRINT_BYTES = 16


def number_fingerprint(blind_index: bytes) -> str:
    """The receipt's name for the number: SHA-256 over its blind index, first 16 bytes, hex."""
    return hashlib.sha256(blind_index).digest()[:FINGERPRINT_BYTES].hex()


def utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head_hash: bytes
    signature: bytes
    signed_at: str
    public_key: bytes | None = None
    """The key the checkpoint was signed with (``AuditCheckpoint.public_key``)."""

    def item(self) -> dict[str, object]:
        item: dict[str, object] = {"seq": self.seq, "head_hash": self.head_hash.hex(), "signature": self.signature.hex(), "signed_at": self.signed_at}
        if self.public_key is not None:
            item["public_key"] = self.public_key.hex()
        return item


@dataclass(frozen=True)
class Line:
    """One row of the receipt: what was erased, or what was kept and why."""

    category: str
    table: str
    rows: int
    reason: str = ""
    """Kept only: why, in English (the PDF translates it)."""

    def item(self) -> dict[str, object]:
        item: dict[str, object] = {"category": self.category, "table": self.table, "rows": self.rows}
        if self.reason:
            item["reason"] = self.reason
        return item


def public_key_of(signing_seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(signing_seed).public_key().public_bytes_raw()


def build_receipt(
    *, reference: str, erasure_id: int, account: tuple[int, str], blind_index: bytes, actor: str, started_at: datetime,
    finished_at: datetime, unblock: bool, erased: list[Line], kept: list[Line], audit_seq: int, checkpoint: Checkpoint | None,
    public_key: bytes,
) -> dict[str, Any]:
    return {
        "version": VERSION,
        "kind": KIND,
        "reference": reference,
        "erasure": erasure_id,
        "account": {"id": account[0], "name": account[1]},
        "number_fingerprint": number_fingerprint(blind_index),
        "actor": actor,
        "started_at": utc_text(started_at),
        "erased_at": utc_text(finished_at),
        "unblocked": unblock,
        "erased": [line.item() for line in erased],
        "kept": [line.item() for line in kept],
        "audit_seq": audit_seq,
        "checkpoint": checkpoint.item() if checkpoint is not None else None,
        "public_key": public_key.hex(),
    }


def sign_receipt(receipt: dict[str, Any], signing_seed: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(signing_seed).sign(canonical_json(receipt).encode())


def receipt_file(receipt: dict[str, Any], signature: bytes) -> bytes:
    """The file handed out: exactly these bytes (``verify_receipt`` requires them)."""
    return canonical_json({"receipt": receipt, "signature": signature.hex()}).encode()


class ReceiptInvalid(ValueError):
    """The file is not a genuine receipt; the message says what is wrong."""


def _hex(value: object, length: int, name: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * length or value != value.lower():
        raise ReceiptInvalid(f"{name} is not {length} bytes in lowercase hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ReceiptInvalid(f"{name} is not {length} bytes in lowercase hex") from None


FIELDS: dict[str, type | tuple[type, ...]] = {
    "reference": str, "erasure": int, "account": dict, "number_fingerprint": str, "actor": str, "started_at": str,
    "erased_at": str, "unblocked": bool, "erased": list, "kept": list, "audit_seq": int, "public_key": str,
}


def _well_formed(receipt: dict[str, Any]) -> None:
    for name, kind in FIELDS.items():
        if name not in receipt:
            raise ReceiptInvalid(f"the receipt has no {name!r}")
        if not isinstance(receipt[name], kind) or (kind is int and isinstance(receipt[name], bool)):
            raise ReceiptInvalid(f"the receipt's {name!r} is not well formed")
    account = receipt["account"]
    if not isinstance(account.get("id"), int) or not isinstance(account.get("name"), str):
        raise ReceiptInvalid("the receipt's 'account' is not well formed")
    if "checkpoint" not in receipt:
        raise ReceiptInvalid("the receipt has no 'checkpoint'")


def verify_receipt(content: bytes, *, trusted_key: bytes | None = None) -> dict[str, Any]:
    """The receipt in ``content`` when it is genuine: canonical to the byte, well formed, signed by
    the key it names (and that key is ``trusted_key`` when given), its checkpoint signed by the
    checkpoint's own key (which the receipt's signature covers) and at or after its event.
    ReceiptInvalid otherwise."""
    try:
        document = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ReceiptInvalid("the file is not JSON") from None
    if not isinstance(document, dict) or set(document) != {"receipt", "signature"} or not isinstance(document["receipt"], dict):
        raise ReceiptInvalid("the file is not a receipt: it must hold exactly \"receipt\" and \"signature\"")
    if canonical_json(document).encode() != content:
        raise ReceiptInvalid("the file was changed: it is not byte for byte the receipt as written")
    receipt: dict[str, Any] = document["receipt"]
    if receipt.get("kind") != KIND or receipt.get("version") != VERSION:
        raise ReceiptInvalid(f"not a {KIND} of version {VERSION}")
    _well_formed(receipt)
    signature = _hex(document["signature"], 64, "signature")
    key = _hex(receipt.get("public_key"), 32, "public_key")
    if trusted_key is not None and key != trusted_key:
        raise ReceiptInvalid("the receipt is signed by another key than the trusted one")
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, canonical_json(receipt).encode())
    except InvalidSignature:
        raise ReceiptInvalid("the signature does not match the receipt") from None
    checkpoint = receipt.get("checkpoint")
    if checkpoint is not None:
        if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("seq"), int) or isinstance(checkpoint.get("seq"), bool):
            raise ReceiptInvalid("the checkpoint is not well formed")
        seq, head = checkpoint["seq"], _hex(checkpoint.get("head_hash"), 32, "checkpoint.head_hash")
        checkpoint_key = _hex(checkpoint["public_key"], 32, "checkpoint.public_key") if "public_key" in checkpoint else key
        try:
            Ed25519PublicKey.from_public_bytes(checkpoint_key).verify(
                _hex(checkpoint.get("signature"), 64, "checkpoint.signature"), checkpoint_message(seq, head),
            )
        except InvalidSignature:
            raise ReceiptInvalid("the checkpoint's signature does not match its key") from None
        if seq < receipt["audit_seq"]:
            raise ReceiptInvalid("the checkpoint does not cover the erasure's event")
    return receipt


def checkpoint_key(receipt: dict[str, Any]) -> str | None:
    """The key (hex) the verified receipt's checkpoint was signed with; None without a checkpoint."""
    checkpoint = receipt.get("checkpoint")
    if checkpoint is None:
        return None
    return str(checkpoint.get("public_key", receipt["public_key"]))


def render_receipt_pdf(receipt: dict[str, Any], signature: bytes, *, lang: str, timezone: str | None = None) -> bytes:
    """The receipt for the data subject, as a PDF in Swedish or English (the DPA's look)."""
    from govsms.clock import localtime
    from govsms.dpa.render import environment, render_pdf
    from govsms.i18n import _, language
    from govsms.retention.categories import BY_KEY

    def category_label(key: str) -> str:
        return _(BY_KEY[key].label) if key in BY_KEY else key

    with language(lang):
        erased_at = localtime(datetime.strptime(receipt["erased_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), "%Y-%m-%d %H:%M", timezone)
        html = environment().get_template("subjects/receipt_document.html").render(
            receipt=receipt, signature=signature.hex(), lang=lang, erased_at=erased_at, category_label=category_label,
        )
    return render_pdf(html)
