"""provenance.transactions on a real anvil: nonces, persistence, fee bumps, reorgs, failures."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3

from provenance.errors import (
    ChainUnavailable,
    FeeTooLow,
    InsufficientFunds,
    NonceTooLow,
    ReplacementUnderpriced,
    TransactionFailed,
    TransactionReverted,
)
from provenance.node import ANVIL_CHAIN_ID, AnvilNode
from provenance.node import ANVIL_DEV_KEY as ANVIL_KEY
from provenance.transactions import (
    FILLER_GAS,
    GAP_KEY_PREFIX,
    MemoryNonceStore,
    MemoryTxStore,
    TransactionManager,
    TxRecord,
    TxState,
    decode_revert_reason,
    gap_key,
    refusal_kind,
)

pytestmark = pytest.mark.chain

RECIPIENT = "0x000000000000000000000000000000000000dEaD"
# Runtime that always reverts with Error("no"): mstore the selector, offset, length and text,
# then revert(0, 100). The init code copies those 87 (0x57) bytes from offset 12 and returns them.
REVERTER_RUNTIME = (
    "7f08c379a0" + "00" * 28 + "600052"  # mstore(0, selector << 224)
    "6020600452"  # mstore(4, 0x20): offset of the string
    "6002602452"  # mstore(36, 2): its length
    "7f6e6f" + "00" * 30 + "604452"  # mstore(68, "no")
    "60646000fd"  # revert(0, 100)
)
REVERTER_INIT = "0x6057600c60003960576000f3" + REVERTER_RUNTIME

Manager = Callable[..., TransactionManager]


@pytest.fixture
def web3(anvil_node: AnvilNode) -> Web3:
    return Web3(HTTPProvider(anvil_node.rpc_url, request_kwargs={"timeout": 10}))


@pytest.fixture
def signer() -> LocalAccount:
    return Account.from_key(ANVIL_KEY)


@pytest.fixture
def make_manager(web3: Web3, signer: LocalAccount) -> Manager:
    """A manager on the test node with in-memory stores; options override the defaults."""

    def make(**options: Any) -> TransactionManager:
        options.setdefault("poll_interval_s", 0.05)
        return TransactionManager(
            web3,
            options.pop("signer", signer),
            options.pop("nonces", MemoryNonceStore()),
            options.pop("txs", MemoryTxStore()),
            **options,
        )

    return make


def _rpc(web3: Web3, method: str, *params: Any) -> Any:
    response = web3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in response, response
    return response["result"]


@pytest.fixture
def automine_off(web3: Web3) -> None:
    _rpc(web3, "evm_setAutomine", False)


@pytest.fixture
def miner(web3: Web3) -> Iterator[None]:
    """Mine a block every 50 ms in the background (confirmations need later blocks)."""
    stop = threading.Event()

    def mine() -> None:
        while not stop.wait(0.05):
            _rpc(web3, "evm_mine")

    thread = threading.Thread(target=mine, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_fifty_concurrent_sends_get_fifty_nonces_and_all_confirm(
    make_manager: Manager, web3: Web3, signer: LocalAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="provenance.transactions")
    manager = make_manager()

    def send_and_wait(index: int) -> tuple[int, TxState]:
        record = manager.wait(manager.send(RECIPIENT, value=index + 1), timeout=30)
        return record.nonce, record.state

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(send_and_wait, range(50)))

    assert sorted(nonce for nonce, _ in results) == list(range(50))
    assert {state for _, state in results} == {TxState.CONFIRMED}
    assert web3.eth.get_transaction_count(signer.address) == 50
    assert web3.eth.get_balance(RECIPIENT) == sum(range(1, 51))
    assert not [
        r.message for r in caplog.records if r.levelno >= logging.WARNING
    ]  # no nonce trouble


def test_a_nonce_store_behind_the_node_catches_up(
    make_manager: Manager, web3: Web3, signer: LocalAccount
) -> None:
    for nonce in range(3):  # sent by someone else with the same key
        raw = signer.sign_transaction(_transfer(nonce)).raw_transaction
        web3.eth.wait_for_transaction_receipt(web3.eth.send_raw_transaction(raw))
    nonces = MemoryNonceStore()
    manager = make_manager(nonces=nonces)

    record = manager.wait(manager.send(RECIPIENT, value=1), timeout=10)

    assert record.nonce == 3
    assert nonces.peek(ANVIL_CHAIN_ID, signer.address) == 4


def test_a_nonce_store_ahead_of_the_node_with_nothing_in_between_rewinds(
    make_manager: Manager, signer: LocalAccount
) -> None:
    nonces = MemoryNonceStore()
    nonces.resync(ANVIL_CHAIN_ID, signer.address, 7)  # e.g. the chain was reset under it
    manager = make_manager(nonces=nonces)

    record = manager.wait(manager.send(RECIPIENT, value=1), timeout=10)

    assert record.nonce == 0
    assert record.state is TxState.CONFIRMED


def test_an_idempotency_key_sends_one_transaction(
    make_manager: Manager, web3: Web3, signer: LocalAccount
) -> None:
    manager = make_manager()

    with ThreadPoolExecutor(max_workers=8) as pool:
        records = list(
            pool.map(lambda _: manager.send(RECIPIENT, value=5, key="mint-42"), range(8))
        )
    again = manager.send(RECIPIENT, value=5, key="mint-42")

    assert {record.tx_hash for record in records} == {again.tx_hash}
    assert web3.eth.get_transaction_count(signer.address) == 1
    assert web3.eth.get_balance(RECIPIENT) == 5


@pytest.mark.usefixtures("automine_off")
def test_a_stuck_transaction_is_replaced_with_bumped_fees_and_the_replacement_mined(
    make_manager: Manager, web3: Web3
) -> None:
    txs = MemoryTxStore()
    manager = make_manager(txs=txs, stuck_after_s=0.2)
    original = manager.send(RECIPIENT, value=7)
    assert manager.poll(original).state is TxState.SENT  # not stuck yet

    time.sleep(0.25)
    replacement = manager.poll(original)
    _rpc(web3, "evm_mine")
    confirmed = manager.wait(replacement, timeout=10)

    old = txs.get(original.tx_hash)
    assert old is not None
    assert old.state is TxState.REPLACED
    assert old.replaced_by == replacement.tx_hash == confirmed.tx_hash
    assert confirmed.replaces == original.tx_hash
    assert confirmed.nonce == original.nonce
    assert confirmed.max_fee_per_gas >= original.max_fee_per_gas * 1.125
    assert confirmed.max_priority_fee_per_gas >= original.max_priority_fee_per_gas * 1.125
    assert web3.eth.get_balance(RECIPIENT) == 7  # one of the two, once
    assert manager.wait(original, timeout=1).tx_hash == confirmed.tx_hash  # follows the link
    assert len(txs.all()) == 2  # no gap under nonce 0: no filler


@pytest.mark.usefixtures("miner")
def test_a_reorg_is_detected_and_the_transaction_sent_again_and_confirmed_once(
    make_manager: Manager, web3: Web3, signer: LocalAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="provenance.transactions")
    manager = make_manager(confirmations=5)
    snapshot = _rpc(web3, "evm_snapshot")
    record = manager.send(RECIPIENT, value=11)
    mined = _poll_until(manager, record, TxState.MINED)
    first_block = mined.block_hash

    assert _rpc(web3, "evm_revert", snapshot) is True  # the block with the transaction is gone
    _rpc(web3, "anvil_mine", "0x3")  # a longer chain without it
    confirmed = manager.wait(mined, timeout=20)

    assert confirmed.state is TxState.CONFIRMED
    assert confirmed.tx_hash == record.tx_hash
    assert confirmed.block_hash != first_block
    assert web3.eth.get_block(confirmed.block_number)["hash"].to_0x_hex() == confirmed.block_hash
    assert web3.eth.get_transaction_count(signer.address) == 1
    assert web3.eth.get_balance(RECIPIENT) == 11
    assert "reorg:" in caplog.text
    assert f"rebroadcast {record.tx_hash}" in caplog.text


def test_an_empty_account_gets_insufficient_funds_naming_it_and_can_send_once_funded(
    make_manager: Manager, web3: Web3, signer: LocalAccount
) -> None:
    empty = Account.create()
    nonces, txs = MemoryNonceStore(), MemoryTxStore()
    manager = make_manager(signer=empty, nonces=nonces, txs=txs)

    with pytest.raises(InsufficientFunds) as raised:
        manager.send(RECIPIENT, value=10**18)

    message = str(raised.value)
    assert empty.address in message
    assert "has 0 wei" in message
    assert "needs up to" in message
    assert raised.value.address == empty.address
    assert raised.value.balance_wei == 0
    assert raised.value.needed_wei is not None
    assert raised.value.needed_wei > 10**18
    [record] = txs.all()
    assert record.state is TxState.FAILED  # saved before the send, marked after
    assert nonces.peek(ANVIL_CHAIN_ID, empty.address) == 0  # the nonce was given back

    funding = signer.sign_transaction(
        _transfer(0, to=empty.address, value=2 * 10**18)
    ).raw_transaction
    web3.eth.wait_for_transaction_receipt(web3.eth.send_raw_transaction(funding))
    sent = manager.wait(manager.send(RECIPIENT, value=10**18), timeout=10)
    assert sent.nonce == 0
    assert sent.state is TxState.CONFIRMED


@pytest.mark.usefixtures("automine_off")
def test_a_node_down_is_chain_unavailable_and_the_saved_transaction_lands_once_after_restart(
    make_manager: Manager,
    anvil_node: AnvilNode,
    web3: Web3,
    signer: LocalAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="provenance.transactions")
    txs = MemoryTxStore()
    manager = make_manager(txs=txs)
    record = manager.send(RECIPIENT, value=13, key="order-7")
    anvil_node.stop()  # the transaction was only in its pool

    with pytest.raises(ChainUnavailable, match="did not answer"):
        manager.wait(record, timeout=5)
    with pytest.raises(ChainUnavailable):
        manager.send(RECIPIENT, value=1)

    anvil_node.start()  # same port, same state file; automining again
    confirmed = manager.wait(record, timeout=20)

    assert confirmed.tx_hash == record.tx_hash
    assert confirmed.state is TxState.CONFIRMED
    assert web3.eth.get_transaction_count(signer.address) == 1
    assert web3.eth.get_balance(RECIPIENT) == 13
    assert f"rebroadcast {record.tx_hash}" in caplog.text  # the restarted node had forgotten it
    assert manager.send(RECIPIENT, value=13, key="order-7").tx_hash == record.tx_hash


def test_a_reverting_call_raises_transaction_reverted_with_its_reason(
    make_manager: Manager, web3: Web3
) -> None:
    txs = MemoryTxStore()
    manager = make_manager(txs=txs)
    deployed = manager.wait(manager.send(None, REVERTER_INIT), timeout=10)
    assert deployed.contract_address is not None

    with pytest.raises(TransactionReverted, match="would revert: no") as simulated:
        manager.send(deployed.contract_address, b"")
    assert simulated.value.reason == "no"

    forced = manager.send(deployed.contract_address, b"", gas=100_000)  # skips the estimate
    with pytest.raises(TransactionReverted, match="reverted in block") as mined:
        manager.wait(forced, timeout=10)
    assert mined.value.reason == "no"
    assert mined.value.tx_hash == forced.tx_hash
    assert decode_revert_reason(mined.value.data) == "no"
    saved = txs.get(forced.tx_hash)
    assert saved is not None
    assert saved.state is TxState.FAILED
    assert saved.revert_data
    assert web3.eth.get_transaction_receipt(forced.tx_hash)["status"] == 0


@pytest.mark.usefixtures("automine_off")
def test_anvils_refusals_are_classified(web3: Web3, signer: LocalAccount) -> None:
    def refusal(raw: bytes) -> str:
        try:
            web3.eth.send_raw_transaction(raw)
        except Exception as error:
            return str(getattr(error, "rpc_response", {}).get("error", {}).get("message"))
        raise AssertionError("the node accepted it")

    first = signer.sign_transaction(_transfer(0)).raw_transaction
    web3.eth.send_raw_transaction(first)
    cheaper = signer.sign_transaction(_transfer(0, value=2)).raw_transaction
    below_base = signer.sign_transaction(_transfer(1, max_fee=1, tip=1)).raw_transaction
    broke = Account.create().sign_transaction(_transfer(0)).raw_transaction

    assert refusal_kind(refusal(first)) is None  # "already known" is success
    assert refusal_kind(refusal(cheaper)) is ReplacementUnderpriced
    assert refusal_kind(refusal(below_base)) is FeeTooLow
    assert refusal_kind(refusal(broke)) is InsufficientFunds
    _rpc(web3, "evm_mine")
    assert refusal_kind(refusal(cheaper)) is NonceTooLow


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        # go-ethereum: core/txpool/errors.go, core/txpool/legacypool, core/error.go
        ("already known", None),
        ("nonce too low: address 0xabc, tx: 3 state: 5", NonceTooLow),
        ("replacement transaction underpriced", ReplacementUnderpriced),
        ("transaction underpriced: tip needed 1, tip permitted 0", FeeTooLow),
        ("max fee per gas less than block base fee: address 0xabc", FeeTooLow),
        (
            "insufficient funds for gas * price + value: address 0xabc have 0 want 21000",
            InsufficientFunds,
        ),
        ("execution reverted: Ownable: caller is not the owner", TransactionReverted),
        ("exceeds block gas limit", TransactionFailed),
        # anvil: crates/anvil/src/eth/error.rs
        ("transaction already imported", None),
        ("Insufficient funds for gas * price + value", InsufficientFunds),
        ("insufficient funds for transfer", InsufficientFunds),
        # erigon, nethermind, parity
        ("INTERNAL_ERROR: existing tx with same hash", None),
        ("OldNonce", NonceTooLow),
        ("Transaction nonce is too low. Try incrementing the nonce.", NonceTooLow),
    ],
)
def test_node_wording_is_classified(message: str, kind: type[TransactionFailed] | None) -> None:
    assert refusal_kind(message) is kind


class CrashingNonceStore(MemoryNonceStore):
    """A nonce store shared with another process that reserves a nonce and dies before saving it.

    Its reservation lands between the manager's look at the store and the manager's own, as it
    would from another worker; a nonce lost while nobody else sends is rewound instead.
    """

    def __init__(self) -> None:
        super().__init__()
        self.crash_next = False

    def reserve(self, chain_id: int, address: str, node_pending_nonce: int) -> int:
        if self.crash_next:
            self.crash_next = False
            super().reserve(chain_id, address, node_pending_nonce)  # lost with its process
        return super().reserve(chain_id, address, node_pending_nonce)


class LaggingTxStore(MemoryTxStore):
    """With `lag`, `unfinished` misses the gap fillers: a process that read it before one was
    saved."""

    lag = False

    def unfinished(self, chain_id: int, sender: str) -> list[TxRecord]:
        records = super().unfinished(chain_id, sender)
        if not self.lag:
            return records
        return [r for r in records if not (r.key or "").startswith(GAP_KEY_PREFIX)]


def _assert_filler(txs: MemoryTxStore, signer: LocalAccount, nonce: int) -> TxRecord:
    filler = txs.get_by_key(gap_key(ANVIL_CHAIN_ID, signer.address, nonce))
    assert filler is not None
    assert filler.nonce == nonce
    assert filler.to == signer.address
    assert (filler.value, filler.data, filler.gas) == (0, "0x", FILLER_GAS)
    return filler


def test_a_lost_nonce_is_filled_and_the_transaction_behind_it_confirmed(
    make_manager: Manager, web3: Web3, signer: LocalAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="provenance.transactions")
    nonces, txs = CrashingNonceStore(), MemoryTxStore()
    manager = make_manager(nonces=nonces, txs=txs, stuck_after_s=0.3)
    nonces.crash_next = True
    record = manager.send(RECIPIENT, value=3)
    assert record.nonce == 1  # nonce 0 went to the process that crashed
    assert manager.poll(record).state is TxState.SENT
    assert web3.eth.get_transaction_count(signer.address) == 0  # queued behind the gap

    confirmed = manager.wait(record, timeout=10)

    assert confirmed.tx_hash == record.tx_hash  # mined as it was: no fee bump while blocked
    assert confirmed.state is TxState.CONFIRMED
    filler = _assert_filler(txs, signer, 0)
    assert filler.state is TxState.CONFIRMED  # followed to the end though nobody waits on it
    assert web3.eth.get_transaction_count(signer.address) == 2
    assert web3.eth.get_balance(RECIPIENT) == 3
    assert f"nonce gap: {signer.address} has no transaction with nonce 0" in caplog.text
    assert filler.tx_hash in caplog.text
    assert manager.fill_gaps() == []  # nothing new
    assert len(txs.all()) == 2


@pytest.mark.usefixtures("automine_off")
def test_a_gap_is_filled_once_however_often_and_by_whoever_it_is_checked(
    make_manager: Manager, web3: Web3, signer: LocalAccount
) -> None:
    nonces, txs = CrashingNonceStore(), LaggingTxStore()
    manager = make_manager(nonces=nonces, txs=txs, stuck_after_s=60, gap_after_s=0.3)
    nonces.crash_next = True
    record = manager.send(RECIPIENT, value=3)
    assert manager.fill_gaps() == []  # too soon: the owner of nonce 0 may still be sending it

    time.sleep(0.35)
    [filler] = manager.fill_gaps()
    assert manager.fill_gaps() == []  # the saved filler holds nonce 0 now
    txs.lag = True
    other_process = make_manager(nonces=nonces, txs=txs, stuck_after_s=60, gap_after_s=0.3)
    assert other_process.fill_gaps() == []  # found by its key
    txs.lag = False
    assert manager.poll(record).state is TxState.SENT  # another retry; still one filler

    assert filler == _assert_filler(txs, signer, 0)
    assert len(txs.all()) == 2
    _rpc(web3, "evm_mine")
    assert manager.wait(record, timeout=5).state is TxState.CONFIRMED
    assert manager.wait(filler, timeout=5).state is TxState.CONFIRMED
    assert web3.eth.get_transaction_count(signer.address) == 2


@pytest.mark.usefixtures("automine_off")
def test_a_transaction_stuck_behind_a_saved_one_gets_no_filler_and_no_bump(
    make_manager: Manager, web3: Web3, signer: LocalAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="provenance.transactions")
    txs = MemoryTxStore()
    manager = make_manager(txs=txs, stuck_after_s=0.2)
    first = manager.send(RECIPIENT, value=1)
    second = manager.send(RECIPIENT, value=2)
    time.sleep(0.25)

    assert manager.poll(second) == txs.get(second.tx_hash)  # nonce 0 is pending: no gap
    assert manager.poll(second).tx_hash == second.tx_hash  # a bump cannot move it
    assert manager.fill_gaps() == []
    bumped = manager.poll(first)  # the head of the queue is bumped as before
    assert bumped.replaces == first.tx_hash

    _rpc(web3, "evm_mine")
    assert manager.wait(second, timeout=5).tx_hash == second.tx_hash
    assert manager.wait(first, timeout=5).tx_hash == bumped.tx_hash
    assert len(txs.all()) == 3
    assert not [record for record in txs.all() if record.key]
    assert "nonce gap" not in caplog.text
    assert web3.eth.get_transaction_count(signer.address) == 2


def test_resume_after_a_restart_fills_a_gap_and_settles_everything(
    make_manager: Manager, web3: Web3, signer: LocalAccount
) -> None:
    nonces, txs = CrashingNonceStore(), MemoryTxStore()
    crashed = make_manager(nonces=nonces, txs=txs, stuck_after_s=60, gap_after_s=0.2)
    nonces.crash_next = True
    record = crashed.send(RECIPIENT, value=3)
    time.sleep(0.25)  # ... and this process dies too

    restarted = make_manager(nonces=nonces, txs=txs, stuck_after_s=60, gap_after_s=0.2)
    resumed = restarted.resume()

    filler = _assert_filler(txs, signer, 0)
    assert {r.tx_hash for r in resumed} == {filler.tx_hash, record.tx_hash}  # both followed
    for followed in resumed:
        assert restarted.wait(followed, timeout=5).state is TxState.CONFIRMED
    assert web3.eth.get_transaction_count(signer.address) == 2
    assert len(txs.all()) == 2


def _poll_until(manager: TransactionManager, record: Any, state: TxState) -> Any:
    deadline = time.monotonic() + 10
    while (record := manager.poll(record)).state is not state:
        assert time.monotonic() < deadline, f"still {record.state}"
        time.sleep(0.01)
    return record


def _transfer(
    nonce: int,
    *,
    to: str = RECIPIENT,
    value: int = 1,
    max_fee: int = 3 * 10**9,
    tip: int = 10**9,
) -> Any:
    return {
        "type": 2,
        "chainId": ANVIL_CHAIN_ID,
        "nonce": nonce,
        "to": to,
        "value": value,
        "gas": 21_000,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
    }
