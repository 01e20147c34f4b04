"""Top-level addresses: pages, the API under /api/v1/, its schema and docs, health, admin."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.views import healthz

api_v1 = [
    path("", include("accounts.api_urls")),
    path("", include("core.api_urls")),
    path("studio/", include("studio.api_urls")),
    path("registry/", include("registry.api_urls")),
    path("insights/", include("insights.api_urls")),
    path("", include("authenticity.api_urls")),
]

urlpatterns = [
    path("", include("core.urls")),
    path("accounts/", include("accounts.urls")),
    path("studio/", include("studio.urls")),
    path("registry/", include("registry.urls")),
    path("insights/", include("insights.urls")),
    path("verify/", include("authenticity.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
