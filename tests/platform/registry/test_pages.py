"""The registry's pages on a real anvil: certify, sign, mint and follow it; the public certificate,
its PDF and JSON; who may see what; linking a wallet by Sign-In with Ethereum."""

from __future__ import annotations

import json
import re
import subprocess
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from registry import tasks
from registry.models import Certificate, CertificateState, MintState, Wallet, WalletKind
from studio.models import Work

from accounts.models import Role, User
from core.models import Job
from provenance.certificate import SignedCertificate
from tests.helpers import wait_until
from tests.platform.registry.conftest import RegistryChain, painting_png

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


def _text(response: Any) -> str:
    return str(response.content.decode())


def _certify_upload(client: Client, *, seed: int, wallet: str = "kept", **fields: Any) -> str:
    """Certify an uploaded painting from the registry page; the certificate's sign-page URL."""
    upload = SimpleUploadedFile(f"painting-{seed}.png", painting_png(seed), "image/png")
    data = {"image": upload, "title": f"Painting {seed}", "royalty_percent": "7.5"}
    response = client.post(reverse("registry:index"), {**data, "wallet": wallet, **fields})
    assert response.status_code == 302, _text(response)
    return str(response["Location"])


def _certificate(sign_url: str) -> Certificate:
    return Certificate.objects.get(pk=sign_url.rstrip("/").split("/")[-2])


def _mint_in_process(client: Client, certificate: Certificate) -> None:
    """Press Mint, then run the queued task here (the worker path has its own test)."""
    response = client.post(reverse("registry:mint", args=[certificate.pk]))
    assert response.status_code == 302
    certificate.refresh_from_db()
    tasks.mint.run(str(certificate.mint.job_id))


def _pdf_text(pdf: bytes) -> bytes:
    """The PDF's content streams, inflated (fpdf2 compresses them)."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, flags=re.DOTALL)
    text = b""
    for stream in streams:
        try:
            text += zlib.decompress(stream)
        except zlib.error:
            continue  # image data
    return text


def test_an_upload_is_certified_signed_with_the_kept_key_minted_and_shown_in_public(
    registry_chain: RegistryChain, artist: User, client: Client
) -> None:
    client.force_login(artist)
    assert "Certify an image" in _text(client.get(reverse("registry:index")))

    sign_url = _certify_upload(client, seed=21)
    page = _text(client.get(sign_url))
    assert "Sign with my kept key" in page
    certificate = _certificate(sign_url)
    assert certificate.royalty_bps == 750

    client.post(reverse("registry:sign-kept", args=[certificate.pk]))
    page = _text(client.get(sign_url))
    assert "Signed with your kept key." in page
    assert ">Mint</button>" in page
    _mint_in_process(client, certificate)

    page = _text(client.get(sign_url))
    assert 'id="mint-state" class="state" data-state="confirmed">Confirmed<' in page
    assert 'id="job-progress"' in page
    assert "#1" in page
    client.logout()  # the public page needs no account
    public = _text(client.get(reverse("registry:certificate", args=[certificate.pk])))
    assert "Painting 21" in public
    assert "Uploaded image, no generation lineage" in public
    assert certificate.wallet.address in public
    assert "Key kept by the platform" in public
    assert "✓ Valid" in public
    assert '<dd id="token-id">#1</dd>' in public
    assert "7.5% (750 basis points)" in public
    assert '<svg role="img"' in public
    assert "QR code that opens this certificate" in public
    image = client.get(reverse("registry:certificate-image", args=[certificate.pk]))
    assert image["Content-Type"] == "image/png"
    assert image.content == painting_png(21)


def test_a_studio_work_is_certified_from_the_gallery_with_its_lineage_pdf_and_json(
    registry_chain: RegistryChain, artist: User, client: Client, make_work: Callable[..., Work]
) -> None:
    work = make_work(artist, seed=9)
    client.force_login(artist)
    certify_url = reverse("registry:certify-work", args=[work.pk])
    assert certify_url in _text(client.get(reverse("studio:gallery")))

    response = client.post(certify_url, {"wallet": "kept", "royalty_percent": "10", "title": ""})
    assert response.status_code == 302, _text(response)
    certificate = _certificate(response["Location"])
    client.post(reverse("registry:sign-kept", args=[certificate.pk]))
    _mint_in_process(client, certificate)

    client.logout()
    public = _text(client.get(reverse("registry:certificate", args=[certificate.pk])))
    assert "Fuji sketch #9" in public
    assert work.model.weights_sha256 in public
    assert work.model.run.dataset.manifest_hash in public
    assert "<dd>Fuji</dd>" in public
    assert "<dd>400</dd>" in public  # training steps
    assert "10% (1000 basis points)" in public
    assert "Confirmed" in public

    pdf = client.get(reverse("registry:certificate-pdf", args=[certificate.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"].startswith("attachment;")
    assert pdf.content.startswith(b"%PDF")
    assert b"Fuji sketch #9" in _pdf_text(pdf.content)
    assert work.model.weights_sha256.encode() in _pdf_text(pdf.content)

    exported = client.get(reverse("registry:certificate-json", args=[certificate.pk]))
    signed = SignedCertificate.from_json(json.loads(exported.content))
    assert signed.certificate.creator == certificate.wallet.address
    assert signed.recovered_signer() == certificate.wallet.address
    assert signed.certificate.generation.seed == 9


def test_other_people_get_404_on_sign_pages_and_drafts_are_not_public(
    registry_chain: RegistryChain,
    artist: User,
    make_user: Callable[..., User],
    client: Client,
) -> None:
    client.force_login(artist)
    certificate = _certificate(_certify_upload(client, seed=22))
    public_url = reverse("registry:certificate", args=[certificate.pk])
    assert client.get(public_url).status_code == 200  # the owner sees the draft

    client.force_login(make_user(Role.ARTIST))
    assert client.get(reverse("registry:sign", args=[certificate.pk])).status_code == 404
    assert client.post(reverse("registry:sign-kept", args=[certificate.pk])).status_code == 404
    assert client.post(reverse("registry:mint", args=[certificate.pk])).status_code == 404
    assert client.get(public_url).status_code == 404
    client.logout()
    assert client.get(public_url).status_code == 404
    assert client.get(reverse("registry:sign", args=[certificate.pk])).status_code == 302

    certificate.refresh_from_db()
    assert certificate.state == CertificateState.DRAFT
    assert not Job.objects.exists()


@pytest.mark.parametrize("role", [Role.GALLERY, Role.ANALYST])
def test_gallery_and_analyst_people_cannot_certify(
    make_user: Callable[..., User], client: Client, role: Role
) -> None:
    client.force_login(make_user(role))
    upload = SimpleUploadedFile("a.png", painting_png(1), "image/png")

    assert client.get(reverse("registry:index")).status_code == 403
    assert client.get(reverse("registry:wallets")).status_code == 403
    assert client.post(reverse("registry:index"), {"image": upload}).status_code == 403
    assert client.post(reverse("registry:wallet-kept")).status_code == 403
    assert not Certificate.objects.exists()
    assert not Wallet.objects.exists()


def test_the_public_page_says_the_chain_is_unavailable_when_the_node_is_down(
    registry_chain: RegistryChain, artist: User, client: Client
) -> None:
    client.force_login(artist)
    certificate = _certificate(_certify_upload(client, seed=23))
    client.post(reverse("registry:sign-kept", args=[certificate.pk]))
    registry_chain.node.stop()

    response = client.get(reverse("registry:certificate", args=[certificate.pk]))

    assert response.status_code == 200
    page = _text(response)
    assert "chain unavailable:" in page
    assert "✓ Valid" in page  # checked offline, without the chain
    assert certificate.wallet.address in page


def test_a_signature_made_in_a_browser_wallet_is_checked_on_the_sign_page(
    registry_chain: RegistryChain, artist: User, client: Client
) -> None:
    own = Account.create()
    wallet = Wallet.objects.create(owner=artist, address=own.address, kind=WalletKind.LINKED)
    client.force_login(artist)
    sign_url = _certify_upload(client, seed=24, wallet=str(wallet.pk))
    certificate = _certificate(sign_url)
    page = _text(client.get(sign_url))
    assert "Sign in my wallet" in page
    assert 'id="typed-data"' in page
    assert "registry/wallet.js" in page

    forged = Account.create().sign_message(encode_typed_data(full_message=certificate.typed_data))
    url = reverse("registry:signature", args=[certificate.pk])
    response = client.post(url, {"signature": forged.signature.to_0x_hex()}, follow=True)
    assert "The signature was refused" in _text(response)
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.DRAFT

    signed = own.sign_message(encode_typed_data(full_message=certificate.typed_data))
    client.post(url, {"signature": signed.signature.to_0x_hex()})
    certificate.refresh_from_db()
    assert certificate.state == CertificateState.SIGNED


def _siwe_message(client: Client, address: str) -> str:
    response = client.post(reverse("registry:siwe-message"), {"address": address})
    assert response.status_code == 200, response.json()
    return str(response.json()["message"])


def _link(client: Client, message: str, key: Any) -> str:
    signature = key.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
    response = client.post(
        reverse("registry:wallet-link"), {"message": message, "signature": signature}, follow=True
    )
    return _text(response)


def test_a_wallet_links_by_sign_in_with_ethereum_once_and_a_replay_is_refused(
    artist: User, client: Client
) -> None:
    key = Account.create()
    client.force_login(artist)

    message = _siwe_message(client, key.address.lower())
    assert message.startswith("testserver wants you to sign in with your Ethereum account:")
    assert key.address in message  # checksummed, as EIP-4361 asks
    page = _link(client, message, key)

    assert f"Linked your wallet {key.address}." in page
    wallet = Wallet.objects.get(owner=artist)
    assert (wallet.address, wallet.kind, wallet.keystore) == (key.address, "linked", None)
    assert "No sign-in message is waiting" in _link(client, message, key)  # replayed
    _siwe_message(client, key.address)  # a fresh nonce does not revive the old message
    assert "the nonce is not the one this site issued" in _link(client, message, key)
    assert Wallet.objects.count() == 1


def test_a_siwe_message_for_another_site_or_by_another_key_links_nothing(
    artist: User, client: Client
) -> None:
    key = Account.create()
    client.force_login(artist)

    message = _siwe_message(client, key.address)
    elsewhere = message.replace("testserver wants", "evil.example wants", 1)
    assert "is for &#x27;evil.example&#x27;, not this site" in _link(client, elsewhere, key)

    message = _siwe_message(client, key.address)
    assert f"not by {key.address}" in _link(client, message, Account.create())
    assert not Wallet.objects.exists()
    assert client.post(reverse("registry:siwe-message"), {"address": "0x12"}).status_code == 400


def test_a_kept_key_is_made_once_from_the_wallets_page(artist: User, client: Client) -> None:
    client.force_login(artist)
    assert "Create a kept key" in _text(client.get(reverse("registry:wallets")))

    client.post(reverse("registry:wallet-kept"))
    client.post(reverse("registry:wallet-kept"))

    wallet = Wallet.objects.get(owner=artist)
    assert wallet.kind == WalletKind.CUSTODIAL
    page = _text(client.get(reverse("registry:wallets")))
    assert wallet.address in page
    assert "Create a kept key" not in page
    assert "keystore" not in page
    assert "Link my wallet" in page


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_mint_runs_on_a_real_chain_worker_and_the_page_shows_it_confirmed(
    chain_worker: subprocess.Popen[bytes], artist: User, client: Client
) -> None:
    client.force_login(artist)
    sign_url = _certify_upload(client, seed=25)
    certificate = _certificate(sign_url)
    client.post(reverse("registry:sign-kept", args=[certificate.pk]))

    client.post(reverse("registry:mint", args=[certificate.pk]))

    certificate.refresh_from_db()
    job = certificate.mint.job
    assert job is not None
    assert job.queue == "chain"
    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, timeout=60, what="the mint job")
    certificate.mint.refresh_from_db()
    assert certificate.mint.state == MintState.CONFIRMED, certificate.mint.error
    page = _text(client.get(sign_url))
    assert ">Confirmed<" in page
    assert f"#{certificate.mint.token_id}" in page
    assert certificate.mint.tx_hash in page


def test_the_admin_shows_wallets_and_mints_but_never_a_keystore(
    registry_chain: RegistryChain, artist: User, staff: User, client: Client
) -> None:
    client.force_login(artist)
    certificate = _certificate(_certify_upload(client, seed=26))
    client.post(reverse("registry:sign-kept", args=[certificate.pk]))
    _mint_in_process(client, certificate)
    wallet = certificate.wallet
    assert wallet.keystore is not None
    staff.is_superuser = True  # as `createsuperuser` makes one
    staff.save(update_fields=["is_superuser"])
    client.force_login(staff)

    pages = [
        reverse("admin:registry_wallet_changelist"),
        reverse("admin:registry_wallet_change", args=[wallet.pk]),
        reverse("admin:registry_certificate_change", args=[certificate.pk]),
        reverse("admin:registry_mint_changelist"),
        reverse("admin:registry_chaintransaction_changelist"),
        reverse("admin:registry_signernonce_changelist"),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert wallet.keystore["crypto"]["ciphertext"] not in _text(response)
        assert "keystore" not in _text(response).lower()
    assert wallet.address in _text(client.get(pages[0]))
