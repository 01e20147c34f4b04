"""Content hashes for identity, perceptual hashes for look-alikes, safe decoding; real paintings."""

from __future__ import annotations

import csv
import io
import itertools
import struct
import zlib

import numpy as np
import pytest
import scipy.fft
from PIL import Image

from provenance.errors import InvalidImage, ProvenanceError
from provenance.hashing import (
    NEAR_DUPLICATE_DISTANCE,
    ImageFingerprint,
    ahash,
    content_hash,
    content_hash_hex,
    dhash,
    fingerprint,
    hamming,
    hash_hex,
    open_image,
    phash,
)
from tests.helpers import REPO

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"

# One painting per artist and two more by the same artists: all different works.
DIFFERENT_WORKS = [
    "camille_pissarro/camille_pissarro_0001_the-hill-at-jallais-pontoise-1875.jpg",
    "claude_monet/claude_monet_0001_01143.jpg",
    "claude_monet/claude_monet_0002_00588.jpg",
    "katsushika_hokusai/katsushika_hokusai_0001_15-koshu-kajikazawa.jpg",
    "katsushika_hokusai/katsushika_hokusai_0002_36-tokaido-hodogaya.jpg",
    "utagawa_hiroshige/utagawa_hiroshige_0001_11-mishima.jpg",
    "vincent_van_gogh/vincent_van_gogh_0001_349.jpg",
]
LANDSCAPE = "katsushika_hokusai/katsushika_hokusai_0001_15-koshu-kajikazawa.jpg"  # 376 x 256


def painting(relative: str) -> bytes:
    """The bytes of one of the shared paintings; fails the test plainly when they are missing."""
    path = PAINTINGS / relative
    if not path.is_file():
        pytest.fail(f"the shared paintings are missing: expected {path} (see ../shared/data)")
    return path.read_bytes()


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    """`image` saved in `image_format`, as bytes."""
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares `width` x `height` 8-bit gray pixels but carries no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


# --- Identity ------------------------------------------------------------------------------------


def test_content_hash_is_the_sha256_the_dataset_manifest_lists() -> None:
    manifest = PAINTINGS / "manifest.csv"
    if not manifest.is_file():
        pytest.fail(f"the shared paintings are missing: expected {manifest} (see ../shared/data)")
    with manifest.open(newline="") as rows:
        expected = {row["file"]: row["sha256"] for row in csv.DictReader(rows)}

    for relative in DIFFERENT_WORKS:
        data = painting(relative)
        assert content_hash(data).hex() == expected[relative]
        assert content_hash_hex(data) == "0x" + expected[relative]


def test_content_hash_of_known_input() -> None:
    # FIPS 180-2, appendix B.1: SHA-256("abc").
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert content_hash(b"abc") == bytes.fromhex(digest)
    assert len(content_hash(b"")) == 32


# --- Perceptual hashes on real paintings ---------------------------------------------------------


@pytest.mark.parametrize("relative", DIFFERENT_WORKS)
def test_jpeg_50_and_half_size_copies_keep_the_phash_close(relative: str) -> None:
    data = painting(relative)
    original = open_image(data)
    reference = fingerprint(data)

    recompressed = fingerprint(encoded(original, "JPEG", quality=50))
    halved = original.resize((original.width // 2, original.height // 2), Image.Resampling.LANCZOS)
    smaller = fingerprint(encoded(halved, "PNG"))

    assert recompressed.content_hash != reference.content_hash
    assert reference.distance(recompressed) <= 6
    assert reference.distance(smaller) <= 6
    assert hamming(reference.dhash, recompressed.dhash) <= 6
    assert hamming(reference.dhash, smaller.dhash) <= 6
    assert reference.looks_like(recompressed)
    assert reference.looks_like(smaller)


def test_different_paintings_are_far_apart() -> None:
    prints = {relative: fingerprint(painting(relative)) for relative in DIFFERENT_WORKS}

    for first, second in itertools.combinations(DIFFERENT_WORKS, 2):
        distance = prints[first].distance(prints[second])
        assert distance > 2 * NEAR_DUPLICATE_DISTANCE, (first, second, distance)
        assert not prints[first].looks_like(prints[second])


def test_two_photographs_of_one_painting_look_alike_but_are_not_the_same_file() -> None:
    # Two scans of Pissarro's "La Sente du Chou" (1878) that reached the dataset from two sources.
    first = fingerprint(
        painting("camille_pissarro/camille_pissarro_0056_la-sente-du-chou-near-pontoise-1878.jpg")
    )
    second = fingerprint(
        painting("camille_pissarro/camille_pissarro_0104_the-pathway-at-le-chou-pontoise.jpg")
    )

    assert first.content_hash != second.content_hash
    assert first.looks_like(second)


def test_the_same_bytes_give_the_same_fingerprint() -> None:
    data = painting(LANDSCAPE)

    assert fingerprint(data) == fingerprint(data)
    assert fingerprint(data).distance(fingerprint(data)) == 0


@pytest.mark.parametrize("relative", DIFFERENT_WORKS[:3])
def test_phash_is_the_imagehash_definition(relative: str) -> None:
    # imagehash.phash: 32x32 luma (Lanczos), unnormalised DCT-II on both axes, 8x8 corner > median.
    image = open_image(painting(relative))
    pixels = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=float)
    low = scipy.fft.dct(scipy.fft.dct(pixels, axis=0), axis=1)[:8, :8]
    bits = "".join("1" if bit else "0" for bit in (low > np.median(low)).reshape(-1))

    assert phash(image) == int(bits, 2)


def test_dhash_and_ahash_follow_their_definitions() -> None:
    image = open_image(painting(LANDSCAPE))
    gray9 = np.asarray(image.convert("L").resize((9, 8), Image.Resampling.LANCZOS), dtype=float)
    gray8 = np.asarray(image.convert("L").resize((8, 8), Image.Resampling.LANCZOS), dtype=float)

    def as_int(bits: np.ndarray) -> int:
        return int("".join("1" if bit else "0" for bit in bits.reshape(-1)), 2)

    assert dhash(image) == as_int(gray9[:, 1:] > gray9[:, :-1])
    assert ahash(image) == as_int(gray8 > gray8.mean())


def test_fingerprint_dict_is_json_ready() -> None:
    data = painting(LANDSCAPE)
    print_ = fingerprint(data)

    as_dict = print_.as_dict()

    assert as_dict["contentHash"] == content_hash_hex(data)
    assert (as_dict["width"], as_dict["height"]) == (376, 256)
    assert as_dict["phash"] == hash_hex(print_.phash)
    assert all(len(str(as_dict[name])) == 16 for name in ("phash", "dhash", "ahash"))


def test_hamming_counts_differing_bits() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0110) == 3
    with pytest.raises(ValueError, match="64-bit"):
        hamming(-1, 0)
    with pytest.raises(ValueError, match="64-bit"):
        hamming(2**64, 0)


def test_fingerprint_refuses_values_that_are_not_hashes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ImageFingerprint(content_hash=b"short", width=1, height=1, phash=0, dhash=0, ahash=0)
    with pytest.raises(ValueError, match="phash"):
        ImageFingerprint(content_hash=bytes(32), width=1, height=1, phash=-1, dhash=0, ahash=0)


# --- Decoding: what is refused ------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_before_its_pixels_are_decoded() -> None:
    # 8000 x 8000 is under Pillow's own limit, over ours; the file has no pixel data at all, so
    # only a check made before decoding can give this answer.
    with pytest.raises(InvalidImage, match=r"decompression bomb: 8000x8000 = 64,000,000 pixels"):
        open_image(png_header_only(8000, 8000))


def test_a_huge_declared_size_is_refused_as_a_bomb() -> None:
    with pytest.raises(InvalidImage, match="decompression bomb"):
        open_image(png_header_only(100_000, 100_000))


def test_max_pixels_is_the_callers_to_lower() -> None:
    with pytest.raises(InvalidImage, match=r"376x256 = 96,256 pixels is over the limit of 10,000"):
        open_image(painting(LANDSCAPE), max_pixels=10_000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not an image in an accepted format"),
        (b"hello, this is text\n" * 4, "not an image in an accepted format"),
        # EPS is an image format Pillow knows, but decoding it runs Ghostscript: never tried.
        (
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
            "not an image in an accepted format",
        ),
    ],
)
def test_non_images_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage, match=message) as refused:
        open_image(data)

    assert isinstance(refused.value, ProvenanceError)


def test_a_truncated_jpeg_is_refused() -> None:
    data = painting(LANDSCAPE)

    with pytest.raises(InvalidImage, match="JPEG data is damaged or truncated"):
        open_image(data[: len(data) // 2])


# --- Decoding: what is normalised ---------------------------------------------------------------


def test_exif_orientation_is_applied() -> None:
    upright = open_image(painting(LANDSCAPE))
    # Orientation 6: the camera stored the picture turned 90 degrees counter-clockwise.
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    data = encoded(stored, "JPEG", quality=95, exif=exif.tobytes())

    decoded = open_image(data)

    assert decoded.size == upright.size == (376, 256)
    assert hamming(phash(decoded), phash(upright)) <= 4
    assert hamming(phash(Image.open(io.BytesIO(data)).convert("RGB")), phash(upright)) > 10


def test_cmyk_becomes_rgb_with_the_same_picture() -> None:
    original = open_image(painting(LANDSCAPE))
    data = encoded(original.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"

    decoded = open_image(data)

    assert decoded.mode == "RGB"
    difference = np.abs(np.asarray(decoded, dtype=int) - np.asarray(original, dtype=int))
    assert difference.mean() < 4
    assert hamming(phash(decoded), phash(original)) <= 4


def test_16_bit_gray_is_scaled_not_clipped_to_white() -> None:
    gray = np.asarray(open_image(painting(LANDSCAPE)).convert("L"))
    deep = Image.fromarray(gray.astype(np.uint16) * 257)  # the same picture on 0..65535
    data = encoded(deep, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")

    decoded = open_image(data)

    assert decoded.mode == "RGB"
    assert np.array_equal(np.asarray(decoded)[..., 0], gray)
    assert phash(decoded) == phash(Image.fromarray(gray).convert("RGB"))


def test_transparency_is_composited_on_white() -> None:
    original = open_image(painting(LANDSCAPE))
    rgba = original.convert("RGBA")
    alpha = np.full((rgba.height, rgba.width), 255, dtype=np.uint8)
    alpha[:, : rgba.width // 2] = 0  # left half fully transparent
    rgba.putalpha(Image.fromarray(alpha))

    decoded = np.asarray(open_image(encoded(rgba, "PNG")))

    assert decoded.shape == (256, 376, 3)
    assert (decoded[:, : rgba.width // 2] == 255).all()
    assert np.array_equal(decoded[:, rgba.width // 2 :], np.asarray(original)[:, rgba.width // 2 :])


def test_palette_images_become_rgb_with_the_same_picture() -> None:
    original = open_image(painting(LANDSCAPE))
    data = encoded(original.convert("P", palette=Image.Palette.ADAPTIVE, colors=256), "PNG")

    decoded = open_image(data)

    assert decoded.mode == "RGB"
    assert hamming(phash(decoded), phash(original)) <= 6


def test_every_decoded_image_is_8_bit_rgb() -> None:
    original = open_image(painting(LANDSCAPE))
    for mode in ("1", "L", "LA", "I", "F", "YCbCr", "RGBA"):
        converted = original.convert(mode)
        data = encoded(converted, "TIFF")

        decoded = open_image(data)

        assert decoded.mode == "RGB", mode
        assert decoded.size == original.size, mode
        if mode != "1":  # dithered to black and white: a different picture at hash scale
            assert hamming(phash(decoded), phash(original)) <= 6, mode
