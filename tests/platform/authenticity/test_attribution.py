"""A real generator on the platform: the attribution model it retrains, its works re-rendered.

One training (a few seconds of a tiny generator on a real portfolio) serves both checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from authenticity import tasks
from authenticity.models import Attributor, AttributorState, Verdict, Verification
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from studio import tasks as studio_tasks
from studio.models import Dataset, GanModel, Work
from studio.services import dataset_create, run_create

from accounts.models import User
from core.models import Job, JobState
from tests.platform.authenticity.conftest import painting

pytestmark = pytest.mark.django_db

PISSARRO = "camille_pissarro_0001_the-hill-at-jallais-pontoise-1875.jpg"


def test_a_new_generator_retrains_attribution_as_weak_evidence_and_its_works_re_render(
    client: Client, artist: User, portfolio_zip: Callable[..., SimpleUploadedFile]
) -> None:
    dataset = dataset_create(owner=artist, name="Fuji", resolution=64, uploads=[portfolio_zip(36)])
    studio_tasks.prepare_dataset.run(str(dataset.job_id))
    dataset = Dataset.objects.get(pk=dataset.pk)
    run = run_create(owner=artist, dataset=dataset, preset="sketch", steps=30, works_on_finish=2)
    studio_tasks.train.run(str(run.job_id))
    model = GanModel.objects.get(run=run)

    attributor = Attributor.objects.get()  # queued when the generator arrived
    assert attributor.job is not None
    assert attributor.job.task_name == "authenticity.train_attributor"
    tasks.train_attributor.run(str(attributor.job_id))
    attributor.refresh_from_db()
    job = Job.objects.get(pk=attributor.job_id)

    assert job.state == JobState.SUCCEEDED, job.error
    assert attributor.state == AttributorState.READY
    assert set(attributor.classes) == {"portfolio", f"model:{model.pk}"}
    metrics = attributor.metrics
    assert metrics["class_counts"] == {
        "portfolio": metrics["class_counts"]["portfolio"],
        f"model:{model.pk}": 120,
    }
    assert 0.5 < metrics["heldout_accuracy"] <= 1
    assert 0 <= metrics["portfolio_false_positive_rate"] <= 1
    own = metrics["portfolio_false_positive_rate_by_artist"][artist.username]
    assert own["n"] >= 5
    assert 0 <= own["rate"] <= 1

    upload = SimpleUploadedFile("pissarro.jpg", painting(PISSARRO).read_bytes())
    response = client.post(reverse("authenticity:verify"), {"image": upload})
    page = client.get(response["Location"])
    report: dict[str, Any] = page.context["report"]
    attribution = report["attribution"]

    assert report["verdict"]["code"] == Verdict.NO_MATCH
    assert "Whether it is machine-made is uncertain" in report["verdict"]["summary"]
    assert 0 <= attribution["machine_made"] <= 1
    assert sum(attribution["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert attribution["heldout_accuracy"] == metrics["heldout_accuracy"]
    assert attribution["portfolio_false_positive_rate"] == metrics["portfolio_false_positive_rate"]
    assert report["evidence"]["weak"] == [attribution["summary"]]
    html = page.content.decode()
    assert "Machine-made probability" in html
    assert "hand-made images machine-made" in html

    # The re-render proof of one of its works, asked for from the report of an exact copy.
    work = Work.objects.filter(model=model).order_by("seed").last()
    assert work is not None
    with work.image.open("rb") as stored:
        upload = SimpleUploadedFile("work.png", stored.read())
    found = client.post(reverse("authenticity:verify"), {"image": upload})
    verification = Verification.objects.get(pk=found["Location"].rstrip("/").split("/")[-1])
    assert verification.work == work
    client.post(reverse("authenticity:rerender", args=[verification.pk]))
    verification.refresh_from_db()
    proof_job = Job.objects.get(pk=verification.report["rerender"]["job_id"])
    assert proof_job.queue == "gpu"
    tasks.rerender.run(str(proof_job.pk))
    verification.refresh_from_db()
    proof = verification.report["rerender"]

    assert verification.report["attribution"]["artist_false_positive_rate"] == own
    assert Job.objects.get(pk=proof_job.pk).state == JobState.SUCCEEDED
    assert proof["identical"], proof
    assert proof["device"] == "cpu"
    assert any("byte-identical" in item for item in verification.report["evidence"]["decisive"])
    html = client.get(found["Location"]).content.decode()
    assert "byte-identical" in html
