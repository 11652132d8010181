"""Sealed fields: every sealed column is a ``SealedField`` constant in its domain's models module,
its context is byte for byte the one stored values were sealed with, and no call site in
``govsms/`` spells a table and column of its own (a typo there would make data unreadable)."""

from __future__ import annotations

import ast
import importlib
import secrets
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from govsms.accounts.models import USER_TOTP_SECRET
from govsms.contacts.models import (
    CONTACT_NAME,
    CONTACT_NOTE,
    CONTACT_NUMBER,
    GROUP_DESCRIPTION,
    GROUP_NAME,
    UPLOAD_CONTENT,
    UPLOAD_FILENAME,
)
from govsms.keys.crypto import DecryptionError, SealedField, Subject, seal, seal_field, unseal, unseal_field
from govsms.dpa.models import DPA_DETAILS, DPA_VERSION_ACCEPTANCE, DPA_VERSION_DETAILS, DPA_VERSION_PDF
from govsms.receiving.models import FRAGMENT_SOURCE, FRAGMENT_TEXT, INBOUND_NUMBER, INBOUND_TEXT, RULE_EMAIL, RULE_MOBILE
from govsms.sending.models import DISPATCH_SENDER, DISPATCH_TEXT, MESSAGE_RECIPIENT, SENDER_NUMBER
from govsms.subjects.models import EXPORT_CONTENT, REQUEST_NOTES

PACKAGE = Path(__file__).resolve().parents[1] / "govsms"
MODELS = sorted(f"govsms.{path.parent.name}.models" for path in PACKAGE.glob("*/models.py"))

STORED_CONTEXTS = {
    # What ``value_context(table, column, 7, 42)`` gave before the constants: values stored
    # since then must keep opening, so these bytes never change.
    CONTACT_NUMBER: b"contact.number|7|42",
    CONTACT_NAME: b"contact.name|7|42",
    CONTACT_NOTE: b"contact.note|7|42",
    GROUP_NAME: b"contact_group.name|7|42",
    GROUP_DESCRIPTION: b"contact_group.description|7|42",
    UPLOAD_FILENAME: b"import_upload.filename|7|42",
    UPLOAD_CONTENT: b"import_upload.content|7|42",
    DISPATCH_TEXT: b"dispatch.text|7|42",
    DISPATCH_SENDER: b"dispatch.sender|7|42",
    MESSAGE_RECIPIENT: b"outbound_message.recipient|7|42",
    SENDER_NUMBER: b"sender_number.number|7|42",
    DPA_DETAILS: b"dpa_details.details|7|42",
    DPA_VERSION_DETAILS: b"dpa_version.details|7|42",
    DPA_VERSION_PDF: b"dpa_version.pdf|7|42",
    DPA_VERSION_ACCEPTANCE: b"dpa_version.acceptance|7|42",
    USER_TOTP_SECRET: b"app_user.totp_secret|7|42",
    REQUEST_NOTES: b"subject_request.notes|7|42",
    EXPORT_CONTENT: b"subject_export.content|7|42",
    INBOUND_NUMBER: b"inbound_message.number|7|42",
    INBOUND_TEXT: b"inbound_message.text|7|42",
    FRAGMENT_SOURCE: b"inbound_fragment.source|7|42",
    FRAGMENT_TEXT: b"inbound_fragment.text|7|42",
    RULE_EMAIL: b"forwarding_rule.email|7|42",
    RULE_MOBILE: b"forwarding_rule.mobile|7|42",
}

RAW_SEALERS = {"seal", "unseal", "wrap_new_keys"}
"""The primitives taking a context of bytes: for key wrapping (``keystore``) and the one field
whose context carries more than its owner (``contacts.importing``: the upload's token)."""
RAW_ALLOWED = {"keys/crypto.py", "keys/store.py", "contacts/importing.py"}
SEALING_CALLS = {"seal", "unseal", "unseal_or_none", "seal_field", "unseal_field", "encrypt", "decrypt", "decrypt_or_none", "context"}


def declared_fields() -> list[tuple[str, str, SealedField]]:
    """Every SealedField of every models module: (module, name, field)."""
    found = []
    for module_name in MODELS:
        module = importlib.import_module(module_name)
        for name, value in vars(module).items():
            if isinstance(value, SealedField):
                found.append((module_name, name, value))
    return found


def python_files() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def spelled_context(call: ast.Call) -> str | None:
    """Why this call spells a context of its own, if it does."""
    name = called_name(call)
    if name == "value_context":
        return "calls value_context"
    if name in SEALING_CALLS and any(isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in call.args):
        return f"passes a string to {name}"
    return None


def test_each_field_opens_what_was_sealed_before_the_constants() -> None:
    assert {field: field.context(7, 42) for field in STORED_CONTEXTS} == STORED_CONTEXTS
    key = secrets.token_bytes(32)
    for field, context in STORED_CONTEXTS.items():
        stored = seal(key, "Åsa Öberg".encode(), context)  # as the code before the constants wrote it
        assert unseal_field(key, field, 7, 42, stored).decode() == "Åsa Öberg"
        assert unseal(key, seal_field(key, field, 7, 42, "Åsa Öberg"), context).decode() == "Åsa Öberg"
    person = Subject(id=42, account_id=7, key=key)
    assert unseal(key, person.seal(CONTACT_NAME, "Åsa"), b"contact.name|7|42") == "Åsa".encode()
    assert unseal(key, person.seal(DISPATCH_SENDER, "+46701234567", owner_id=9), b"dispatch.sender|7|9") == b"+46701234567"
    assert person.unseal(DISPATCH_SENDER, seal(key, b"+46701234567", b"dispatch.sender|7|9"), owner_id=9) == "+46701234567"


def test_a_value_opens_only_in_its_own_field_account_and_owner() -> None:
    key = secrets.token_bytes(32)
    blob = seal_field(key, CONTACT_NAME, 7, 42, "Åsa")
    for field, account_id, owner_id in [(CONTACT_NOTE, 7, 42), (GROUP_NAME, 7, 42), (CONTACT_NAME, 8, 42), (CONTACT_NAME, 7, 43)]:
        with pytest.raises(DecryptionError):
            unseal_field(key, field, account_id, owner_id, blob)
    assert Subject(id=42, account_id=7, key=key).unseal_or_none(CONTACT_NOTE, blob) is None


def test_every_declared_field_is_listed_here_and_names_a_sealed_column() -> None:
    """A new sealed column gets a constant, and its stored form is written down above; the
    constant's table and column are those of a real ``<column>_ct`` column."""
    declared = {field for _module, _name, field in declared_fields()}
    assert declared == set(STORED_CONTEXTS)
    tables = SQLModel.metadata.tables
    for field in declared:
        assert field.table in tables, field
        assert f"{field.column}_ct" in tables[field.table].columns, field


def test_no_two_fields_share_a_column() -> None:
    seen: dict[tuple[str, str], str] = {}
    for module, name, field in declared_fields():
        where = f"{module}.{name}"
        earlier = seen.setdefault((field.table, field.column), where)
        assert earlier == where, f"{where} seals the same column as {earlier}"


def test_sealed_fields_are_declared_only_in_models_modules() -> None:
    misplaced = [
        f"{path}:{node.lineno}"
        for path, tree in python_files()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and called_name(node) == "SealedField" and not path.endswith("/models.py")
    ]
    assert misplaced == []


def test_no_call_site_spells_a_context() -> None:
    """No string where a field goes, no ``value_context``, and the byte-context primitives only
    where keys are wrapped (or a field's context is extended)."""
    found = []
    for path, tree in python_files():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "govsms.keys.crypto" and path not in RAW_ALLOWED:
                found += [f"{path}:{node.lineno} imports {alias.name}" for alias in node.names if alias.name in RAW_SEALERS]
            if isinstance(node, ast.Call) and path != "keys/crypto.py" and (reason := spelled_context(node)):
                found.append(f"{path}:{node.lineno} {reason}")
    assert found == []


def test_the_scan_sees_what_it_forbids() -> None:
    bad = [
        'subject.encrypt("contact", "number", number)',
        'subject.seal("contact", number)',
        'value_context(table, column, account_id, dispatch_id)',
        'unseal_field(key, "dispatch", account_id, dispatch_id, blob)',
    ]
    good = ["subject.seal(CONTACT_NUMBER, number)", "seal_field(key, DISPATCH_TEXT, account_id, dispatch_id, text)"]

    def reason(source: str) -> str | None:
        call = ast.parse(source, mode="eval").body
        assert isinstance(call, ast.Call)
        return spelled_context(call)

    assert all(reason(source) for source in bad)
    assert not any(reason(source) for source in good)
