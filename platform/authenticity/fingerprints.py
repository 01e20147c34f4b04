"""The registry's matching index: a fingerprint per registered image, an in-memory index each.

Rows are the truth (`Fingerprint.print` holds what `provenance.matching` needs), so every web and
worker process keeps its own `Matcher`, brought up to date from the rows added since it last
looked, and rebuilt when rows have gone (a work deleted with its fingerprint). The matcher holds
each work's hash and keypoint shortlist entries (about 8 KiB a work); the keypoints of the few
shortlisted works are read back from their rows when a query needs the geometric check.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from PIL import Image
from registry.models import Certificate, CertificateState
from studio.models import Work

from authenticity.models import Fingerprint
from provenance.errors import ProvenanceError
from provenance.matching import (
    LocalFeatures,
    Match,
    Matcher,
    Method,
    WorkId,
    WorkPrint,
    print_image,
)
from provenance.matching.prints import PRINT_FORMAT

SYNC_BATCH = 200
DELETION_CHECK_S = 30.0
"""Longest a process's matcher goes without counting the table to notice removed rows."""
EXACT: tuple[Method, ...] = ("exact",)
NEAR: tuple[Method, ...] = ("hash", "local")


@dataclass
class _Synced:
    """How far this process's `fingerprints_sync` has looked."""

    works: int = 0
    """Every work up to this pk has been indexed or tried."""
    signed: Any = None
    """The newest certificate signature time at the last certificate scan (as the database
    returns it: only compared for equality)."""
    certificates_at: float = -math.inf
    """When the certificates were last scanned (time.monotonic())."""


_synced = _Synced()


def fingerprint_work(work: Work) -> Fingerprint | None:
    """Index a work generated on the platform (None when it was indexed already)."""
    with work.image.open("rb") as stored:
        data = bytes(stored.read())
    return _store(Fingerprint(work=work, sha256=work.sha256), data)


def fingerprint_certificate(certificate: Certificate) -> Fingerprint | None:
    """Index an uploaded image that was certified (a studio work's certificate shares its print)."""
    if certificate.work_id is not None:
        return None
    with certificate.image.open("rb") as stored:
        data = bytes(stored.read())
    return _store(Fingerprint(certificate=certificate, sha256=certificate.content_hash), data)


def _store(row: Fingerprint, data: bytes) -> Fingerprint | None:
    try:
        row.print = print_image(data).to_bytes()
    except ProvenanceError:
        return None  # a stored image that no longer decodes cannot be matched; it stays exact-only
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:  # indexed meanwhile by another process
        return None
    return row


def fingerprints_sync(*, limit: int = SYNC_BATCH, rescan: bool = False) -> int:
    """Index up to `limit` registered images that have no fingerprint yet; returns how many.

    Works and certified uploads are fingerprinted when they are made; this catches up on what
    was not. One query tells whether anything is new: works are looked for above the highest
    one this process has seen indexed or tried (an image that no longer decodes is not retried
    on every check), and certified uploads when a certificate was signed since the last scan,
    or `DELETION_CHECK_S` after it. `rescan` starts from the first work
    (`manage.py authenticity_index`).
    """
    global _synced
    if rescan:
        _synced = _Synced()
    last_work, last_signed = _newest()
    done = taken = 0
    if last_work > _synced.works:
        # Up to the highest pk now: a work added meanwhile is above it and found on the next call.
        unindexed = Work.objects.filter(
            pk__gt=_synced.works, pk__lte=last_work, fingerprint__isnull=True
        )
        batch = list(unindexed.order_by("pk")[:limit])
        for work in batch:
            done += fingerprint_work(work) is not None
        taken = len(batch)
        _synced.works = batch[-1].pk if taken == limit else last_work
    now = time.monotonic()
    due = last_signed != _synced.signed or now - _synced.certificates_at >= DELETION_CHECK_S
    left = limit - taken
    if left > 0 and due:
        uploaded = Certificate.objects.filter(work__isnull=True, fingerprint__isnull=True).exclude(
            state=CertificateState.DRAFT  # a draft is its owner's alone until it is signed
        )
        scanned = list(uploaded.order_by("created_at")[:left])
        for certificate in scanned:
            done += fingerprint_certificate(certificate) is not None
        if len(scanned) < left:  # every one seen; else the next call goes on
            _synced.signed, _synced.certificates_at = last_signed, now
    return done


def _newest() -> tuple[int, Any]:
    """The highest work pk and the newest certificate signature time, in one query."""
    quote = connection.ops.quote_name
    works, work_id = quote(Work._meta.db_table), quote(str(Work._meta.pk.column))
    certificates = quote(Certificate._meta.db_table)
    signed_at = quote(str(Certificate._meta.get_field("signed_at").column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX({work_id}) FROM {works}), "  # noqa: S608 (names, not input)
            f"(SELECT MAX({signed_at}) FROM {certificates})"
        )
        last_work, last_signed = cursor.fetchone()
    return last_work or 0, last_signed


@dataclass
class _Loaded:
    matcher: Matcher
    last_id: int
    count: int
    counted_at: float
    """When the table was last counted to notice removed rows (time.monotonic())."""


_loaded: _Loaded | None = None
_lock = threading.Lock()


def identify_registered(
    data: bytes, picture: Image.Image
) -> tuple[Match | None, Fingerprint | None, int]:
    """The registered image `data` copies (exact bytes first, then near), its row, registry size.

    The row comes with its work's lineage and its certificate (None only when it was removed
    between the search and the read). The matcher is brought up to date and searched under one
    lock: its indexes are built on the first search after an add, and a search must not see one
    half-built (gunicorn threads share the process's matcher).
    """
    with _lock:
        matcher = _up_to_date()
        match = matcher.identify(data, methods=EXACT) or matcher.identify(picture, methods=NEAR)
        row = _matched_row(match)
        if match is not None and row is None:
            # Matched a row removed since it was loaded (a deleted work, a remade print): count
            # now instead of waiting for the next deletion check, and ask again.
            assert _loaded is not None
            _loaded.counted_at = -DELETION_CHECK_S
            matcher = _up_to_date()
            match = matcher.identify(data, methods=EXACT) or matcher.identify(picture, methods=NEAR)
            row = _matched_row(match)
        return match, row, len(matcher)


def _matched_row(match: Match | None) -> Fingerprint | None:
    if match is None:
        return None
    rows = Fingerprint.objects.select_related("work__model__run__dataset", "certificate")
    return rows.filter(pk=int(match.work_id)).first()


def registered_matcher() -> Matcher:
    """This process's matcher, up to date (searching it concurrently is not safe)."""
    with _lock:
        return _up_to_date()


def _up_to_date() -> Matcher:
    """The matcher over every fingerprint, brought up to date with the table (hold `_lock`).

    New rows (higher pks) are added on every call, which costs one indexed `MAX(pk)` when there
    are none. Removed rows are noticed by counting the table, at most every
    `DELETION_CHECK_S` seconds (a count reads every row); meanwhile a removed work still in the
    matcher is skipped where it is looked up (`identify_registered`, `_stored_features`).
    """
    global _loaded
    last = Fingerprint.objects.aggregate(last=Max("pk"))["last"] or 0
    now = time.monotonic()
    loaded = _loaded
    if loaded is not None and now - loaded.counted_at >= DELETION_CHECK_S:
        kept = loaded.count + Fingerprint.objects.filter(pk__gt=loaded.last_id).count()
        if kept != Fingerprint.objects.count():  # some rows went: start again
            loaded = None
        else:
            loaded.counted_at = now
    if loaded is not None and loaded.last_id == last:
        return loaded.matcher
    loaded = loaded or _Loaded(_new_matcher(), 0, 0, now)
    seen: list[int] = []

    def prints() -> Iterator[tuple[int, WorkPrint]]:
        fresh = Fingerprint.objects.filter(pk__gt=loaded.last_id).order_by("pk")
        for pk, data in fresh.values_list("pk", "print").iterator(chunk_size=500):
            seen.append(pk)
            yield pk, WorkPrint.from_bytes(bytes(data))

    loaded.count += loaded.matcher.add_many(prints())
    loaded.last_id = seen[-1] if seen else loaded.last_id
    _loaded = loaded
    return loaded.matcher


def _new_matcher() -> Matcher:
    return Matcher(fetch_features=_stored_features)


def _stored_features(work_ids: Sequence[WorkId]) -> dict[WorkId, LocalFeatures]:
    """The keypoints of fingerprint rows, by pk, in one query (rows gone since are left out)."""
    rows = Fingerprint.objects.filter(pk__in=[int(pk) for pk in work_ids]).values_list(
        "pk", "print"
    )
    return {pk: WorkPrint.from_bytes(bytes(data)).features for pk, data in rows}


def fingerprints_reprint() -> int:
    """Remake every print written in an older format (keypoints in OpenCV's order); how many.

    A remade print gets a new row: each process's matcher adds it on its next search and drops
    the old one at its next deletion check, or at once if a query matches the old row first.
    """
    done = 0
    old = Fingerprint.objects.order_by("pk").values_list("pk", "print")
    for pk, data in old.iterator(chunk_size=500):
        if WorkPrint.from_bytes(bytes(data)).version == PRINT_FORMAT:
            continue
        row = Fingerprint.objects.select_related("work", "certificate").get(pk=pk)
        owner = row.work or row.certificate
        assert owner is not None  # a check constraint: a fingerprint is of one of the two
        stored = owner.image
        with stored.open("rb") as file:
            image = bytes(file.read())
        try:
            fresh = print_image(image).to_bytes()
        except ProvenanceError:
            continue  # no longer decodes: the old print still matches as it did
        with transaction.atomic():
            row.delete()
            Fingerprint.objects.create(
                work=row.work, certificate=row.certificate, sha256=row.sha256, print=fresh
            )
        done += 1
    return done


def matcher_forget() -> None:
    """Drop this process's matcher and what it has indexed (tests, after a restore from backup)."""
    global _loaded, _synced
    with _lock:
        _loaded = None
        _synced = _Synced()
