"""API endpoints of the registry, under /api/v1/registry/ (artists write; reports are public)."""

from __future__ import annotations

import json
from uuid import UUID

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from studio.selectors import work_get

from accounts.http import signed_in
from accounts.models import Role, User
from core.api import HasRole
from registry.forms import KEPT_KEY
from registry.models import Certificate, Wallet
from registry.selectors import (
    certificate_get_own,
    certificate_get_public,
    certificate_list,
    certificate_report,
    wallet_get,
    wallet_list,
)
from registry.serializers import (
    CertificateCreateSerializer,
    CertificateSerializer,
    MintSerializer,
    SignatureSerializer,
    SiweMessageSerializer,
    SiweRequestSerializer,
    WalletLinkSerializer,
    WalletSerializer,
)
from registry.services import (
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


class RegistryApi(APIView):
    """Base: artists (and staff) only."""

    permission_classes = [HasRole.of(Role.ARTIST)]


class PublicRegistryApi(APIView):
    """Base: anyone, signed in or not."""

    permission_classes = [AllowAny]


def _viewer(request: Request) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _wallet(user: User, choice: str) -> Wallet:
    if choice == KEPT_KEY:
        return wallet_custodial_get_or_create(owner=user)
    return wallet_get(owner=user, wallet_id=int(choice))


class CertificateListApi(RegistryApi):
    """Your certificates; POST certifies a studio work (`work`) or an upload (`image`), 201."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(responses=CertificateSerializer(many=True))
    def get(self, request: Request) -> Response:
        certificates = certificate_list(owner=signed_in(request))[:500]
        return Response(CertificateSerializer(certificates, many=True).data)

    @extend_schema(request=CertificateCreateSerializer, responses={201: CertificateSerializer})
    def post(self, request: Request) -> Response:
        serializer = CertificateCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = signed_in(request)
        upload = data.get("image")
        certificate = certificate_prepare(
            owner=user,
            wallet=_wallet(user, data["wallet"]),
            work=work_get(user=user, work_id=data["work"]) if "work" in data else None,
            image=upload.read() if upload is not None else None,
            image_name=getattr(upload, "name", None) or "image",
            title=data["title"],
            description=data["description"],
            royalty_bps=data["royalty_bps"],
        )
        return Response(CertificateSerializer(certificate).data, status=status.HTTP_201_CREATED)


class CertificateDetailApi(PublicRegistryApi):
    """A certificate's public report: lineage, signer, signature check, chain record, royalty."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, certificate_id: UUID) -> Response:
        found = certificate_get_public(certificate_id=certificate_id, viewer=_viewer(request))
        report = certificate_report(found)
        report["public_url"] = request.build_absolute_uri(
            reverse("registry:certificate", args=[found.pk])
        )
        return Response(report)


class CertificateExportApi(PublicRegistryApi):
    """The signed certificate as JSON (`typed_data`, `signature`) any EIP-712 tool checks."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, certificate_id: UUID) -> Response:
        found = certificate_get_public(certificate_id=certificate_id, viewer=_viewer(request))
        return Response(json.loads(certificate_export(found)))


def _own(request: Request, certificate_id: UUID) -> tuple[User, Certificate]:
    user = signed_in(request)
    return user, certificate_get_own(owner=user, certificate_id=certificate_id)


class CertificateSignatureApi(RegistryApi):
    """Attach the signature your wallet made of the certificate's `typed_data`."""

    @extend_schema(request=SignatureSerializer, responses=CertificateSerializer)
    def post(self, request: Request, certificate_id: UUID) -> Response:
        serializer = SignatureSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user, certificate = _own(request, certificate_id)
        signed = certificate_attach_signature(
            certificate=certificate, owner=user, signature=serializer.validated_data["signature"]
        )
        return Response(CertificateSerializer(signed).data)


class CertificateSignKeptApi(RegistryApi):
    """Sign with the key Atelier keeps for you (the certificate must name it)."""

    @extend_schema(request=None, responses=CertificateSerializer)
    def post(self, request: Request, certificate_id: UUID) -> Response:
        user, certificate = _own(request, certificate_id)
        signed = certificate_sign_custodial(certificate=certificate, owner=user)
        return Response(CertificateSerializer(signed).data)


class CertificateMintApi(RegistryApi):
    """Mint a signed certificate on the chain queue (202); asking again gives the same mint."""

    @extend_schema(request=None, responses={202: MintSerializer})
    def post(self, request: Request, certificate_id: UUID) -> Response:
        user, certificate = _own(request, certificate_id)
        mint = mint_request(certificate=certificate, owner=user)
        return Response(MintSerializer(mint).data, status=status.HTTP_202_ACCEPTED)


class WalletListApi(RegistryApi):
    """Your wallets: linked ones and the key kept for you."""

    @extend_schema(responses=WalletSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(WalletSerializer(wallet_list(owner=signed_in(request)), many=True).data)


class WalletKeptApi(RegistryApi):
    """Make (or find) the key Atelier keeps for you."""

    @extend_schema(request=None, responses=WalletSerializer)
    def post(self, request: Request) -> Response:
        wallet = wallet_custodial_get_or_create(owner=signed_in(request))
        return Response(WalletSerializer(wallet).data)


class SiweMessageApi(RegistryApi):
    """A Sign-In with Ethereum message for an address; sign it, then POST it to `wallets/link/`.

    Its nonce is kept in your session: send the session cookie back with the link request.
    """

    @extend_schema(request=SiweRequestSerializer, responses=SiweMessageSerializer)
    def post(self, request: Request) -> Response:
        serializer = SiweRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in(request)
        text = wallet_link_message(
            address=serializer.validated_data["address"],
            domain=request.get_host(),
            uri=request.build_absolute_uri(reverse("registry:wallets")),
            nonce=siwe_nonce_issue(request.session, user_id=user.pk),
        )
        return Response({"message": text})


class WalletLinkApi(RegistryApi):
    """Link the wallet that signed the SIWE message this session was given (once only)."""

    @extend_schema(request=WalletLinkSerializer, responses={201: WalletSerializer})
    def post(self, request: Request) -> Response:
        serializer = WalletLinkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = signed_in(request)
        wallet = wallet_link(
            owner=user,
            message=serializer.validated_data["message"],
            signature=serializer.validated_data["signature"],
            nonce=siwe_nonce_take(request.session, user_id=user.pk),
            domain=request.get_host(),
        )
        return Response(WalletSerializer(wallet).data, status=status.HTTP_201_CREATED)
