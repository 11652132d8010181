"""Master-key rotation: re-wrap every data key under the active master key, chunk by chunk, and
when an old master key may be retired."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from govsms.errors import Conflict
from govsms.keys.ring import KeyRing
from govsms.keys.store import keys_by_master_key, keystore_factory, rewrap_step
from govsms.settings import Settings


@dataclass(frozen=True)
class Rotation:
    """What a rotation did: how many data keys it re-wrapped, and the master keys no data key
    needs any more (safe to retire)."""

    rewrapped: int
    unused: list[str]


def rewrap_data_keys(
    store_factory: sessionmaker[Session], keys: KeyRing, *, progress: Callable[[int, int], None] | None = None
) -> Rotation:
    """Re-wrap every data key not yet under ``keys.active_id``, one committed chunk at a time, so a
    stopped rotation resumes where it was; ``progress(done, total)`` is called after each chunk."""
    with store_factory() as store:
        total = sum(count for kek, count in keys_by_master_key(store).items() if kek != keys.active_id)
    done = 0
    while True:
        with store_factory() as store:
            step = rewrap_step(store, keys)
            store.commit()
        if not step:
            break
        done += step
        if progress is not None:
            progress(done, total)
    with store_factory() as store:
        counts = keys_by_master_key(store)
    unused = [key_id for key_id in keys.master_keys if key_id != keys.active_id and not counts.get(key_id)]
    return Rotation(rewrapped=done, unused=unused)


def check_retirable(settings: Settings, keys: KeyRing, key_id: str) -> None:
    """Refuse (``Conflict``) to retire the active master key, or one that still wraps data keys
    (an interrupted rotation: resume it first); return when nothing depends on ``key_id`` any more."""
    if key_id == keys.active_id:
        raise Conflict(f"{key_id} is the active master key; rotate to a new one first.")
    with keystore_factory(settings, keys)() as store:
        still = keys_by_master_key(store).get(key_id, 0)
    if still:
        raise Conflict(f"{still} data keys are still wrapped under {key_id}; run `govsms keys rotate --resume` first.")
