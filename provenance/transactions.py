"""Sending transactions for one signer, fit for production.

Nonces come from a `NonceStore` reconciled with the node; every signed transaction is saved in a
`TxStore` before it is broadcast, so a crash or an unreachable node never loses or doubles one.
`wait` rebroadcasts what the node forgot, replaces a stuck transaction with higher fees, counts
confirmations and checks the block is still canonical before it calls a transaction confirmed.
A nonce that was reserved but never sent (a crash in between) blocks every later transaction of
the signer; `wait` and `resume` find such a gap and fill it with a 0-value transfer to the signer.
Both stores are protocols: the platform keeps them in its database, the CLI and tests in memory.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Protocol
from urllib.parse import urlsplit

from eth_abi.abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    ContractLogicError,
    ProviderConnectionError,
    RequestTimedOut,
    TransactionNotFound,
)

from provenance.errors import (
    ChainUnavailable,
    FeeTooLow,
    InsufficientFunds,
    NonceTooLow,
    ProvenanceError,
    ReplacementUnderpriced,
    TransactionFailed,
    TransactionReverted,
    TransactionTimeout,
)

logger = logging.getLogger(__name__)

GWEI = 10**9
_ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
_PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)
_PANICS = {
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division by zero",
    0x21: "invalid enum value",
    0x22: "bad storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}

# What nodes answer to eth_sendRawTransaction, lower-cased. geth: core/txpool/errors.go and
# core/error.go; anvil: crates/anvil/src/eth/error.rs; erigon/nethermind/parity variants too.
_ALREADY_KNOWN = (
    "already known",  # geth
    "already imported",  # anvil: "transaction already imported"
    "known transaction",  # parity, older geth
    "existing tx with same hash",  # erigon
    "alreadyknown",  # nethermind
)
_NONCE_TOO_LOW = ("nonce too low", "nonce is too low", "oldnonce", "invalid nonce")
_REPLACEMENT_UNDERPRICED = (
    "replacement transaction underpriced",  # geth, anvil
    "replacement fee too low",
    "insufficient gas price to replace",  # anvil pool
    "replacement underpriced",
)
_FEE_TOO_LOW = (
    "transaction underpriced",  # geth: below the pool's minimum tip
    "max fee per gas less than block base fee",  # geth, anvil
    "fee cap less than block base fee",
    "feecap too low",
    "gas price too low",
    "gas price is too low",
    "underpriced",
)
_INSUFFICIENT_FUNDS = ("insufficient funds", "insufficient balance")
_REVERTED = ("execution reverted", "revert")
# requests' ConnectionError and Timeout are OSErrors; web3 raises the other two itself.
_CONNECTION_ERRORS = (OSError, ProviderConnectionError, RequestTimedOut)

GAP_KEY_PREFIX = "gap:"
FILLER_GAS = 21_000  # a plain transfer: what a gap filler costs
# More missing nonces than this under one signer is not a lost reservation but a reset chain or a
# wrong store; filling it would spend gas on a guess, so it is logged for a person instead.
MAX_GAP_FILL = 32


class TxState(enum.StrEnum):
    """Where a saved transaction stands."""

    PENDING = "pending"  # signed and saved; the node has not accepted it (yet, or again)
    SENT = "sent"  # the node accepted it into its pool
    MINED = "mined"  # in a block, with fewer confirmations than asked for
    CONFIRMED = "confirmed"  # enough confirmations, in the canonical chain
    FAILED = "failed"  # reverted on chain, or refused by the node for good
    REPLACED = "replaced"  # superseded by a fee-bumped transaction with the same nonce


UNFINISHED = frozenset({TxState.PENDING, TxState.SENT, TxState.MINED})


@dataclass(frozen=True)
class TxRecord:
    """A signed transaction as saved before broadcast, and what became of it."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    raw_tx: str
    to: str | None
    data: str
    value: int
    gas: int
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    state: TxState = TxState.PENDING
    key: str | None = None  # the caller's idempotency key (only on the first of a chain)
    replaces: str | None = None  # tx hash this one superseded
    replaced_by: str | None = None  # tx hash that superseded this one
    created_at: float = 0.0  # unix seconds
    sent_at: float | None = None  # unix seconds the node first accepted it
    block_number: int | None = None
    block_hash: str | None = None
    contract_address: str | None = None
    revert_data: str | None = None  # 0x hex, set when it reverted on chain
    error: str | None = None


class NonceStore(Protocol):
    """The next nonce of each (chain, sender); a database table in the platform."""

    def reserve(self, chain_id: int, address: str, node_pending_nonce: int) -> int:
        """Atomically take max(stored next nonce, node's pending count); store it plus one."""
        ...

    def release(self, chain_id: int, address: str, nonce: int) -> bool:
        """Give `nonce` back if it is the last one reserved; whether it was given back."""
        ...

    def resync(self, chain_id: int, address: str, next_nonce: int) -> None:
        """Force the stored next nonce (after the node said "nonce too low", or a gap)."""
        ...

    def peek(self, chain_id: int, address: str) -> int | None:
        """The stored next nonce, or None when nothing is stored yet."""
        ...


class MemoryNonceStore:
    """A thread-safe NonceStore in memory, for the library, the CLI and tests."""

    def __init__(self) -> None:
        self._next: dict[tuple[int, str], int] = {}
        self._lock = threading.Lock()

    def reserve(self, chain_id: int, address: str, node_pending_nonce: int) -> int:
        """Atomically take max(stored next nonce, node's pending count); store it plus one."""
        slot = (chain_id, address.lower())
        with self._lock:
            nonce = max(self._next.get(slot, 0), node_pending_nonce)
            self._next[slot] = nonce + 1
            return nonce

    def release(self, chain_id: int, address: str, nonce: int) -> bool:
        """Give `nonce` back if it is the last one reserved; whether it was given back."""
        slot = (chain_id, address.lower())
        with self._lock:
            if self._next.get(slot) != nonce + 1:
                return False
            self._next[slot] = nonce
            return True

    def resync(self, chain_id: int, address: str, next_nonce: int) -> None:
        """Force the stored next nonce (after the node said "nonce too low", or a gap)."""
        with self._lock:
            self._next[(chain_id, address.lower())] = next_nonce

    def peek(self, chain_id: int, address: str) -> int | None:
        """The stored next nonce, or None when nothing is stored yet."""
        with self._lock:
            return self._next.get((chain_id, address.lower()))


class TxStore(Protocol):
    """Saved transactions, keyed by hash; a database table in the platform."""

    def add(self, record: TxRecord) -> TxRecord:
        """Save a new record; if one with the same key exists, save nothing and return that one."""
        ...

    def update(self, record: TxRecord) -> None:
        """Overwrite the saved record with the same tx_hash (its key included)."""
        ...

    def get(self, tx_hash: str) -> TxRecord | None:
        """The record with this hash, or None."""
        ...

    def get_by_key(self, key: str) -> TxRecord | None:
        """The record first saved with this idempotency key, or None."""
        ...

    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]:
        """The sender's pending, sent and mined records on that chain, by nonce."""
        ...


class MemoryTxStore:
    """A thread-safe TxStore in memory, for the library, the CLI and tests."""

    def __init__(self) -> None:
        self._records: dict[str, TxRecord] = {}
        self._by_key: dict[str, str] = {}
        self._lock = threading.Lock()

    def add(self, record: TxRecord) -> TxRecord:
        """Save a new record; if one with the same key exists, save nothing and return that one."""
        with self._lock:
            if record.key is not None and record.key in self._by_key:
                return self._records[self._by_key[record.key]]
            if record.tx_hash in self._records:
                raise ValueError(f"transaction {record.tx_hash} is already saved")
            self._records[record.tx_hash] = record
            if record.key is not None:
                self._by_key[record.key] = record.tx_hash
            return record

    def update(self, record: TxRecord) -> None:
        """Overwrite the saved record with the same tx_hash (its key included)."""
        with self._lock:
            if record.tx_hash not in self._records:
                raise KeyError(f"transaction {record.tx_hash} was never saved")
            self._records[record.tx_hash] = record
            if record.key is not None:
                self._by_key.setdefault(record.key, record.tx_hash)

    def get(self, tx_hash: str) -> TxRecord | None:
        """The record with this hash, or None."""
        with self._lock:
            return self._records.get(tx_hash)

    def get_by_key(self, key: str) -> TxRecord | None:
        """The record first saved with this idempotency key, or None."""
        with self._lock:
            tx_hash = self._by_key.get(key)
            return None if tx_hash is None else self._records[tx_hash]

    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]:
        """The sender's pending, sent and mined records on that chain, by nonce."""
        with self._lock:
            found = [
                record
                for record in self._records.values()
                if record.chain_id == chain_id
                and record.sender.lower() == sender.lower()
                and record.state in UNFINISHED
            ]
        return sorted(found, key=lambda record: (record.nonce, record.created_at))

    def all(self) -> list[TxRecord]:
        """Every saved record, oldest first."""
        with self._lock:
            return sorted(self._records.values(), key=lambda record: record.created_at)


def gap_key(chain_id: int, sender: str, nonce: int) -> str:
    """The idempotency key of the filler for `nonce` of `sender`: one per gap, whoever fills it."""
    return f"{GAP_KEY_PREFIX}{chain_id}:{Web3.to_checksum_address(sender)}:{nonce}"


@dataclass
class _SignerState:
    """What every manager of one signer in this process shares."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    # Hashes of gap fillers not seen finished yet: nobody waits on a filler, so the gap checks and
    # the next confirmation of the signer poll them until they are (resume() polls any left over).
    fillers: set[str] = field(default_factory=set)


_SIGNERS: dict[str, _SignerState] = {}
_SIGNERS_GUARD = threading.Lock()


def _signer_state(address: str) -> _SignerState:
    """One state per signer in this process; `lock` serialises its nonces and its records."""
    with _SIGNERS_GUARD:
        return _SIGNERS.setdefault(address.lower(), _SignerState())


@dataclass(frozen=True)
class _Fees:
    """EIP-1559 fees per gas, in wei."""

    max_fee: int
    priority: int


class TransactionManager:
    """Sends and follows the transactions of one signer on one chain (thread-safe).

    Concurrent `send` calls for the same signer (from any manager in this process) are serialised
    by a per-signer lock, so nonces are never reused. Across processes, keep a signer in one.

    Nonce gaps: a transaction that has waited `gap_after_s` (default: `stuck_after_s`) since it
    was first signed makes `poll` compare the node's confirmed nonce with its own. Every nonce in
    between that the node lacks and that has no unfinished saved transaction was reserved and lost
    (a crash between reserving and saving, or a refused send whose nonce could not be given back
    because a later one was already taken); it is filled with a 0-value transfer to the signer,
    saved under `gap_key(...)` so a retry or another process never fills it twice. While earlier
    nonces are unmined the waiting transaction is not fee-bumped: a higher fee cannot move it.
    The wait before filling is what keeps a filler from racing a slow sender of that nonce in
    another process; within one process the per-signer lock already rules that out.
    """

    def __init__(
        self,
        web3: Web3,
        signer: LocalAccount,
        nonces: NonceStore,
        txs: TxStore,
        *,
        confirmations: int = 1,
        stuck_after_s: float = 120.0,
        fee_bump: float = 1.125,
        max_fee_cap_wei: int = 500 * GWEI,
        gas_margin: float = 1.2,
        poll_interval_s: float = 1.0,
        gap_after_s: float | None = None,
    ) -> None:
        if confirmations < 1:
            raise ValueError(f"confirmations must be at least 1, not {confirmations}")
        if fee_bump < 1.1:
            raise ValueError(f"fee_bump must be at least 1.1 (geth refuses less), not {fee_bump}")
        if gas_margin < 1:
            raise ValueError(f"gas_margin must be at least 1, not {gas_margin}")
        if gap_after_s is not None and gap_after_s < 0:
            raise ValueError(f"gap_after_s must be at least 0, not {gap_after_s}")
        self.web3 = web3
        self.signer = signer
        self.nonces = nonces
        self.txs = txs
        self.confirmations = confirmations
        self.stuck_after_s = stuck_after_s
        self.fee_bump = fee_bump
        self.max_fee_cap_wei = max_fee_cap_wei
        self.gas_margin = gas_margin
        self.poll_interval_s = poll_interval_s
        self.gap_after_s = stuck_after_s if gap_after_s is None else gap_after_s
        self._chain_id: int | None = None
        self._signer = _signer_state(signer.address)
        self._lock = self._signer.lock
        self._warned_cap: set[str] = set()

    @property
    def address(self) -> ChecksumAddress:
        """The signer's checksummed address."""
        return self.signer.address

    @property
    def chain_id(self) -> int:
        """The node's chain id (asked once)."""
        if self._chain_id is None:
            with self._node("reading the chain id"):
                self._chain_id = int(self.web3.eth.chain_id)
        return self._chain_id

    # -- sending -----------------------------------------------------------------------------

    def send(
        self,
        to: str | None,
        data: bytes | str = b"",
        *,
        value: int = 0,
        gas: int | None = None,
        key: str | None = None,
    ) -> TxRecord:
        """Sign, save and broadcast a transaction (`to=None` deploys); the saved record.

        With `key`, a second call with the same key returns the first call's transaction (or the
        one that replaced it) instead of sending another.
        """
        if key is not None:
            existing = self._by_key(key)
            if existing is not None:
                return existing
        to_address = Web3.to_checksum_address(to) if to is not None else None
        payload = HexBytes(data)
        chain_id = self.chain_id
        fees = self._fees()
        if gas is None:
            gas = self._estimate_gas(to_address, payload, value, fees)
        with self._lock:
            if key is not None:
                existing = self._by_key(key)
                if existing is not None:
                    return existing
            return self._sign_and_broadcast(chain_id, to_address, payload, value, gas, fees, key)

    def _sign_and_broadcast(
        self,
        chain_id: int,
        to: str | None,
        data: HexBytes,
        value: int,
        gas: int,
        fees: _Fees,
        key: str | None,
    ) -> TxRecord:
        """Reserve a nonce, sign, save, broadcast; retry once with a fresh nonce if it was taken."""
        previous: TxRecord | None = None
        for attempt in (1, 2):
            nonce = self._reserve_nonce(chain_id)
            record = self._sign(
                chain_id,
                nonce,
                to,
                data,
                value,
                gas,
                fees,
                key=key if previous is None else None,
                replaces=None if previous is None else previous.tx_hash,
            )
            earlier = self.txs.get(record.tx_hash)
            if earlier is not None and earlier.state is TxState.FAILED:
                # The very bytes of an earlier refused send (same nonce, fees, payload): retry.
                record = replace(record, key=record.key or earlier.key)
                self.txs.update(record)
                saved = record
            else:
                saved = self.txs.add(record)
            if saved.tx_hash != record.tx_hash:  # another process sent this key first
                self.nonces.release(chain_id, self.address, nonce)
                return self._latest(saved)
            if previous is not None:
                self.txs.update(replace(previous, replaced_by=record.tx_hash))
            try:
                return self._broadcast_new(record)
            except NonceTooLow as error:
                if attempt == 2:
                    raise
                logger.warning("%s; signing again with the node's next nonce", error)
                previous = self.txs.get(record.tx_hash) or record
        raise AssertionError("unreachable")

    def _broadcast_new(self, record: TxRecord) -> TxRecord:
        """Broadcast a new record; a refusal marks it failed and frees or resyncs its nonce."""
        try:
            self._broadcast(record)
        except ChainUnavailable as error:
            raise ChainUnavailable(
                f"{error}; transaction {record.tx_hash} (nonce {record.nonce}) is saved as pending"
                " and wait() or resume() will broadcast it when the node is back"
            ) from error
        except NonceTooLow as error:
            self._fail(record, str(error))
            with self._node("reading the account's nonce"):
                pending = int(self.web3.eth.get_transaction_count(self.address, "pending"))
            self.nonces.resync(record.chain_id, self.address, pending)
            raise NonceTooLow(
                f"{error} (nonce {record.nonce}; the node's next is {pending})",
                tx_hash=record.tx_hash,
            ) from error
        except TransactionFailed as error:
            self._fail(record, str(error))
            self.nonces.release(record.chain_id, self.address, record.nonce)
            raise
        sent = replace(record, state=TxState.SENT, sent_at=time.time())
        self.txs.update(sent)
        logger.info("sent %s (nonce %d) from %s", sent.tx_hash, sent.nonce, sent.sender)
        return sent

    def _broadcast(self, record: TxRecord) -> None:
        """eth_sendRawTransaction; "already known" counts as accepted; refusals are classified."""
        try:
            self.web3.eth.send_raw_transaction(HexBytes(record.raw_tx))
        except Exception as error:
            if not _is_connection_error(error) and refusal_kind(_rpc_message(error)) is None:
                return  # "already known": the node has it
            raise self._classify(error, record=record) from error

    def _reserve_nonce(self, chain_id: int) -> int:
        """The next nonce: the store reconciled with the node's pending count (gaps rewound)."""
        with self._node("reading the account's nonce"):
            pending = int(self.web3.eth.get_transaction_count(self.address, "pending"))
        stored = self.nonces.peek(chain_id, self.address)
        if stored is not None and stored > pending:
            waiting = [r for r in self.txs.unfinished(chain_id, self.address) if r.nonce >= pending]
            if not waiting:
                logger.warning(
                    "nonce store for %s is ahead of the node (%d > %d) and no saved transaction "
                    "fills the gap; rewinding to %d",
                    self.address,
                    stored,
                    pending,
                    pending,
                )
                self.nonces.resync(chain_id, self.address, pending)
            else:
                for record in waiting:  # the node forgot them (restart): hand them back
                    self._rebroadcast_quietly(record)
        return self.nonces.reserve(chain_id, self.address, pending)

    def _rebroadcast_quietly(self, record: TxRecord) -> None:
        """Rebroadcast a saved transaction; a refusal is left for its waiter to sort out."""
        if record.state is TxState.MINED or record.replaced_by is not None:
            return
        try:
            self._broadcast(record)
        except TransactionFailed as error:
            logger.info("rebroadcast of %s refused: %s", record.tx_hash, error)

    def _sign(
        self,
        chain_id: int,
        nonce: int,
        to: str | None,
        data: HexBytes,
        value: int,
        gas: int,
        fees: _Fees,
        *,
        key: str | None = None,
        replaces: str | None = None,
    ) -> TxRecord:
        """An EIP-1559 transaction signed by the signer, as a pending record."""
        fields: dict[str, Any] = {
            "type": 2,
            "chainId": chain_id,
            "nonce": nonce,
            "value": value,
            "data": data,
            "gas": gas,
            "maxFeePerGas": fees.max_fee,
            "maxPriorityFeePerGas": fees.priority,
        }
        if to is not None:
            fields["to"] = to
        signed = self.signer.sign_transaction(fields)
        return TxRecord(
            chain_id=chain_id,
            sender=self.address,
            nonce=nonce,
            tx_hash=HexBytes(signed.hash).to_0x_hex(),
            raw_tx=HexBytes(signed.raw_transaction).to_0x_hex(),
            to=to,
            data=data.to_0x_hex(),
            value=value,
            gas=gas,
            max_fee_per_gas=fees.max_fee,
            max_priority_fee_per_gas=fees.priority,
            key=key,
            replaces=replaces,
            created_at=time.time(),
        )

    def _fees(self) -> _Fees:
        """Fees from the node: max fee = 2 x base fee + tip, within max_fee_cap_wei."""
        with self._node("reading fees"):
            block = self.web3.eth.get_block("latest")
            priority = int(self.web3.eth.max_priority_fee)
        base = block.get("baseFeePerGas")
        if base is None:
            raise TransactionFailed("the chain has no base fee (pre-London); EIP-1559 is required")
        if int(base) + priority > self.max_fee_cap_wei:
            raise FeeTooLow(
                f"the network wants at least {int(base) + priority} wei per gas (base fee {base} "
                f"+ tip {priority}) but max_fee_cap_wei is {self.max_fee_cap_wei}; raise the cap "
                "or wait for fees to fall"
            )
        return _Fees(max_fee=min(2 * int(base) + priority, self.max_fee_cap_wei), priority=priority)

    def _estimate_gas(self, to: str | None, data: HexBytes, value: int, fees: _Fees) -> int:
        """The node's gas estimate times gas_margin; a revert or missing funds is raised here."""
        call: dict[str, Any] = {"from": self.address, "value": value, "data": data}
        if to is not None:
            call["to"] = to
        try:
            estimate = int(self.web3.eth.estimate_gas(call))  # type: ignore[arg-type]
        except Exception as error:
            raise self._classify(error, value=value, fees=fees, simulating=True) from error
        return math.ceil(estimate * Fraction(str(self.gas_margin)))

    # -- following ---------------------------------------------------------------------------

    def wait(self, record: TxRecord, timeout: float = 120.0) -> TxRecord:
        """Poll until the transaction (or its replacement) is confirmed; the confirmed record.

        Raises TransactionReverted when it reverted, ChainUnavailable when the node does not
        answer, TransactionTimeout when `timeout` seconds pass first (it stays saved).
        """
        deadline = time.monotonic() + timeout
        while True:
            record = self.poll(record)
            if record.state is TxState.CONFIRMED:
                return record
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransactionTimeout(
                    f"transaction {record.tx_hash} (nonce {record.nonce}) is still {record.state} "
                    f"after {timeout:g} s; it stays saved and wait() can be called again",
                    tx_hash=record.tx_hash,
                )
            time.sleep(min(self.poll_interval_s, left))

    def poll(self, record: TxRecord) -> TxRecord:
        """One step of `wait`: look for a receipt, rebroadcast, fill gaps, replace, confirm.

        Returns the new record (the replacement, if it was replaced).
        """
        with self._lock:
            return self._step(record, check_gaps=True)

    def _step(self, record: TxRecord, *, check_gaps: bool) -> TxRecord:
        """`poll` under the lock; `check_gaps=False` when following a filler (no recursion)."""
        current = self._latest(self.txs.get(record.tx_hash) or record)
        if current.state is TxState.FAILED:
            raise self._failure(current)
        if current.state is TxState.CONFIRMED:
            return current
        family = self._family(current)
        with self._node(f"following {current.tx_hash}"):
            found = self._find_receipt(family)
            if found is None:
                return self._not_mined(current, family, check_gaps=check_gaps)
            winner, receipt = found
            mined = self._mined(current, family, winner, receipt)
        if check_gaps and mined.state is TxState.CONFIRMED and self._signer.fillers:
            self._settle_fillers()
        return mined

    def resume(self) -> list[TxRecord]:
        """Fill nonce gaps, then poll every unfinished transaction of this signer once (after a
        restart); the records polled, fillers included.
        """
        try:
            self.fill_gaps()
        except TransactionFailed as error:
            logger.warning("could not fill the nonce gaps of %s: %s", self.address, error)
        records = []
        for record in self.txs.unfinished(self.chain_id, self.address):
            if record.replaced_by is None:
                try:
                    records.append(self.poll(record))
                except TransactionFailed as error:
                    logger.warning("transaction %s failed: %s", record.tx_hash, error)
        return records

    def _find_receipt(self, family: list[TxRecord]) -> tuple[TxRecord, Mapping[str, Any]] | None:
        """The first member of the family (same nonce) with a receipt, and that receipt."""
        for member in family:
            try:
                receipt = self.web3.eth.get_transaction_receipt(HexBytes(member.tx_hash))
            except TransactionNotFound:
                continue
            if receipt is not None:
                return member, receipt
        return None

    def _not_mined(
        self, current: TxRecord, family: list[TxRecord], *, check_gaps: bool
    ) -> TxRecord:
        """No receipt: undo a reorged-out block, rebroadcast what the node forgot, fill a nonce
        gap below it, bump it if stuck (and not waiting behind earlier nonces).
        """
        if current.block_hash is not None:
            logger.warning(
                "reorg: %s was in block %s (#%s), which is no longer canonical; sending it again",
                current.tx_hash,
                current.block_hash,
                current.block_number,
            )
            current = replace(current, state=TxState.PENDING, block_number=None, block_hash=None)
            self.txs.update(current)
        if not self._node_knows(current.tx_hash):
            try:
                self._broadcast(current)
            except NonceTooLow as error:
                return self._nonce_taken(current, error)
            except FeeTooLow as error:  # fees rose since it was signed: bump it now
                logger.warning(
                    "rebroadcast of %s refused: %s; replacing it", current.tx_hash, error
                )
                return self._replace_stuck(current)
            except TransactionFailed as error:
                logger.warning("rebroadcast of %s refused: %s", current.tx_hash, error)
                return current
            logger.info("rebroadcast %s (nonce %d)", current.tx_hash, current.nonce)
        if current.state is TxState.PENDING:
            current = replace(current, state=TxState.SENT, sent_at=current.sent_at or time.time())
            self.txs.update(current)
        if check_gaps and time.time() - family[-1].created_at >= self.gap_after_s:
            confirmed_nonce, _ = self._fill_gaps(current.chain_id, current.nonce)
            if confirmed_nonce < current.nonce:
                logger.debug(
                    "%s (nonce %d) waits behind nonce %d; not bumping it",
                    current.tx_hash,
                    current.nonce,
                    confirmed_nonce,
                )
                return current
        if current.sent_at is not None and time.time() - current.sent_at >= self.stuck_after_s:
            return self._replace_stuck(current)
        return current

    # -- nonce gaps --------------------------------------------------------------------------

    def fill_gaps(self) -> list[TxRecord]:
        """Fill the nonce gaps under this signer's unfinished transactions; the fillers sent now.

        Only gaps below a transaction that has waited `gap_after_s` since it was first signed are
        filled (`poll` checks the same when such a transaction is not mined). Idempotent: a gap
        already holding a saved filler, from this call or any other process, is not filled again.
        """
        chain_id = self.chain_id
        with self._lock, self._node("checking the signer's nonces for gaps"):
            now = time.time()
            waiting = [
                record.nonce
                for record in self.txs.unfinished(chain_id, self.address)
                if record.replaced_by is None
                and now - self._family(record)[-1].created_at >= self.gap_after_s
            ]
            if not waiting:
                return []
            _, sent = self._fill_gaps(chain_id, max(waiting))
            return sent

    def _fill_gaps(self, chain_id: int, below: int) -> tuple[int, list[TxRecord]]:
        """Fill each nonce under `below` the node lacks and no unfinished saved record holds.

        Returns the node's confirmed nonce count ("latest") and the fillers sent now. Call it
        under the signer lock, and only for a `below` whose transaction has waited gap_after_s.
        """
        self._advance_fillers()
        latest = int(self.web3.eth.get_transaction_count(self.address, "latest"))
        if latest >= below:
            return latest, []
        unfinished = self.txs.unfinished(chain_id, self.address)
        for record in unfinished:
            if record.key is not None and record.key.startswith(GAP_KEY_PREFIX):
                self._signer.fillers.add(record.tx_hash)  # another process's: follow it too
            elif record.state is TxState.PENDING and latest <= record.nonce < below:
                self._rebroadcast_quietly(record)  # saved but never accepted: it blocks as well
        held = {record.nonce for record in unfinished}
        missing = [nonce for nonce in range(latest, below) if nonce not in held]
        if not missing:
            return latest, []
        # The node holds an executable transaction for each nonce under its pending count, one
        # sent outside this store perhaps: a filler there could only replace it.
        pending = int(self.web3.eth.get_transaction_count(self.address, "pending"))
        missing = [nonce for nonce in missing if nonce >= pending]
        if len(missing) > MAX_GAP_FILL:
            logger.error(
                "%s has %d nonces missing under %d on chain %d (the node has mined %d): more than "
                "%d, so not filling them; was the chain reset under a saved store?",
                self.address,
                len(missing),
                below,
                chain_id,
                latest,
                MAX_GAP_FILL,
            )
            return latest, []
        sent = []
        for nonce in missing:
            filler = self._fill(chain_id, nonce, below)
            if filler is not None:
                sent.append(filler)
        return latest, sent

    def _fill(self, chain_id: int, nonce: int, below: int) -> TxRecord | None:
        """Sign, save and broadcast the filler of one missing nonce; None if none was sent now."""
        key = gap_key(chain_id, self.address, nonce)
        existing = self._by_key(key)
        if existing is not None and existing.state in UNFINISHED:
            self._signer.fillers.add(existing.tx_hash)  # saved meanwhile by another process
            return None
        try:
            fees = self._fees()
        except FeeTooLow as error:
            logger.warning("nonce gap at %d of %s left for now: %s", nonce, self.address, error)
            return None
        record = self._sign(
            chain_id,
            nonce,
            self.address,
            HexBytes(b""),
            0,
            FILLER_GAS,
            fees,
            key=key if existing is None else None,
            replaces=None if existing is None else existing.tx_hash,
        )
        if existing is None:
            saved = self.txs.add(record)
            if saved.tx_hash != record.tx_hash:  # another process saved this gap's filler first
                self._signer.fillers.add(saved.tx_hash)
                return None
        elif existing.tx_hash == record.tx_hash:  # the very bytes of a refused filler: retry them
            record = replace(
                existing,
                state=TxState.PENDING,
                error=None,
                replaced_by=None,
                block_number=None,
                block_hash=None,
            )
            self.txs.update(record)
        else:  # the last filler failed, or was confirmed in a block no longer canonical
            self.txs.add(record)
            self.txs.update(replace(existing, replaced_by=record.tx_hash))
        self._signer.fillers.add(record.tx_hash)
        try:
            self._broadcast(record)
        except ChainUnavailable:
            raise  # saved as pending; the next gap check sends it
        except TransactionFailed as error:
            logger.warning("filler %s for nonce gap %d refused: %s", record.tx_hash, nonce, error)
            self._fail(record, str(error))
            return None
        sent = replace(record, state=TxState.SENT, sent_at=time.time())
        self.txs.update(sent)
        logger.warning(
            "nonce gap: %s has no transaction with nonce %d on chain %d, so its transaction with "
            "nonce %d waits forever; sent filler %s (0 wei to itself) with nonce %d",
            self.address,
            nonce,
            chain_id,
            below,
            sent.tx_hash,
            nonce,
        )
        return sent

    def _advance_fillers(self) -> None:
        """Poll the gap fillers not seen finished: nobody else waits on them."""
        fillers = self._signer.fillers
        for tx_hash in sorted(fillers):
            record = self.txs.get(tx_hash)
            if record is None:  # saved in another store than this manager's
                fillers.discard(tx_hash)
                continue
            if record.chain_id != self.chain_id:
                continue
            try:
                followed = self._step(record, check_gaps=False)
            except TransactionFailed as error:  # e.g. its nonce was mined by another transaction
                logger.info("gap filler %s: %s", tx_hash, error)
                fillers.discard(tx_hash)
                continue
            if followed.state not in UNFINISHED:
                fillers.discard(tx_hash)

    def _settle_fillers(self) -> None:
        """After a confirmation, best effort: bring the open fillers up to date."""
        try:
            self._advance_fillers()
        except ProvenanceError as error:  # the confirmation stands; the next check tries again
            logger.info("could not follow the gap fillers of %s: %s", self.address, error)

    def _nonce_taken(self, current: TxRecord, error: NonceTooLow) -> TxRecord:
        """The node says the nonce is used: ours if a family member has a receipt, else lost."""
        found = self._find_receipt(self._family(current))
        if found is not None:
            winner, receipt = found
            return self._mined(current, self._family(current), winner, receipt)
        failed = self._fail(current, f"nonce {current.nonce} was used by another transaction")
        raise NonceTooLow(
            f"transaction {current.tx_hash} can never be mined: nonce {current.nonce} of "
            f"{current.sender} was used by another transaction ({error})",
            tx_hash=failed.tx_hash,
        ) from error

    def _mined(
        self,
        current: TxRecord,
        family: list[TxRecord],
        winner: TxRecord,
        receipt: Mapping[str, Any],
    ) -> TxRecord:
        """A family member has a receipt: settle the rest, count confirmations, check the block."""
        winner = self.txs.get(winner.tx_hash) or winner
        if winner.tx_hash != current.tx_hash:
            self._settle_losers(family, winner)
            winner = replace(winner, replaced_by=None)
        block_number = int(receipt["blockNumber"])
        block_hash = HexBytes(receipt["blockHash"]).to_0x_hex()
        if winner.block_hash is not None and winner.block_hash != block_hash:
            logger.warning(
                "reorg: %s moved from block %s to %s", winner.tx_hash, winner.block_hash, block_hash
            )
        contract = receipt.get("contractAddress")
        mined = replace(
            winner,
            state=TxState.MINED,
            block_number=block_number,
            block_hash=block_hash,
            contract_address=str(contract) if contract else None,
        )
        head = int(self.web3.eth.block_number)
        if head - block_number + 1 >= self.confirmations:
            canonical = HexBytes(self.web3.eth.get_block(block_number)["hash"]).to_0x_hex()
            if canonical != block_hash:
                logger.warning(
                    "reorg: block #%d of %s is now %s; waiting for it again",
                    block_number,
                    winner.tx_hash,
                    canonical,
                )
                mined = replace(mined, state=TxState.PENDING, block_number=None, block_hash=None)
            elif int(receipt["status"]) == 1:
                mined = replace(mined, state=TxState.CONFIRMED)
            else:
                self.txs.update(mined)
                raise self._reverted(mined)
        self.txs.update(mined)
        if mined.state is TxState.CONFIRMED:
            logger.info("confirmed %s in block #%d", mined.tx_hash, block_number)
        return mined

    def _settle_losers(self, family: list[TxRecord], winner: TxRecord) -> None:
        """Mark the family members that were not mined: older ones replaced, newer ones failed."""
        for member in family:
            member = self.txs.get(member.tx_hash) or member
            if member.tx_hash == winner.tx_hash or member.state is TxState.FAILED:
                continue
            if member.created_at < winner.created_at:
                self.txs.update(replace(member, state=TxState.REPLACED, replaced_by=winner.tx_hash))
            else:
                self._fail(member, f"nonce {member.nonce} was mined by {winner.tx_hash}")

    def _replace_stuck(self, current: TxRecord) -> TxRecord:
        """Sign the same transaction with fees bumped by fee_bump, save it linked, broadcast it."""
        fees = self._bumped_fees(current)
        if fees is None:
            return current
        data = HexBytes(current.data)
        replacement = self._sign(
            current.chain_id,
            current.nonce,
            current.to,
            data,
            current.value,
            current.gas,
            fees,
            replaces=current.tx_hash,
        )
        self.txs.add(replacement)
        self.txs.update(replace(current, state=TxState.REPLACED, replaced_by=replacement.tx_hash))
        try:
            self._broadcast(replacement)
        except ChainUnavailable:
            raise  # the replacement stays saved as pending and linked; the next poll sends it
        except NonceTooLow as error:
            self._fail(replacement, str(error))
            self.txs.update(replace(current, replaced_by=None))  # the original was mined
            return current
        except TransactionFailed as error:
            logger.warning("replacement of %s refused: %s", current.tx_hash, error)
            self._fail(replacement, str(error))
            restored = replace(current, sent_at=time.time())  # try again after stuck_after_s
            self.txs.update(restored)
            return restored
        sent = replace(replacement, state=TxState.SENT, sent_at=time.time())
        self.txs.update(sent)
        logger.info(
            "replaced stuck %s by %s (nonce %d, max fee %d -> %d wei)",
            current.tx_hash,
            sent.tx_hash,
            sent.nonce,
            current.max_fee_per_gas,
            sent.max_fee_per_gas,
        )
        return sent

    def _bumped_fees(self, current: TxRecord) -> _Fees | None:
        """Fees >= fee_bump x the current ones and >= what the node wants now; None if capped."""
        bump = Fraction(str(self.fee_bump))
        market = self._fees_uncapped()
        priority = max(
            math.ceil(current.max_priority_fee_per_gas * bump),
            current.max_priority_fee_per_gas + 1,
            market.priority,
        )
        max_fee = max(
            math.ceil(current.max_fee_per_gas * bump),
            current.max_fee_per_gas + 1,
            market.max_fee - market.priority + priority,
        )
        least = max(math.ceil(current.max_fee_per_gas * bump), current.max_fee_per_gas + 1)
        if least > self.max_fee_cap_wei:
            if current.tx_hash not in self._warned_cap:
                self._warned_cap.add(current.tx_hash)
                logger.warning(
                    "%s is stuck but a bump to %d wei per gas passes max_fee_cap_wei %d; waiting",
                    current.tx_hash,
                    least,
                    self.max_fee_cap_wei,
                )
            return None
        max_fee = min(max_fee, self.max_fee_cap_wei)
        return _Fees(max_fee=max_fee, priority=min(priority, max_fee))

    def _fees_uncapped(self) -> _Fees:
        """What the node suggests now: 2 x base fee + tip, and the tip."""
        block = self.web3.eth.get_block("latest")
        priority = int(self.web3.eth.max_priority_fee)
        return _Fees(max_fee=2 * int(block.get("baseFeePerGas", 0)) + priority, priority=priority)

    def _node_knows(self, tx_hash: str) -> bool:
        """Whether the node has the transaction (in its pool or a block)."""
        try:
            return self.web3.eth.get_transaction(HexBytes(tx_hash)) is not None
        except TransactionNotFound:
            return False

    # -- records -----------------------------------------------------------------------------

    def _by_key(self, key: str) -> TxRecord | None:
        """The latest record of the chain that started with this idempotency key."""
        first = self.txs.get_by_key(key)
        return None if first is None else self._latest(first)

    def _latest(self, record: TxRecord) -> TxRecord:
        """Follow replaced_by links to the newest record."""
        seen = {record.tx_hash}
        while record.replaced_by is not None:
            newer = self.txs.get(record.replaced_by)
            if newer is None or newer.tx_hash in seen:
                break
            seen.add(newer.tx_hash)
            record = newer
        return record

    def _family(self, current: TxRecord) -> list[TxRecord]:
        """The record and those it replaced with the same nonce, newest first."""
        family = [current]
        while family[-1].replaces is not None:
            older = self.txs.get(family[-1].replaces or "")
            if older is None or older.nonce != current.nonce or older in family:
                break
            family.append(older)
        return family

    def _fail(self, record: TxRecord, error: str) -> TxRecord:
        """Save the record as failed with `error`."""
        failed = replace(record, state=TxState.FAILED, error=error)
        self.txs.update(failed)
        return failed

    def _failure(self, record: TxRecord) -> TransactionFailed:
        """The exception a failed record stands for."""
        if record.revert_data is not None:
            data = bytes(HexBytes(record.revert_data))
            return TransactionReverted(
                record.error or f"transaction {record.tx_hash} reverted",
                data=data,
                reason=decode_revert_reason(data),
                tx_hash=record.tx_hash,
            )
        return TransactionFailed(
            f"transaction {record.tx_hash} failed: {record.error}", tx_hash=record.tx_hash
        )

    def _reverted(self, mined: TxRecord) -> TransactionReverted:
        """Save a reverted transaction as failed, with the revert data found by replaying it."""
        data = self._replay_revert_data(mined)
        reason = decode_revert_reason(data)
        message = f"transaction {mined.tx_hash} reverted in block #{mined.block_number}" + (
            f": {reason}" if reason else ""
        )
        self.txs.update(
            replace(
                mined, state=TxState.FAILED, revert_data=HexBytes(data).to_0x_hex(), error=message
            )
        )
        return TransactionReverted(message, data=data, reason=reason, tx_hash=mined.tx_hash)

    def _replay_revert_data(self, mined: TxRecord) -> bytes:
        """Best effort: eth_call the transaction on the state before its block, for revert data."""
        call: dict[str, Any] = {
            "from": mined.sender,
            "value": mined.value,
            "data": HexBytes(mined.data),
            "gas": mined.gas,
        }
        if mined.to is not None:
            call["to"] = mined.to
        block = max((mined.block_number or 1) - 1, 0)
        try:
            self.web3.eth.call(call, block_identifier=block)  # type: ignore[arg-type]
        except ContractLogicError as error:
            return _revert_data(error)
        except Exception as error:  # replay is a courtesy; the receipt already said reverted
            logger.info("could not replay %s for its revert reason: %s", mined.tx_hash, error)
        return b""

    # -- errors ------------------------------------------------------------------------------

    @contextmanager
    def _node(self, doing: str) -> Iterator[None]:
        """Turn connection failures into ChainUnavailable naming the node (never its API key)."""
        try:
            yield
        except _CONNECTION_ERRORS as error:
            raise ChainUnavailable(
                f"the node at {_endpoint(self.web3)} did not answer while {doing}: "
                f"{type(error).__name__}; check it is running and reachable"
            ) from error

    def _classify(
        self,
        error: Exception,
        *,
        record: TxRecord | None = None,
        value: int = 0,
        fees: _Fees | None = None,
        simulating: bool = False,
    ) -> ProvenanceError:
        """The provenance error for a node's answer to a send or an estimate."""
        if _is_connection_error(error):
            return ChainUnavailable(
                f"the node at {_endpoint(self.web3)} did not answer: {type(error).__name__}"
            )
        message = _rpc_message(error)
        kind = (
            TransactionReverted if isinstance(error, ContractLogicError) else refusal_kind(message)
        )
        tx_hash = None if record is None else record.tx_hash
        what = f"transaction {tx_hash}" if tx_hash else "the transaction"
        if kind is TransactionReverted:
            data = _revert_data(error)
            reason = decode_revert_reason(data) or _reason_from_message(message)
            prefix = "the call would revert" if simulating else f"{what} reverted"
            return TransactionReverted(
                f"{prefix}: {reason or 'no reason given'}"
                + (" (nothing was sent)" if simulating else ""),
                data=data,
                reason=reason,
                tx_hash=tx_hash,
            )
        if kind is InsufficientFunds:
            return self._insufficient_funds(message, record=record, value=value, fees=fees)
        if kind is ReplacementUnderpriced:
            return ReplacementUnderpriced(
                f"the node refused {what} as a replacement: {message}; the fees must beat the "
                "pending transaction's by the node's price bump (geth: 10%)",
                tx_hash=tx_hash,
            )
        if kind is None:  # "already known" where it is not expected (an estimate): still a refusal
            kind = TransactionFailed
        return kind(f"the node refused {what}: {message}", tx_hash=tx_hash)

    def _insufficient_funds(
        self, message: str, *, record: TxRecord | None, value: int, fees: _Fees | None
    ) -> InsufficientFunds:
        """InsufficientFunds saying who must be funded, with how much."""
        balance: int | None
        try:
            balance = int(self.web3.eth.get_balance(self.address))
        except Exception:  # the message is still useful without it
            balance = None
        have = f"has {balance} wei" if balance is not None else "has too little"
        needed: int | None = None
        if record is not None:
            needed = record.value + record.gas * record.max_fee_per_gas
            cost = (
                f"needs up to {needed} wei (value {record.value} + gas {record.gas} x max fee "
                f"{record.max_fee_per_gas} wei)"
            )
        elif fees is not None:
            cost = f"needs {value} wei of value plus gas at up to {fees.max_fee} wei per gas"
        else:
            cost = f"needs {value} wei of value plus gas"
        chain = f" on chain {self._chain_id}" if self._chain_id is not None else ""
        return InsufficientFunds(
            f"{self.address}{chain} {have} but this transaction {cost}; send it ether or lower "
            f"the value (node said: {message})",
            address=self.address,
            needed_wei=needed,
            balance_wei=balance,
            tx_hash=None if record is None else record.tx_hash,
        )


def refusal_kind(message: str) -> type[TransactionFailed] | None:
    """The error a node's refusal message means (geth, anvil, others); None: "already known"."""
    lowered = message.lower()
    if any(marker in lowered for marker in _ALREADY_KNOWN):
        return None
    if any(marker in lowered for marker in _INSUFFICIENT_FUNDS):
        return InsufficientFunds
    if any(marker in lowered for marker in _REVERTED):
        return TransactionReverted
    if any(marker in lowered for marker in _NONCE_TOO_LOW):
        return NonceTooLow
    if any(marker in lowered for marker in _REPLACEMENT_UNDERPRICED):
        return ReplacementUnderpriced
    if any(marker in lowered for marker in _FEE_TOO_LOW):
        return FeeTooLow
    return TransactionFailed


def _is_connection_error(error: Exception) -> bool:
    """Whether the node never answered (refused, reset, timed out), rather than said no."""
    return isinstance(error, _CONNECTION_ERRORS)


def decode_revert_reason(data: bytes) -> str | None:
    """The reason in revert data: Error(string) text, or a described Panic(uint256); else None."""
    try:
        if data[:4] == _ERROR_SELECTOR:
            (text,) = abi_decode(["string"], data[4:])
            return str(text)
        if data[:4] == _PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], data[4:])
            return f"panic 0x{code:02x} ({_PANICS.get(code, 'unknown panic code')})"
    except Exception:  # malformed data: no reason rather than an error about the error
        return None
    return None


def _revert_data(error: Exception) -> bytes:
    """The revert data a node attached to an error, or b""."""
    raw: Any = getattr(error, "data", None)
    if raw is None:
        response = getattr(error, "rpc_response", None)
        if isinstance(response, Mapping):
            raw = (response.get("error") or {}).get("data")
    if isinstance(raw, Mapping):
        raw = raw.get("data")
    if isinstance(raw, str) and raw.startswith("0x"):
        try:
            return bytes(HexBytes(raw))
        except ValueError:
            return b""
    return b""


def _reason_from_message(message: str) -> str | None:
    """The text after "execution reverted: " in a node's message, if any."""
    _, separator, reason = message.partition("execution reverted: ")
    return reason.strip() or None if separator else None


def _rpc_message(error: Exception) -> str:
    """The node's own error message out of a web3 exception, else the exception's text."""
    response = getattr(error, "rpc_response", None)
    if isinstance(response, Mapping):
        body = response.get("error")
        if isinstance(body, Mapping) and isinstance(body.get("message"), str):
            return str(body["message"])
    message = getattr(error, "message", None)
    if isinstance(message, str) and message:
        return message
    return str(error)


def _endpoint(web3: Web3) -> str:
    """Scheme, host and port of the provider's URL: RPC URLs often carry an API key."""
    uri = getattr(web3.provider, "endpoint_uri", None)
    if not uri:
        return type(web3.provider).__name__
    parts = urlsplit(str(uri))
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
