"""Writes of the registry: wallets, certificates (prepare, sign, attach a signature) and mints."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone
from studio.models import Work
from studio.services import work_memorization

from accounts.models import Role, User
from core.errors import Conflict, Forbidden, InvalidInput, Unavailable
from core.progress import ProgressReporter
from core.services import job_submit
from provenance.certificate import (
    Certificate as CertificateClaim,
)
from provenance.certificate import (
    Generation,
    SignedCertificate,
    verify_certificate,
)
from provenance.errors import (
    ChainUnavailable,
    InvalidCertificate,
    InvalidImage,
    InvalidKey,
    InvalidSignature,
    InvalidSiweMessage,
    MintRefused,
    ProvenanceError,
    TransactionFailed,
)
from provenance.hashing import open_image
from provenance.keys import Signer, decrypt_keystore
from provenance.metadata import Lineage, canonical_json, metadata_uri, work_metadata
from provenance.siwe import SiweMessage, verify_siwe
from registry.models import (
    Certificate,
    CertificateState,
    Mint,
    MintState,
    Wallet,
    WalletKind,
)
from registry.onchain import platform_chain, platform_signer, registry_domain, transaction_manager

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
SIWE_STATEMENT = "Link this wallet to your Atelier account to sign certificates of your works."
SIWE_VALID_FOR = timedelta(minutes=10)
# A node that is down: the mint waits and tries again for this long before it gives up.
CHAIN_RETRY_FOR_SECONDS = 600


def _require_artist(user: User) -> None:
    if not user.acts_as(Role.ARTIST):
        raise Forbidden("Only artists certify and mint works.")


# --- wallets -----------------------------------------------------------------------------------


def _wallet_password(address: str) -> str:
    """The keystore password of a custodial wallet: never stored, derived from a server secret."""
    secret = settings.WALLET_KEY_SECRET.encode()
    return hmac.new(secret, f"atelier-wallet:{address}".encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def wallet_custodial_get_or_create(*, owner: User) -> Wallet:
    """The key the platform keeps for this artist (made on first use, stored encrypted)."""
    _require_artist(owner)
    existing = Wallet.objects.filter(owner=owner, kind=WalletKind.CUSTODIAL).first()
    if existing:
        return existing
    signer = Signer.create()
    keystore = signer.encrypt(
        _wallet_password(signer.address), scrypt_n=settings.WALLET_KEYSTORE_SCRYPT_N
    )
    return Wallet.objects.create(
        owner=owner, address=signer.address, kind=WalletKind.CUSTODIAL, keystore=keystore
    )


def _custodial_signer(wallet: Wallet) -> Signer:
    assert wallet.keystore is not None
    try:
        return decrypt_keystore(wallet.keystore, _wallet_password(wallet.address))
    except InvalidKey as error:
        raise Unavailable(
            "The kept key cannot be unlocked: WALLET_KEY_SECRET differs from when it was made."
        ) from error


def siwe_nonce() -> str:
    """A fresh nonce for a Sign-In with Ethereum message."""
    return secrets.token_hex(12)


def wallet_link_message(*, address: str, domain: str, uri: str, nonce: str) -> str:
    """The EIP-4361 message `address` signs to be linked: this site, chain and nonce, 10 minutes."""
    issued_at = datetime.now(UTC)
    try:
        message = SiweMessage.create(
            domain=domain,
            address=address,
            uri=uri,
            chain_id=settings.CHAIN_ID,
            nonce=nonce,
            statement=SIWE_STATEMENT,
            issued_at=issued_at,
            expires_at=issued_at + SIWE_VALID_FOR,
        )
    except ProvenanceError as error:
        raise InvalidInput(f"No sign-in message for the address {address!r}: {error}") from error
    return message.text()


@transaction.atomic
def wallet_link(*, owner: User, message: str, signature: str, nonce: str, domain: str) -> Wallet:
    """Link the wallet that signed a SIWE message for this site and nonce to `owner`."""
    _require_artist(owner)
    try:
        signed = verify_siwe(
            message, signature, domain=domain, nonce=nonce, chain_id=settings.CHAIN_ID
        )
    except InvalidSiweMessage as error:
        raise InvalidInput(f"The wallet was not linked: {error}") from error
    wallet = Wallet.objects.filter(address=signed.address).first()
    if wallet is not None:
        if wallet.owner_id != owner.pk:
            raise Conflict(f"The wallet {signed.address} is linked to another account.")
        return wallet
    return Wallet.objects.create(owner=owner, address=signed.address, kind=WalletKind.LINKED)


# --- certificates ------------------------------------------------------------------------------


def _check_image(data: bytes, name: str) -> None:
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"{name} is {len(data) / 2**20:.0f} MiB; the limit is {MAX_UPLOAD_BYTES // 2**20} MiB."
        )
    try:
        open_image(data)
    except InvalidImage as error:
        raise InvalidInput(f"{name}: {error}") from error


def _hex32(value: str) -> bytes:
    return bytes.fromhex(value) if value else b"\0" * 32


def _generation(work: Work) -> tuple[Generation, Lineage]:
    """The lineage of a studio work: model weights, dataset manifest, training config, seed."""
    model = work.model
    run = model.run
    generation = Generation(
        model_hash=_hex32(model.weights_sha256),
        dataset_hash=_hex32(run.dataset.manifest_hash),
        config_hash=hashlib.sha256(canonical_json(run.config)).digest(),
        seed=work.seed,
    )
    lineage = Lineage(
        model_hash=generation.model_hash,
        dataset_hash=generation.dataset_hash,
        config_hash=generation.config_hash,
        seed=work.seed,
        model_name=str(model),
        truncation=work.truncation,
    )
    return generation, lineage


@transaction.atomic
def certificate_prepare(
    *,
    owner: User,
    wallet: Wallet,
    work: Work | None = None,
    image: bytes | None = None,
    image_name: str = "image",
    title: str = "",
    description: str = "",
    royalty_bps: int = 500,
) -> Certificate:
    """Build the typed data for a studio work or an uploaded image, ready to be signed."""
    _require_artist(owner)
    if wallet.owner_id != owner.pk:
        raise Forbidden("That wallet belongs to someone else.")
    if (work is None) == (image is None):
        raise InvalidInput("Certify either a work from the studio or an uploaded image.")
    lineage_or_none: Lineage | None = None
    if work is not None:
        if work.owner_id != owner.pk:
            raise Forbidden("You can certify only your own works.")
        memorization = work_memorization(work)
        if memorization.get("near_copy"):
            raise InvalidInput(
                f"This work is a near-copy of the training image {memorization['nearest']!r}: "
                f"{memorization['distance']} of {memorization['bits']} hash bits apart, at or "
                f"under the {memorization['threshold']} at which two files count as one image. "
                "A certificate would claim the training image as generated; choose another seed.",
                details={"memorization": memorization},
            )
        with work.image.open("rb") as stored:
            data = stored.read()
        generation, lineage_or_none = _generation(work)
        title = title or f"{work.model.run.name} #{work.seed}"
    else:
        assert image is not None
        data = image
        _check_image(data, image_name)
        generation = Generation()
        title = title or image_name
    if not 0 <= royalty_bps <= 5000:
        raise InvalidInput(f"A royalty is 0 to 5000 basis points (50%), not {royalty_bps}.")
    domain = registry_domain()
    content = hashlib.sha256(data).digest()
    duplicate = Certificate.objects.filter(
        chain_id=domain.chain_id, contract=domain.verifying_contract, content_hash=content.hex()
    ).first()
    if duplicate is not None:
        raise Conflict(
            "This image is already certified.", details={"certificate": str(duplicate.pk)}
        )
    metadata = work_metadata(
        name=title,
        description=description,
        image=data,
        creator=wallet.address,
        royalty_receiver=wallet.address,
        royalty_bps=royalty_bps,
        lineage=lineage_or_none,
    )
    claim = CertificateClaim(
        creator=wallet.address,
        content_hash=content,
        generation=generation,
        metadata_uri=metadata_uri(metadata),
        royalty_receiver=wallet.address,
        royalty_bps=royalty_bps,
        nonce=secrets.randbits(128),
        deadline=int(time.time()) + settings.CERTIFICATE_VALID_DAYS * 86400,
    )
    certificate = Certificate(
        owner=owner,
        work=work,
        title=title[:200],
        wallet=wallet,
        chain_id=domain.chain_id,
        contract=domain.verifying_contract,
        content_hash=content.hex(),
        generation_hash=generation.struct_hash().hex(),
        metadata=metadata,
        metadata_uri=claim.metadata_uri,
        typed_data=claim.typed_data(domain),
        digest="0x" + claim.digest(domain).hex(),
        nonce=str(claim.nonce),
        deadline=claim.deadline,
        royalty_bps=royalty_bps,
    )
    if work is not None:
        certificate.image.name = work.image.name  # the studio's file: the same bytes
    else:
        certificate.image.save(f"{content.hex()}.img", ContentFile(data), save=False)
    try:
        with transaction.atomic():
            certificate.save()
    except IntegrityError:
        raise Conflict("This image was certified a moment ago by another request.") from None
    return certificate


def signed_certificate(certificate: Certificate) -> SignedCertificate:
    """The stored certificate as the library's SignedCertificate (it must be signed)."""
    if not certificate.signature:
        raise Conflict("The certificate is not signed yet.")
    return SignedCertificate.from_json(
        {
            "typed_data": certificate.typed_data,
            "signature": certificate.signature,
            "metadata": certificate.metadata,
        }
    )


def _mark_signed(certificate: Certificate, signature: str) -> Certificate:
    certificate.signature = signature
    certificate.state = CertificateState.SIGNED
    certificate.signed_at = timezone.now()
    certificate.save(update_fields=["signature", "state", "signed_at"])
    return certificate


def _locked_draft(certificate: Certificate, owner: User) -> Certificate:
    locked = Certificate.objects.select_for_update().select_related("wallet").get(pk=certificate.pk)
    if locked.owner_id != owner.pk:
        raise Forbidden("This certificate is someone else's.")
    if locked.state != CertificateState.DRAFT:
        raise Conflict(f"The certificate is already {locked.get_state_display().lower()}.")
    return locked


@transaction.atomic
def certificate_sign_custodial(*, certificate: Certificate, owner: User) -> Certificate:
    """Sign with the key the platform keeps for the artist."""
    locked = _locked_draft(certificate, owner)
    if locked.wallet.kind != WalletKind.CUSTODIAL:
        raise InvalidInput("This certificate names your own wallet: sign it in the wallet.")
    signer = _custodial_signer(locked.wallet)
    signature = signer.sign_digest(bytes.fromhex(locked.digest[2:]))
    return _mark_signed(locked, "0x" + signature.hex())


@transaction.atomic
def certificate_attach_signature(
    *, certificate: Certificate, owner: User, signature: str
) -> Certificate:
    """Store a signature made in the artist's wallet, after checking who made it."""
    locked = _locked_draft(certificate, owner)
    try:
        signed = SignedCertificate.from_json(
            {"typed_data": locked.typed_data, "signature": signature}
        )
    except (InvalidCertificate, InvalidSignature) as error:
        raise InvalidInput(f"The signature was refused: {error}") from error
    verdict = verify_certificate(signed)
    if not verdict.valid:
        raise InvalidInput(f"The signature was refused: {'; '.join(verdict.problems)}")
    return _mark_signed(locked, "0x" + signed.signature.hex())


# --- mints -------------------------------------------------------------------------------------


@transaction.atomic
def mint_request(*, certificate: Certificate, owner: User) -> Mint:
    """Queue the mint of a signed certificate; asking again returns the same mint (idempotent)."""
    locked = Certificate.objects.select_for_update().get(pk=certificate.pk)
    if locked.owner_id != owner.pk:
        raise Forbidden("This certificate is someone else's.")
    existing = Mint.objects.filter(certificate=locked).first()
    if existing is not None and existing.state != MintState.FAILED:
        return existing
    if locked.state == CertificateState.DRAFT:
        raise Conflict("Sign the certificate before minting it.")
    if locked.deadline < time.time():
        raise InvalidInput(
            "The certificate's deadline has passed; certify the work again to mint it."
        )
    job = job_submit(
        kind="mint",
        owner=owner,
        task_name="registry.mint",
        queue="chain",
        params={"certificate_id": str(locked.pk)},
    )
    if existing is not None:  # a failed mint is tried again: same row, new job
        existing.job, existing.state, existing.error = job, MintState.QUEUED, ""
        existing.save(update_fields=["job", "state", "error"])
        mint = existing
    else:
        mint = Mint.objects.create(certificate=locked, job=job)
    locked.state = CertificateState.MINTING
    locked.save(update_fields=["state"])
    return mint


def _mint_update(mint: Mint, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(mint, name, value)
    mint.save(update_fields=list(changes))


def _chain_retry(what: str, progress: ProgressReporter, started: float, error: Exception) -> None:
    waited = time.monotonic() - started
    if waited > CHAIN_RETRY_FOR_SECONDS:
        raise Unavailable(
            f"The chain did not answer for {waited:.0f} s while {what}; try the mint again later."
        ) from error
    progress.update(
        progress.fraction, f"The chain is not answering ({what}); retrying…", force=True
    )
    _pause(min(5.0, 0.5 + waited / 10))


def _pause(seconds: float) -> None:
    """Wait before trying the chain again (a seam the tests use to restart the node)."""
    time.sleep(seconds)


def mint_execute(*, certificate_id: str, progress: ProgressReporter) -> dict[str, Any]:
    """Send the mint and follow it to confirmation; retries never make a second token."""
    certificate = Certificate.objects.select_related("mint").get(pk=certificate_id)
    mint = certificate.mint
    signed = signed_certificate(certificate)
    key = f"mint:{certificate.pk}"
    started = time.monotonic()
    while True:
        try:
            return _mint_once(certificate, mint, signed, key, progress)
        except ChainUnavailable as error:
            _chain_retry("minting", progress, started, error)
        except (MintRefused, InvalidCertificate, TransactionFailed) as error:
            _mint_update(mint, state=MintState.FAILED, error=str(error))
            Certificate.objects.filter(pk=certificate.pk).update(state=CertificateState.FAILED)
            raise InvalidInput(f"The mint was refused: {error}") from error


def _mint_once(
    certificate: Certificate,
    mint: Mint,
    signed: SignedCertificate,
    key: str,
    progress: ProgressReporter,
) -> dict[str, Any]:
    chain = platform_chain()
    manager = transaction_manager(chain, platform_signer())
    record = manager.txs.get_by_key(key)
    if record is None:
        existing = chain.lookup(signed.certificate.content_hash)
        if existing is not None and existing.creator == signed.certificate.creator:
            # Minted already (by us before a crash, or by the artist elsewhere): adopt it.
            return _confirmed(certificate, mint, existing.token_id, existing.mint_tx, None, None)
        progress.update(0.1, "Checking the certificate against the contract…", force=True)
        chain.check_mintable(signed, sender=manager.address)
        record = manager.send(chain.contract_address, chain.mint_calldata(signed), key=key)
    _mint_update(mint, state=MintState.SENT, tx_hash=record.tx_hash)
    progress.update(0.4, f"Sent {record.tx_hash}; waiting for it to be mined…", force=True)
    record = manager.wait(record, timeout=CHAIN_RETRY_FOR_SECONDS)
    receipt = chain.mint_receipt(chain.web3.eth.get_transaction_receipt(record.tx_hash))  # type: ignore[arg-type]
    return _confirmed(
        certificate,
        mint,
        receipt.token_id,
        receipt.tx_hash,
        receipt.block_number,
        receipt.block_hash,
    )


def _confirmed(
    certificate: Certificate,
    mint: Mint,
    token_id: int,
    tx_hash: str | None,
    block_number: int | None,
    block_hash: str | None,
) -> dict[str, Any]:
    with transaction.atomic():
        _mint_update(
            mint,
            state=MintState.CONFIRMED,
            token_id=token_id,
            tx_hash=tx_hash or mint.tx_hash,
            block_number=block_number,
            block_hash=block_hash or "",
            confirmed_at=timezone.now(),
            error="",
        )
        Certificate.objects.filter(pk=certificate.pk).update(state=CertificateState.MINTED)
    logger.info("certificate %s minted as token %s", certificate.pk, token_id)
    return {"token_id": token_id, "tx_hash": tx_hash, "certificate_id": str(certificate.pk)}


def certificate_export(certificate: Certificate) -> str:
    """The certificate as the JSON any EIP-712 tool checks (`typed_data` and `signature`)."""
    return json.dumps(signed_certificate(certificate).to_json(), indent=2) + "\n"
