"""The registry's API on a real anvil: certify, sign, mint (idempotent), public reports and
exports; wallets kept or linked by Sign-In with Ethereum; who may do what."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from registry import tasks
from registry.models import Certificate, Mint, Wallet
from rest_framework.test import APIClient
from studio.models import Work

from accounts.models import Role, User
from provenance.certificate import SignedCertificate
from tests.platform.registry.conftest import RegistryChain, painting_png

pytestmark = [pytest.mark.chain, pytest.mark.django_db]


def _error(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    return dict(body["error"])


def _upload(api: APIClient, seed: int, **fields: Any) -> dict[str, Any]:
    image = SimpleUploadedFile(f"scan-{seed}.png", painting_png(seed), "image/png")
    response = api.post(
        reverse("api:registry-certificates"),
        {"image": image, "title": f"Scan {seed}", **fields},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    return dict(response.json())


def _url(name: str, certificate_id: str) -> str:
    return reverse(f"api:registry-certificate{name}", args=[certificate_id])


def test_an_upload_is_certified_signed_with_the_kept_key_and_minted_once(
    registry_chain: RegistryChain, artist: User, api: APIClient
) -> None:
    api.force_authenticate(artist)
    created = _upload(api, 31, royalty_bps=250)
    assert created["state"] == "draft"
    assert created["wallet"]["kind"] == "custodial"
    assert created["typed_data"]["primaryType"] == "Certificate"
    assert "keystore" not in str(created)

    signed = api.post(_url("-sign-kept", created["id"]))
    assert signed.status_code == 200, signed.json()
    assert signed.json()["state"] == "signed"
    first = api.post(_url("-mint", created["id"]))
    again = api.post(_url("-mint", created["id"]))
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["job"] == again.json()["job"]
    tasks.mint.run(first.json()["job"])

    api.force_authenticate(None)  # reports and exports are public
    report = api.get(_url("", created["id"])).json()
    assert report["title"] == "Scan 31"
    assert report["lineage"] == {
        "kind": "uploaded",
        "summary": "uploaded image, no generation lineage",
    }
    assert report["signature"]["valid"] is True
    assert report["royalty"] == {
        "bps": 250,
        "percent": "2.5",
        "receiver": created["wallet"]["address"],
    }
    assert report["chain"]["token_id"] == 1
    assert report["chain"]["owner"] == created["wallet"]["address"]
    assert report["chain"]["confirmations"] >= 1
    assert report["mint"]["state"] == "confirmed"
    assert report["public_url"].endswith(f"/registry/certificates/{created['id']}/")
    exported = api.get(_url("-export", created["id"]))
    assert exported.status_code == 200
    signed_certificate = SignedCertificate.from_json(exported.json())
    assert signed_certificate.certificate.creator == created["wallet"]["address"]
    assert registry_chain.chain.contract.functions.totalMinted().call() == 1


def test_a_studio_work_is_certified_with_a_wallet_linked_by_sign_in_with_ethereum(
    registry_chain: RegistryChain, artist: User, api: APIClient, make_work: Callable[..., Work]
) -> None:
    key = Account.create()
    api.force_authenticate(artist)
    message = api.post(reverse("api:registry-siwe-message"), {"address": key.address}).json()
    signature = key.sign_message(encode_defunct(text=message["message"])).signature.to_0x_hex()
    link = {"message": message["message"], "signature": signature}
    linked = api.post(reverse("api:registry-wallet-link"), link, format="json")
    assert linked.status_code == 201, linked.json()
    replayed = api.post(reverse("api:registry-wallet-link"), link, format="json")
    assert replayed.status_code == 400
    assert "No sign-in message is waiting" in _error(replayed)["message"]

    work = make_work(artist, seed=5)
    response = api.post(
        reverse("api:registry-certificates"),
        {"work": work.pk, "wallet": str(linked.json()["id"]), "royalty_bps": 1000},
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["work"] == work.pk
    typed = created["typed_data"]
    assert typed["message"]["generation"]["modelHash"] == "0x" + work.model.weights_sha256
    assert api.post(_url("-sign-kept", created["id"])).status_code == 400  # not a kept key

    made = key.sign_message(encode_typed_data(full_message=typed)).signature.to_0x_hex()
    signed = api.post(_url("-signature", created["id"]), {"signature": made}, format="json")
    assert signed.status_code == 200, signed.json()
    assert signed.json()["state"] == "signed"

    report = api.get(_url("", created["id"])).json()
    assert report["lineage"]["weights_sha256"] == work.model.weights_sha256
    assert report["lineage"]["dataset"] == "Fuji"
    assert report["lineage"]["seed"] == 5
    assert report["signer"] == {
        "address": key.address,
        "kind": "linked",
        "kind_label": "Own wallet (linked by Sign-In with Ethereum)",
    }
    assert report["chain"]["minted"] is False
    wallets = api.get(reverse("api:registry-wallets")).json()
    assert [wallet["address"] for wallet in wallets] == [key.address]


def test_bad_requests_are_refused_with_the_reason_and_store_nothing(
    registry_chain: RegistryChain, artist: User, api: APIClient, make_work: Callable[..., Work]
) -> None:
    api.force_authenticate(artist)
    url = reverse("api:registry-certificates")
    image = SimpleUploadedFile("a.png", painting_png(2), "image/png")
    work = make_work(artist)

    both = api.post(url, {"image": image, "work": work.pk}, format="multipart")
    too_much = api.post(url, {"work": work.pk, "royalty_bps": 6000}, format="json")
    broken = api.post(
        url, {"image": SimpleUploadedFile("b.png", b"\x89PNG no", "image/png")}, format="multipart"
    )
    other_wallet = api.post(url, {"work": work.pk, "wallet": "999"}, format="json")

    assert both.status_code == 400
    assert "either `work`" in _error(both)["message"]
    assert too_much.status_code == 400
    assert "royalty_bps" in _error(too_much)["message"]
    assert broken.status_code == 400
    assert "b.png" in _error(broken)["message"]
    assert other_wallet.status_code == 404
    assert not Certificate.objects.exists()

    draft = _upload(api, 33)
    unsigned = api.post(_url("-mint", draft["id"]))
    assert unsigned.status_code == 409
    assert "Sign the certificate" in _error(unsigned)["message"]
    assert api.get(_url("-export", draft["id"])).status_code == 409
    duplicate = api.post(
        url,
        {"image": SimpleUploadedFile("c.png", painting_png(33), "image/png")},
        format="multipart",
    )
    assert duplicate.status_code == 409
    assert _error(duplicate)["details"] == {"certificate": draft["id"]}
    assert not Mint.objects.exists()


def test_only_artists_write_only_owners_sign_and_drafts_are_not_public(
    registry_chain: RegistryChain,
    artist: User,
    api: APIClient,
    make_user: Callable[..., User],
) -> None:
    api.force_authenticate(artist)
    draft = _upload(api, 34)

    api.force_authenticate(None)
    assert api.get(reverse("api:registry-certificates")).status_code == 401
    assert api.get(_url("", draft["id"])).status_code == 404
    api.force_authenticate(make_user(Role.GALLERY))
    assert api.post(reverse("api:registry-wallet-kept")).status_code == 403
    assert api.get(reverse("api:registry-wallets")).status_code == 403
    api.force_authenticate(make_user(Role.ARTIST))
    assert api.post(_url("-sign-kept", draft["id"])).status_code == 404
    assert api.post(_url("-mint", draft["id"])).status_code == 404
    signature = {"signature": "0x" + "11" * 65}
    assert api.post(_url("-signature", draft["id"]), signature, format="json").status_code == 404
    assert api.get(_url("", draft["id"])).status_code == 404

    api.force_authenticate(artist)
    assert api.post(_url("-sign-kept", draft["id"])).status_code == 200
    api.force_authenticate(None)
    assert api.get(_url("", draft["id"])).status_code == 200
    assert Wallet.objects.count() == 1


def test_the_report_says_the_chain_is_unavailable_when_no_node_answers(
    registry_chain: RegistryChain, artist: User, api: APIClient
) -> None:
    api.force_authenticate(artist)
    created = _upload(api, 35)
    api.post(_url("-sign-kept", created["id"]))
    registry_chain.node.stop()

    report = api.get(_url("", created["id"])).json()

    assert report["chain"]["available"] is False
    assert report["chain"]["summary"].startswith("chain unavailable: ")
    assert report["signature"]["valid"] is True
