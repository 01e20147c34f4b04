"""Batch checks: a zip of images or a CSV of token ids in; one CSV and one PDF report out.

The upload is checked whole before anything is queued (a zip bomb, a file that is neither, a
CSV row that is not a token id: refused with the reason and the line); then a job on `default`
verifies each item as a single check would, and records each answer or each item's error.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings
from django.db import transaction
from fpdf import FPDF
from registry.documents import latin1

from accounts.models import Role, User
from authenticity.models import VerificationBatch
from authenticity.services import MAX_VERIFY_BYTES, verification_run
from core.errors import Forbidden, InvalidInput, NotFound
from core.progress import ProgressReporter
from core.services import job_submit

MAX_BATCH_ITEMS = 500
MAX_BATCH_UPLOAD_BYTES = 200 * 2**20
MAX_BATCH_UNPACKED_BYTES = 1024 * 2**20
MAX_COMPRESSION_RATIO = 200  # images barely compress; far above this is a zip bomb
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".tif", ".tiff", ".bmp"})
CSV_COLUMNS = (
    "item",
    "verdict",
    "summary",
    "work_title",
    "artist",
    "token_id",
    "match_method",
    "match_distance",
    "match_inliers",
    "watermark",
    "machine_made",
    "report",
    "error",
)


def batch_create(*, requested_by: User, name: str, data: bytes) -> VerificationBatch:
    """Check a zip of images or a CSV of token ids, keep it, and queue its checks."""
    if not requested_by.acts_as(Role.GALLERY):
        raise Forbidden("Batch checks are for galleries.")
    if len(data) > MAX_BATCH_UPLOAD_BYTES:
        raise InvalidInput(
            f"The file is {len(data) / 2**20:.1f} MiB; a batch takes at most "
            f"{MAX_BATCH_UPLOAD_BYTES // 2**20} MiB."
        )
    items = batch_items(name, data)
    with transaction.atomic():
        batch = VerificationBatch.objects.create(
            requested_by=requested_by, source_name=Path(name).name[:255], item_count=len(items)
        )
        folder = _folder(batch)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "source").write_bytes(data)
        batch.job = job_submit(
            kind="verification-batch",
            owner=requested_by,
            task_name="authenticity.verify_batch",
            params={"batch_id": str(batch.pk)},
        )
        batch.save(update_fields=["job"])
    return batch


def batch_items(name: str, data: bytes) -> list[tuple[str, str]]:
    """What a batch holds: ("image", member name) per zipped image or ("token", id) per row."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        items = _zip_items(data)
    elif name.lower().endswith(".csv") or not data[:4].startswith(b"PK"):
        items = _csv_items(data)
    else:
        raise InvalidInput(f"{name} is neither a zip of images nor a CSV of token ids.")
    if not items:
        raise InvalidInput(f"{name} holds nothing to check.")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidInput(
            f"{name} holds {len(items)} items; a batch takes at most {MAX_BATCH_ITEMS}."
        )
    return items


def _zip_items(data: bytes) -> list[tuple[str, str]]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as error:
        raise InvalidInput(f"The zip cannot be read: {error}") from error
    items, unpacked = [], 0
    for member in members:
        path = PurePosixPath(member.filename)
        if member.is_dir() or path.parts[:1] == ("__MACOSX",) or path.name.startswith("."):
            continue
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise InvalidInput(
                f"{member.filename} in the zip is not an image file "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})."
            )
        if member.file_size > MAX_VERIFY_BYTES:
            raise InvalidInput(
                f"{member.filename} unpacks to {member.file_size / 2**20:.1f} MiB; an image "
                f"may be at most {MAX_VERIFY_BYTES // 2**20} MiB."
            )
        if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
            raise InvalidInput(
                f"{member.filename} unpacks {member.file_size // max(member.compress_size, 1)} "
                "times larger than it is stored: refused as a zip bomb."
            )
        unpacked += member.file_size
        if unpacked > MAX_BATCH_UNPACKED_BYTES:
            raise InvalidInput(
                f"The zip unpacks to more than {MAX_BATCH_UNPACKED_BYTES // 2**20} MiB; split it."
            )
        items.append(("image", member.filename))
    return items


def _csv_items(data: bytes) -> list[tuple[str, str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"The CSV is not UTF-8: byte {error.start} cannot be read.") from error
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = header.index("token_id") if "token_id" in header else None
    if column is None and len(header) != 1:
        raise InvalidInput("The CSV needs a token_id column (or a single column of token ids).")
    body = rows[1:] if column is not None or not header[0].isdigit() else rows
    column = column or 0
    items, problems = [], []
    first_line = len(rows) - len(body) + 1
    for line, row in enumerate(body, start=first_line):
        cell = row[column].strip() if column < len(row) else ""
        if not cell:
            continue
        if not cell.isdigit() or len(cell) > 78 or int(cell) >= 2**256:
            problems.append(f"line {line}: {cell!r} is not a token id (a whole number)")
        else:
            items.append(("token", cell))
    if problems:
        shown = "; ".join(problems[:10]) + ("; …" if len(problems) > 10 else "")
        raise InvalidInput(
            f"Nothing was queued: {len(problems)} row(s) are not token ids: {shown}."
        )
    return items


def batch_run(*, batch_id: str, progress: ProgressReporter) -> dict[str, Any]:
    """The task's work: verify each item; an item that fails gets its error, the rest go on."""
    batch = VerificationBatch.objects.select_related("requested_by").get(pk=batch_id)
    data = (_folder(batch) / "source").read_bytes()
    items = batch_items(batch.source_name, data)
    archive = zipfile.ZipFile(io.BytesIO(data)) if zipfile.is_zipfile(io.BytesIO(data)) else None
    client = f"batch:{batch.pk}"  # the log's client: the batch, not an address
    rows = []
    for number, (kind, value) in enumerate(items):
        progress.update(number / len(items), f"Checking {value} ({number + 1} of {len(items)}).")
        try:
            if kind == "image":
                assert archive is not None
                verification = verification_run(
                    image=archive.read(value),
                    name=value,
                    requested_by=batch.requested_by,
                    client=client,
                )
            else:
                verification = verification_run(
                    token_id=int(value), requested_by=batch.requested_by, client=client
                )
        except (InvalidInput, NotFound) as error:
            rows.append({"item": value, "error": error.message})
        else:
            rows.append(
                {"item": value, "verification": str(verification.pk), **_row(verification.report)}
            )
    batch.rows = rows
    batch.save(update_fields=["rows"])
    found = sum(1 for row in rows if row.get("verdict") in ("registered", "probable"))
    return {"items": len(rows), "matched": found, "errors": sum("error" in row for row in rows)}


def _row(report: dict[str, Any]) -> dict[str, Any]:
    registered = report.get("registered") or {}
    chain = (report.get("certificate") or {}).get("chain") or {}
    match = report["match"]
    attribution = report.get("attribution") or {}
    return {
        "verdict": report["verdict"]["code"],
        "verdict_label": report["verdict"]["label"],
        "summary": report["verdict"]["summary"],
        "work_title": registered.get("title", ""),
        "artist": registered.get("artist", ""),
        "token_id": chain.get("token_id", ""),
        "match_method": match.get("method") or "",
        "match_distance": match.get("distance", ""),
        "match_inliers": match.get("inliers", ""),
        "watermark": report["watermark"].get("payload", ""),
        "machine_made": attribution.get("machine_made", ""),
    }


def batch_csv(batch: VerificationBatch, *, report_url: Any) -> str:
    """The batch's answers as CSV (CSV_COLUMNS), one row per item."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for row in batch.rows:
        url = report_url(row["verification"]) if row.get("verification") else ""
        writer.writerow({**{k: "" if v is None else v for k, v in row.items()}, "report": url})
    return buffer.getvalue()


def batch_pdf(batch: VerificationBatch, *, report_url: Any) -> bytes:
    """The batch's answers as a PDF: a line per item, with the link to its full report."""
    pdf = FPDF(format="A4")
    pdf.set_title(latin1(f"Verification batch {batch.source_name}"))
    pdf.set_creator("Atelier")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, latin1(f"Batch check: {batch.source_name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    found = sum(1 for row in batch.rows if row.get("verdict") in ("registered", "probable"))
    pdf.multi_cell(
        0,
        5,
        latin1(
            f"{len(batch.rows)} items, {found} matched a registered work, checked "
            f"{batch.created_at:%Y-%m-%d %H:%M} UTC."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    for row in batch.rows:
        pdf.set_font("Helvetica", "B", 9)
        pdf.multi_cell(0, 5, latin1(row["item"]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 9)
        if "error" in row:
            text = f"Not checked: {row['error']}"
        else:
            text = row["summary"]
            if row.get("token_id") != "":
                text += f" Token #{row['token_id']}."
            if row.get("machine_made") != "":
                text += f" Machine-made probability {row['machine_made']} (weak evidence)."
            text += f" Report: {report_url(row['verification'])}"
        pdf.multi_cell(0, 5, latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
    return bytes(pdf.output())


def _folder(batch: VerificationBatch) -> Path:
    return Path(settings.MEDIA_ROOT) / "authenticity" / "batches" / str(batch.pk)
