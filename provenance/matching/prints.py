"""`WorkPrint`: what identifies one registered image, computed once and stored as bytes.

A platform keeps one print per registered work in its database and rebuilds its `Matcher` from
them (`Matcher.add`), so no process decodes every registered image again at start-up. The bytes
are an uncompressed .npz (numpy arrays only, read with allow_pickle=False): about 16 KiB for
500 ORB keypoints.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from provenance.errors import ProvenanceError
from provenance.hashing import DEFAULT_MAX_PIXELS, content_hash, open_image
from provenance.matching.codes import PDQ_BITS, pdq256
from provenance.matching.local import DESCRIPTOR_BYTES, MAX_FEATURES, LocalFeatures, local_features

PRINT_FORMAT: Final = 3
"""Format `to_bytes` writes. 3: keypoints found at a 384 px working size (`WORKING_SIDE`), in
`local_features` order (the strongest of each grid cell first). Still read: 2, the same at 512
px (a query still finds them: the geometric check fits the scale); 1, 512 px in OpenCV's order."""

READABLE_FORMATS: Final = (1, 2, 3)


class DamagedPrint(ProvenanceError):
    """Bytes that are not a print `WorkPrint.to_bytes` wrote."""


@dataclass(frozen=True, eq=False)
class WorkPrint:
    """One image's sha256 (None when only pixels were given), PDQ-style hash and ORB keypoints."""

    content_hash: bytes | None
    code: npt.NDArray[np.uint64]  # (PDQ_BITS // 64,)
    features: LocalFeatures
    version: int = PRINT_FORMAT
    """Format it was read from: a format-1 print's keypoints are in OpenCV's order, so a
    shortlist keeps an arbitrary subset of them; formats 1 and 2 were found at 512 px (reprint
    them: `print_image` on the image)."""

    def to_bytes(self) -> bytes:
        """The print as .npz bytes (no pickle)."""
        buffer = io.BytesIO()
        np.savez(
            buffer,
            format=np.array(PRINT_FORMAT),
            content_hash=np.frombuffer(self.content_hash or b"", dtype=np.uint8),
            code=self.code.astype(np.uint64),
            points=self.features.points.astype(np.float32),
            descriptors=self.features.descriptors.astype(np.uint8),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> WorkPrint:
        """A print read back from `to_bytes`; `DamagedPrint` for anything else."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as stored:
                version = int(stored["format"])
                if version not in READABLE_FORMATS:
                    raise DamagedPrint(
                        f"print format {version}; this code reads {READABLE_FORMATS}"
                    )
                digest = stored["content_hash"].tobytes()
                code = stored["code"].astype(np.uint64)
                features = LocalFeatures(
                    points=stored["points"].astype(np.float32),
                    descriptors=stored["descriptors"].astype(np.uint8),
                )
        except (OSError, ValueError, KeyError) as error:
            raise DamagedPrint(f"not a work print ({len(data)} bytes): {error}") from error
        if code.shape != (PDQ_BITS // 64,) or len(digest) not in (0, 32):
            raise DamagedPrint(f"a print with a {code.shape} code and a {len(digest)}-byte hash")
        return cls(content_hash=digest or None, code=code, features=features, version=version)


def print_image(
    image: bytes | Image.Image,
    *,
    max_features: int = MAX_FEATURES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> WorkPrint:
    """The print of an image: file bytes (decoded safely, sha256 kept) or a PIL image."""
    if isinstance(image, bytes):
        digest: bytes | None = content_hash(image)
        picture = open_image(image, max_pixels=max_pixels)
    elif isinstance(image, Image.Image):
        digest = None
        picture = image if image.mode == "RGB" else image.convert("RGB")
    else:
        raise TypeError(f"expected image bytes or a PIL image; got {type(image).__name__}")
    features = local_features(picture, max_features=max_features)
    assert features.descriptors.shape[1:] == (DESCRIPTOR_BYTES,)
    return WorkPrint(content_hash=digest, code=pdq256(picture), features=features)
