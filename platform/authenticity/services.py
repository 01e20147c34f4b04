"""Verification: what an image (or a token) is, by evidence ranked from decisive to weak.

Decisive: the exact bytes of a registered image, a valid signature over them, the chain record.
Strong: a near match (global hash, or local features verified geometrically), the watermark.
Weak: the attribution model's machine-made probability, always shown with its held-out error.
The verdict is worded by the strongest evidence found, and says "uncertain" when the evidence
disagrees or is only weak, rather than dressing a percentage up as a verdict.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from PIL import Image
from registry.models import Certificate, CertificateState
from registry.onchain import platform_chain
from registry.selectors import certificate_image, certificate_report
from studio.models import Work
from studio.services import work_memorization

from accounts.models import User
from authenticity.attribution import attribution_view
from authenticity.fingerprints import fingerprints_sync, identify_registered
from authenticity.models import Fingerprint, Verdict, Verification
from core.errors import InvalidInput, NotFound, Throttled, Unavailable
from provenance.errors import InvalidImage, ProvenanceError
from provenance.hashing import open_image
from provenance.matching import Match
from provenance.watermark import MIN_EXTRACT_SIDE, extract

MAX_VERIFY_BYTES = 25 * 2**20
VERIFY_MAX_PIXELS = 40_000_000
CHAIN_TIMEOUT_S = 5.0


@dataclass
class _Evidence:
    """What one verification found, before it is worded."""

    decisive: list[str] = field(default_factory=list)
    strong: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def verification_run(
    *,
    image: bytes | None = None,
    name: str = "",
    token_id: int | None = None,
    requested_by: User | None,
    client: str,
) -> Verification:
    """Check an image (or a token's image) against the registry; the report is kept and logged."""
    started = time.perf_counter()
    if (image is None) == (token_id is None):
        raise InvalidInput("Send an image or a token id (one of the two).")
    query: dict[str, Any]
    if token_id is not None:
        image, query = _token_image(token_id)
    else:
        assert image is not None
        query = {"kind": "image", "name": name[:255]}
    if len(image) > MAX_VERIFY_BYTES:
        raise InvalidInput(
            f"The file is {len(image) / 2**20:.1f} MiB; verifications take at most "
            f"{MAX_VERIFY_BYTES // 2**20} MiB."
        )
    try:
        picture = open_image(image, max_pixels=VERIFY_MAX_PIXELS)
    except InvalidImage as error:
        raise InvalidInput(f"{name or 'The file'} cannot be checked: {error}") from error
    sha256 = hashlib.sha256(image).hexdigest()
    query |= {"sha256": sha256, "width": picture.width, "height": picture.height}

    evidence = _Evidence()
    fingerprints_sync()
    match, row, registry_size = identify_registered(image, picture)
    registered = _registered_from_row(row)
    watermark = _watermark(picture, registered)
    if match is not None:
        _evidence_for_match(evidence, match)
    if watermark.get("work_id") is not None:
        mark_work = watermark["work_id"]
        evidence.strong.append(f"the watermark names work {mark_work}")
        if registered.get("work_id") not in (None, mark_work):
            evidence.conflicts.append(
                f"the watermark names work {mark_work} but the image matches "
                f"{registered.get('label')}"
            )
        if not registered:
            registered = _registered_from_work(Work.objects.get(pk=mark_work))
    certificate = registered.get("certificate")
    certificate_view = None
    if certificate is not None:
        certificate_view = certificate_report(certificate)
        _evidence_for_certificate(evidence, certificate_view, exact=_match_is_exact(match))
    attribution = attribution_view(picture, artist=registered.get("artist", ""))
    if attribution is not None:
        evidence.weak.append(attribution["summary"])
    verdict, summary = _verdict(evidence, registered)
    if attribution is not None and verdict == Verdict.NO_MATCH:
        summary += (
            f" Whether it is machine-made is uncertain: the attribution model gives "
            f"{attribution['machine_made']:.2f}, weak evidence (see its held-out record)."
        )
    report: dict[str, Any] = {
        "query": query,
        "verdict": {"code": verdict, "label": Verdict(verdict).label, "summary": summary},
        "evidence": {
            "decisive": evidence.decisive,
            "strong": evidence.strong,
            "weak": evidence.weak,
            "conflicts": evidence.conflicts,
        },
        "match": _match_view(match),
        "watermark": {k: v for k, v in watermark.items() if k != "work_id"},
        "registered": _registered_view(registered),
        "certificate": certificate_view,
        "attribution": attribution,
        "registry_size": registry_size,
    }
    verification = Verification(
        requested_by=requested_by,
        client=client_key(client),
        query_sha256=sha256,
        query_name=query.get("name", ""),
        query_token_id=str(token_id) if token_id is not None else "",
        verdict=verdict,
        work_id=registered.get("work_id"),
        certificate=certificate,
        created_at=timezone.now(),
    )
    report["id"] = str(verification.pk)  # a UUID made before the row: one INSERT, no UPDATE
    report["created_at"] = verification.created_at.isoformat()
    report["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    verification.report = report
    verification.duration_ms = float(report["duration_ms"])
    verification.save(force_insert=True)
    return verification


def upload_bytes(upload: Any, *, limit: int = MAX_VERIFY_BYTES) -> bytes:
    """An uploaded file's bytes, refused by its declared size before it is read into memory."""
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise InvalidInput(
            f"{upload.name or 'The file'} is {size / 2**20:.1f} MiB; at most {limit // 2**20} MiB."
        )
    return bytes(upload.read(limit + 1))


def client_key(address: str) -> str:
    """A keyed hash of the client's address: enough to see abuse, not a stored IP address."""
    return hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()


# --- the query -------------------------------------------------------------------------------


def _token_image(token_id: int) -> tuple[bytes, dict[str, Any]]:
    """The registered image of a token: its content hash on the chain, the certificate's bytes."""
    if not 0 <= token_id < 2**256:
        raise InvalidInput(f"A token id is a uint256; {token_id} is not.")
    try:
        chain = platform_chain(timeout=CHAIN_TIMEOUT_S)
        record = chain.token(token_id, with_mint=False)
    except Unavailable:
        raise
    except ProvenanceError as error:
        raise NotFound(f"Token {token_id} is not on the chain: {error}") from error
    certificate = (
        Certificate.objects.filter(content_hash=record.content_hash.hex())
        .exclude(state=CertificateState.DRAFT)
        .first()
    )
    if certificate is None:
        raise NotFound(
            f"Token {token_id} records content 0x{record.content_hash.hex()}, which this "
            "platform holds no certificate for."
        )
    return certificate_image(certificate), {"kind": "token", "token_id": str(token_id)}


# --- matching --------------------------------------------------------------------------------


def _match_is_exact(match: Match | None) -> bool:
    """Whether the match is on the exact bytes."""
    return match is not None and match.method == "exact"


def _evidence_for_match(evidence: _Evidence, match: Match) -> None:
    """A match as evidence: exact bytes are decisive, near matches strong."""
    if match.method == "exact":
        evidence.decisive.append("the file's sha256 equals a registered image's")
    elif match.method == "hash":
        evidence.strong.append(
            f"near match by global hash: {match.distance} of 256 bits differ "
            f"(threshold {match.threshold})"
        )
    else:
        evidence.strong.append(
            f"near match by local features: {match.inliers} keypoints agree on one geometric "
            f"transform (threshold {match.threshold})"
        )


def _registered_from_row(row: Fingerprint | None) -> dict[str, Any]:
    if row is None:  # no match (or its row was removed since the index was read)
        return {}
    if row.work is not None:
        return _registered_from_work(row.work)
    assert row.certificate is not None
    return {
        "certificate": row.certificate,
        "label": f"certificate {row.certificate.pk}",
        "title": row.certificate.title,
        "artist": row.certificate.owner.get_username(),
    }


def _registered_from_work(work: Work) -> dict[str, Any]:
    certificate = (
        Certificate.objects.filter(work=work)
        .exclude(state=CertificateState.DRAFT)  # a draft is its owner's alone
        .select_related("wallet", "owner")
        .order_by("-created_at")
        .first()
    )
    return {
        "work_id": work.pk,
        "work": work,
        "certificate": certificate,
        "label": f"work {work.pk}",
        "title": certificate.title if certificate else f"{work.model.run.name} #{work.seed}",
        "artist": work.owner.get_username(),
    }


def _match_view(match: Match | None) -> dict[str, Any]:
    if match is None:
        return {"found": False, "method": None, "summary": "no registered image matches"}
    return {
        "found": True,
        "method": match.method,
        "distance": match.distance,
        "inliers": match.inliers,
        "threshold": match.threshold,
        "score": round(match.score, 4),
    }


def _registered_view(registered: dict[str, Any]) -> dict[str, Any] | None:
    if not registered:
        return None
    work: Work | None = registered.get("work")
    certificate: Certificate | None = registered.get("certificate")
    view: dict[str, Any] = {
        "title": registered["title"],
        "artist": registered["artist"],
        "work_id": registered.get("work_id"),
        "certificate_id": str(certificate.pk) if certificate else None,
    }
    if work is not None:
        run = work.model.run
        view["lineage"] = {
            "model": str(work.model),
            "weights_sha256": work.model.weights_sha256,
            "dataset": run.dataset.name,
            "dataset_manifest_hash": run.dataset.manifest_hash,
            "seed": work.seed,
            "truncation": work.truncation,
            "memorization": work_memorization(work),
        }
    return view


# --- the watermark ---------------------------------------------------------------------------


def _watermark(picture: Image.Image, registered: dict[str, Any]) -> dict[str, Any]:
    """The payload read from the image, and the work it names (None when it names none)."""
    candidates = [picture]
    work: Work | None = registered.get("work")
    if work is not None and work.mark:  # a resized copy reads only at the size it was marked at
        with work.image.open("rb") as stored:
            size = Image.open(stored).size  # the header only
        if size != picture.size:  # the likelier reading first: one read instead of two
            candidates.insert(0, picture.resize(size, Image.Resampling.BICUBIC))
    reading = None
    for candidate in candidates:
        if min(candidate.size) < MIN_EXTRACT_SIDE:
            continue
        reading = extract(candidate)
        if reading.payload is not None:
            break
    if reading is None:
        return {"found": False, "summary": f"too small to read (under {MIN_EXTRACT_SIDE} px)"}
    if reading.payload is None:
        return {
            "found": False,
            "summary": "no watermark found",
            "bit_agreement": round(reading.bit_agreement, 3),
        }
    mark = f"{reading.payload:012x}"
    named = Work.objects.filter(mark=mark).values_list("pk", flat=True).first()
    return {
        "found": True,
        "payload": mark,
        "bit_agreement": round(reading.bit_agreement, 3),
        "method": reading.method,
        "work_id": named,
        "summary": f"payload {mark}" + ("" if named else ", which names no work on this platform"),
    }


# --- the certificate and the verdict ---------------------------------------------------------


def _evidence_for_certificate(evidence: _Evidence, view: dict[str, Any], *, exact: bool) -> None:
    signature = view["signature"]
    if signature.get("valid"):
        line = f"the certificate's signature is valid (signer {signature.get('signer')})"
        (evidence.decisive if exact else evidence.strong).append(
            line if exact else line + ", for the registered image this one resembles"
        )
    elif signature.get("checked"):
        evidence.conflicts.append("the certificate's signature does not verify")
    chain = view.get("chain") or {}
    if chain.get("minted"):
        minted = f"token #{chain['token_id']} ({chain['confirmations']} confirmations)"
        if exact:
            evidence.decisive.append(f"these exact bytes are minted as {minted}")
        else:
            evidence.strong.append(f"the registered work it resembles is minted as {minted}")


def _verdict(evidence: _Evidence, registered: dict[str, Any]) -> tuple[str, str]:
    if evidence.conflicts:
        return Verdict.UNCERTAIN, "Uncertain: " + "; ".join(evidence.conflicts) + "."
    label = registered.get("title", "")
    if evidence.decisive and registered:
        return Verdict.REGISTERED, f"This is the registered work {label!r}."
    if evidence.strong and registered:
        return (
            Verdict.PROBABLE,
            f"Probably a copy of the registered work {label!r}; the file itself is not the "
            "registered one (re-encoded, resized or edited).",
        )
    if evidence.strong:
        return Verdict.UNCERTAIN, "Uncertain: " + "; ".join(evidence.strong) + "."
    return Verdict.NO_MATCH, "No registered work matches this image."


# --- rate limit ------------------------------------------------------------------------------


def verification_throttle_check(*, user: User | None, client: str) -> None:
    """Refuse a verification when this person (or address) asked too often this minute."""
    signed_in = user is not None and user.is_authenticated
    allowed = settings.VERIFY_PER_MINUTE_USER if signed_in else settings.VERIFY_PER_MINUTE_ANON
    who = f"user:{user.pk}" if signed_in and user is not None else f"client:{client_key(client)}"
    window = int(time.time() // 60)
    key = f"verify-rate:{who}:{window}"
    cache.add(key, 0, timeout=120)
    if cache.incr(key) > allowed:
        raise Throttled(
            f"At most {allowed} verifications a minute"
            + ("" if signed_in else " without signing in")
            + f"; wait {60 - int(time.time()) % 60} seconds and try again."
        )
