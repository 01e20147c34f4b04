"""API addresses of the registry, under /api/v1/registry/."""

from django.urls import path

from registry import apis

urlpatterns = [
    path("certificates/", apis.CertificateListApi.as_view(), name="registry-certificates"),
    path(
        "certificates/<uuid:certificate_id>/",
        apis.CertificateDetailApi.as_view(),
        name="registry-certificate",
    ),
    path(
        "certificates/<uuid:certificate_id>/signature/",
        apis.CertificateSignatureApi.as_view(),
        name="registry-certificate-signature",
    ),
    path(
        "certificates/<uuid:certificate_id>/sign-with-kept-key/",
        apis.CertificateSignKeptApi.as_view(),
        name="registry-certificate-sign-kept",
    ),
    path(
        "certificates/<uuid:certificate_id>/mint/",
        apis.CertificateMintApi.as_view(),
        name="registry-certificate-mint",
    ),
    path(
        "certificates/<uuid:certificate_id>/export/",
        apis.CertificateExportApi.as_view(),
        name="registry-certificate-export",
    ),
    path("wallets/", apis.WalletListApi.as_view(), name="registry-wallets"),
    path("wallets/kept/", apis.WalletKeptApi.as_view(), name="registry-wallet-kept"),
    path("wallets/siwe-message/", apis.SiweMessageApi.as_view(), name="registry-siwe-message"),
    path("wallets/link/", apis.WalletLinkApi.as_view(), name="registry-wallet-link"),
]
