"""The platform's chain: the node, the contract and the account that relays mints, from settings."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from core.errors import Unavailable
from provenance.certificate import Domain
from provenance.chain import Chain
from provenance.errors import ChainUnavailable, InvalidKey, ProvenanceError
from provenance.keys import Signer, load_key_file
from provenance.transactions import TransactionManager
from registry.stores import DatabaseNonceStore, DatabaseTxStore


def registry_domain() -> Domain:
    """The EIP-712 domain of this platform's contract (needs no node: certificates sign offline)."""
    if not settings.CHAIN_CONTRACT_ADDRESS:
        raise Unavailable(
            "No token contract is configured (CHAIN_CONTRACT_ADDRESS); `make run` deploys one on "
            "the local chain, or deploy with `python -m provenance deploy`."
        )
    return Domain(chain_id=settings.CHAIN_ID, verifying_contract=settings.CHAIN_CONTRACT_ADDRESS)


def platform_chain(*, timeout: float = 10.0) -> Chain:
    """The configured node and contract; Unavailable with the reason when either is missing."""
    domain = registry_domain()
    if not settings.CHAIN_RPC_URL:
        raise Unavailable("No chain is configured (CHAIN_RPC_URL); minting is off.")
    try:
        chain = Chain.connect(settings.CHAIN_RPC_URL, timeout=timeout)
        if chain.chain_id != domain.chain_id:
            raise Unavailable(
                f"The node at CHAIN_RPC_URL serves chain {chain.chain_id}, but CHAIN_ID is "
                f"{domain.chain_id}; certificates would be signed for the wrong chain."
            )
        chain.use_contract(domain.verifying_contract)
    except ChainUnavailable:
        raise
    except ProvenanceError as error:
        raise Unavailable(str(error)) from error
    return chain


def platform_signer() -> Signer:
    """The account that submits mints and pays their gas (CHAIN_SIGNER_KEY_FILE)."""
    if not settings.CHAIN_SIGNER_KEY_FILE:
        raise Unavailable("No minting account is configured (CHAIN_SIGNER_KEY_FILE).")
    password = settings.CHAIN_SIGNER_PASSWORD_FILE
    if settings.PRODUCTION and not password:
        raise Unavailable(
            "In production the minting key must be a keystore v3 file with its password in "
            "CHAIN_SIGNER_PASSWORD_FILE; a plain hex key file is for development chains only."
        )
    try:
        return load_key_file(
            Path(settings.CHAIN_SIGNER_KEY_FILE), password_file=Path(password) if password else None
        )
    except InvalidKey as error:
        raise Unavailable(f"The minting account cannot be unlocked: {error}") from error


def transaction_manager(chain: Chain, signer: Signer) -> TransactionManager:
    """A transaction manager for the platform's signer whose nonces and transactions persist."""
    return TransactionManager(
        chain.web3,
        signer.account,
        DatabaseNonceStore(),
        DatabaseTxStore(),
        confirmations=settings.CHAIN_CONFIRMATIONS,
        stuck_after_s=settings.CHAIN_STUCK_AFTER_SECONDS,
        poll_interval_s=0.2,
    )
