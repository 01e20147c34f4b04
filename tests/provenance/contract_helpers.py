"""Deploy the provenance contracts, sign certificates independently, decode reverts (tests only)."""

from __future__ import annotations

import ast
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD
from web3.types import TxReceipt

from provenance.contract import load_artifact

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = "0x" + "00" * 32

# The spec's type strings, written out here rather than taken from the library under test.
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
GENERATION_FIELDS = [
    {"name": "modelHash", "type": "bytes32"},
    {"name": "datasetHash", "type": "bytes32"},
    {"name": "configHash", "type": "bytes32"},
    {"name": "seed", "type": "uint256"},
]
CERTIFICATE_FIELDS = [
    {"name": "creator", "type": "address"},
    {"name": "contentHash", "type": "bytes32"},
    {"name": "generation", "type": "Generation"},
    {"name": "metadataURI", "type": "string"},
    {"name": "royaltyReceiver", "type": "address"},
    {"name": "royaltyBps", "type": "uint96"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
GENERATION_TYPE = (
    "Generation(bytes32 modelHash,bytes32 datasetHash,bytes32 configHash,uint256 seed)"
)


def deploy(web3: Web3, name: str, *args: Any, sender: str | None = None) -> Contract:
    """Deploy the committed artifact of contract `name` from `sender` (default: first account)."""
    artifact = load_artifact(name)
    factory = web3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx_hash = factory.constructor(*args).transact({"from": sender or web3.eth.accounts[0]})
    receipt = web3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"deploying {name} failed"
    address = receipt["contractAddress"]
    assert address is not None
    return web3.eth.contract(address=address, abi=artifact.abi)


def deploy_works(web3: Web3, sender: str | None = None) -> Contract:
    """A fresh AtelierWorks named as the deploy code names it."""
    return deploy(web3, "AtelierWorks", "Atelier Works", "ATLR", sender=sender)


def random_bytes32() -> str:
    """A random bytes32 as 0x-prefixed lowercase hex."""
    return "0x" + secrets.token_hex(32)


def generation(
    model: str = ZERO_BYTES32,
    dataset: str = ZERO_BYTES32,
    config: str = ZERO_BYTES32,
    seed: int = 0,
) -> dict[str, Any]:
    """A Generation as the spec's typed-data JSON has it (seed a decimal string)."""
    return {"modelHash": model, "datasetHash": dataset, "configHash": config, "seed": str(seed)}


def certificate(
    creator: str,
    *,
    content_hash: str | None = None,
    generation_: Mapping[str, Any] | None = None,
    metadata_uri: str = "ipfs://bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
    royalty_receiver: str | None = None,
    royalty_bps: int = 750,
    nonce: int | None = None,
    deadline: int,
) -> dict[str, Any]:
    """A certificate message in the spec's typed-data JSON form; random content hash and nonce."""
    return {
        "creator": to_checksum_address(creator),
        "contentHash": content_hash or random_bytes32(),
        "generation": dict(generation_ or generation()),
        "metadataURI": metadata_uri,
        "royaltyReceiver": to_checksum_address(royalty_receiver or creator),
        "royaltyBps": royalty_bps,
        "nonce": str(nonce if nonce is not None else secrets.randbits(128)),
        "deadline": str(deadline),
    }


def typed_data(message: Mapping[str, Any], *, chain_id: int, contract: str) -> dict[str, Any]:
    """The full eth_signTypedData_v4 document for a certificate message."""
    return {
        "types": {
            "EIP712Domain": DOMAIN_FIELDS,
            "Generation": GENERATION_FIELDS,
            "Certificate": CERTIFICATE_FIELDS,
        },
        "primaryType": "Certificate",
        "domain": {
            "name": "Atelier Works",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "message": dict(message),
    }


def sign_certificate(key: bytes | str, message: Mapping[str, Any], works: Contract) -> bytes:
    """Sign a certificate for `works` with eth-account's own EIP-712 implementation."""
    document = typed_data(message, chain_id=works.w3.eth.chain_id, contract=works.address)
    return bytes(Account.sign_typed_data(key, full_message=document).signature)


def certificate_digest(message: Mapping[str, Any], works: Contract) -> bytes:
    """The EIP-712 digest eth-account computes for a certificate (what the creator signs)."""
    document = typed_data(message, chain_id=works.w3.eth.chain_id, contract=works.address)
    signed = Account.sign_typed_data("0x" + "11" * 32, full_message=document)
    return bytes(signed.message_hash)


def generation_hash(generation_: Mapping[str, Any]) -> bytes:
    """hashStruct(Generation), computed by hand from the spec's type string."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "bytes32", "uint256"],
            [
                keccak(text=GENERATION_TYPE),
                bytes.fromhex(generation_["modelHash"][2:]),
                bytes.fromhex(generation_["datasetHash"][2:]),
                bytes.fromhex(generation_["configHash"][2:]),
                int(generation_["seed"]),
            ],
        )
    )


def as_struct(message: Mapping[str, Any]) -> tuple[Any, ...]:
    """A certificate message as the tuple the contract's Certificate ABI type takes."""
    gen = message["generation"]
    return (
        message["creator"],
        bytes.fromhex(message["contentHash"][2:]),
        (
            bytes.fromhex(gen["modelHash"][2:]),
            bytes.fromhex(gen["datasetHash"][2:]),
            bytes.fromhex(gen["configHash"][2:]),
            int(gen["seed"]),
        ),
        message["metadataURI"],
        message["royaltyReceiver"],
        int(message["royaltyBps"]),
        int(message["nonce"]),
        int(message["deadline"]),
    )


def latest_timestamp(web3: Web3) -> int:
    """The latest block's timestamp, for deadlines relative to chain time."""
    return int(web3.eth.get_block("latest")["timestamp"])


def transact(web3: Web3, call: Any, sender: str | None = None) -> TxReceipt:
    """Send a contract function call as a transaction and wait for its successful receipt."""
    tx_hash = call.transact({"from": sender or web3.eth.accounts[0]})
    receipt = web3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    return receipt


def mint(
    works: Contract,
    creator: LocalAccount,
    *,
    relayer: str | None = None,
    **fields: Any,
) -> tuple[int, dict[str, Any], TxReceipt]:
    """Certify a random work by `creator` and relay its mint: (token id, message, receipt)."""
    web3 = works.w3
    fields.setdefault("deadline", latest_timestamp(web3) + 3600)
    message = certificate(creator.address, **fields)
    signature = sign_certificate(creator.key, message, works)
    call = works.functions.mintWithSignature(as_struct(message), signature)
    token_id = int(call.call({"from": relayer or web3.eth.accounts[0]}))
    receipt = transact(web3, call, relayer)
    return token_id, message, receipt


def revert_data(error: BaseException) -> bytes:
    """The raw revert data a failed call carried, from eth-tester's or a JSON-RPC node's error."""
    data = getattr(error, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    for candidate in (error, error.__context__):
        text = str(candidate.args[0]) if candidate is not None and candidate.args else ""
        marker = "execution reverted: "
        literal = text.removeprefix(marker)
        if literal.startswith(("b'", 'b"')):
            value = ast.literal_eval(literal)
            assert isinstance(value, bytes)
            return value
    raise AssertionError(f"no revert data in {error!r}")


def decode_error(abi: Sequence[Mapping[str, Any]], data: bytes) -> tuple[str, tuple[Any, ...]]:
    """The custom error (name, args) in `abi` whose 4-byte selector starts `data`."""
    for entry in abi:
        if entry["type"] != "error":
            continue
        types = [field["type"] for field in entry["inputs"]]
        selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
        if data[:4] == selector:
            values = abi_decode(types, data[4:])
            return entry["name"], tuple(
                to_checksum_address(value) if kind == "address" else value
                for kind, value in zip(types, values, strict=True)
            )
    raise AssertionError(f"revert data 0x{data.hex()} matches no error in the ABI")


def expect_revert(contract: Contract, action: Callable[[], object]) -> tuple[str, tuple[Any, ...]]:
    """Run `action`, which must revert with one of `contract`'s custom errors; its (name, args)."""
    try:
        action()
    except Exception as error:  # eth-tester and web3 raise different types for one revert
        return decode_error(contract.abi, revert_data(error))
    raise AssertionError("the call did not revert")


def events(contract: Contract, receipt: TxReceipt, name: str) -> list[dict[str, Any]]:
    """The args of every `name` event `contract` logged in `receipt`."""
    event = getattr(contract.events, name)()
    logs = event.process_receipt(receipt, errors=DISCARD)  # other events' logs are not errors
    return [dict(log["args"]) for log in logs]


def checksum(address: str) -> str:
    """EIP-55 form, for comparing with what web3 returns."""
    return str(Web3.to_checksum_address(address))
