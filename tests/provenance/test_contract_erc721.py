"""AtelierWorks conforms to ERC-721, ERC-2981, ERC-165 and the spec's certificate minting."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from tests.helpers import REPO, free_port, port_open, wait_until
from tests.provenance.contract_helpers import (
    ZERO_ADDRESS,
    as_struct,
    certificate,
    certificate_digest,
    deploy,
    deploy_works,
    events,
    expect_revert,
    generation,
    generation_hash,
    latest_timestamp,
    mint,
    random_bytes32,
    sign_certificate,
    transact,
)

ANVIL = REPO / "node_modules" / ".bin" / "anvil"


@pytest.fixture
def works(tester: Web3) -> Contract:
    """A freshly deployed AtelierWorks on eth-tester."""
    return deploy_works(tester)


@pytest.fixture
def relayer(tester: Web3) -> str:
    """The platform's account: submits certificates and pays gas."""
    return str(tester.eth.accounts[0])


@pytest.fixture
def alice(tester_accounts: list[LocalAccount]) -> LocalAccount:
    """A creator with a funded EOA."""
    return tester_accounts[1]


@pytest.fixture
def bob(tester_accounts: list[LocalAccount]) -> LocalAccount:
    """Another funded EOA."""
    return tester_accounts[2]


@pytest.fixture
def carol(tester_accounts: list[LocalAccount]) -> LocalAccount:
    """A third funded EOA."""
    return tester_accounts[3]


@pytest.fixture
def alices_token(works: Contract, alice: LocalAccount) -> int:
    """A token minted to alice."""
    token_id, _, _ = mint(works, alice)
    return token_id


def _sign_and_call(works: Contract, key: bytes | str, message: dict[str, Any]) -> Any:
    """The mintWithSignature call for `message` signed with `key`."""
    return works.functions.mintWithSignature(
        as_struct(message), sign_certificate(key, message, works)
    )


# ERC-721: balances and owners


def test_tester_accounts_are_eth_testers_funded_accounts(
    tester: Web3, tester_accounts: list[LocalAccount]
) -> None:
    assert [account.address for account in tester_accounts] == list(tester.eth.accounts)
    assert all(tester.eth.get_balance(account.address) > 0 for account in tester_accounts)


def test_name_and_symbol_are_the_constructors(works: Contract) -> None:
    assert works.functions.name().call() == "Atelier Works"
    assert works.functions.symbol().call() == "ATLR"


def test_balance_of_counts_tokens_owned(works: Contract, alice: LocalAccount) -> None:
    assert works.functions.balanceOf(alice.address).call() == 0
    mint(works, alice)
    mint(works, alice)
    assert works.functions.balanceOf(alice.address).call() == 2


def test_balance_of_the_zero_address_reverts(works: Contract) -> None:
    error = expect_revert(works, works.functions.balanceOf(ZERO_ADDRESS).call)
    assert error == ("ERC721InvalidOwner", (ZERO_ADDRESS,))


def test_owner_of_a_minted_token_is_its_creator(
    works: Contract, alice: LocalAccount, alices_token: int
) -> None:
    assert works.functions.ownerOf(alices_token).call() == alice.address


def test_owner_of_a_nonexistent_token_reverts(works: Contract) -> None:
    error = expect_revert(works, works.functions.ownerOf(99).call)
    assert error == ("ERC721NonexistentToken", (99,))


# ERC-721: approvals


def test_owner_approves_an_address_for_one_token(
    works: Contract, alice: LocalAccount, bob: LocalAccount, alices_token: int
) -> None:
    receipt = transact(works.w3, works.functions.approve(bob.address, alices_token), alice.address)

    assert works.functions.getApproved(alices_token).call() == bob.address
    assert events(works, receipt, "Approval") == [
        {"owner": alice.address, "approved": bob.address, "tokenId": alices_token}
    ]


def test_approve_by_someone_neither_owner_nor_operator_reverts(
    works: Contract, bob: LocalAccount, alices_token: int
) -> None:
    approve = works.functions.approve(bob.address, alices_token)
    error = expect_revert(works, lambda: approve.call({"from": bob.address}))
    assert error == ("ERC721InvalidApprover", (bob.address,))


def test_get_approved_of_a_nonexistent_token_reverts(works: Contract) -> None:
    error = expect_revert(works, works.functions.getApproved(7).call)
    assert error == ("ERC721NonexistentToken", (7,))


def test_set_approval_for_all_grants_and_revokes_an_operator(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    grant = transact(works.w3, works.functions.setApprovalForAll(bob.address, True), alice.address)
    assert works.functions.isApprovedForAll(alice.address, bob.address).call() is True
    assert events(works, grant, "ApprovalForAll") == [
        {"owner": alice.address, "operator": bob.address, "approved": True}
    ]

    revoke = transact(
        works.w3, works.functions.setApprovalForAll(bob.address, False), alice.address
    )
    assert works.functions.isApprovedForAll(alice.address, bob.address).call() is False
    assert events(works, revoke, "ApprovalForAll")[0]["approved"] is False


def test_set_approval_for_all_to_the_zero_address_reverts(
    works: Contract, alice: LocalAccount
) -> None:
    call = works.functions.setApprovalForAll(ZERO_ADDRESS, True)
    error = expect_revert(works, lambda: call.call({"from": alice.address}))
    assert error == ("ERC721InvalidOperator", (ZERO_ADDRESS,))


def test_an_operator_may_approve_for_the_owner(
    works: Contract, alice: LocalAccount, bob: LocalAccount, carol: LocalAccount, alices_token: int
) -> None:
    transact(works.w3, works.functions.setApprovalForAll(bob.address, True), alice.address)
    transact(works.w3, works.functions.approve(carol.address, alices_token), bob.address)
    assert works.functions.getApproved(alices_token).call() == carol.address


# ERC-721: transfers


@pytest.mark.parametrize("mover", ["owner", "approved", "operator"])
def test_transfer_from_moves_the_token_and_clears_its_approval(
    works: Contract,
    alice: LocalAccount,
    bob: LocalAccount,
    carol: LocalAccount,
    alices_token: int,
    mover: str,
) -> None:
    web3 = works.w3
    sender = alice.address
    if mover == "approved":
        transact(web3, works.functions.approve(bob.address, alices_token), alice.address)
        sender = bob.address
    elif mover == "operator":
        transact(web3, works.functions.setApprovalForAll(bob.address, True), alice.address)
        transact(web3, works.functions.approve(carol.address, alices_token), alice.address)
        sender = bob.address

    call = works.functions.transferFrom(alice.address, carol.address, alices_token)
    receipt = transact(web3, call, sender)

    assert works.functions.ownerOf(alices_token).call() == carol.address
    assert works.functions.balanceOf(alice.address).call() == 0
    assert works.functions.balanceOf(carol.address).call() == 1
    assert works.functions.getApproved(alices_token).call() == ZERO_ADDRESS
    assert events(works, receipt, "Transfer") == [
        {"from": alice.address, "to": carol.address, "tokenId": alices_token}
    ]


def test_transfer_by_an_unauthorized_account_reverts(
    works: Contract, alice: LocalAccount, bob: LocalAccount, alices_token: int
) -> None:
    call = works.functions.transferFrom(alice.address, bob.address, alices_token)
    error = expect_revert(works, lambda: call.call({"from": bob.address}))
    assert error == ("ERC721InsufficientApproval", (bob.address, alices_token))


def test_transfer_from_the_wrong_owner_reverts(
    works: Contract, alice: LocalAccount, bob: LocalAccount, carol: LocalAccount, alices_token: int
) -> None:
    call = works.functions.transferFrom(bob.address, carol.address, alices_token)
    error = expect_revert(works, lambda: call.call({"from": alice.address}))
    assert error == ("ERC721IncorrectOwner", (bob.address, alices_token, alice.address))


def test_transfer_to_the_zero_address_reverts(
    works: Contract, alice: LocalAccount, alices_token: int
) -> None:
    call = works.functions.transferFrom(alice.address, ZERO_ADDRESS, alices_token)
    error = expect_revert(works, lambda: call.call({"from": alice.address}))
    assert error == ("ERC721InvalidReceiver", (ZERO_ADDRESS,))


@pytest.mark.parametrize(
    "signature",
    [
        "safeTransferFrom(address,address,uint256)",
        "safeTransferFrom(address,address,uint256,bytes)",
    ],
)
def test_safe_transfer_to_an_eoa_moves_the_token(
    works: Contract, alice: LocalAccount, bob: LocalAccount, alices_token: int, signature: str
) -> None:
    args: list[Any] = [alice.address, bob.address, alices_token]
    if signature.endswith("bytes)"):
        args.append(b"\x42")
    call = works.get_function_by_signature(signature)(*args)
    receipt = transact(works.w3, call, alice.address)

    assert works.functions.ownerOf(alices_token).call() == bob.address
    assert len(events(works, receipt, "Transfer")) == 1


def test_safe_transfer_to_a_contract_without_on_erc721_received_reverts(
    works: Contract, alice: LocalAccount, alices_token: int
) -> None:
    non_receiver = deploy(works.w3, "NonReceiver")
    call = works.get_function_by_signature("safeTransferFrom(address,address,uint256)")(
        alice.address, non_receiver.address, alices_token
    )
    error = expect_revert(works, lambda: call.call({"from": alice.address}))
    assert error == ("ERC721InvalidReceiver", (non_receiver.address,))


def test_plain_transfer_to_a_contract_without_on_erc721_received_succeeds(
    works: Contract, alice: LocalAccount, alices_token: int
) -> None:
    non_receiver = deploy(works.w3, "NonReceiver")
    call = works.functions.transferFrom(alice.address, non_receiver.address, alices_token)
    transact(works.w3, call, alice.address)
    assert works.functions.ownerOf(alices_token).call() == non_receiver.address


# ERC-721 metadata, ERC-2981, ERC-165


def test_token_uri_is_the_certificates_metadata_uri(works: Contract, alice: LocalAccount) -> None:
    uri = "ipfs://bafkreidivzimqfqtoqxkrpge6bjyhlvxqs3rhe73owtmdulaxr5do5in7u"
    token_id, _, receipt = mint(works, alice, metadata_uri=uri)

    assert works.functions.tokenURI(token_id).call() == uri
    assert events(works, receipt, "MetadataUpdate") == [{"_tokenId": token_id}]


def test_token_uri_of_a_nonexistent_token_reverts(works: Contract) -> None:
    error = expect_revert(works, works.functions.tokenURI(3).call)
    assert error == ("ERC721NonexistentToken", (3,))


@pytest.mark.parametrize(
    ("sale_price", "royalty"),
    [(0, 0), (1, 0), (13, 0), (14, 1), (10_000, 750), (12_345, 925), (10**18, 75 * 10**15)],
)
def test_royalty_info_pays_the_receiver_bps_of_the_price_rounded_down(
    works: Contract, alice: LocalAccount, bob: LocalAccount, sale_price: int, royalty: int
) -> None:
    token_id, _, _ = mint(works, alice, royalty_receiver=bob.address, royalty_bps=750)

    assert works.functions.royaltyInfo(token_id, sale_price).call() == [bob.address, royalty]


def test_royalty_at_the_maximum_is_half_the_price(works: Contract, alice: LocalAccount) -> None:
    token_id, _, _ = mint(works, alice, royalty_bps=5000)

    assert works.functions.MAX_ROYALTY_BPS().call() == 5000
    assert works.functions.royaltyInfo(token_id, 1001).call() == [alice.address, 500]


def test_royalty_info_of_an_unminted_token_is_nothing(works: Contract) -> None:
    assert works.functions.royaltyInfo(5, 10_000).call() == [ZERO_ADDRESS, 0]


@pytest.mark.parametrize(
    ("interface_id", "supported"),
    [
        ("0x01ffc9a7", True),  # ERC-165
        ("0x80ac58cd", True),  # ERC-721
        ("0x5b5e139f", True),  # ERC-721 metadata
        ("0x2a55205a", True),  # ERC-2981
        ("0x49064906", True),  # ERC-4906
        ("0x780e9d63", False),  # ERC-721 enumerable
        ("0xffffffff", False),  # never, by ERC-165
    ],
)
def test_supports_interface(works: Contract, interface_id: str, supported: bool) -> None:
    assert works.functions.supportsInterface(bytes.fromhex(interface_id[2:])).call() is supported


# Minting from certificates


def test_token_ids_count_up_from_one_and_record_the_work(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    assert works.functions.totalMinted().call() == 0
    first, first_message, _ = mint(works, alice)
    second, second_message, _ = mint(works, bob)

    assert (first, second) == (1, 2)
    assert works.functions.totalMinted().call() == 2
    for token_id, message in [(first, first_message), (second, second_message)]:
        content = bytes.fromhex(message["contentHash"][2:])
        assert works.functions.tokenOfContent(content).call() == token_id
        assert works.functions.workOf(token_id).call() == [
            message["creator"],
            content,
            generation_hash(message["generation"]),
        ]
    assert works.functions.tokenOfContent(bytes.fromhex(random_bytes32()[2:])).call() == 0


def test_work_of_a_nonexistent_token_reverts(works: Contract) -> None:
    error = expect_revert(works, works.functions.workOf(1).call)
    assert error == ("ERC721NonexistentToken", (1,))


@pytest.mark.parametrize(
    "generation_",
    [
        generation(),
        generation("0x" + "ab" * 32, "0x" + "cd" * 32, "0x" + "ef" * 32, 2**256 - 1),
    ],
    ids=["uploaded", "generated"],
)
def test_work_registered_carries_the_generation_hash(
    works: Contract, alice: LocalAccount, bob: LocalAccount, generation_: dict[str, Any]
) -> None:
    token_id, message, receipt = mint(works, alice, generation_=generation_, relayer=bob.address)
    expected = generation_hash(generation_)

    assert events(works, receipt, "WorkRegistered") == [
        {
            "tokenId": token_id,
            "creator": alice.address,
            "contentHash": bytes.fromhex(message["contentHash"][2:]),
            "generationHash": expected,
        }
    ]
    assert events(works, receipt, "Transfer") == [
        {"from": ZERO_ADDRESS, "to": alice.address, "tokenId": token_id}
    ]
    struct = as_struct(message)[2]
    assert works.functions.generationHash(struct).call() == expected


def test_certificate_digest_matches_eth_accounts_eip712(
    works: Contract, alice: LocalAccount
) -> None:
    message = certificate(
        alice.address,
        generation_=generation(random_bytes32(), random_bytes32(), random_bytes32(), 7),
        metadata_uri="ipfs://bafkreih-ünïcode",
        deadline=2**64,
    )
    contract_digest = works.functions.certificateDigest(as_struct(message)).call()
    assert contract_digest == certificate_digest(message, works)


def test_the_token_goes_to_the_creator_whoever_relays(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    token_id, message, _ = mint(works, alice, relayer=bob.address)

    assert works.functions.ownerOf(token_id).call() == alice.address
    assert works.functions.nonceUsed(alice.address, int(message["nonce"])).call() is True


def test_a_creator_that_is_an_eip1271_wallet_mints_with_its_owners_signature(
    works: Contract, alice: LocalAccount, relayer: str
) -> None:
    wallet = deploy(works.w3, "SmartWallet", alice.address)
    message = certificate(wallet.address, deadline=latest_timestamp(works.w3) + 600)
    call = _sign_and_call(works, alice.key, message)

    token_id = call.call({"from": relayer})
    receipt = transact(works.w3, call, relayer)

    assert works.functions.ownerOf(token_id).call() == wallet.address
    assert events(works, receipt, "WorkRegistered")[0]["creator"] == wallet.address


def test_an_eip1271_wallet_rejects_a_stranger_signature(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    wallet = deploy(works.w3, "SmartWallet", alice.address)
    message = certificate(wallet.address, deadline=latest_timestamp(works.w3) + 600)
    call = _sign_and_call(works, bob.key, message)

    error = expect_revert(works, call.call)
    assert error == ("InvalidCertificateSignature", (wallet.address,))


# Minting: what the contract refuses


def test_an_expired_certificate_reverts(works: Contract, alice: LocalAccount) -> None:
    deadline = latest_timestamp(works.w3) - 1
    message = certificate(alice.address, deadline=deadline)
    call = _sign_and_call(works, alice.key, message)

    name, (reported_deadline, timestamp) = expect_revert(works, call.call)
    assert name == "CertificateExpired"
    assert reported_deadline == deadline
    assert timestamp > deadline


def test_a_replayed_nonce_reverts(works: Contract, alice: LocalAccount) -> None:
    _, first, _ = mint(works, alice)
    message = certificate(
        alice.address, nonce=int(first["nonce"]), deadline=latest_timestamp(works.w3) + 60
    )
    call = _sign_and_call(works, alice.key, message)

    error = expect_revert(works, call.call)
    assert error == ("NonceAlreadyUsed", (alice.address, int(first["nonce"])))


def test_replaying_the_same_signed_certificate_reverts(
    works: Contract, alice: LocalAccount
) -> None:
    message = certificate(alice.address, deadline=latest_timestamp(works.w3) + 60)
    call = _sign_and_call(works, alice.key, message)
    transact(works.w3, call)

    error = expect_revert(works, call.call)
    assert error == ("NonceAlreadyUsed", (alice.address, int(message["nonce"])))


def test_the_same_content_twice_reverts(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    content = random_bytes32()
    token_id, _, _ = mint(works, alice, content_hash=content)
    message = certificate(
        bob.address, content_hash=content, deadline=latest_timestamp(works.w3) + 60
    )
    call = _sign_and_call(works, bob.key, message)

    error = expect_revert(works, call.call)
    assert error == ("ContentAlreadyRegistered", (bytes.fromhex(content[2:]), token_id))


def test_a_signature_by_someone_else_reverts(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    message = certificate(alice.address, deadline=latest_timestamp(works.w3) + 60)
    call = _sign_and_call(works, bob.key, message)

    error = expect_revert(works, call.call)
    assert error == ("InvalidCertificateSignature", (alice.address,))


def test_a_certificate_changed_after_signing_reverts(works: Contract, alice: LocalAccount) -> None:
    message = certificate(alice.address, deadline=latest_timestamp(works.w3) + 60)
    signature = sign_certificate(alice.key, message, works)
    tampered = {**message, "royaltyBps": message["royaltyBps"] + 1}
    call = works.functions.mintWithSignature(as_struct(tampered), signature)

    error = expect_revert(works, call.call)
    assert error == ("InvalidCertificateSignature", (alice.address,))


@pytest.mark.parametrize(
    "signature",
    [b"", b"\x01\x02\x03", b"\x00" * 65, b"\xff" * 64, b"\x11" * 66],
    ids=["empty", "short", "zeros", "64-bytes-junk", "66-bytes"],
)
def test_malformed_signature_bytes_revert_as_an_invalid_signature(
    works: Contract, alice: LocalAccount, signature: bytes
) -> None:
    # SignatureChecker uses ECDSA.tryRecover, so OZ's ECDSA errors never surface.
    message = certificate(alice.address, deadline=latest_timestamp(works.w3) + 60)
    call = works.functions.mintWithSignature(as_struct(message), signature)

    error = expect_revert(works, call.call)
    assert error == ("InvalidCertificateSignature", (alice.address,))


def test_a_royalty_over_the_maximum_reverts(works: Contract, alice: LocalAccount) -> None:
    message = certificate(alice.address, royalty_bps=5001, deadline=latest_timestamp(works.w3) + 60)
    call = _sign_and_call(works, alice.key, message)

    error = expect_revert(works, call.call)
    assert error == ("RoyaltyTooHigh", (5001, 5000))


def test_a_zero_royalty_receiver_reverts_with_openzeppelins_error(
    works: Contract, alice: LocalAccount
) -> None:
    message = certificate(alice.address, deadline=latest_timestamp(works.w3) + 60)
    message["royaltyReceiver"] = ZERO_ADDRESS
    call = _sign_and_call(works, alice.key, message)

    error = expect_revert(works, call.call)
    assert error == ("ERC2981InvalidTokenRoyaltyReceiver", (1, ZERO_ADDRESS))


def test_a_cancelled_nonce_cannot_be_minted(works: Contract, alice: LocalAccount) -> None:
    message = certificate(alice.address, deadline=latest_timestamp(works.w3) + 60)
    nonce = int(message["nonce"])
    receipt = transact(works.w3, works.functions.cancelNonce(nonce), alice.address)

    assert events(works, receipt, "NonceCancelled") == [{"creator": alice.address, "nonce": nonce}]
    assert works.functions.nonceUsed(alice.address, nonce).call() is True
    call = _sign_and_call(works, alice.key, message)
    assert expect_revert(works, call.call) == ("NonceAlreadyUsed", (alice.address, nonce))


def test_cancelling_a_nonce_twice_reverts(works: Contract, alice: LocalAccount) -> None:
    transact(works.w3, works.functions.cancelNonce(5), alice.address)
    call = works.functions.cancelNonce(5)

    error = expect_revert(works, lambda: call.call({"from": alice.address}))
    assert error == ("NonceAlreadyUsed", (alice.address, 5))


def test_cancelling_only_affects_the_callers_own_nonce(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    transact(works.w3, works.functions.cancelNonce(9), bob.address)

    assert works.functions.nonceUsed(alice.address, 9).call() is False
    mint(works, alice, nonce=9)


def test_checks_run_in_the_documented_order(
    works: Contract, alice: LocalAccount, bob: LocalAccount
) -> None:
    web3 = works.w3
    taken = random_bytes32()
    mint(works, bob, content_hash=taken)
    transact(web3, works.functions.cancelNonce(77), alice.address)
    message = certificate(alice.address, content_hash=taken, royalty_bps=9000, nonce=77, deadline=1)
    bad_signature = b"\x00" * 65

    def failure(**changes: Any) -> str:
        message.update(changes)
        call = works.functions.mintWithSignature(as_struct(message), bad_signature)
        return expect_revert(works, call.call)[0]

    assert failure() == "RoyaltyTooHigh"
    assert failure(royaltyBps=100) == "CertificateExpired"
    assert failure(deadline=str(latest_timestamp(web3) + 60)) == "NonceAlreadyUsed"
    assert failure(nonce="78") == "ContentAlreadyRegistered"
    assert failure(contentHash=random_bytes32()) == "InvalidCertificateSignature"


# A real node


@pytest.fixture
def anvil_web3() -> Iterator[Web3]:
    """web3 on a fresh anvil (chain id 31337) from node_modules; the node dies with the fixture."""
    if not ANVIL.exists():
        pytest.fail(f"anvil is missing at {ANVIL}; `make test` installs it with npm ci.")
    port = free_port()
    process = subprocess.Popen(
        [str(ANVIL), "--port", str(port), "--chain-id", "31337", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(lambda: port_open(port), timeout=30, what="anvil to listen")
        yield Web3(HTTPProvider(f"http://127.0.0.1:{port}"))
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the npm wrapper and the node binary together
        process.wait(timeout=15)


@pytest.mark.chain
def test_the_compiled_evm_version_runs_on_anvil(anvil_web3: Web3) -> None:
    assert anvil_web3.eth.chain_id == 31337
    works = deploy_works(anvil_web3)
    creator = Account.create()

    token_id, message, receipt = mint(works, creator)

    assert token_id == 1
    assert works.functions.ownerOf(1).call() == creator.address
    assert events(works, receipt, "WorkRegistered")[0]["generationHash"] == generation_hash(
        message["generation"]
    )
    stranger = certificate(creator.address, deadline=latest_timestamp(anvil_web3) + 60)
    call = _sign_and_call(works, Account.create().key, stranger)
    assert expect_revert(works, call.call) == ("InvalidCertificateSignature", (creator.address,))
