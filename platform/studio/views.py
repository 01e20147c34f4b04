"""Pages of the studio: datasets, runs with live progress, models, and the gallery of works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import role_required, signed_in
from accounts.models import Role
from core.errors import DomainError
from core.selectors import job_get
from studio.forms import DatasetForm, GenerateForm, InterpolateForm, RunForm
from studio.selectors import (
    dataset_get,
    dataset_list,
    model_get,
    model_list,
    run_get,
    run_list,
    work_get,
    work_list,
)
from studio.services import (
    dataset_create,
    interpolation_request,
    run_cancel,
    run_create,
    run_folder,
    run_resume,
    work_set_favourite,
    works_request,
)

artist_only = role_required(Role.ARTIST, refusal="The studio is for artists.")


@artist_only
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The studio at a glance: datasets, runs, models and the latest works."""
    user = signed_in(request)
    context = {
        "datasets": dataset_list(user=user)[:50],
        "runs": run_list(user=user)[:50],
        "models": model_list(user=user)[:50],
        "works": work_list(user=user)[:24],
    }
    return render(request, "studio/index.html", context)


@artist_only
@require_http_methods(["GET", "POST"])
def dataset_new(request: HttpRequest) -> HttpResponse:
    """Upload a portfolio: many images or zips; it is checked and prepared by a job."""
    form = DatasetForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = dataset_create(
                owner=signed_in(request),
                name=form.cleaned_data["name"],
                resolution=form.cleaned_data["resolution"],
                uploads=form.cleaned_data["images"],
            )
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            return redirect("studio:dataset", dataset_id=dataset.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "studio/dataset_new.html", {"form": form}, status=status)


@artist_only
@require_GET
def dataset_detail(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """A dataset's per-file report, and the form to train on it."""
    dataset = dataset_get(user=signed_in(request), dataset_id=dataset_id)
    return render(request, "studio/dataset_detail.html", {"dataset": dataset, "form": RunForm()})


@artist_only
@require_POST
def run_new(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """Start a training run on a dataset."""
    user = signed_in(request)
    dataset = dataset_get(user=user, dataset_id=dataset_id)
    form = RunForm(request.POST)
    if form.is_valid():
        run = run_create(
            owner=user,
            dataset=dataset,
            preset=form.cleaned_data["preset"],
            arch=form.cleaned_data["arch"] or None,
            steps=form.cleaned_data["steps"],
            works_on_finish=form.cleaned_data["works_on_finish"] or 0,
        )
        return redirect("studio:run", run_id=run.pk)
    context = {"dataset": dataset, "form": form}
    return render(request, "studio/dataset_detail.html", context, status=400)


@artist_only
@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """A run: live progress, sample grids, losses over time, and its model when done."""
    run = run_get(user=signed_in(request), run_id=run_id)
    model = getattr(run, "model", None)
    context = {
        "run": run,
        "job": run.job,
        "reload_when_done": True,
        "model": model,
        "samples": list(reversed(run.samples))[:12],
        "chart": _loss_chart(run.history),
    }
    return render(request, "studio/run_detail.html", context)


@artist_only
@require_POST
def run_cancel_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """Cancel a run; it keeps its last checkpoint."""
    run_cancel(run=run_get(user=signed_in(request), run_id=run_id))
    messages.success(request, "The run stops at its next step; it can be resumed.")
    return redirect("studio:run", run_id=run_id)


@artist_only
@require_POST
def run_resume_page(request: HttpRequest, run_id: int) -> HttpResponse:
    """Resume a cancelled or failed run from its last checkpoint."""
    run_resume(run=run_get(user=signed_in(request), run_id=run_id))
    return redirect("studio:run", run_id=run_id)


@artist_only
@require_GET
def run_sample(request: HttpRequest, run_id: int, step: int) -> FileResponse:
    """One of a run's sample grids."""
    run = run_get(user=signed_in(request), run_id=run_id)
    return _file(run_folder(run) / "samples" / f"{step:07d}.png")


@artist_only
@require_http_methods(["GET", "POST"])
def model_detail(request: HttpRequest, model_id: int) -> HttpResponse:
    """A model's card, its works, and forms to generate more or interpolate."""
    user = signed_in(request)
    model = model_get(user=user, model_id=model_id)
    generate_form = GenerateForm(request.POST if "seeds" in request.POST else None)
    interpolate_form = InterpolateForm(request.POST if "seed_end" in request.POST else None)
    if request.method == "POST":
        job = None
        if generate_form.is_bound and generate_form.is_valid():
            job = works_request(owner=user, model=model, **generate_form.cleaned_data)
        elif interpolate_form.is_bound and interpolate_form.is_valid():
            job = interpolation_request(owner=user, model=model, **interpolate_form.cleaned_data)
        if job is not None:
            return redirect(f"{reverse('studio:model', args=[model.pk])}?job={job.pk}")
    job_id = request.GET.get("job")
    context = {
        "job": job_get(user=user, job_id=job_id) if job_id else None,
        "reload_when_done": True,
        "model": model,
        "works": work_list(user=user, model_id=model.pk)[:60],
        "generate_form": generate_form,
        "interpolate_form": interpolate_form,
    }
    return render(
        request,
        "studio/model_detail.html",
        context,
        status=400 if request.method == "POST" else 200,
    )


@artist_only
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    """Every work, or the favourites only."""
    favourites = request.GET.get("favourites") == "1"
    works = work_list(user=signed_in(request), favourites=favourites)[:300]
    return render(request, "studio/gallery.html", {"works": works, "favourites": favourites})


@artist_only
@require_POST
def work_favourite(request: HttpRequest, work_id: int) -> HttpResponse:
    """Mark or unmark a favourite, then go back where the artist was."""
    user = signed_in(request)
    work = work_get(user=user, work_id=work_id)
    work_set_favourite(owner=user, work=work, favourite=request.POST.get("favourite") == "1")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/studio/") else "studio:gallery")


@artist_only
@require_GET
def work_image(request: HttpRequest, work_id: int) -> FileResponse:
    """A work's PNG; `?download=1` saves it under a name that says what it is."""
    work = work_get(user=signed_in(request), work_id=work_id)
    name = f"atelier-model{work.model_id}-seed{work.seed}-t{work.truncation:g}.png"
    return _file(Path(work.image.path), download_name=name if request.GET.get("download") else None)


def _file(path: Path, *, download_name: str | None = None) -> FileResponse:
    if not path.is_file():
        raise Http404("That image is not there (yet).")
    return FileResponse(
        path.open("rb"),
        content_type="image/png",
        as_attachment=download_name is not None,
        filename=download_name or path.name,
    )


def _loss_chart(
    history: list[dict[str, float]], width: int = 600, height: int = 160
) -> dict[str, Any]:
    """Polylines (SVG points) of each loss over steps, scaled into width x height."""
    if len(history) < 2:
        return {}
    steps = [point["step"] for point in history]
    names = [name for name in history[-1] if name != "step"]
    lines = {}
    for name in names:
        values = [point.get(name, 0.0) for point in history]
        low, high = min(values), max(values)
        span, step_span = (high - low) or 1.0, (steps[-1] - steps[0]) or 1
        lines[name] = " ".join(
            f"{(s - steps[0]) / step_span * width:.1f},{height - (v - low) / span * height:.1f}"
            for s, v in zip(steps, values, strict=True)
        )
    return {"width": width, "height": height, "lines": lines, "last": history[-1]}
