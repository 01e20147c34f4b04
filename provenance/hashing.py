"""Hashes of a work: sha256 of the exact bytes for identity, perceptual hashes for look-alikes.

`content_hash` is what the chain records: two files are the same work only when their bytes are.
The perceptual hashes (pHash, dHash, aHash, 64 bits each) are for finding near-duplicates, such as a
re-encoded, resized or lightly edited copy of a registered work; they never decide identity, since
different images can share one and a single image has many.

Images are decoded by `open_image`, which refuses anything it should not decode (unknown formats,
damaged files, decompression bombs) with `InvalidImage`, applies the EXIF orientation, and flattens
every colour mode to 8-bit RGB, so the hashes see the picture a viewer sees. Its pixel limit is
checked from the header, before any pixel is decoded; Pillow's own process-wide limit
(`Image.MAX_IMAGE_PIXELS`, 2x of which it refuses outright) still applies above it, and Pillow warns
(DecompressionBombWarning) while opening images over 1x, which `open_image` then refuses by default.

The hashes follow the `imagehash` package's definitions (grayscale by ITU-R 601-2 luma, Lanczos
resize, bits row-major with the first bit most significant) so their hex strings can be compared
with its output, though resizing differences between Pillow versions may flip a bit now and then.
On 200 of the shared paintings, JPEG quality 50 and half-size copies stayed within 4 bits of the
original's pHash, while every pair of different paintings was 12 or more bits apart (median 32).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from provenance.errors import InvalidImage

DEFAULT_MAX_PIXELS: Final = 50_000_000
"""Largest image (width x height) `open_image` decodes by default: about 150 MB as RGB."""

ACCEPTED_FORMATS: Final = ("PNG", "JPEG", "WEBP", "GIF", "TIFF", "BMP")
"""Formats `open_image` decodes (JPEG includes camera MPO files); others are refused unread."""

NEAR_DUPLICATE_DISTANCE: Final = 10
"""pHash Hamming distance up to which two images are worth a second look as near-duplicates."""

_HASH_BITS: Final = 64
_PHASH_SIZE: Final = 32
_PHASH_LOW: Final = 8


def content_hash(data: bytes) -> bytes:
    """sha256 of the exact file bytes (32 bytes): the identity the chain records."""
    return hashlib.sha256(data).digest()


def content_hash_hex(data: bytes) -> str:
    """`content_hash` as 0x-prefixed lowercase hex: the bytes32 form certificates use."""
    return "0x" + hashlib.sha256(data).hexdigest()


def open_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode image bytes safely into an upright 8-bit RGB image, or raise `InvalidImage`."""
    if not data:
        raise InvalidImage("the file is empty; expected an image (PNG, JPEG, WebP, GIF, TIFF, BMP)")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError as error:
        raise InvalidImage(
            f"not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)}); "
            f"the file starts with {data[:8]!r}"
        ) from error
    except Image.DecompressionBombError as error:
        raise InvalidImage(f"refused as a decompression bomb: {error}") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidImage(f"the image header is damaged: {error}") from error

    width, height = image.size
    if width * height > max_pixels:
        raise InvalidImage(
            f"refused as a likely decompression bomb: {width}x{height} = {width * height:,} pixels "
            f"is over the limit of {max_pixels:,}; downscale the image or raise max_pixels"
        )
    if width == 0 or height == 0:
        raise InvalidImage(f"the image has no pixels ({width}x{height})")
    try:
        image.load()
    except Image.DecompressionBombError as error:
        raise InvalidImage(f"refused as a decompression bomb: {error}") from error
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InvalidImage(f"the {image.format} data is damaged or truncated: {error}") from error

    return _to_rgb(_upright(image))


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF Orientation tag says; unchanged when the EXIF is unreadable."""
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        # A broken EXIF block is common in the wild and says nothing about the pixels.
        return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB: alpha over white, 16-bit and float gray rescaled, CMYK and palettes converted."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I;16"):
        # Pillow keeps 16-bit grayscale as integers 0..65535; convert("RGB") would clip them to 255.
        return _gray_to_rgb(np.asarray(image, dtype=np.float64) / 257.0)
    if mode == "I":
        # 32-bit integers: scale by the smallest of the 8-, 16- and 32-bit ranges that holds them.
        levels = np.asarray(image, dtype=np.float64)
        peak = float(levels.max(initial=0.0))
        return _gray_to_rgb(
            levels / (1.0 if peak <= 255 else 257.0 if peak <= 65535 else 16843009.0)
        )
    if mode == "F":
        levels = np.asarray(image, dtype=np.float64)
        finite = levels[np.isfinite(levels)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            levels = levels * 255.0
        return _gray_to_rgb(np.nan_to_num(levels))
    try:
        return image.convert("RGB")
    except ValueError as error:
        raise InvalidImage(f"colour mode {mode!r} cannot be converted to RGB: {error}") from error


def _gray_to_rgb(levels: npt.NDArray[np.float64]) -> Image.Image:
    """An RGB image from gray levels on the 0..255 scale (clipped, rounded)."""
    gray = np.clip(np.rint(levels), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def phash(image: Image.Image) -> int:
    """64-bit DCT hash: 32x32 gray, 2-D DCT-II, the 8x8 lowest frequencies against their median."""
    pixels = _gray_pixels(image, (_PHASH_SIZE, _PHASH_SIZE))  # (32, 32)
    low = _DCT_LOW @ pixels @ _DCT_LOW.T  # (8, 8)
    return _pack_bits(low > np.median(low))


def dhash(image: Image.Image) -> int:
    """64-bit gradient hash: 9x8 gray, is each pixel brighter than its left neighbour."""
    pixels = _gray_pixels(image, (9, 8))  # (8, 9)
    return _pack_bits(pixels[:, 1:] > pixels[:, :-1])


def ahash(image: Image.Image) -> int:
    """64-bit average hash: 8x8 gray, is each pixel brighter than the mean."""
    pixels = _gray_pixels(image, (8, 8))  # (8, 8)
    return _pack_bits(pixels > pixels.mean())


def hamming(a: int, b: int) -> int:
    """Number of bits in which two 64-bit hashes differ (0 = same hash, 64 = opposite)."""
    for value in (a, b):
        if not 0 <= value < 1 << _HASH_BITS:
            raise ValueError(f"perceptual hashes are unsigned 64-bit integers; got {value}")
    return (a ^ b).bit_count()


def hash_hex(value: int) -> str:
    """A 64-bit hash as 16 lowercase hex digits, the form `imagehash` prints."""
    return f"{value:016x}"


@dataclass(frozen=True)
class ImageFingerprint:
    """Every hash of one image file: sha256 for identity, perceptual hashes for look-alikes."""

    content_hash: bytes
    width: int
    height: int
    phash: int
    dhash: int
    ahash: int

    def __post_init__(self) -> None:
        """Refuse values that cannot be these hashes."""
        if len(self.content_hash) != hashlib.sha256().digest_size:
            raise ValueError(f"content_hash must be 32 bytes; got {len(self.content_hash)}")
        for name in ("phash", "dhash", "ahash"):
            value = getattr(self, name)
            if not 0 <= value < 1 << _HASH_BITS:
                raise ValueError(f"{name} must be an unsigned 64-bit integer; got {value}")

    def distance(self, other: ImageFingerprint) -> int:
        """pHash Hamming distance to another fingerprint (0..64); small means look-alike."""
        return hamming(self.phash, other.phash)

    def looks_like(
        self, other: ImageFingerprint, *, max_distance: int = NEAR_DUPLICATE_DISTANCE
    ) -> bool:
        """Whether the other image is a candidate near-duplicate (pHash within `max_distance`)."""
        return self.distance(other) <= max_distance

    def as_dict(self) -> dict[str, str | int]:
        """JSON-ready form: content hash as 0x-hex, perceptual hashes as 16 hex digits."""
        return {
            "contentHash": "0x" + self.content_hash.hex(),
            "width": self.width,
            "height": self.height,
            "phash": hash_hex(self.phash),
            "dhash": hash_hex(self.dhash),
            "ahash": hash_hex(self.ahash),
        }


def fingerprint(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageFingerprint:
    """Decode `data` safely (see `open_image`) and compute every hash of it."""
    image = open_image(data, max_pixels=max_pixels)
    return ImageFingerprint(
        content_hash=content_hash(data),
        width=image.width,
        height=image.height,
        phash=phash(image),
        dhash=dhash(image),
        ahash=ahash(image),
    )


def _gray_pixels(image: Image.Image, size: tuple[int, int]) -> npt.NDArray[np.float64]:
    """The image as luma, Lanczos-resized to `size` (width, height); shape (height, width)."""
    gray = image.convert("L").resize(size, Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.float64)


def _pack_bits(bits: npt.NDArray[np.bool_]) -> int:
    """64 booleans, row-major, into an integer whose most significant bit is the first."""
    return int.from_bytes(np.packbits(bits.reshape(-1)).tobytes(), "big")


def _dct_matrix(size: int, rows: int) -> npt.NDArray[np.float64]:
    """The first `rows` rows of the unnormalised DCT-II (scipy.fftpack's default): 2 cos(...)."""
    k = np.arange(rows)[:, None]
    n = np.arange(size)[None, :]
    matrix: npt.NDArray[np.float64] = 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))
    return matrix


_DCT_LOW: Final = _dct_matrix(_PHASH_SIZE, _PHASH_LOW)  # (8, 32)
