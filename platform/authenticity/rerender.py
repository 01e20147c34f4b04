"""The re-render proof: make the registered work again from its model and seed, compare bytes.

Deterministic evidence where a detector could only guess: identical bytes on the same device are
decisive for the work's lineage. Another device (a GPU against the CPU that made the work) may
round differently; the proof then reports the largest pixel difference and the PSNR, and counts
as strong evidence when every pixel is within `TOLERANCE` levels.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
from django.db import transaction
from PIL import Image
from studio.models import Work
from studio.services import device_name, work_rerender

from authenticity.models import Verification
from core.errors import InvalidInput
from core.models import Job
from core.progress import ProgressReporter
from core.services import job_submit

TOLERANCE = 8
"""Pixel levels (of 255) a re-render may differ by and still count as strong evidence.

bench/rerender_tolerance.py re-rendered CPU-made works on an H200. In float32, what
`gan.generate` uses on CUDA, every pixel came within 1 level (2 to 4 % of them off by one, no
work byte-identical); another CPU thread count gave identical bytes and other CPU convolution
kernels 1 level. bfloat16 (what `gan.generate` used on CUDA before) moved half the pixels by up
to 8: the tolerance admits even such a render.
"""


@transaction.atomic
def rerender_request(*, verification: Verification) -> Job:
    """Queue the re-render of the work a verification found (a job on the `gpu` queue)."""
    locked = Verification.objects.select_for_update().get(pk=verification.pk)
    if locked.work_id is None:
        raise InvalidInput(
            "Only a work generated on this platform can be re-rendered; this verification "
            "found none."
        )
    job_id = locked.report.get("rerender", {}).get("job_id")
    if job_id and (existing := Job.objects.filter(pk=job_id).first()) and not existing.is_final:
        return existing
    job = job_submit(
        kind="rerender",
        owner=None,
        task_name="authenticity.rerender",
        queue="gpu",
        params={"verification_id": str(locked.pk), "work_id": locked.work_id},
    )
    locked.report["rerender"] = {"job_id": str(job.pk), "state": "queued"}
    locked.save(update_fields=["report"])
    return job


def rerender_run(
    *, verification_id: str, work_id: int, progress: ProgressReporter
) -> dict[str, Any]:
    """The task's work: re-render, compare with the stored bytes, add the proof to the report."""
    work = Work.objects.select_related("model__run").get(pk=work_id)
    progress.update(0.1, f"Re-rendering {work.model} from seed {work.seed}.", force=True)
    again = work_rerender(work)
    with work.image.open("rb") as stored:
        original = stored.read()
    proof = compare(original, again) | {
        "model": str(work.model),
        "seed": work.seed,
        "truncation": work.truncation,
        "device": device_name(),
    }
    with transaction.atomic():
        verification = Verification.objects.select_for_update().get(pk=verification_id)
        job_id = verification.report.get("rerender", {}).get("job_id")
        verification.report["rerender"] = {"job_id": job_id, "state": "done", **proof}
        evidence = verification.report["evidence"]
        if proof["identical"]:
            evidence["decisive"].append(
                f"re-rendered from {proof['model']} and seed {work.seed} on {proof['device']}: "
                "byte-identical to the registered work"
            )
        elif proof["within_tolerance"]:
            evidence["strong"].append(
                f"re-rendered on {proof['device']}: every pixel within {TOLERANCE} levels of the "
                f"registered work (largest difference {proof['max_difference']})"
            )
        else:
            evidence["conflicts"].append(
                f"re-rendered on {proof['device']}: differs from the registered work (largest "
                f"pixel difference {proof['max_difference']}, PSNR {proof['psnr_db']} dB)"
            )
        verification.save(update_fields=["report"])
    return proof


def compare(original: bytes, again: bytes) -> dict[str, Any]:
    """Byte identity, and when the bytes differ, by how much the pixels do."""
    same = hashlib.sha256(original).digest() == hashlib.sha256(again).digest()
    first = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"), dtype=np.int16)
    second = np.asarray(Image.open(io.BytesIO(again)).convert("RGB"), dtype=np.int16)
    if first.shape != second.shape:
        return {
            "identical": False,
            "within_tolerance": False,
            "max_difference": None,
            "psnr_db": None,
            "summary": f"a {second.shape[1]}x{second.shape[0]} image, not {first.shape[1]}x"
            f"{first.shape[0]}",
        }
    difference = np.abs(first - second)
    mse = float((difference.astype(np.float64) ** 2).mean())
    psnr = None if mse == 0 else round(10 * np.log10(255**2 / mse), 2)
    largest = int(difference.max())
    return {
        "identical": same,
        "within_tolerance": largest <= TOLERANCE,
        "max_difference": largest,
        "psnr_db": psnr,
        "summary": "byte-identical"
        if same
        else f"largest pixel difference {largest}, PSNR {psnr} dB",
    }
