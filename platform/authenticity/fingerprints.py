"""The registry's matching index: a fingerprint per registered image, an in-memory index each.

Rows are the truth (`Fingerprint.print` holds what `provenance.matching` needs), so every web and
worker process keeps its own `Matcher`, brought up to date from the rows added since it last
looked, and rebuilt when rows have gone (a work deleted with its fingerprint).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from PIL import Image
from registry.models import Certificate, CertificateState
from studio.models import Work

from authenticity.models import Fingerprint
from provenance.errors import ProvenanceError
from provenance.matching import Match, Matcher, Method, WorkPrint, print_image

SYNC_BATCH = 200
EXACT: tuple[Method, ...] = ("exact",)
NEAR: tuple[Method, ...] = ("hash", "local")


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


def fingerprints_sync(*, limit: int = SYNC_BATCH) -> int:
    """Index up to `limit` registered images that have no fingerprint yet; returns how many."""
    done = 0
    for work in Work.objects.filter(fingerprint__isnull=True).order_by("pk")[:limit]:
        done += fingerprint_work(work) is not None
    left = limit - done
    if left > 0:
        uploaded = Certificate.objects.filter(work__isnull=True, fingerprint__isnull=True).exclude(
            state=CertificateState.DRAFT  # a draft is its owner's alone until it is signed
        )
        for certificate in uploaded.order_by("created_at")[:left]:
            done += fingerprint_certificate(certificate) is not None
    return done


@dataclass
class _Loaded:
    matcher: Matcher
    last_id: int
    count: int


_loaded: _Loaded | None = None
_lock = threading.Lock()


def identify_registered(data: bytes, picture: Image.Image) -> tuple[Match | None, int]:
    """The registered image `data` copies (exact bytes first, then near), and the registry size.

    The matcher is brought up to date and searched under one lock: its indexes are built on the
    first search after an add, and a search must not see one half-built (gunicorn threads share
    the process's matcher).
    """
    with _lock:
        matcher = _up_to_date()
        match = matcher.identify(data, methods=EXACT) or matcher.identify(picture, methods=NEAR)
        return match, len(matcher)


def registered_matcher() -> Matcher:
    """This process's matcher, up to date (searching it concurrently is not safe)."""
    with _lock:
        return _up_to_date()


def _up_to_date() -> Matcher:
    """The matcher over every fingerprint, brought up to date with the table (hold `_lock`)."""
    global _loaded
    totals = Fingerprint.objects.aggregate(last=Max("pk"), count=Count("pk"))
    last, count = totals["last"] or 0, totals["count"]
    if _loaded is not None and (_loaded.last_id, _loaded.count) == (last, count):
        return _loaded.matcher
    loaded = _loaded or _Loaded(Matcher(), 0, 0)
    fresh = Fingerprint.objects.filter(pk__gt=loaded.last_id).order_by("pk")
    if loaded.count + fresh.count() != count:  # some rows went: start again
        loaded, fresh = _Loaded(Matcher(), 0, 0), Fingerprint.objects.order_by("pk")
    for pk, data in fresh.values_list("pk", "print").iterator(chunk_size=500):
        loaded.matcher.add(pk, WorkPrint.from_bytes(bytes(data)))
        loaded.last_id, loaded.count = pk, loaded.count + 1
    _loaded = loaded
    return loaded.matcher


def matcher_forget() -> None:
    """Drop this process's matcher (tests, and after a restore from backup)."""
    global _loaded
    with _lock:
        _loaded = None
