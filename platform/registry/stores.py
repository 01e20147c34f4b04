"""The transaction manager's nonce and transaction stores, kept in the database.

`provenance.transactions` defines the protocols; these rows make a nonce survive a restart and a
signed transaction exist before it is broadcast, so a crash between the two never doubles a mint.
"""

from __future__ import annotations

from dataclasses import fields

from django.db import IntegrityError, transaction

from provenance.transactions import UNFINISHED, TxRecord, TxState
from registry.models import ChainTransaction, SignerNonce

_INTEGERS_AS_TEXT = ("value", "max_fee_per_gas", "max_priority_fee_per_gas")
_OPTIONAL_TEXT = (
    "to",
    "replaces",
    "replaced_by",
    "block_hash",
    "contract_address",
    "revert_data",
    "error",
)


class DatabaseNonceStore:
    """Next nonces in `SignerNonce`, taken under a row lock (safe across workers)."""

    @transaction.atomic
    def reserve(self, chain_id: int, address: str, node_pending_nonce: int) -> int:
        """Atomically take max(stored next nonce, node's pending count); store it plus one."""
        row, _ = SignerNonce.objects.select_for_update().get_or_create(
            chain_id=chain_id, address=address.lower(), defaults={"next_nonce": 0}
        )
        nonce = max(row.next_nonce, node_pending_nonce)
        row.next_nonce = nonce + 1
        row.save(update_fields=["next_nonce"])
        return nonce

    @transaction.atomic
    def release(self, chain_id: int, address: str, nonce: int) -> bool:
        """Give `nonce` back if it is the last one reserved; whether it was given back."""
        updated = SignerNonce.objects.filter(
            chain_id=chain_id, address=address.lower(), next_nonce=nonce + 1
        ).update(next_nonce=nonce)
        return updated == 1

    def resync(self, chain_id: int, address: str, next_nonce: int) -> None:
        """Force the stored next nonce (after the node said "nonce too low", or a gap)."""
        SignerNonce.objects.update_or_create(
            chain_id=chain_id, address=address.lower(), defaults={"next_nonce": next_nonce}
        )

    def peek(self, chain_id: int, address: str) -> int | None:
        """The stored next nonce, or None when nothing is stored yet."""
        return (
            SignerNonce.objects.filter(chain_id=chain_id, address=address.lower())
            .values_list("next_nonce", flat=True)
            .first()
        )


def _row_values(record: TxRecord) -> dict[str, object]:
    values: dict[str, object] = {}
    for field in fields(TxRecord):
        value = getattr(record, field.name)
        if field.name in _INTEGERS_AS_TEXT:
            value = str(value)
        elif field.name in _OPTIONAL_TEXT and value is None:
            value = ""
        elif field.name == "state":
            value = str(value)
        values[field.name] = value
    return values


def _record(row: ChainTransaction) -> TxRecord:
    values: dict[str, object] = {}
    for field in fields(TxRecord):
        value = getattr(row, field.name)
        if field.name in _INTEGERS_AS_TEXT:
            value = int(value)
        elif field.name in _OPTIONAL_TEXT and value == "":
            value = None
        elif field.name == "state":
            value = TxState(value)
        values[field.name] = value
    return TxRecord(**values)  # type: ignore[arg-type]


class DatabaseTxStore:
    """Signed transactions in `ChainTransaction`, one row per hash."""

    def add(self, record: TxRecord) -> TxRecord:
        """Save a new record; if one with the same key exists, save nothing and return that one."""
        if record.key is not None:
            existing = self.get_by_key(record.key)
            if existing is not None:
                return existing
        try:
            with transaction.atomic():
                ChainTransaction.objects.create(**_row_values(record))
        except IntegrityError:
            if record.key is not None and (existing := self.get_by_key(record.key)):
                return existing  # another worker saved the same request first
            raise
        return record

    def update(self, record: TxRecord) -> None:
        """Overwrite the saved record with the same tx_hash."""
        values = _row_values(record)
        tx_hash = values.pop("tx_hash")
        if not ChainTransaction.objects.filter(tx_hash=tx_hash).update(**values):
            raise KeyError(f"transaction {tx_hash} was never saved")

    def get(self, tx_hash: str) -> TxRecord | None:
        """The record with this hash, or None."""
        row = ChainTransaction.objects.filter(tx_hash=tx_hash).first()
        return _record(row) if row else None

    def get_by_key(self, key: str) -> TxRecord | None:
        """The record first saved with this idempotency key, or None."""
        row = ChainTransaction.objects.filter(key=key).first()
        return _record(row) if row else None

    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]:
        """The sender's pending, sent and mined records on that chain, by nonce."""
        rows = ChainTransaction.objects.filter(
            chain_id=chain_id,
            sender__iexact=sender,
            state__in=[str(state) for state in UNFINISHED],
        ).order_by("nonce", "created_at")
        return [_record(row) for row in rows]
