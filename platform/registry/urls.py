"""Page addresses of the registry."""

from django.urls import path

from registry import views

app_name = "registry"

urlpatterns = [
    path("", views.index, name="index"),
    path("wallets/", views.wallets, name="wallets"),
    path("wallets/kept/", views.wallet_kept, name="wallet-kept"),
    path("wallets/siwe-message/", views.siwe_message, name="siwe-message"),
    path("wallets/link/", views.wallet_link_page, name="wallet-link"),
    path("certify/work/<int:work_id>/", views.certify_work, name="certify-work"),
    path("certificates/<uuid:certificate_id>/", views.certificate, name="certificate"),
    path(
        "certificates/<uuid:certificate_id>/image",
        views.certificate_image_file,
        name="certificate-image",
    ),
    path(
        "certificates/<uuid:certificate_id>/certificate.pdf",
        views.certificate_pdf_file,
        name="certificate-pdf",
    ),
    path(
        "certificates/<uuid:certificate_id>/certificate.json",
        views.certificate_json_file,
        name="certificate-json",
    ),
    path("certificates/<uuid:certificate_id>/sign/", views.sign, name="sign"),
    path("certificates/<uuid:certificate_id>/sign/kept-key/", views.sign_kept, name="sign-kept"),
    path("certificates/<uuid:certificate_id>/signature/", views.signature, name="signature"),
    path("certificates/<uuid:certificate_id>/mint/", views.mint, name="mint"),
]
