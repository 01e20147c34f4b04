"""Pages: upload an image (or give a token id) and read the report; its PDF; the log."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import role_required, signed_in
from accounts.models import Role
from authenticity.batch import MAX_BATCH_UPLOAD_BYTES, batch_create, batch_csv, batch_pdf
from authenticity.documents import verification_pdf
from authenticity.forms import BatchForm, VerifyForm
from authenticity.rerender import rerender_request
from authenticity.selectors import batch_get, batch_list, verification_get, verification_list
from authenticity.services import upload_bytes, verification_run, verification_throttle_check
from core.errors import InvalidInput, NotFound
from core.models import Job

LOG_SHOWN = 100


def client_address(request: HttpRequest) -> str:
    """The address the request came from (behind the proxy the settings trust)."""
    return str(request.META.get("REMOTE_ADDR", ""))


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """Anyone uploads an image or gives a token id; the report page answers."""
    form = VerifyForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        user = request.user if request.user.is_authenticated else None
        verification_throttle_check(user=user, client=client_address(request))
        upload = form.cleaned_data["image"]
        try:
            verification = verification_run(
                image=upload_bytes(upload) if upload else None,
                name=upload.name if upload else "",
                token_id=form.cleaned_data["token_id"],
                requested_by=user,
                client=client_address(request),
            )
        except (InvalidInput, NotFound) as error:
            form.add_error(None, error.message)
        else:
            return redirect("authenticity:report", verification_id=verification.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "authenticity/verify.html", {"form": form}, status=status)


@require_GET
def report(request: HttpRequest, verification_id: UUID) -> HttpResponse:
    """A verification report: the verdict, each piece of evidence, the records behind them."""
    verification = verification_get(verification_id=verification_id)
    proof = verification.report.get("rerender") or {}
    job = Job.objects.filter(pk=proof["job_id"]).first() if proof.get("job_id") else None
    context = {
        "verification": verification,
        "report": verification.report,
        "proof": proof,
        "job": job,
        "reload_when_done": True,
    }
    return render(request, "authenticity/report.html", context)


@require_POST
def rerender(request: HttpRequest, verification_id: UUID) -> HttpResponse:
    """Queue the re-render proof of the work a verification found; the report shows progress."""
    verification = verification_get(verification_id=verification_id)
    try:
        rerender_request(verification=verification)
    except InvalidInput as error:
        messages.error(request, error.message)
    return redirect("authenticity:report", verification_id=verification.pk)


@require_GET
def report_pdf(request: HttpRequest, verification_id: UUID) -> HttpResponse:
    """The report as a PDF."""
    verification = verification_get(verification_id=verification_id)
    url = request.build_absolute_uri(reverse("authenticity:report", args=[verification.pk]))
    response = HttpResponse(verification_pdf(verification.report, url=url), "application/pdf")
    response["Content-Disposition"] = f'attachment; filename="verification-{verification.pk}.pdf"'
    return response


gallery_only = role_required(Role.GALLERY, refusal="Batch checks are for galleries.")


@gallery_only
@require_http_methods(["GET", "POST"])
def batch_new(request: HttpRequest) -> HttpResponse:
    """Upload a zip of images or a CSV of token ids; the batch page follows its job."""
    form = BatchForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = batch_create(
                requested_by=signed_in(request),
                name=upload.name or "batch",
                data=upload_bytes(upload, limit=MAX_BATCH_UPLOAD_BYTES),
            )
        except InvalidInput as error:
            form.add_error("file", error.message)
        else:
            return redirect("authenticity:batch", batch_id=batch.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "authenticity/batch_new.html", {"form": form}, status=status)


@gallery_only
@require_GET
def batch_detail(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """A batch: its job's progress, then a row per item with links to the CSV and PDF."""
    batch = batch_get(user=signed_in(request), batch_id=batch_id)
    context = {"batch": batch, "job": batch.job, "reload_when_done": True}
    return render(request, "authenticity/batch_detail.html", context)


@gallery_only
@require_GET
def batch_csv_file(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """The batch's answers as CSV."""
    batch = batch_get(user=signed_in(request), batch_id=batch_id)
    response = HttpResponse(batch_csv(batch, report_url=_report_url(request)), "text/csv")
    response["Content-Disposition"] = f'attachment; filename="verifications-{batch.pk}.csv"'
    return response


@gallery_only
@require_GET
def batch_pdf_file(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """The batch's answers as PDF."""
    batch = batch_get(user=signed_in(request), batch_id=batch_id)
    response = HttpResponse(batch_pdf(batch, report_url=_report_url(request)), "application/pdf")
    response["Content-Disposition"] = f'attachment; filename="verifications-{batch.pk}.pdf"'
    return response


def _report_url(request: HttpRequest) -> Callable[[str], str]:
    def url(verification_id: str) -> str:
        return request.build_absolute_uri(reverse("authenticity:report", args=[verification_id]))

    return url


@login_required
@require_GET
def log(request: HttpRequest) -> HttpResponse:
    """The verifications this person asked for (staff: everyone's): who, when, what was found."""
    user = signed_in(request)
    context = {
        "verifications": verification_list(user=user)[:LOG_SHOWN],
        "batches": batch_list(user=user)[:LOG_SHOWN],
    }
    return render(request, "authenticity/log.html", context)
