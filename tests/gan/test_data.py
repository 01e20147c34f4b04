"""Portfolio preparation: validation, RGB conversion, crops, sources, manifest and round trip."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from gan.data import (
    IMAGES_FILE,
    MANIFEST_FILE,
    DatasetError,
    DecodedImage,
    ImageEntry,
    Rejection,
    SourceItem,
    inspect_image,
    iter_source,
    load_prepared,
    manifest_hash,
    prepare_dataset,
    to_training_tensor,
)
from gan.errors import GanError

PAINTINGS = Path(__file__).resolve().parents[3] / "shared" / "data" / "paintings"
HOKUSAI = PAINTINGS / "katsushika_hokusai"

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def solid_png(color: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    return encode(Image.new("RGB", size, color), "PNG")


def noise_image(size: tuple[int, int] = (64, 64), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def decoded(name: str, data: bytes, min_size: int = 16) -> DecodedImage:
    result = inspect_image(name, data, min_size=min_size)
    assert isinstance(result, DecodedImage), result
    return result


def rejected(name: str, data: bytes, min_size: int = 16, **options: int) -> Rejection:
    result = inspect_image(name, data, min_size=min_size, **options)
    assert isinstance(result, Rejection), result
    assert result.name == name
    return result


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb_png(side: int) -> bytes:
    """A valid 1-bit PNG of side x side pixels, all black: a few KiB that decode to side² bytes."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    # Streamed row by row so the test itself never holds the decompressed image.
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def thirds(size: int, *, horizontal: bool) -> Image.Image:
    """Red, green, blue thirds side by side (or stacked): the centre square is pure green."""
    width, height = (3 * size, size) if horizontal else (size, 3 * size)
    image = Image.new("RGB", (width, height))
    for index, color in enumerate((RED, GREEN, BLUE)):
        box = (
            (index * size, 0, (index + 1) * size, size)
            if horizontal
            else (0, index * size, size, (index + 1) * size)
        )
        image.paste(color, box)
    return image


def make_zip(path: Path, members: dict[str, bytes], *, stored: bool = False) -> Path:
    compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            if name.endswith("/"):
                archive.mkdir(name.rstrip("/"))
            else:
                archive.writestr(name, data)
    return path


# --- inspect_image: what is accepted and how it is decoded ------------------------------------


def test_accepted_entry_records_sha256_of_original_bytes_and_size() -> None:
    data = encode(noise_image((96, 64)), "PNG")

    result = decoded("art/one.png", data)

    assert result.entry == ImageEntry(
        name="art/one.png", sha256=hashlib.sha256(data).hexdigest(), width=96, height=64
    )
    assert result.image.mode == "RGB"
    assert np.array_equal(np.asarray(result.image), np.asarray(noise_image((96, 64))))


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("JPEG", {"quality": 95}), ("PNG", {}), ("WEBP", {"lossless": True})],
)
def test_jpeg_png_and_webp_are_accepted(fmt: str, options: dict[str, object]) -> None:
    result = decoded(f"a.{fmt.lower()}", encode(Image.new("RGB", (40, 32), (10, 200, 30)), fmt))

    assert (result.entry.width, result.entry.height) == (40, 32)
    pixel = result.image.getpixel((20, 16))
    assert isinstance(pixel, tuple)
    assert np.allclose(pixel, (10, 200, 30), atol=3)


def test_text_file_named_jpg_is_rejected_as_not_an_image() -> None:
    assert rejected("notes.jpg", b"these are my notes, not a picture").reason.startswith(
        "not an image"
    )


def test_gif_is_rejected_as_unsupported_format_naming_it() -> None:
    reason = rejected("anim.gif", encode(Image.new("P", (64, 64)), "GIF")).reason

    assert "unsupported format GIF" in reason
    assert "JPEG, PNG or WebP" in reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_file_is_rejected_as_corrupt(fmt: str) -> None:
    data = encode(noise_image((128, 128)), fmt)

    reason = rejected(f"cut.{fmt.lower()}", data[: len(data) // 2]).reason

    assert reason.startswith("corrupt or truncated image")


def test_image_smaller_than_min_size_is_rejected_with_found_size_and_minimum() -> None:
    reason = rejected("tiny.png", solid_png(RED, (20, 30)), min_size=32).reason

    assert "20x30" in reason
    assert "at least 32 px" in reason


def test_image_exactly_min_size_is_accepted() -> None:
    assert decoded("edge.png", solid_png(RED, (32, 50)), min_size=32).entry.width == 32


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        (8000, "8000x8000 is 64,000,000 pixels, more than the 50,000,000 allowed"),
        (20000, "too large to decode safely"),  # past Pillow's own hard limit as well
    ],
)
def test_decompression_bomb_is_rejected_from_header_without_decoding(
    side: int, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = bomb_png(side)
    assert len(data) < 200_000  # the file is tiny; decoding it would need side² bytes
    loads: list[object] = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))

    reason = rejected("bomb.png", data).reason

    assert expected in reason
    assert loads == []


def test_max_pixels_is_the_callers_limit() -> None:
    reason = rejected("big.png", solid_png(RED, (100, 100)), max_pixels=5_000).reason

    assert "10,000 pixels, more than the 5,000 allowed" in reason


def test_transparent_pixels_are_composited_onto_white() -> None:
    image = Image.new("RGBA", (60, 20), (0, 0, 0, 0))  # transparent black
    image.paste((0, 255, 0, 255), (20, 0, 40, 20))  # opaque green
    image.paste((0, 0, 0, 128), (40, 0, 60, 20))  # half-transparent black

    rgb = np.asarray(decoded("alpha.png", encode(image, "PNG")).image)

    assert rgb[10, 10].tolist() == [255, 255, 255]
    assert rgb[10, 30].tolist() == [0, 255, 0]
    assert np.allclose(rgb[10, 50], [127, 127, 127], atol=1)


def test_palette_transparency_is_composited_onto_white() -> None:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    image.paste(1, (16, 0, 32, 32))

    rgb = np.asarray(decoded("pal.png", encode(image, "PNG", transparency=0)).image)

    assert rgb[5, 5].tolist() == [255, 255, 255]
    assert rgb[5, 25].tolist() == [200, 0, 0]


def test_grayscale_becomes_equal_rgb_channels() -> None:
    rgb = np.asarray(decoded("gray.png", encode(Image.new("L", (32, 32), 77), "PNG")).image)

    assert rgb.shape == (32, 32, 3)
    assert (rgb == 77).all()


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95)

    rgb = np.asarray(decoded("cmyk.jpg", data).image)

    assert np.allclose(rgb[16, 16], RED, atol=3)


def test_sixteen_bit_png_is_scaled_to_eight_bit_not_clipped() -> None:
    values = np.array([[0, 1000], [32768, 65535]], dtype=np.uint16)
    raw = Image.fromarray(np.kron(values, np.ones((16, 16), dtype=np.uint16)))
    assert raw.mode == "I;16"

    rgb = np.asarray(decoded("deep.png", encode(raw, "PNG")).image)

    # Clipping would turn 1000 and 32768 into 255.
    assert [rgb[0, 0, 0], rgb[0, 16, 0], rgb[16, 0, 0], rgb[16, 16, 0]] == [0, 4, 128, 255]
    assert (rgb[..., 0] == rgb[..., 2]).all()


def test_exif_orientation_turns_wide_raw_pixels_upright() -> None:
    raw = Image.new("RGB", (80, 40))
    raw.paste(RED, (0, 0, 40, 40))
    raw.paste(BLUE, (40, 0, 80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: display turns the pixels 90° clockwise

    result = decoded("phone.jpg", encode(raw, "JPEG", exif=exif.tobytes(), quality=95))

    assert (result.entry.width, result.entry.height) == (40, 80)
    rgb = np.asarray(result.image)
    assert np.allclose(rgb[10, 20], RED, atol=4)  # the raw left half is now the top
    assert np.allclose(rgb[70, 20], BLUE, atol=4)


# --- manifest_hash ----------------------------------------------------------------------------


def test_manifest_hash_is_sha256_of_recipe_resolution_and_ordered_hashes() -> None:
    a, b = "a" * 64, "b" * 64
    text = f"gan.data/v1\nresolution=64\n{a}\n{b}\n"

    assert manifest_hash([a, b], 64) == hashlib.sha256(text.encode()).hexdigest()
    assert manifest_hash([b, a], 64) != manifest_hash([a, b], 64)
    assert manifest_hash([a, b], 128) != manifest_hash([a, b], 64)


def test_manifest_hash_refuses_values_that_are_not_sha256_digests() -> None:
    with pytest.raises(ValueError, match="not lowercase hex sha256"):
        manifest_hash(["A" * 64], 64)


# --- prepare_dataset --------------------------------------------------------------------------


def test_prepare_center_crops_and_writes_tensor_and_manifest(tmp_path: Path) -> None:
    files = [
        ("wide.png", encode(thirds(128, horizontal=True), "PNG")),
        ("tall.png", encode(thirds(128, horizontal=False), "PNG")),
        ("blue.png", solid_png(BLUE, (100, 100))),
    ]

    report = prepare_dataset(files, tmp_path / "ds", resolution=64)

    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == [IMAGES_FILE, MANIFEST_FILE]
    loaded = load_prepared(tmp_path / "ds")
    assert loaded.images.shape == (3, 3, 64, 64)
    assert loaded.images.dtype == torch.uint8
    inner = loaded.images[:2, :, 4:-4, 4:-4]  # the green centre third, away from the seams
    assert (inner[:, 0] == 0).all()
    assert (inner[:, 1] == 255).all()
    assert (inner[:, 2] == 0).all()
    assert (loaded.images[2] == torch.tensor([0, 0, 255]).view(3, 1, 1)).all()
    assert [e.name for e in report.accepted] == ["wide.png", "tall.png", "blue.png"]
    assert (report.accepted[0].width, report.accepted[0].height) == (384, 128)
    assert report.rejections == ()

    manifest = json.loads((tmp_path / "ds" / MANIFEST_FILE).read_text())
    assert manifest["resolution"] == 64
    assert manifest["manifest_hash"] == report.manifest_hash
    assert manifest["images"][1] == {
        "name": "tall.png",
        "sha256": hashlib.sha256(files[1][1]).hexdigest(),
        "width": 128,
        "height": 384,
    }
    assert report.manifest_hash == manifest_hash([e.sha256 for e in report.accepted], 64)


def test_small_images_are_upscaled_and_default_min_size_is_half_the_resolution(
    tmp_path: Path,
) -> None:
    files = [("ok.png", solid_png(RED, (64, 64))), ("small.png", solid_png(RED, (63, 90)))]

    report = prepare_dataset(files, tmp_path / "ds", resolution=128)

    assert [e.name for e in report.accepted] == ["ok.png"]
    assert "at least 64 px" in report.rejections[0].reason
    assert load_prepared(tmp_path / "ds").images.shape == (1, 3, 128, 128)


def test_duplicate_bytes_are_rejected_naming_the_first_copy(tmp_path: Path) -> None:
    red, green = solid_png(RED), solid_png(GREEN)
    files = [("a.png", red), ("b.png", green), ("copy/a.png", red)]

    report = prepare_dataset(files, tmp_path / "ds", resolution=64, min_size=16)

    assert [e.name for e in report.accepted] == ["a.png", "b.png"]
    assert report.rejections == (Rejection("copy/a.png", "duplicate of a.png"),)
    manifest = json.loads((tmp_path / "ds" / MANIFEST_FILE).read_text())
    assert manifest["rejections"] == [{"name": "copy/a.png", "reason": "duplicate of a.png"}]


def test_copy_of_a_rejected_file_gets_its_own_reason_not_duplicate(tmp_path: Path) -> None:
    files = [("x.jpg", b"text"), ("good.png", solid_png(RED)), ("y.jpg", b"text")]

    report = prepare_dataset(files, tmp_path / "ds", resolution=64)

    assert [r.name for r in report.rejections] == ["x.jpg", "y.jpg"]
    assert all(r.reason.startswith("not an image") for r in report.rejections)


def test_rejections_from_the_source_pass_into_the_report(tmp_path: Path) -> None:
    files: list[SourceItem] = [Rejection("huge.png", "too big"), ("ok.png", solid_png(RED))]

    report = prepare_dataset(files, tmp_path / "ds", resolution=64)

    assert report.rejections == (Rejection("huge.png", "too big"),)
    assert len(report.accepted) == 1


def test_progress_reports_each_file_with_total_when_known(tmp_path: Path) -> None:
    calls: list[tuple[int, int | None, str]] = []
    files = [("a.png", solid_png(RED)), ("b.jpg", b"junk"), ("c.png", solid_png(BLUE))]

    prepare_dataset(files, tmp_path / "a", resolution=64, on_progress=lambda *c: calls.append(c))
    assert calls == [(1, 3, "a.png"), (2, 3, "b.jpg"), (3, 3, "c.png")]

    calls.clear()
    prepare_dataset(
        iter(files), tmp_path / "b", resolution=64, on_progress=lambda *c: calls.append(c)
    )
    assert calls == [(1, None, "a.png"), (2, None, "b.jpg"), (3, None, "c.png")]


def test_nothing_usable_raises_listing_reasons_and_writes_nothing(tmp_path: Path) -> None:
    files = [("a.jpg", b"text"), ("b.png", solid_png(RED, (8, 8)))]

    with pytest.raises(DatasetError, match="no usable image found among 2 files") as caught:
        prepare_dataset(files, tmp_path / "ds", resolution=64)

    assert "a.jpg: not an image" in str(caught.value)
    assert "b.png: too small: 8x8" in str(caught.value)
    assert isinstance(caught.value, GanError)
    assert not (tmp_path / "ds").exists()


def test_failed_prepare_leaves_an_existing_dataset_untouched(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    prepare_dataset([("a.png", solid_png(RED))], out, resolution=64)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    with pytest.raises(DatasetError, match="the source held no files"):
        prepare_dataset([], out, resolution=64)

    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unsupported_resolution_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"resolution=100: choose one of 64, 128, 256, 512"):
        prepare_dataset([("a.png", solid_png(RED))], tmp_path, resolution=100)


# --- iter_source ------------------------------------------------------------------------------


def test_folder_source_is_recursive_sorted_and_skips_hidden_and_macos_junk(
    tmp_path: Path,
) -> None:
    files = {
        "b.png": b"B",
        "a/z.png": b"AZ",
        "a/sub/c.png": b"ASC",
        ".DS_Store": b"junk",
        "a/.hidden.png": b"junk",
        ".git/config": b"junk",
        "__MACOSX/a/._z.png": b"junk",
    }
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)

    assert list(iter_source(tmp_path)) == [
        ("a/sub/c.png", b"ASC"),
        ("a/z.png", b"AZ"),
        ("b.png", b"B"),
    ]


def test_folder_file_over_the_cap_is_a_rejection(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(b"x" * 2000)
    (tmp_path / "ok.png").write_bytes(b"y" * 10)

    items = list(iter_source(tmp_path, max_file_bytes=1000))

    assert isinstance(items[0], Rejection)
    assert items[0].name == "big.png"
    assert "per file" in items[0].reason
    assert items[1] == ("ok.png", b"y" * 10)


def test_zip_source_sorted_skipping_folders_macos_junk_and_oversize_members(
    tmp_path: Path,
) -> None:
    archive = make_zip(
        tmp_path / "portfolio.zip",
        {
            "portfolio/": b"",
            "portfolio/sub/": b"",
            "portfolio/sub/two.png": b"2" * 10,
            "portfolio/one.png": b"1" * 10,
            "portfolio/.DS_Store": b"junk",
            "__MACOSX/portfolio/._one.png": b"junk",
            "portfolio/huge.png": b"\0" * 5000,  # compresses to a few bytes: a tiny zip bomb
        },
    )

    items = list(iter_source(archive, max_file_bytes=1000))

    assert items[0] == Rejection(
        "portfolio/huge.png",
        "4.883 KiB, more than the 1000 bytes allowed per file; export a smaller version",
    )
    assert items[1:] == [("portfolio/one.png", b"1" * 10), ("portfolio/sub/two.png", b"2" * 10)]


def test_zip_over_the_total_cap_raises(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "p.zip", {f"{i}.png": b"x" * 600 for i in range(3)})

    with pytest.raises(
        DatasetError, match=r"p\.zip holds more than 1000 bytes of files; split the portfolio"
    ):
        list(iter_source(archive, max_total_bytes=1000))


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_zip_raises_dataset_error(tmp_path: Path, damage: str) -> None:
    good = make_zip(tmp_path / "good.zip", {"a.png": solid_png(RED)}).read_bytes()
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 not really a zip" if damage == "garbage" else good[:-30])

    with pytest.raises(DatasetError, match=r"bad\.zip is not a readable zip archive"):
        list(iter_source(bad))


def test_damaged_zip_member_is_a_rejection_and_others_still_come(tmp_path: Path) -> None:
    payload = b"PAYLOAD-" * 20
    path = make_zip(tmp_path / "p.zip", {"a.png": payload, "b.png": b"fine"}, stored=True)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(payload, b"X" + payload[1:], 1))  # CRC no longer matches

    items = list(iter_source(path))

    assert isinstance(items[0], Rejection)
    assert items[0].name == "a.png"
    assert "damaged in the zip" in items[0].reason
    assert items[1] == ("b.png", b"fine")


def test_missing_source_and_non_zip_file_raise(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        list(iter_source(tmp_path / "nope"))
    (tmp_path / "a.rar").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"neither a folder nor a \.zip"):
        list(iter_source(tmp_path / "a.rar"))


def test_zip_prepares_end_to_end(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "p.zip",
        {"x/b.png": solid_png(BLUE), "x/a.png": solid_png(RED), "x/notes.txt": b"hi"},
    )

    report = prepare_dataset(iter_source(archive), tmp_path / "ds", resolution=64)

    assert [e.name for e in report.accepted] == ["x/a.png", "x/b.png"]
    assert [r.name for r in report.rejections] == ["x/notes.txt"]
    images = load_prepared(tmp_path / "ds").images
    assert images[0, :, 10, 10].tolist() == [255, 0, 0]
    assert images[1, :, 10, 10].tolist() == [0, 0, 255]


# --- load_prepared ----------------------------------------------------------------------------


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    out = tmp_path / "ds"
    files = [("a.png", solid_png(RED)), ("b.png", solid_png(GREEN))]
    prepare_dataset(files, out, resolution=64)
    return out


def test_load_prepared_returns_images_names_and_hashes(prepared: Path) -> None:
    loaded = load_prepared(prepared)

    assert loaded.names == ("a.png", "b.png")
    assert loaded.sha256s == tuple(hashlib.sha256(solid_png(c)).hexdigest() for c in (RED, GREEN))
    assert loaded.resolution == 64
    assert loaded.manifest_hash == manifest_hash(loaded.sha256s, 64)
    assert loaded.images[1, :, 0, 0].tolist() == [0, 255, 0]


def test_load_prepared_refuses_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"is not a prepared dataset.*run prepare_dataset"):
        load_prepared(tmp_path)


def test_load_prepared_refuses_an_edited_manifest(prepared: Path) -> None:
    path = prepared / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    manifest["images"].reverse()
    path.write_text(json.dumps(manifest))

    with pytest.raises(DatasetError, match="does not match its image list"):
        load_prepared(prepared)


def test_load_prepared_refuses_tensor_count_that_disagrees_with_manifest(prepared: Path) -> None:
    path = prepared / MANIFEST_FILE
    manifest = json.loads(path.read_text())
    del manifest["images"][1]
    manifest["manifest_hash"] = manifest_hash([manifest["images"][0]["sha256"]], 64)
    path.write_text(json.dumps(manifest))

    with pytest.raises(
        DatasetError, match=r"\(2, 3, 64, 64\), the manifest says .*\(1, 3, 64, 64\)"
    ):
        load_prepared(prepared)


def test_load_prepared_refuses_images_from_another_run(prepared: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    prepare_dataset(
        [("c.png", solid_png(BLUE)), ("d.png", solid_png(RED, (70, 70)))], other, resolution=64
    )
    shutil.copy(other / IMAGES_FILE, prepared / IMAGES_FILE)

    with pytest.raises(DatasetError, match="come from different runs"):
        load_prepared(prepared)


def test_load_prepared_refuses_a_damaged_images_file(prepared: Path) -> None:
    (prepared / IMAGES_FILE).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken")

    with pytest.raises(DatasetError, match=f"{IMAGES_FILE} is damaged"):
        load_prepared(prepared)


def test_training_tensor_maps_0_and_255_to_minus_one_and_one() -> None:
    images = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 3, 1, 1)

    result = to_training_tensor(images)

    assert result.dtype == torch.float32
    assert result.flatten().tolist() == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1], abs=1e-6)
    with pytest.raises(ValueError, match="expected uint8"):
        to_training_tensor(result)


# --- real data --------------------------------------------------------------------------------


def hokusai_files() -> Iterator[SourceItem]:
    if not HOKUSAI.is_dir():
        pytest.fail(f"shared data is missing: expected 36 Hokusai JPEGs in {HOKUSAI}")
    return iter_source(HOKUSAI)


def test_real_hokusai_portfolio_prepares_deterministically_and_round_trips(
    tmp_path: Path,
) -> None:
    first = prepare_dataset(hokusai_files(), tmp_path / "one", resolution=64)
    second = prepare_dataset(hokusai_files(), tmp_path / "two", resolution=64)

    assert len(first.accepted) == 36
    assert first.rejections == ()
    assert first.manifest_hash == second.manifest_hash
    assert (tmp_path / "one" / IMAGES_FILE).read_bytes() == (
        tmp_path / "two" / IMAGES_FILE
    ).read_bytes()
    loaded = load_prepared(tmp_path / "one")
    assert loaded.images.shape == (36, 3, 64, 64)
    assert loaded.manifest_hash == first.manifest_hash
    assert loaded.names == tuple(sorted(p.name for p in HOKUSAI.iterdir() if p.suffix == ".jpg"))
    assert loaded.sha256s == tuple(
        hashlib.sha256((HOKUSAI / name).read_bytes()).hexdigest() for name in loaded.names
    )
    # Real paintings: neither blank nor saturated, and each image differs from the others.
    assert 40 < loaded.images.float().mean().item() < 220
    assert (
        len({hashlib.sha256(image.numpy().tobytes()).hexdigest() for image in loaded.images}) == 36
    )
