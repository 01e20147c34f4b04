"""Turn an artist's portfolio (a folder or a zip of JPEG/PNG/WebP) into a prepared dataset.

A prepared dataset is a folder with two files: `images.safetensors`, one uint8 tensor "images"
of shape (N, 3, R, R) that loads in one read for every epoch, and `manifest.json`, which says
which source files went in (and in which order), which were rejected and why, and the
`manifest_hash` that identifies the dataset. Every file is checked before it is decoded:
hostile or broken uploads become a `Rejection` with a reason the artist can act on, never a
crash or a huge allocation.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from safetensors import safe_open
from safetensors.torch import save_file

from gan.config import RESOLUTIONS
from gan.errors import GanError

IMAGES_FILE = "images.safetensors"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1
# Bumped whenever decoding, cropping or resizing changes: the same files then make other pixels,
# so they must make another manifest hash.
RECIPE = "gan.data/v1"

ALLOWED_FORMATS = {"JPEG": "JPEG", "MPO": "JPEG", "PNG": "PNG", "WEBP": "WebP"}
MAX_PIXELS = 50_000_000  # 50 megapixels: above any camera a portfolio comes from
MiB = 1024 * 1024
MAX_FILE_BYTES = 64 * MiB
MAX_TOTAL_BYTES = 4096 * MiB

_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
_SHA256 = re.compile(r"[0-9a-f]{64}")
_WHITE = (255, 255, 255, 255)


class DatasetError(GanError, ValueError):
    """The source or the prepared folder cannot be used as a whole; the message says why.

    Also a ValueError: the input, not the library, is at fault.
    """


@dataclass(frozen=True)
class Rejection:
    """A source file left out of the dataset, and why (phrased for the artist)."""

    name: str
    reason: str


@dataclass(frozen=True)
class ImageEntry:
    """An accepted file: its name, the sha256 of its bytes, and its upright width and height."""

    name: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """An accepted file's entry and its pixels, decoded to upright 8-bit RGB.

    Kept apart from `ImageEntry` so entries stay small, comparable and JSON-ready while the
    pixels live only as long as preparation needs them.
    """

    entry: ImageEntry
    image: Image.Image  # mode "RGB", size (entry.width, entry.height)


@dataclass(frozen=True)
class PrepareReport:
    """What `prepare_dataset` wrote: accepted entries in tensor order, rejections, the hash."""

    out_dir: Path
    resolution: int
    accepted: tuple[ImageEntry, ...]
    rejections: tuple[Rejection, ...]
    manifest_hash: str


@dataclass(frozen=True, eq=False)
class PreparedDataset:
    """A prepared dataset read back and checked against its manifest."""

    images: torch.Tensor  # (N, 3, R, R) uint8
    resolution: int
    manifest_hash: str
    names: tuple[str, ...]
    sha256s: tuple[str, ...]


SourceItem = tuple[str, bytes] | Rejection
ProgressCallback = Callable[[int, int | None, str], None]


def inspect_image(
    name: str, data: bytes, *, min_size: int, max_pixels: int = MAX_PIXELS
) -> DecodedImage | Rejection:
    """Check one file's bytes and decode them to upright RGB, or say why the file is unusable."""
    try:
        # Pillow's own bomb check (from its global MAX_IMAGE_PIXELS) fires inside open(); it
        # raises above twice that limit and warns above it, and either way this is a rejection.
        # The warnings filter is left alone (it is process-wide); `max_pixels` below is the
        # limit this module enforces.
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        return Rejection(name, f"image is too large to decode safely ({exc}); resize it")
    except UnidentifiedImageError:
        return Rejection(name, "not an image (or not a format we can read); use JPEG, PNG or WebP")
    except Exception as exc:  # Pillow's plugins raise many exception types on hostile headers
        return Rejection(name, f"corrupt image header ({exc}); re-export the file")

    with image:
        if image.format not in ALLOWED_FORMATS:
            return Rejection(
                name, f"unsupported format {image.format}; convert it to JPEG, PNG or WebP"
            )
        width, height = image.size  # from the header: nothing is decoded yet
        if width * height > max_pixels:
            return Rejection(
                name,
                f"{width}x{height} is {width * height:,} pixels, more than the {max_pixels:,} "
                "allowed (possible decompression bomb); resize it",
            )
        if min(width, height) < min_size:
            return Rejection(
                name,
                f"too small: {width}x{height}, the shorter side must be at least {min_size} px; "
                "upload a larger version",
            )
        try:
            image.load()  # decodes everything: truncated and corrupt data fail here
            rgb = _to_rgb(_upright(image))
        except Exception as exc:  # see above: corrupt data surfaces as many exception types
            return Rejection(name, f"corrupt or truncated image ({exc}); re-export the file")

    entry = ImageEntry(
        name=name, sha256=hashlib.sha256(data).hexdigest(), width=rgb.width, height=rgb.height
    )
    return DecodedImage(entry=entry, image=rgb)


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says; broken EXIF leaves it as stored."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:  # editing tools often write malformed EXIF; the pixels are still good
        return image.copy()


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: 16-bit scaled (not clipped), transparency composited onto white."""
    if image.mode in _SIXTEEN_BIT_MODES:
        pixels = np.asarray(image).astype(np.int64).clip(0, 65535)  # (H, W) 16-bit values
        # Rounded v * 255 / 65535: 65535 maps to 255 and mid-grey stays mid-grey.
        gray = ((pixels * 255 + 32767) // 65535).astype(np.uint8)  # (H, W) uint8
        return Image.fromarray(gray).convert("RGB")
    if image.has_transparency_data:
        # Converting RGBA straight to RGB drops alpha and shows whatever colour the transparent
        # pixels happen to hold (often black); artists expect the white of a page.
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, _WHITE), rgba).convert("RGB")
    if image.mode != "RGB":
        return image.convert("RGB")  # L, 1, P, CMYK, YCbCr
    return image


def manifest_hash(sha256s: Sequence[str], resolution: int) -> str:
    """The dataset's identity: sha256 of the recipe, resolution and ordered file hashes.

    Precisely: the lowercase hex sha256 of the ASCII text
    ``"gan.data/v1\\nresolution=<resolution>\\n"`` followed by each file's lowercase hex sha256
    and a newline, in dataset order. Order matters; names do not (renaming a file keeps the hash).
    """
    bad = [value for value in sha256s if not _SHA256.fullmatch(value)]
    if bad:
        raise ValueError(f"not lowercase hex sha256 digests: {bad[:3]}")
    text = f"{RECIPE}\nresolution={resolution}\n" + "".join(f"{value}\n" for value in sha256s)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def prepare_dataset(
    files: Iterable[SourceItem],
    out_dir: Path,
    *,
    resolution: int,
    min_size: int | None = None,
    max_pixels: int = MAX_PIXELS,
    on_progress: ProgressCallback | None = None,
) -> PrepareReport:
    """Check, deduplicate, centre-crop and resize files into `out_dir` (see the module doc).

    `files` yields `(name, bytes)` pairs or `Rejection`s (as `iter_source` does); rejections
    pass through into the report. Accepted images keep the order they were given in.
    `on_progress(done, total, name)` is called after each file; total is None when `files` has
    no length. Raises `DatasetError` and writes nothing when no file is usable; the two files
    are written under temporary names and renamed into place only at the end.
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(
            f"resolution={resolution}: choose one of {', '.join(map(str, RESOLUTIONS))}"
        )
    if min_size is None:
        # Accept up to 2x upscaling: blurrier than that and the GAN learns the blur, but a hard
        # floor at the full resolution would throw away too much of a small portfolio.
        min_size = resolution // 2
    if min_size < 1:
        raise ValueError(f"min_size={min_size}: must be at least 1")
    total = len(files) if isinstance(files, Sized) else None

    accepted: list[ImageEntry] = []
    pixels: list[np.ndarray[Any, np.dtype[np.uint8]]] = []  # each (3, R, R) uint8
    rejections: list[Rejection] = []
    first_name_by_sha: dict[str, str] = {}
    for done, item in enumerate(files, start=1):
        if isinstance(item, Rejection):
            rejections.append(item)
            name = item.name
        else:
            name, data = item
            sha256 = hashlib.sha256(data).hexdigest()
            if sha256 in first_name_by_sha:
                rejections.append(Rejection(name, f"duplicate of {first_name_by_sha[sha256]}"))
            else:
                result = inspect_image(name, data, min_size=min_size, max_pixels=max_pixels)
                if isinstance(result, Rejection):
                    rejections.append(result)
                else:
                    # Only accepted files count as originals: a copy of a rejected file is
                    # better told its own reason than "duplicate of" something missing.
                    first_name_by_sha[sha256] = name
                    accepted.append(result.entry)
                    pixels.append(_square(result.image, resolution))
        if on_progress is not None:
            on_progress(done, total, name)

    if not accepted:
        raise DatasetError(_nothing_usable(rejections))

    images = torch.from_numpy(np.stack(pixels))  # (N, 3, R, R) uint8
    del pixels
    digest = manifest_hash([entry.sha256 for entry in accepted], resolution)
    manifest = {
        "format": FORMAT_VERSION,
        "recipe": RECIPE,
        "resolution": resolution,
        "manifest_hash": digest,
        "images": [
            {"name": e.name, "sha256": e.sha256, "width": e.width, "height": e.height}
            for e in accepted
        ],
        "rejections": [{"name": r.name, "reason": r.reason} for r in rejections],
    }
    _write_atomically(out_dir, images, manifest, digest)
    return PrepareReport(
        out_dir=out_dir,
        resolution=resolution,
        accepted=tuple(accepted),
        rejections=tuple(rejections),
        manifest_hash=digest,
    )


def _square(image: Image.Image, resolution: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The largest centred square, resized with Lanczos to (3, R, R) uint8."""
    side = min(image.width, image.height)
    left = (image.width - side) // 2
    top = (image.height - side) // 2
    # Cropping through `box` avoids a copy; reducing_gap first shrinks by whole factors (fast,
    # exact) and leaves Lanczos at most a 3x reduction, which it does without aliasing.
    resized = image.resize(
        (resolution, resolution),
        Image.Resampling.LANCZOS,
        box=(left, top, left + side, top + side),
        reducing_gap=3.0,
    )
    return np.ascontiguousarray(np.asarray(resized, dtype=np.uint8).transpose(2, 0, 1))


def _nothing_usable(rejections: Sequence[Rejection]) -> str:
    """The DatasetError message when no file was accepted."""
    if not rejections:
        return "no usable image found: the source held no files; upload JPEG, PNG or WebP images"
    shown = "; ".join(f"{r.name}: {r.reason}" for r in rejections[:5])
    more = f" (and {len(rejections) - 5} more)" if len(rejections) > 5 else ""
    return f"no usable image found among {len(rejections)} files: {shown}{more}"


def _write_atomically(
    out_dir: Path, images: torch.Tensor, manifest: dict[str, Any], digest: str
) -> None:
    """Write both files under temporary names, then rename them in; the manifest goes last."""
    out_dir.mkdir(parents=True, exist_ok=True)
    temporary: list[Path] = []
    try:
        images_tmp = _temporary_path(out_dir, IMAGES_FILE, temporary)
        # The hash in the tensor file's metadata lets load_prepared catch a manifest and an
        # images file that come from different runs.
        save_file({"images": images}, str(images_tmp), metadata={"manifest_hash": digest})
        manifest_tmp = _temporary_path(out_dir, MANIFEST_FILE, temporary)
        manifest_tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", "utf-8")
        os.replace(images_tmp, out_dir / IMAGES_FILE)
        os.replace(manifest_tmp, out_dir / MANIFEST_FILE)
    finally:
        for path in temporary:
            path.unlink(missing_ok=True)


def _temporary_path(out_dir: Path, final_name: str, created: list[Path]) -> Path:
    """A fresh hidden file in out_dir, recorded in `created` so it is removed on failure."""
    handle, name = tempfile.mkstemp(dir=out_dir, prefix=f".{final_name}.", suffix=".tmp")
    os.close(handle)
    path = Path(name)
    created.append(path)
    return path


def iter_source(
    source: Path,
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> Iterator[SourceItem]:
    """Yield `(relative name, bytes)` for each file of a folder or a .zip, in name order.

    Hidden files and folders (`.DS_Store`, `.git/`), `__MACOSX/`, `Thumbs.db` and `desktop.ini`
    are skipped silently. A file that cannot be used on its own (over `max_file_bytes`, a
    symlink, an unreadable or damaged zip member) is yielded as a `Rejection` so the artist sees
    it in the report. Raises `DatasetError` (when iterated) if the source is missing, not a
    folder or .zip, a corrupt zip, or holds more than `max_total_bytes` in all.
    """
    if source.is_dir():
        yield from _iter_folder(source, max_file_bytes, max_total_bytes)
    elif source.is_file() and source.suffix.lower() == ".zip":
        yield from _iter_zip(source, max_file_bytes, max_total_bytes)
    elif not source.exists():
        raise DatasetError(f"{source} does not exist; check the upload path")
    else:
        raise DatasetError(f"{source} is neither a folder nor a .zip file; upload one of those")


def _is_junk(relative_name: str) -> bool:
    """Whether a path (with / separators) is operating-system clutter rather than artwork."""
    parts = [part for part in relative_name.split("/") if part]
    return any(part.startswith(".") or part in _JUNK_NAMES for part in parts)


def _size(count: int) -> str:
    """A byte count as people read it: 64 MiB, 4.9 KiB, 900 bytes."""
    if count >= MiB:
        return f"{count / MiB:.4g} MiB"
    if count >= 1024:
        return f"{count / 1024:.4g} KiB"
    return f"{count} bytes"


def _too_big(name: str, size: int, max_file_bytes: int) -> Rejection:
    """The rejection for a file over the per-file cap."""
    return Rejection(
        name,
        f"{_size(size)}, more than the {_size(max_file_bytes)} allowed per file; "
        "export a smaller version",
    )


def _over_total(source: Path, max_total_bytes: int) -> DatasetError:
    """The error for a source over the total cap."""
    return DatasetError(
        f"{source.name} holds more than {_size(max_total_bytes)} of files; "
        "split the portfolio or remove large files"
    )


def _iter_folder(source: Path, max_file_bytes: int, max_total_bytes: int) -> Iterator[SourceItem]:
    """The folder half of `iter_source`."""
    relative_names: list[str] = []
    for root, dirs, files in os.walk(source):  # does not follow symlinked folders
        dirs[:] = [d for d in dirs if not _is_junk(d)]
        base = Path(root).relative_to(source)
        relative_names += [(base / f).as_posix() for f in files if not _is_junk(f)]
    total = 0
    for name in sorted(relative_names):
        path = source / name
        if path.is_symlink():
            yield Rejection(name, "a symbolic link, not followed; copy the file itself in")
            continue
        try:
            size = path.stat().st_size
            if size > max_file_bytes:
                yield _too_big(name, size, max_file_bytes)
                continue
            if total + size > max_total_bytes:
                raise _over_total(source, max_total_bytes)
            data = path.read_bytes()
        except OSError as exc:
            yield Rejection(name, f"could not be read ({exc.strerror or exc})")
            continue
        total += len(data)
        yield name, data


def _iter_zip(source: Path, max_file_bytes: int, max_total_bytes: int) -> Iterator[SourceItem]:
    """The zip half of `iter_source`; sizes are checked as read, not trusted from headers."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetError(
            f"{source.name} is not a readable zip archive ({exc}); create the zip again"
        ) from exc
    with archive:
        members = sorted(
            (m for m in archive.infolist() if not m.is_dir() and not _is_junk(m.filename)),
            key=lambda m: m.filename,
        )
        total = 0
        for member in members:
            name = member.filename
            if member.file_size > max_file_bytes:
                yield _too_big(name, member.file_size, max_file_bytes)
                continue
            if total + member.file_size > max_total_bytes:
                raise _over_total(source, max_total_bytes)
            try:
                with archive.open(member) as stream:
                    # A forged header can understate the size: never read past the cap.
                    data = stream.read(max_file_bytes + 1)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
                yield Rejection(name, f"damaged in the zip ({exc}); create the zip again")
                continue
            except (NotImplementedError, RuntimeError) as exc:  # unknown compression, password
                yield Rejection(name, f"cannot be unpacked ({exc}); zip it without a password")
                continue
            if len(data) > max_file_bytes:
                yield _too_big(name, len(data), max_file_bytes)
                continue
            total += len(data)
            if total > max_total_bytes:
                raise _over_total(source, max_total_bytes)
            yield name, data


def load_prepared(out_dir: Path) -> PreparedDataset:
    """Read a prepared dataset and check the images file against the manifest."""
    manifest_path = out_dir / MANIFEST_FILE
    images_path = out_dir / IMAGES_FILE
    if not manifest_path.is_file() or not images_path.is_file():
        raise DatasetError(
            f"{out_dir} is not a prepared dataset (needs {MANIFEST_FILE} and {IMAGES_FILE}); "
            "run prepare_dataset first"
        )
    try:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        resolution = manifest["resolution"]
        stored_hash = manifest["manifest_hash"]
        names = tuple(str(entry["name"]) for entry in manifest["images"])
        sha256s = tuple(str(entry["sha256"]) for entry in manifest["images"])
        expected_hash = manifest_hash(sha256s, resolution)
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"{manifest_path} is damaged ({exc!r}); prepare the dataset again"
        ) from exc
    if resolution not in RESOLUTIONS:
        raise DatasetError(f"{manifest_path}: resolution={resolution} is not one of {RESOLUTIONS}")
    if stored_hash != expected_hash:
        raise DatasetError(
            f"{manifest_path}: manifest_hash {stored_hash} does not match its image list "
            f"({expected_hash}); the manifest was edited, prepare the dataset again"
        )

    try:
        with safe_open(str(images_path), framework="pt") as tensors:
            metadata = tensors.metadata() or {}
            keys = list(tensors.keys())
            images = tensors.get_tensor("images") if keys == ["images"] else None
    except Exception as exc:  # safetensors reports a bad header as several exception types
        raise DatasetError(f"{images_path} is damaged ({exc}); prepare the dataset again") from exc
    if images is None:
        raise DatasetError(f"{images_path} holds tensors {keys}, expected only 'images'")
    expected_shape = (len(names), 3, resolution, resolution)
    if images.dtype != torch.uint8 or tuple(images.shape) != expected_shape:
        raise DatasetError(
            f"{images_path} holds {images.dtype} {tuple(images.shape)}, the manifest says "
            f"torch.uint8 {expected_shape}; prepare the dataset again"
        )
    if metadata.get("manifest_hash") != stored_hash:
        raise DatasetError(
            f"{images_path} was written for dataset {metadata.get('manifest_hash')}, the "
            f"manifest is {stored_hash}: the files come from different runs; prepare again"
        )
    return PreparedDataset(
        images=images,
        resolution=resolution,
        manifest_hash=stored_hash,
        names=names,
        sha256s=sha256s,
    )


def to_training_tensor(images: torch.Tensor) -> torch.Tensor:
    """Map uint8 pixels (N, 3, R, R) to float32 in [-1, 1], the range the generator's tanh has."""
    if images.dtype != torch.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}; pass the prepared tensor")
    return images.to(torch.float32) / 127.5 - 1.0  # (N, 3, R, R) float32
