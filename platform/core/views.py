"""Pages of the core app: each role's home, jobs and their live progress, the self-test, health."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.http import signed_in
from accounts.models import Role
from core.api import json_not_found, json_server_error
from core.health import health_report
from core.navigation import HOME_URLS
from core.selectors import job_get, job_list
from core.services import QUEUES, job_cancel, selftest_start


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Visitors get the landing page; a signed-in person gets their role's home."""
    if not request.user.is_authenticated:
        return render(request, "core/landing.html")
    user = signed_in(request)
    if user.role in HOME_URLS:
        return redirect(HOME_URLS[Role(user.role)])
    context: dict[str, object] = {"recent_jobs": job_list(user=user)[:10]}
    if user.is_staff:
        context |= {"health": health_report(), "queues": QUEUES}
    return render(request, f"core/home_{user.role}.html", context)


@login_required
@require_GET
def job_list_page(request: HttpRequest) -> HttpResponse:
    """The person's jobs, newest first."""
    jobs = job_list(user=signed_in(request))[:200]
    return render(request, "core/job_list.html", {"jobs": jobs})


@login_required
@require_GET
def job_detail_page(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """One job with a progress bar that follows it live."""
    job = job_get(user=signed_in(request), job_id=job_id)
    return render(request, "core/job_detail.html", {"job": job})


@login_required
@require_POST
def job_cancel_page(request: HttpRequest, job_id: UUID) -> HttpResponse:
    """Cancel a job from its page."""
    job = job_get(user=signed_in(request), job_id=job_id)
    job_cancel(job=job)
    return redirect("core:job-detail", job_id=job.pk)


@login_required
@require_POST
def selftest_page(request: HttpRequest) -> HttpResponse:
    """Staff start a worker self-test on a queue and watch it on the job's page."""
    if not request.user.is_staff:
        raise PermissionDenied("Only staff run worker self-tests.")
    queue = request.POST.get("queue", "default")
    job = selftest_start(owner=signed_in(request), queue=queue)
    return redirect("core:job-detail", job_id=job.pk)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when every configured part answers, else 503; details for staff or outside production."""
    checks = health_report()
    ok = all(check.ok for check in checks.values())
    show_detail = not settings.PRODUCTION or request.user.is_staff
    body = {
        "status": "ok" if ok else "unavailable",
        "checks": {
            name: check.as_dict() if show_detail else {"ok": check.ok}
            for name, check in checks.items()
        },
    }
    return JsonResponse(body, status=200 if ok else 503)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: JSON in the API's format under /api/, a plain page elsewhere."""
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    context = {"title": "Not found", "message": f"There is no page at {request.path}."}
    return render(request, "core/error.html", context, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: JSON under /api/, else a page that needs no database (the fault may be there)."""
    if request.path.startswith("/api/"):
        return json_server_error(request)
    return defaults.server_error(request)
