"""Verification benchmarks: a whole `verification_run` by registry size; the endpoint under load.

    .venv/bin/python bench/verification_bench.py [--sizes 1000 10000 100000] [--queries 30]
        [--duration 20] [--concurrency 1 4 8] [--serve-size 10000] [--json OUT]

Sets Django up itself on a throwaway SQLite database (DJANGO_ENV=development, ATELIER_VAR_DIR a
fresh folder under --var-root, `migrate` run in this process) and registers:

- real works: `--real` shared paintings (default 300) as studio Work rows with their lineage
  (dataset, training run, model), each stored as PNG and fingerprinted by
  `authenticity.fingerprints.fingerprint_work`, the platform's own path;
- filler works up to each registry size: prints derived from `--filler-sources` other shared
  paintings (never a query's painting): the source's print with every ORB descriptor's bits flipped
  with probability 0.08 (about 20 of 256, inside the vote distance of 48), keypoints jittered by up
  to a pixel, 48 of the 256 PDQ bits flipped (beyond the hash threshold of 31) and a random sha256.
  Descriptor statistics and bucket occupancy so stay ORB-like (each source has about N / sources
  near-variants), and no filler can match a query. Each filler is a lightweight Work row (one shared
  model, distinct seeds, one shared placeholder image: Fingerprint.work is one-to-one) inserted with
  `bulk_create`, with its Fingerprint row.

Queries: a JPEG-70 half-size copy of a registered painting (the gallery case) and an unregistered
painting's own JPEG (a distractor). Per size, with the process's matcher warm (the first call,
which loads the matcher from the rows and builds its indexes, is reported apart): p50 / p95 of
the whole `verification_run` (decode, sha256, exact / hash / local match, watermark read,
certificate lookup, report, database write), of `Matcher.identify` alone, and the baselines from
the same queries: decoding with `provenance.hashing.open_image`, and a numpy linear scan over the
same PDQ codes. With `--attributor` (the default) a stand-in attribution model is fitted first
(150 paintings against blurred, noisy copies of 150 others: its answers mean nothing, its cost per
verification is a real model's). The works carry no watermark or certificate, so those steps cost
a query each; the watermark is still read at the query's size (a matched work that carries no
mark is not read again at its own size). The platform's matcher reads the shortlisted works'
keypoints back from their Fingerprint rows, as in production.

Endpoint: gunicorn as `scripts/run_platform.py` starts it (`config.wsgi`, 2 workers, 4 threads)
on loopback against the same database at --serve-size, with VERIFY_PER_MINUTE_ANON raised so the
rate limit never answers. A thread-per-connection load generator in this process (http.client,
keep-alive) drives `POST /api/v1/verifications` (registered copies and distractors alternately)
and, as the baseline, `GET /healthz`, at each concurrency for --duration seconds. The generator
shares the 2 cores with the server. Prints Markdown tables for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
BIN = Path(sys.executable).parent
SEED = 7
DESCRIPTOR_FLIP = 0.08
PDQ_FLIPS = 48
MASK_BANK = 4096
SERVER_START_S = 120.0


# --- the environment ---------------------------------------------------------------------------


def django_setup(var_dir: Path) -> None:
    """Django on a fresh database under `var_dir`, migrated (what manage.py migrate does)."""
    sys.path.insert(0, str(REPO / "platform"))
    sys.path.insert(0, str(REPO))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["DJANGO_ENV"] = "development"
    os.environ["ATELIER_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", "--noinput", verbosity=0)


def machine_line() -> str:
    """The machine, the interpreter and what else is running on it."""
    load = os.getloadavg()
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, MemAvailable {mem_available_gib():.1f} GiB, "
        f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min)"
    )


def mem_available_gib() -> float:
    """MemAvailable from /proc/meminfo, GiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def rss_mib(pid: int | str = "self", field_name: str = "VmRSS") -> float:
    """A process's resident size (or its high-water mark, VmHWM), MiB."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def percentile_ms(times: list[float], q: float) -> float:
    """The q-th percentile of `times` (seconds), in ms."""
    return float(np.percentile(np.asarray(times), q) * 1000) if times else float("nan")


# --- the registry ------------------------------------------------------------------------------


def png(image: Image.Image) -> bytes:
    """PNG bytes of an image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_copy(data: bytes, *, scale: float = 0.5, quality: int = 70) -> bytes:
    """What a gallery often holds: the image resized and recompressed as JPEG."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@dataclass
class Registry:
    """What was registered: the owner, the filler model, the filler sources' prints."""

    owner: Any
    filler_model: Any
    sources: list[Any]
    registered_copies: list[bytes]
    distractors: list[bytes]
    filler_count: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def register_real(paintings: list[Path], real: int, queries: int, sources: int) -> Registry:
    """Real works (Work rows, fingerprinted by the platform) and the query and filler images."""
    from authenticity.fingerprints import fingerprint_work
    from django.core.files.base import ContentFile
    from studio.models import Dataset, DatasetState, GanModel, TrainingRun, Work

    from accounts.models import Role, User
    from provenance.matching import print_image

    if len(paintings) < real + queries + sources:
        raise SystemExit(
            f"{len(paintings)} paintings in {PAINTINGS}; --real {real} + --queries {queries} + "
            f"--filler-sources {sources} need {real + queries + sources}. Lower one of them."
        )
    owner = User.objects.create_user("bench-artist", role=Role.ARTIST)
    dataset = Dataset.objects.create(
        owner=owner,
        name="Impressions",
        resolution=256,
        state=DatasetState.READY,
        manifest_hash=hashlib.sha256(b"impressions").hexdigest(),
        image_count=real,
    )

    def model(name: str) -> GanModel:
        run = TrainingRun.objects.create(
            owner=owner,
            dataset=dataset,
            name=name,
            preset="sketch",
            config={"resolution": 256, "steps": 400, "seed": 0},
            step=400,
        )
        return GanModel.objects.create(
            run=run,
            owner=owner,
            weights_sha256=hashlib.sha256(name.encode()).hexdigest(),
            card={"step": 400},
        )

    real_model, filler_model = model("Impressions"), model("Filler")
    started = time.perf_counter()
    copies: list[bytes] = []
    for seed, path in enumerate(paintings[:real]):
        data = png(Image.open(path).convert("RGB"))
        work = Work(
            owner=owner, model=real_model, seed=seed, sha256=hashlib.sha256(data).hexdigest()
        )
        work.image.save(f"work-{seed}.png", ContentFile(data), save=False)
        work.save()
        if fingerprint_work(work) is None:
            raise RuntimeError(f"{path} could not be fingerprinted")
        if seed < queries:
            copies.append(jpeg_copy(data))
    register_s = time.perf_counter() - started
    distractors = [path.read_bytes() for path in paintings[real : real + queries]]
    started = time.perf_counter()
    source_paths = paintings[real + queries : real + queries + sources]
    prints = [print_image(png(Image.open(path).convert("RGB"))) for path in source_paths]
    registry = Registry(owner, filler_model, prints, copies, distractors)
    registry.timings = {
        "real_works": real,
        "real_register_ms_per_work": register_s / real * 1000,
        "filler_source_print_ms": (time.perf_counter() - started) / max(sources, 1) * 1000,
    }
    # Fillers need an image to name; none is ever opened unless a filler matches (none does).
    Work.image.field.storage.save(
        "studio/works/filler.png", ContentFile(png(Image.new("RGB", (8, 8))))
    )
    return registry


def attributor_standin(paintings: list[Path], registry: Registry, count: int = 150) -> float:
    """A ready attribution model whose answers mean nothing but whose cost is a real one's.

    Fitted on `count` paintings (hand-made) against blurred, noisy copies of `count` others
    standing in for the filler model's works (no generator is trained here); returns seconds.
    """
    from authenticity.models import Attributor, AttributorState
    from django.conf import settings

    from provenance.attribution import MODEL_PREFIX, PORTFOLIO, AttributionModel, image_features

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    hand = [Image.open(path).convert("RGB") for path in paintings[:count]]
    blurred = []
    for path in paintings[count : 2 * count]:
        image = Image.open(path).convert("RGB")
        small = image.resize((32, 32), Image.Resampling.BILINEAR).resize(image.size)
        noisy = np.asarray(small, dtype=np.float64) + rng.normal(
            0, 6, (image.height, image.width, 3)
        )
        blurred.append(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)))
    machine = f"{MODEL_PREFIX}{registry.filler_model.pk}"
    model = AttributionModel().fit(
        image_features(hand + blurred), [PORTFOLIO] * len(hand) + [machine] * len(blurred)
    )
    path = Path(settings.MEDIA_ROOT) / "authenticity" / "attributors" / "bench.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    Attributor.objects.create(
        state=AttributorState.READY,
        classes={PORTFOLIO: "hand-made portfolio images", machine: "stand-in generator"},
        metrics={"heldout_accuracy": model.heldout_accuracy_, "heldout_ece": model.heldout_ece_},
        file=str(path.relative_to(Path(settings.MEDIA_ROOT))),
        file_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )
    return time.perf_counter() - started


def filler_prints(
    sources: list[Any], start: int, count: int, rng: np.random.Generator
) -> Iterator[Any]:
    """`count` filler prints, perturbed copies of the sources' prints (see the module's notes)."""
    from provenance.matching import LocalFeatures, WorkPrint

    bits = rng.random((MASK_BANK, 32 * 8)) < DESCRIPTOR_FLIP
    masks = np.packbits(bits, axis=1)  # (MASK_BANK, 32) uint8
    for index in range(start, start + count):
        source = sources[index % len(sources)]
        descriptors = source.features.descriptors
        flipped = descriptors ^ masks[rng.integers(0, MASK_BANK, len(descriptors))]
        points = source.features.points + rng.uniform(-1, 1, source.features.points.shape)
        code = source.code.copy()
        for bit in rng.choice(256, PDQ_FLIPS, replace=False).tolist():
            code[bit // 64] ^= np.uint64(1 << (bit % 64))
        yield WorkPrint(
            content_hash=rng.bytes(32),
            code=code,
            features=LocalFeatures(points=points.astype(np.float32), descriptors=flipped),
        )


def grow_fillers(
    registry: Registry, total: int, rng: np.random.Generator, batch: int = 2000
) -> float:
    """Insert filler Work and Fingerprint rows until the registry holds `total`; seconds taken."""
    from authenticity.models import Fingerprint
    from studio.models import Work

    need = total - Fingerprint.objects.count()
    started = time.perf_counter()
    made = 0
    while made < need:
        count = min(batch, need - made)
        prints = list(filler_prints(registry.sources, registry.filler_count, count, rng))
        works = Work.objects.bulk_create(
            [
                Work(
                    owner=registry.owner,
                    model=registry.filler_model,
                    seed=registry.filler_count + i,
                    sha256=work_print.content_hash.hex(),
                    image="studio/works/filler.png",
                )
                for i, work_print in enumerate(prints)
            ]
        )
        Fingerprint.objects.bulk_create(
            [
                Fingerprint(work_id=work.pk, sha256=work.sha256, print=work_print.to_bytes())
                for work, work_print in zip(works, prints, strict=True)
            ]
        )
        registry.filler_count += count
        made += count
    return time.perf_counter() - started


# --- in-process latency --------------------------------------------------------------------------


STEPS = (
    ("authenticity.services", "open_image", "decode"),
    ("authenticity.services", "fingerprints_sync", "look for unindexed works"),
    ("authenticity.services", "identify_registered", "identify (all of it)"),
    ("provenance.matching.matcher", "local_features", "  ORB on the query"),
    ("provenance.matching.matcher", "geometric_inliers", "  RANSAC checks"),
    ("authenticity.services", "_registered_from_row", "the registered work's rows"),
    ("authenticity.services", "_watermark", "watermark"),
    ("authenticity.services", "attribution_view", "attribution"),
)


@contextlib.contextmanager
def step_timers() -> Iterator[dict[str, float]]:
    """Seconds spent in each of `STEPS` while inside (module attributes wrapped, then restored)."""
    import importlib

    spent = dict.fromkeys((label for _, _, label in STEPS), 0.0)
    originals = []
    for module_name, name, label in STEPS:
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        originals.append((module, name, original))

        def timed(*args: Any, _original: Any = original, _label: str = label, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent[_label] += time.perf_counter() - started

        setattr(module, name, timed)
    try:
        yield spent
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def measure_size(registry: Registry, size: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Cold start, then warm latencies per query kind, with the baselines, at `size` works."""
    from authenticity.fingerprints import NEAR, matcher_forget, registered_matcher
    from authenticity.models import Verdict
    from authenticity.services import verification_run

    from provenance.hashing import open_image
    from provenance.matching import hamming_distances, pdq256

    matcher_forget()
    started = time.perf_counter()
    matcher = registered_matcher()
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    verification_run(
        image=registry.distractors[0], name="cold.jpg", requested_by=None, client="127.0.0.1"
    )
    first_ms = (time.perf_counter() - started) * 1000
    cold = {
        "size": size,
        "matcher_load_s": load_s,
        "first_verification_ms": first_ms,
        "rss_mib": rss_mib(),
        "load_average": os.getloadavg()[0],
    }
    _, codes = matcher._hashes.codes()  # the same PDQ codes the matcher searches
    rows = []
    kinds = {
        "JPEG-70 half-size copy of a registered painting": (
            registry.registered_copies,
            Verdict.PROBABLE,
        ),
        "unregistered painting (distractor)": (registry.distractors, Verdict.NO_MATCH),
    }
    for kind, (queries, expected) in kinds.items():
        decode, scan, identify, whole, right = [], [], [], [], 0
        steps: dict[str, float] = {}
        each: list[dict[str, float]] = []  # every verification's steps, ms
        for n, data in enumerate(queries):
            started = time.perf_counter()
            picture = open_image(data)
            decode.append(time.perf_counter() - started)
            code = pdq256(picture)
            started = time.perf_counter()
            hamming_distances(codes, code)
            scan.append(time.perf_counter() - started)
            started = time.perf_counter()
            matcher.identify(picture, methods=NEAR)
            identify.append(time.perf_counter() - started)
            started = time.perf_counter()
            with step_timers() as spent:
                verification = verification_run(
                    image=data, name=f"query-{n}.jpg", requested_by=None, client="127.0.0.1"
                )
            whole.append(time.perf_counter() - started)
            for label, seconds in spent.items():
                steps[label] = steps.get(label, 0.0) + seconds
            each.append({label: seconds * 1000 for label, seconds in spent.items()})
            right += verification.verdict == expected
        steps_p50 = {label: float(np.median([one[label] for one in each])) for label in steps}
        # The slowest verifications, each with the step that ran furthest over its median: what
        # sets the p95 (a step of that query, or a stall of the machine in whichever step ran).
        slowest = []
        for index in np.argsort(whole)[::-1][:3]:
            over = {label: ms - steps_p50[label] for label, ms in each[index].items()}
            label = max(over, key=over.__getitem__)
            slowest.append(
                {
                    "ms": whole[index] * 1000,
                    "step": label.strip(),
                    "step_ms": each[index][label],
                    "step_p50_ms": steps_p50[label],
                }
            )
        decode_p50 = percentile_ms(decode, 50)
        rows.append(
            {
                "size": size,
                "query": kind,
                "n": len(queries),
                "decode_p50_ms": decode_p50,
                "linear_pdq_scan_p50_ms": percentile_ms(scan, 50),
                "identify_p50_ms": percentile_ms(identify, 50),
                "identify_p95_ms": percentile_ms(identify, 95),
                "verification_p50_ms": percentile_ms(whole, 50),
                "verification_p95_ms": percentile_ms(whole, 95),
                "verification_p50_over_decode": percentile_ms(whole, 50) / decode_p50,
                "verification_mean_ms": float(np.mean(whole) * 1000),
                "steps_mean_ms": {k: v / len(queries) * 1000 for k, v in steps.items()},
                "steps_p50_ms": steps_p50,
                "slowest": slowest,
                "expected_verdict": str(expected),
                "expected_verdicts": right,
                "load_average": os.getloadavg()[0],
            }
        )
    return cold, rows


# --- the endpoint under load ---------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def gunicorn(var_dir: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn serving the platform on the bench database; stopped (TERM, then KILL) on exit."""
    env = dict(os.environ)
    env.update(
        DJANGO_ENV="development",
        ATELIER_VAR_DIR=str(var_dir),
        VERIFY_PER_MINUTE_ANON=str(10**6),
        LOG_LEVEL="WARNING",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "platform"), env.get("PYTHONPATH")])),
    )
    command = [
        str(BIN / "gunicorn"),
        "config.wsgi",
        "--pythonpath",
        "platform",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "4",
        "--timeout",
        "300",  # the first request of each worker loads its matcher
        "--graceful-timeout",
        "5",
        "--no-control-socket",
    ]
    with log.open("ab") as output:
        server = subprocess.Popen(  # noqa: S603  # our own gunicorn on loopback
            command,
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited with status {server.returncode}; see {log}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not listen on {port} within {SERVER_START_S} s")
            time.sleep(0.2)
        yield server
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(5)


def worker_pids(master: int) -> list[int]:
    """gunicorn's worker processes."""
    with contextlib.suppress(OSError):
        return [
            int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()
        ]
    return []


def multipart(data: bytes, name: str) -> tuple[bytes, str]:
    """A multipart/form-data body holding one file field `image`, and its content type."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


Request = tuple[str, str, bytes | None, dict[str, str], int]
"""method, path, body, headers, the expected status."""


def drive(port: int, requests: list[Request], concurrency: int, duration: float) -> dict[str, Any]:
    """Each of `concurrency` threads sends `requests` in turn (keep-alive) for `duration` s."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    statuses: dict[int | str, int] = {}
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    deadline = [0.0]

    def client(slot: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        turn = slot
        start.wait()
        while True:  # at least one request each, however short the step
            method, path, body, headers, expected = requests[turn % len(requests)]
            turn += concurrency
            sent = time.perf_counter()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
                status: int | str = response.status
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            latencies[slot].append(time.perf_counter() - sent)
            if status != expected:
                errors[slot] += 1
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
            if time.perf_counter() >= deadline[0]:
                break
        connection.close()

    threads = [threading.Thread(target=client, args=(slot,)) for slot in range(concurrency)]
    for thread in threads:
        thread.start()
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    deadline[0] = began + duration
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    times = [t for slot in latencies for t in slot]
    return {
        "concurrency": concurrency,
        "requests": len(times),
        "seconds": elapsed,
        "requests_per_s": len(times) / elapsed,
        "p50_ms": percentile_ms(times, 50),
        "p95_ms": percentile_ms(times, 95),
        "p99_ms": percentile_ms(times, 99),
        "max_ms": max(times) * 1000,
        "errors": sum(errors),
        "statuses": {str(k): v for k, v in statuses.items()},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }


def measure_endpoint(
    var_dir: Path, registry: Registry, concurrencies: list[int], duration: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Warm both workers, then healthz and verifications at each concurrency."""
    verify: list[Request] = []
    for n, (copy, stranger) in enumerate(
        zip(registry.registered_copies, registry.distractors, strict=True)
    ):
        for name, data in ((f"copy-{n}.jpg", copy), (f"stranger-{n}.jpg", stranger)):
            body, content_type = multipart(data, name)
            verify.append(
                ("POST", "/api/v1/verifications", body, {"Content-Type": content_type}, 201)
            )
    health: list[Request] = [("GET", "/healthz", None, {}, 200)]
    port = free_port()
    rows = []
    log = var_dir / "gunicorn.log"
    with gunicorn(var_dir, port, log) as server:
        started = time.perf_counter()
        # Both workers load their matcher on their first verification: 2 rounds of 8 at once.
        first = drive(port, verify, 8, 0.001)
        second = drive(port, verify, 8, 0.001)
        warm = {
            "warmup_s": time.perf_counter() - started,
            "warmup_first_round_max_ms": first["max_ms"],
            "warmup_errors": first["errors"] + second["errors"],
            "warmup_statuses": [first["statuses"], second["statuses"]],
        }
        for concurrency in concurrencies:
            for endpoint, requests in (
                ("GET /healthz", health),
                ("POST /api/v1/verifications", verify),
            ):
                result = drive(port, requests, concurrency, duration)
                result["endpoint"] = endpoint
                result["worker_rss_mib"] = [rss_mib(pid) for pid in worker_pids(server.pid)]
                print(
                    f"  {endpoint} x{concurrency}: {result['requests_per_s']:.1f} / s, "
                    f"{result['errors']} errors",
                    flush=True,
                )
                rows.append(result)
    # The server's log outlives the throwaway database folder, for a look at any error.
    shutil.copy(log, var_dir.parent / f"gunicorn-{var_dir.name}.log")
    return warm, rows


# --- the report ----------------------------------------------------------------------------------


def main() -> None:
    """Build the registry size by size, measure, serve, print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=30, help="queries of each kind")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load step")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument(
        "--serve-size",
        type=int,
        default=10_000,
        help="registry size the endpoint is loaded at (0: no endpoint part)",
    )
    parser.add_argument("--real", type=int, default=300, help="real works (paintings) registered")
    parser.add_argument("--filler-sources", type=int, default=200)
    parser.add_argument("--var-root", type=Path, default=Path("/tmp/verifybench-var"))  # noqa: S108
    parser.add_argument("--keep", action="store_true", help="keep the database folder")
    parser.add_argument(
        "--attributor",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fit a stand-in attribution model, so verifications pay for an attribution",
    )
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    if sizes[0] < args.real:
        parser.error(f"the smallest size ({sizes[0]}) is under --real ({args.real})")
    if args.serve_size and args.serve_size not in sizes:
        parser.error(f"--serve-size {args.serve_size} must be one of --sizes {sizes} (or 0)")

    args.var_root.mkdir(parents=True, exist_ok=True)
    var_dir = Path(tempfile.mkdtemp(prefix="run-", dir=args.var_root))
    print(machine_line())
    print(f"database and media: {var_dir}")
    results: dict[str, Any] = {
        "machine_start": machine_line(),
        "args": vars(args) | {"var_root": str(args.var_root), "json": str(args.json)},
    }
    try:
        django_setup(var_dir)
        paintings = sorted(PAINTINGS.glob("*/*.jpg"))
        random.Random(SEED).shuffle(paintings)  # noqa: S311  # a fixed split, not a secret
        registry = register_real(paintings, args.real, args.queries, args.filler_sources)
        results["registration"] = registry.timings
        if args.attributor:
            fit_s = attributor_standin(
                paintings[args.real + args.queries + args.filler_sources :], registry
            )
            results["registration"]["attributor_fit_s"] = fit_s
            print(f"stand-in attribution model fitted in {fit_s:.1f} s")
        print(
            f"real works: {args.real}, {registry.timings['real_register_ms_per_work']:.0f} ms each "
            "(PNG store + fingerprint_work)"
        )
        rng = np.random.default_rng(SEED)
        colds, rows, endpoint_rows = [], [], []
        for size in sizes:
            fill_s = grow_fillers(registry, size, rng)
            print(
                f"size {size:,}: fillers inserted in {fill_s:.1f} s; load {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            cold, measured = measure_size(registry, size)
            cold["filler_insert_s"] = fill_s
            colds.append(cold)
            print(
                f"  matcher loaded from rows in {cold['matcher_load_s']:.1f} s, first verification "
                f"{cold['first_verification_ms']:.0f} ms, RSS {cold['rss_mib']:.0f} MiB",
                flush=True,
            )
            rows += measured
            for row in measured:
                print(
                    f"  {row['query'][:24]}: verification p50 {row['verification_p50_ms']:.1f} ms, "
                    f"{row['expected_verdicts']}/{row['n']} {row['expected_verdict']}",
                    flush=True,
                )
            if size == args.serve_size:
                warm, endpoint_rows = measure_endpoint(
                    var_dir, registry, args.concurrency, args.duration
                )
                results["endpoint_warmup"] = warm | {"size": size}
        results |= {"cold": colds, "latency": rows, "endpoint": endpoint_rows}
    finally:
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)

    print()
    print(
        "| registry | query | n | decode p50 ms (baseline) | linear PDQ scan p50 ms "
        "| identify p50 / p95 ms | verification p50 / p95 ms | p50 / decode "
        "| verdicts as expected | load |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(
            f"| {row['size']:,} | {row['query']} | {row['n']} | {row['decode_p50_ms']:.1f} "
            f"| {row['linear_pdq_scan_p50_ms']:.2f} "
            f"| {row['identify_p50_ms']:.1f} / {row['identify_p95_ms']:.1f} "
            f"| {row['verification_p50_ms']:.1f} / {row['verification_p95_ms']:.1f} "
            f"| {row['verification_p50_over_decode']:.0f}x "
            f"| {row['expected_verdicts']} / {row['n']} {row['expected_verdict']} "
            f"| {row['load_average']:.1f} |"
        )
    print()
    print("Where a verification's time goes (mean ms per verification; indented: within identify):")
    print()
    print(
        "| registry | query | whole | " + " | ".join(label.strip() for _, _, label in STEPS) + " |"
    )
    print("| ---: | --- | ---: | " + " | ".join("---:" for _ in STEPS) + " |")
    for row in rows:
        cells = " | ".join(f"{row['steps_mean_ms'][label]:.1f}" for _, _, label in STEPS)
        whole = row["verification_mean_ms"]
        print(f"| {row['size']:,} | {row['query'][:24]} | {whole:.1f} | {cells} |")
    print()
    print("The three slowest verifications of each kind, and the step furthest over its median:")
    print()
    for row in rows:
        slow = "; ".join(
            f"{one['ms']:.1f} ms ({one['step']} {one['step_ms']:.1f}, "
            f"median {one['step_p50_ms']:.1f})"
            for one in row["slowest"]
        )
        print(f"- {row['size']:,}, {row['query'][:24]}: {slow}")
    print()
    print(
        "| registry | fillers inserted s | matcher load from rows s "
        "| first verification ms (index build) | process RSS MiB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: |")
    for cold in colds:
        print(
            f"| {cold['size']:,} | {cold['filler_insert_s']:.1f} | {cold['matcher_load_s']:.2f} "
            f"| {cold['first_verification_ms']:.0f} | {cold['rss_mib']:.0f} |"
        )
    if endpoint_rows:
        warm = results["endpoint_warmup"]
        print()
        print(
            f"gunicorn (2 workers x 4 threads) at {warm['size']:,} registered; warm-up (both "
            f"workers load their matcher) {warm['warmup_s']:.1f} s, {warm['warmup_errors']} errors "
            f"{warm['warmup_statuses']}"
        )
        print()
        print(
            "| endpoint | concurrency | requests | requests / s | vs healthz | p50 ms | p95 ms "
            "| p99 ms | errors (statuses) | worker RSS MiB | load |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        health = {
            row["concurrency"]: row["requests_per_s"]
            for row in endpoint_rows
            if row["endpoint"] == "GET /healthz"
        }
        for row in endpoint_rows:
            ratio = row["requests_per_s"] / health[row["concurrency"]]
            print(
                f"| {row['endpoint']} | {row['concurrency']} | {row['requests']} "
                f"| {row['requests_per_s']:.1f} | {ratio:.3f} | {row['p50_ms']:.1f} "
                f"| {row['p95_ms']:.1f} | {row['p99_ms']:.1f} "
                f"| {row['errors']} ({row['statuses']}) "
                f"| {', '.join(f'{r:.0f}' for r in row['worker_rss_mib'])} "
                f"| {row['load_average_after']:.1f} |"
            )
    print()
    print(machine_line().replace("machine:", "at end:"))
    print(f"peak RSS of this process: {rss_mib(field_name='VmHWM'):.0f} MiB")
    results["machine_end"] = machine_line()
    results["peak_rss_mib"] = rss_mib(field_name="VmHWM")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
