"""The invisible watermark on real paintings: round trips, JPEG, resize, crops, refusals, PSNR."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from provenance.errors import ProvenanceError
from provenance.watermark import (
    MIN_EMBED_SIDE,
    PAYLOAD_BITS,
    PAYLOAD_BYTES,
    READ_SIDE,
    WatermarkError,
    embed,
    extract,
)
from tests.helpers import REPO

PAINTINGS = REPO.parent / "shared" / "data" / "paintings"
WORK_ID = 0xA7E1_1E12_0042
MIN_PSNR_DB = 35.0  # measured: mean 38 dB, lowest about 35.9 dB on the paintings at strength 1


def painting(relative: str) -> Image.Image:
    """One of the shared paintings as RGB; fails the test plainly when it is missing."""
    path = PAINTINGS / relative
    if not path.exists():
        pytest.fail(f"the shared paintings are missing: expected {path} (see ../shared/data)")
    with Image.open(path) as image:
        return image.convert("RGB")


def some_paintings(count: int) -> list[Path]:
    """`count` paintings spread over every artist, in a fixed order."""
    paths = sorted(PAINTINGS.rglob("*.jpg"))
    if not paths:
        pytest.fail(f"the shared paintings are missing under {PAINTINGS} (see ../shared/data)")
    return paths[:: max(len(paths) // count, 1)][:count]


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    """The image after a JPEG round trip."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def psnr(a: Image.Image, b: Image.Image) -> float:
    """PSNR of b against a, in dB."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return float(10 * np.log10(255**2 / (diff**2).mean()))


@pytest.fixture(scope="module")
def monet() -> Image.Image:
    """A 256x256 Monet."""
    return painting(
        "claude_monet/" + sorted(p.name for p in (PAINTINGS / "claude_monet").iterdir())[3]
    )


@pytest.fixture(scope="module")
def marked(monet: Image.Image) -> Image.Image:
    """The Monet carrying WORK_ID."""
    return embed(monet, WORK_ID)


def test_round_trip_recovers_the_payload_on_a_real_painting(marked: Image.Image) -> None:
    reading = extract(marked)
    assert reading.check_passed
    assert reading.crc_ok
    assert reading.payload == WORK_ID
    assert reading.bit_agreement > 0.8


def test_bytes_payload_round_trips(monet: Image.Image) -> None:
    payload = bytes(range(1, PAYLOAD_BYTES + 1))
    assert extract(embed(monet, payload)).payload_bytes == payload


def test_embedding_is_deterministic(monet: Image.Image, marked: Image.Image) -> None:
    assert np.array_equal(np.asarray(embed(monet, WORK_ID)), np.asarray(marked))


def test_embedding_keeps_psnr_above_35_db() -> None:
    for path in some_paintings(6):
        with Image.open(path) as image:
            original = image.convert("RGB")
        assert psnr(original, embed(original, WORK_ID)) > MIN_PSNR_DB, path.name


@pytest.mark.parametrize("quality", [90, 70, 50])
def test_survives_jpeg_quality_90_70_and_50(marked: Image.Image, quality: int) -> None:
    assert extract(jpeg(marked, quality)).payload == WORK_ID


def test_survives_resize_to_half_and_back_to_the_marked_size(marked: Image.Image) -> None:
    half = marked.resize((marked.width // 2, marked.height // 2), Image.Resampling.BICUBIC)
    assert extract(half.resize(marked.size, Image.Resampling.BICUBIC)).payload == WORK_ID


@pytest.mark.parametrize("box", [(13, 13, 243, 243), (32, 5, 256, 200), (0, 37, 171, 256)])
def test_survives_crops_off_the_block_grid_then_jpeg_70(
    marked: Image.Image, box: tuple[int, int, int, int]
) -> None:
    assert extract(jpeg(marked.crop(box), 70)).payload == WORK_ID


def test_upscaled_512_px_work_survives_jpeg_50_and_a_25_percent_crop(monet: Image.Image) -> None:
    big = embed(monet.resize((512, 512), Image.Resampling.LANCZOS), WORK_ID)
    assert extract(jpeg(big.crop((64, 64, 448, 448)), 50)).payload == WORK_ID


def test_a_large_marked_image_is_read_from_its_centre_window(monet: Image.Image) -> None:
    big = embed(monet.resize((1500, 1100), Image.Resampling.LANCZOS), WORK_ID)
    # Only the centre READ_SIDE x READ_SIDE pixels are read: a copy whose centre is intact reads...
    corners_gone = big.copy()
    corners_gone.paste((0, 0, 0), (0, 0, 400, 250))
    corners_gone.paste((255, 255, 255), (1100, 850, 1500, 1100))
    assert extract(jpeg(corners_gone, 70)).payload == WORK_ID
    # ... and one whose centre window is unmarked does not, however much marked border it keeps.
    centre_unmarked = big.copy()
    left, top = (1500 - READ_SIDE) // 2, (1100 - READ_SIDE) // 2
    plain = monet.resize((1500, 1100), Image.Resampling.LANCZOS)
    box = (left, top, left + READ_SIDE, top + READ_SIDE)
    centre_unmarked.paste(plain.crop(box), box[:2])
    assert extract(centre_unmarked).payload is None


def test_unmarked_paintings_read_as_no_watermark() -> None:
    for path in some_paintings(25):
        with Image.open(path) as image:
            reading = extract(image.convert("RGB"))
        assert not reading.check_passed, path.name
        assert reading.payload is None
        assert reading.payload_bytes is None


def test_a_different_key_reads_no_watermark(marked: Image.Image) -> None:
    assert not extract(marked, key=12345).check_passed


def test_rgba_keeps_its_alpha_and_carries_the_mark(monet: Image.Image) -> None:
    rgba = monet.convert("RGBA")
    rgba.putalpha(200)
    out = embed(rgba, WORK_ID)
    assert out.mode == "RGBA"
    assert np.array_equal(np.asarray(out.getchannel("A")), np.full((256, 256), 200))
    assert extract(out).payload == WORK_ID


def test_grayscale_and_16_bit_come_back_as_8_bit_gray(monet: Image.Image) -> None:
    gray16 = Image.fromarray(np.asarray(monet.convert("L"), dtype=np.uint16) * 257)
    for source in (monet.convert("L"), gray16):
        out = embed(source, WORK_ID)
        assert out.mode == "L"
        assert extract(out).payload == WORK_ID


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (1 << PAYLOAD_BITS, r"0 \.\. 2\*\*48 - 1"),
        (-1, r"0 \.\. 2\*\*48 - 1"),
        (b"\x01" * (PAYLOAD_BYTES + 2), "exactly 6 bytes"),
        ("42", "an int or bytes"),
    ],
)
def test_a_payload_of_the_wrong_size_or_type_is_refused(
    monet: Image.Image, payload: object, message: str
) -> None:
    with pytest.raises(WatermarkError, match=message):
        embed(monet, payload)  # type: ignore[arg-type]


def test_an_image_too_small_to_carry_the_payload_is_refused(monet: Image.Image) -> None:
    small = monet.resize((MIN_EMBED_SIDE - 1, 200))
    with pytest.raises(ProvenanceError, match=f"at least {MIN_EMBED_SIDE}x{MIN_EMBED_SIDE}"):
        embed(small, WORK_ID)
    with pytest.raises(WatermarkError, match="reading a watermark needs at least"):
        extract(monet.resize((40, 40)))
