"""One EVM chain and the AtelierWorks contract on it: deploy, mint, look up, read events.

The same small interface over every backend: an in-process EVM (`Chain.in_process()`, eth-tester on
py-evm: the fast tests), anvil (`provenance.node.AnvilNode`, the embedded default) and any JSON-RPC
endpoint (`Chain.connect(url)`). Writes are signed locally; a key never reaches the node.
"""

from __future__ import annotations

import ast
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.exceptions import ValidationError as TesterValidationError
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.logs import DISCARD

from provenance.certificate import Domain, SignedCertificate
from provenance.contract import load_artifact
from provenance.eip712 import checksum_address, keccak256
from provenance.errors import (
    ChainUnavailable,
    InsufficientFunds,
    InvalidCertificate,
    MintRefused,
    ProvenanceError,
    TransactionFailed,
    TransactionReverted,
)
from provenance.keys import Signer
from provenance.rpc import _host

ERC1271_MAGIC = bytes.fromhex("1626ba7e")
ERC1271_ABI = [
    {
        "type": "function",
        "name": "isValidSignature",
        "stateMutability": "view",
        "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
        "outputs": [{"name": "", "type": "bytes4"}],
    }
]
# What each of the contract's refusals means to the person who asked for the mint.
REFUSALS: dict[str, Callable[..., str]] = {
    "CertificateExpired": lambda deadline, now: (
        f"the certificate expired at {deadline} (chain time {now}); sign a new one"
    ),
    "NonceAlreadyUsed": lambda creator, nonce: (
        f"nonce {nonce} of {checksum_address(creator)} is already used or cancelled: this "
        "certificate was minted or revoked before, and a replay is refused"
    ),
    "ContentAlreadyRegistered": lambda content, token: (
        f"this image (sha256 0x{bytes(content).hex()}) is already registered as token #{token}"
    ),
    "InvalidCertificateSignature": lambda creator: (
        f"the signature is not by the creator {checksum_address(creator)} for this chain and "
        "contract (signed for another chain id or contract, altered, or forged)"
    ),
    "RoyaltyTooHigh": lambda bps, maximum: (
        f"a royalty of {bps} basis points is above the contract's maximum of {maximum}"
    ),
}


@dataclass(frozen=True)
class MintReceipt:
    """A mint as the chain recorded it."""

    token_id: int
    creator: str
    content_hash: bytes
    generation_hash: bytes
    tx_hash: str
    block_number: int
    block_hash: str


@dataclass(frozen=True)
class TokenRecord:
    """What the chain says about a token: owner, creator, content, lineage hash, URI, royalty."""

    token_id: int
    owner: str
    creator: str
    content_hash: bytes
    generation_hash: bytes
    token_uri: str
    royalty_receiver: str
    royalty_bps: int
    mint_tx: str | None
    mint_block: int | None
    confirmations: int | None


@dataclass(frozen=True)
class WorkRegistered:
    """One `WorkRegistered` event."""

    token_id: int
    creator: str
    content_hash: bytes
    generation_hash: bytes
    tx_hash: str
    block_number: int


class Chain:
    """A chain reached through web3, and optionally the AtelierWorks contract deployed on it."""

    def __init__(self, web3: Web3, contract_address: str | None = None) -> None:
        self.web3 = web3
        self._artifact = load_artifact("AtelierWorks")
        self._contract: Contract | None = None
        self._errors = {
            keccak256(_signature_of(item).encode())[:4]: item
            for item in self._artifact.abi
            if item["type"] == "error"
        }
        if contract_address is not None:
            self.use_contract(contract_address)

    # ---- backends ----------------------------------------------------------------------------

    @classmethod
    def in_process(cls) -> Chain:
        """A fresh in-process EVM (eth-tester on py-evm), with ten funded accounts."""
        return cls(Web3(EthereumTesterProvider()))

    @classmethod
    def connect(
        cls, rpc_url: str, contract_address: str | None = None, *, timeout: float = 10.0
    ) -> Chain:
        """A chain behind a JSON-RPC URL (anvil, a testnet, mainnet); fails if nobody answers."""
        web3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
        chain = cls(web3)
        chain.chain_id  # noqa: B018  # fail now, with the host, rather than at the first mint
        if contract_address is not None:
            chain.use_contract(contract_address)
        return chain

    # ---- reads -------------------------------------------------------------------------------

    @property
    def chain_id(self) -> int:
        """The chain id the node serves."""
        return int(self._rpc(lambda: self.web3.eth.chain_id, "read the chain id"))

    @property
    def contract(self) -> Contract:
        """The AtelierWorks contract object (after `use_contract` or `deploy`)."""
        if self._contract is None:
            raise ProvenanceError("no AtelierWorks contract chosen: deploy one or give its address")
        return self._contract

    @property
    def contract_address(self) -> str:
        """The AtelierWorks contract's checksummed address."""
        return str(self.contract.address)

    def domain(self) -> Domain:
        """The EIP-712 domain certificates for this chain and contract use."""
        return Domain(chain_id=self.chain_id, verifying_contract=self.contract_address)

    def use_contract(self, address: str) -> None:
        """Point at an AtelierWorks deployed at `address`; refuses an address with no code."""
        address = checksum_address(address)
        code = self._rpc(lambda: self.web3.eth.get_code(address), "read contract code")  # type: ignore[arg-type]
        if not code:
            raise ProvenanceError(
                f"no contract at {address} on chain {self.chain_id}: deploy one first "
                "(`python -m provenance deploy`)"
            )
        self._contract = self.web3.eth.contract(address=address, abi=self._artifact.abi)  # type: ignore[call-overload]

    def token_of_content(self, content_hash: bytes) -> int | None:
        """The token minted for these bytes, or None."""
        token = int(self._call(self.contract.functions.tokenOfContent(content_hash)))
        return token or None

    def token(self, token_id: int, *, with_mint: bool = True) -> TokenRecord:
        """Everything the chain holds about one token; ProvenanceError if it does not exist."""
        functions = self.contract.functions
        try:
            owner = self._call(functions.ownerOf(token_id))
        except MintRefused as error:
            raise ProvenanceError(f"token #{token_id} does not exist on this contract") from error
        creator, content_hash, generation_hash = self._call(functions.workOf(token_id))
        receiver, amount = self._call(functions.royaltyInfo(token_id, 10_000))
        event = self.registration(token_id) if with_mint else None
        latest = self.block_number() if event else None
        return TokenRecord(
            token_id=token_id,
            owner=checksum_address(owner),
            creator=checksum_address(creator),
            content_hash=bytes(content_hash),
            generation_hash=bytes(generation_hash),
            token_uri=str(self._call(functions.tokenURI(token_id))),
            royalty_receiver=checksum_address(receiver),
            royalty_bps=int(amount),
            mint_tx=event.tx_hash if event else None,
            mint_block=event.block_number if event else None,
            confirmations=(latest - event.block_number + 1) if event and latest else None,
        )

    def lookup(self, content_hash: bytes) -> TokenRecord | None:
        """The token for these exact bytes, with its chain record; None when never minted."""
        token = self.token_of_content(content_hash)
        return self.token(token) if token else None

    def nonce_used(self, creator: str, nonce: int) -> bool:
        """Whether a creator's certificate nonce has been used or cancelled."""
        return bool(self._call(self.contract.functions.nonceUsed(checksum_address(creator), nonce)))

    def block_number(self) -> int:
        """The latest block's number."""
        return int(self._rpc(lambda: self.web3.eth.block_number, "read the block number"))

    def registrations(
        self, from_block: int = 0, to_block: int | str = "latest"
    ) -> list[WorkRegistered]:
        """Every `WorkRegistered` event in a block range, oldest first."""
        event = self.contract.events.WorkRegistered()
        logs = self._rpc(
            lambda: event.get_logs(from_block=from_block, to_block=to_block), "read events"
        )
        return [_registration(log) for log in logs]

    def registration(self, token_id: int) -> WorkRegistered | None:
        """The `WorkRegistered` event of one token (its mint transaction and block)."""
        event = self.contract.events.WorkRegistered()
        logs = self._rpc(
            lambda: event.get_logs(
                from_block=0, to_block="latest", argument_filters={"tokenId": token_id}
            ),
            "read events",
        )
        return _registration(logs[0]) if logs else None

    def is_valid_signature(self, signed: SignedCertificate) -> bool:
        """Whether the creator signed: ecrecover for a key, EIP-1271 for a contract wallet."""
        creator = signed.certificate.creator
        code = self._rpc(lambda: self.web3.eth.get_code(creator), "read the creator's code")  # type: ignore[arg-type]
        if not code:
            try:
                return signed.recovered_signer() == creator
            except ProvenanceError:
                return False
        wallet = self.web3.eth.contract(address=creator, abi=ERC1271_ABI)  # type: ignore[call-overload]
        try:
            answer = self._call(wallet.functions.isValidSignature(signed.digest, signed.signature))
        except MintRefused:
            return False
        return bytes(answer) == ERC1271_MAGIC

    # ---- writes ------------------------------------------------------------------------------

    def deploy(self, signer: Signer, *, name: str = "Atelier Works", symbol: str = "ATLR") -> str:
        """Deploy AtelierWorks from `signer`'s account; returns and uses its address."""
        factory = self.web3.eth.contract(abi=self._artifact.abi, bytecode=self._artifact.bytecode)
        transaction = factory.constructor(name, symbol).build_transaction(
            self._transaction_fields(signer)
        )
        receipt = self.send_and_wait(signer, transaction)
        self.use_contract(receipt["contractAddress"])
        return self.contract_address

    def check_mintable(self, signed: SignedCertificate, *, sender: str | None = None) -> None:
        """Refuse, with the reason, a certificate this chain would revert (before any gas)."""
        domain = signed.domain
        chain_id = self.chain_id
        if domain.chain_id != chain_id:
            raise InvalidCertificate(
                f"the certificate is for chain id {domain.chain_id}, but this node serves chain "
                f"{chain_id}: sign it again for this chain"
            )
        if domain.verifying_contract != self.contract_address:
            raise InvalidCertificate(
                f"the certificate names contract {domain.verifying_contract}, but this chain's "
                f"AtelierWorks is {self.contract_address}"
            )
        self._call(self._mint_function(signed), sender=sender)

    def mint_calldata(self, signed: SignedCertificate) -> bytes:
        """The `mintWithSignature` call data, for a transaction manager to send."""
        encoded = self._mint_function(signed)._encode_transaction_data()
        return bytes.fromhex(encoded.removeprefix("0x"))

    def mint(self, signed: SignedCertificate, signer: Signer) -> MintReceipt:
        """Mint a token from a signed certificate, paid by `signer`; waits for the receipt.

        One by one and unmanaged: the CLI and tests use it. The platform sends through
        `provenance.transactions.TransactionManager` (persisted, nonce-managed, idempotent).
        """
        self.check_mintable(signed, sender=signer.address)
        transaction = self._mint_function(signed).build_transaction(
            self._transaction_fields(signer)
        )
        receipt = self.send_and_wait(signer, transaction)
        return self.mint_receipt(receipt)

    def mint_receipt(self, receipt: Any) -> MintReceipt:
        """The mint a transaction receipt records (its `WorkRegistered` event)."""
        events = self.contract.events.WorkRegistered().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise ProvenanceError(f"transaction {_hex(receipt['transactionHash'])} minted nothing")
        event = _registration(events[0])
        return MintReceipt(
            token_id=event.token_id,
            creator=event.creator,
            content_hash=event.content_hash,
            generation_hash=event.generation_hash,
            tx_hash=event.tx_hash,
            block_number=event.block_number,
            block_hash=_hex(receipt["blockHash"]),
        )

    def cancel_nonce(self, signer: Signer, nonce: int) -> None:
        """Revoke a certificate the signer made but does not want minted."""
        transaction = self.contract.functions.cancelNonce(nonce).build_transaction(
            self._transaction_fields(signer)
        )
        self.send_and_wait(signer, transaction)

    def send_and_wait(self, signer: Signer, transaction: Any, *, timeout: float = 60.0) -> Any:
        """Sign locally, send, and wait for a successful receipt (reverts are decoded)."""
        signed = signer.account.sign_transaction(transaction)
        try:
            tx_hash = self._rpc(
                lambda: self.web3.eth.send_raw_transaction(signed.raw_transaction),
                "send a transaction",
            )
        except (Web3RPCError, TesterValidationError) as error:  # a JSON-RPC node / eth-tester
            raise self._node_refused(signer.address, error) from error
        deadline = time.monotonic() + timeout
        while True:
            try:
                receipt = self.web3.eth.get_transaction_receipt(tx_hash)
                break
            except TransactionNotFound:
                if time.monotonic() > deadline:
                    raise ProvenanceError(
                        f"transaction {_hex(tx_hash)} was not mined within {timeout:.0f} s"
                    ) from None
                time.sleep(0.05)
            except (ConnectionError, OSError) as error:
                raise ChainUnavailable(f"the node stopped answering: {error}") from error
        if receipt["status"] != 1:
            raise TransactionReverted(f"transaction {_hex(tx_hash)} reverted")
        return receipt

    def _node_refused(self, address: str | None, error: Exception) -> TransactionFailed:
        """The node refused a transaction (or a call) from `address`: why, and who to fund."""
        text = getattr(error, "message", None) or str(error)
        if address is not None and any(
            words in text.lower() for words in ("insufficient funds", "cannot afford")
        ):
            balance = int(
                self._rpc(lambda: self.web3.eth.get_balance(address), "read a balance")  # type: ignore[arg-type]
            )
            return InsufficientFunds(
                f"{address} cannot pay for this transaction's gas (balance {balance} wei): "
                "fund that account, or pay with another key",
                address=address,
                balance_wei=balance,
            )
        return TransactionFailed(f"the node at {self._where()} refused the transaction: {text}")

    def decode_revert(self, data: bytes | str | None) -> tuple[str, tuple[Any, ...]] | None:
        """(error name, arguments) for revert data from this contract, or None if unknown."""
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else (data or b"")
        if len(raw) < 4:
            return None
        selector, body = raw[:4], raw[4:]
        if selector == bytes.fromhex("08c379a0"):
            return "Error", tuple(abi_decode(["string"], body))
        if selector == bytes.fromhex("4e487b71"):
            return "Panic", tuple(abi_decode(["uint256"], body))
        item = self._errors.get(selector)
        if item is None:
            return None
        types = [_canonical_type(argument) for argument in item["inputs"]]
        return str(item["name"]), tuple(abi_decode(types, body))

    # ---- plumbing ----------------------------------------------------------------------------

    def _mint_function(self, signed: SignedCertificate) -> Any:
        return self.contract.functions.mintWithSignature(
            signed.certificate.as_contract_tuple(), signed.signature
        )

    def _transaction_fields(self, signer: Signer) -> Any:
        address = signer.address
        nonce = self._rpc(
            lambda: self.web3.eth.get_transaction_count(address, "pending"),  # type: ignore[arg-type]
            "read the account nonce",
        )
        return {"from": address, "nonce": nonce, "chainId": self.chain_id}

    def _call(self, function: Any, *, sender: str | None = None) -> Any:
        try:
            return self._rpc(
                lambda: function.call({"from": sender} if sender else {}), "call the contract"
            )
        except (ContractCustomError, ContractLogicError) as error:
            raise self.refusal(error, getattr(error, "data", None)) from error
        except _tester_failures() as error:  # the in-process EVM reports reverts its own way
            raise self.refusal(error, _tester_revert_data(error)) from error
        except TesterValidationError as error:  # eth-tester checks a call's sender can pay gas
            raise self._node_refused(sender, error) from error

    def refusal(self, error: Exception, data: Any) -> MintRefused:
        """A MintRefused that says, in words, which of the contract's checks failed."""
        decoded = self.decode_revert(data)
        if decoded is None:
            return MintRefused(f"the contract refused: {error}", name=None, arguments=())
        name, arguments = decoded
        explain = REFUSALS.get(name)
        message = explain(*arguments) if explain else f"the contract refused: {name}{arguments}"
        return MintRefused(message, name=name, arguments=arguments)

    def _rpc(self, request: Callable[[], Any], what: str) -> Any:
        try:
            return request()
        except (ContractCustomError, ContractLogicError):
            raise
        except _tester_failures():
            raise
        except (ConnectionError, OSError, TimeoutError) as error:
            raise ChainUnavailable(
                f"could not {what}: the node at {self._where()} did not answer "
                f"({type(error).__name__})"
            ) from error

    def _where(self) -> str:
        provider = self.web3.provider
        uri = getattr(provider, "endpoint_uri", None)
        return _host(str(uri)) if uri else type(provider).__name__


def _signature_of(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(_canonical_type(argument) for argument in item['inputs'])})"


def _canonical_type(argument: dict[str, Any]) -> str:
    kind = str(argument["type"])
    if kind.startswith("tuple"):
        inner = ",".join(_canonical_type(component) for component in argument["components"])
        return f"({inner}){kind[5:]}"
    return kind


def _registration(log: Any) -> WorkRegistered:
    arguments = log["args"]
    return WorkRegistered(
        token_id=int(arguments["tokenId"]),
        creator=checksum_address(arguments["creator"]),
        content_hash=bytes(arguments["contentHash"]),
        generation_hash=bytes(arguments["generationHash"]),
        tx_hash=_hex(log["transactionHash"]),
        block_number=int(log["blockNumber"]),
    )


def _tester_failures() -> tuple[type[Exception], ...]:
    """eth-tester's revert exception once the in-process backend has loaded it, else nothing.

    Importing eth_tester loads py-evm (about 1.5 s): a JSON-RPC chain, the CLI's, never needs it.
    """
    module = sys.modules.get("eth_tester.exceptions")
    return (module.TransactionFailed,) if module is not None else ()


def _tester_revert_data(error: BaseException) -> bytes | None:
    """eth-tester gives the revert bytes as their Python repr: "execution reverted: b'..'"."""
    current: BaseException | None = error
    while current is not None:
        argument = current.args[0] if current.args else None
        if isinstance(argument, bytes):
            return argument
        if isinstance(argument, str):
            text = argument.removeprefix("execution reverted: ")
            if text.startswith(("b'", 'b"')):
                value = ast.literal_eval(text)
                if isinstance(value, bytes):
                    return value
        current = current.__cause__ or current.__context__
    return None


def _hex(value: Any) -> str:
    raw = bytes(value) if not isinstance(value, str) else bytes.fromhex(value.removeprefix("0x"))
    return "0x" + raw.hex()
