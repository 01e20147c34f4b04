"""Pages of the registry: certify, link wallets, sign, mint and follow it; public certificates."""

from __future__ import annotations

import io
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from PIL import Image, UnidentifiedImageError
from studio.selectors import work_get

from accounts.http import role_required, signed_in
from accounts.models import Role, User
from core.errors import DomainError
from registry.documents import certificate_pdf, certificate_qr_svg
from registry.forms import KEPT_KEY, CertifyForm, CertifyUploadForm
from registry.models import Certificate, CertificateState, Wallet, WalletKind
from registry.selectors import (
    certificate_get_own,
    certificate_get_public,
    certificate_image,
    certificate_list,
    certificate_mint,
    certificate_report,
    wallet_get,
    wallet_list,
)
from registry.services import (
    MAX_UPLOAD_BYTES,
    certificate_attach_signature,
    certificate_export,
    certificate_prepare,
    certificate_sign_custodial,
    mint_request,
    wallet_custodial_get_or_create,
    wallet_link,
    wallet_link_message,
)
from registry.sessions import siwe_nonce_issue, siwe_nonce_take

artist_only = role_required(
    Role.ARTIST, refusal="Artists certify and mint their works; your role cannot."
)


def _chosen_wallet(user: User, choice: str) -> Wallet:
    if choice == KEPT_KEY:
        return wallet_custodial_get_or_create(owner=user)
    return wallet_get(owner=user, wallet_id=int(choice))


def _sign_page(certificate: Certificate) -> HttpResponse:
    return redirect("registry:sign", certificate_id=certificate.pk)


# --- the artist's pages ------------------------------------------------------------------------


@artist_only
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    """The artist's certificates, and a form to certify an uploaded image."""
    user = signed_in(request)
    wallets = wallet_list(owner=user)
    form = CertifyUploadForm(request.POST or None, request.FILES or None, wallets=wallets)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["image"]
        if upload.size > MAX_UPLOAD_BYTES:
            form.add_error("image", f"The limit is {MAX_UPLOAD_BYTES // 2**20} MiB.")
        else:
            try:
                certificate = certificate_prepare(
                    owner=user,
                    wallet=_chosen_wallet(user, form.cleaned_data["wallet"]),
                    image=upload.read(),
                    image_name=upload.name or "image",
                    title=form.cleaned_data["title"],
                    royalty_bps=form.royalty_bps,
                )
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                return _sign_page(certificate)
    context = {"certificates": certificate_list(owner=user)[:200], "form": form}
    status = 400 if request.method == "POST" else 200
    return render(request, "registry/index.html", context, status=status)


@artist_only
@require_http_methods(["GET", "POST"])
def certify_work(request: HttpRequest, work_id: int) -> HttpResponse:
    """Certify a work from the studio: its lineage goes into the certificate."""
    user = signed_in(request)
    work = work_get(user=user, work_id=work_id)
    form = CertifyForm(request.POST or None, wallets=wallet_list(owner=user))
    if request.method == "POST" and form.is_valid():
        try:
            certificate = certificate_prepare(
                owner=user,
                wallet=_chosen_wallet(user, form.cleaned_data["wallet"]),
                work=work,
                title=form.cleaned_data["title"],
                royalty_bps=form.royalty_bps,
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            return _sign_page(certificate)
    status = 400 if request.method == "POST" else 200
    context = {"work": work, "form": form}
    return render(request, "registry/certify_work.html", context, status=status)


@artist_only
@require_GET
def wallets(request: HttpRequest) -> HttpResponse:
    """The artist's wallets: link their own by signing in with it, or have a key kept for them."""
    wallets = wallet_list(owner=signed_in(request))
    has_kept_key = any(wallet.kind == WalletKind.CUSTODIAL for wallet in wallets)
    return render(
        request, "registry/wallets.html", {"wallets": wallets, "has_kept_key": has_kept_key}
    )


@artist_only
@require_POST
def wallet_kept(request: HttpRequest) -> HttpResponse:
    """Make (or find) the key the platform keeps for the artist."""
    wallet = wallet_custodial_get_or_create(owner=signed_in(request))
    messages.success(request, f"Your kept key is {wallet.address}.")
    return redirect("registry:wallets")


@artist_only
@require_POST
def siwe_message(request: HttpRequest) -> JsonResponse:
    """The Sign-In with Ethereum message for an address; its nonce waits in the session."""
    user = signed_in(request)
    nonce = siwe_nonce_issue(request.session, user_id=user.pk)
    try:
        text = wallet_link_message(
            address=request.POST.get("address", ""),
            domain=request.get_host(),
            uri=request.build_absolute_uri(reverse("registry:wallets")),
            nonce=nonce,
        )
    except DomainError as error:
        return JsonResponse({"error": error.message}, status=error.status)
    return JsonResponse({"message": text})


@artist_only
@require_POST
def wallet_link_page(request: HttpRequest) -> HttpResponse:
    """Link the wallet that signed the session's SIWE message; the nonce is spent either way."""
    user = signed_in(request)
    # A browser submits a form's line breaks as CRLF; the wallet signed the message with LF.
    message = request.POST.get("message", "").replace("\r\n", "\n")
    try:
        wallet = wallet_link(
            owner=user,
            message=message,
            signature=request.POST.get("signature", ""),
            nonce=siwe_nonce_take(request.session, user_id=user.pk),
            domain=request.get_host(),
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Linked your wallet {wallet.address}.")
    return redirect("registry:wallets")


@artist_only
@require_GET
def sign(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """Sign a certificate (kept key or browser wallet), mint it, and follow the mint."""
    certificate = certificate_get_own(owner=signed_in(request), certificate_id=certificate_id)
    mint = certificate_mint(certificate)
    context = {
        "certificate": certificate,
        "report": certificate_report(certificate, with_chain=False),
        "mint": mint,
        "job": mint.job if mint else None,
        "reload_when_done": True,
        "can_mint": certificate.state in (CertificateState.SIGNED, CertificateState.FAILED),
    }
    return render(request, "registry/sign.html", context)


@artist_only
@require_POST
def sign_kept(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """Sign with the artist's kept key."""
    user = signed_in(request)
    certificate = certificate_get_own(owner=user, certificate_id=certificate_id)
    try:
        certificate_sign_custodial(certificate=certificate, owner=user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Signed with your kept key.")
    return _sign_page(certificate)


@artist_only
@require_POST
def signature(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """Store the signature the artist's wallet made (checked against the creator first)."""
    user = signed_in(request)
    certificate = certificate_get_own(owner=user, certificate_id=certificate_id)
    try:
        certificate_attach_signature(
            certificate=certificate, owner=user, signature=request.POST.get("signature", "")
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Signed in your wallet.")
    return _sign_page(certificate)


@artist_only
@require_POST
def mint(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """Ask for the mint (a job on the chain queue); the sign page follows it."""
    user = signed_in(request)
    certificate = certificate_get_own(owner=user, certificate_id=certificate_id)
    try:
        mint_request(certificate=certificate, owner=user)
    except DomainError as error:
        messages.error(request, error.message)
    return _sign_page(certificate)


# --- public pages ------------------------------------------------------------------------------


def _viewer(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _public_url(request: HttpRequest, certificate: Certificate) -> str:
    return request.build_absolute_uri(reverse("registry:certificate", args=[certificate.pk]))


@require_GET
def certificate(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """The public certificate: lineage, signer, signature check, chain record, royalty, QR code."""
    found = certificate_get_public(certificate_id=certificate_id, viewer=_viewer(request))
    url = _public_url(request, found)
    context = {
        "certificate": found,
        "report": certificate_report(found),
        "public_url": url,
        "qr_svg": mark_safe(certificate_qr_svg(url)),  # noqa: S308  # segno's own markup
        "is_owner": found.owner_id == getattr(_viewer(request), "pk", None),
    }
    return render(request, "registry/certificate.html", context)


@require_GET
def certificate_image_file(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """The certified image, byte for byte."""
    found = certificate_get_public(certificate_id=certificate_id, viewer=_viewer(request))
    data = certificate_image(found)
    try:
        content_type = Image.open(io.BytesIO(data)).get_format_mimetype()
    except (UnidentifiedImageError, OSError):
        content_type = None
    return HttpResponse(data, content_type=content_type or "application/octet-stream")


@require_GET
def certificate_pdf_file(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """The certificate as a one-page PDF, to download."""
    found = certificate_get_public(certificate_id=certificate_id, viewer=_viewer(request))
    pdf = certificate_pdf(
        certificate_report(found), image=certificate_image(found), url=_public_url(request, found)
    )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="atelier-certificate-{found.pk}.pdf"'
    return response


@require_GET
def certificate_json_file(request: HttpRequest, certificate_id: UUID) -> HttpResponse:
    """The signed certificate as JSON (typed data and signature) any EIP-712 tool can check."""
    found = certificate_get_public(certificate_id=certificate_id, viewer=_viewer(request))
    response = HttpResponse(certificate_export(found), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="atelier-certificate-{found.pk}.json"'
    return response
