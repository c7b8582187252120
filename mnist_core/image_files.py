"""Reading an uploaded photo or drawing (PNG/JPEG bytes) into a pixel array, with one clear error for bad files."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 1024  # photos from phones are 4000 px wide; the digit needs far less, and preprocessing stays fast
# Refused from the header, before decoding: a 12-megapixel phone photo (4032 x 3024) passes, a decompression bomb
# or a 48-megapixel original does not (decoding one costs the web server seconds and ~150 MB).
MAX_PIXELS = 4_000 * 4_000
MAX_BYTES = 5 * 1024 * 1024  # a phone's JPEG is 2-4 MB; the Draw page's uploader refuses bigger files as well


class ImageFileError(ValueError):
    """The bytes are not a readable PNG or JPEG image. `reason` says why as data, for a UI to word: "empty",
    "file_too_large" (more than MAX_BYTES: `detail` is the byte count), "format" (another image format: `detail`
    names it), "too_large" (`detail`: WxH), "not_image" or "damaged"."""

    def __init__(self, message: str, reason: str, name: str, detail: str = "") -> None:
        super().__init__(message)
        self.reason, self.name, self.detail = reason, name, detail


def read_image_file(data: bytes, name: str = "the file") -> np.ndarray:
    """Decode image bytes into a uint8 array, upright (EXIF rotation applied) and at most MAX_SIDE pixels on its
    longer side: RGB (H, W, 3), or RGBA (H, W, 4) when the image has transparency, so that black ink on a
    transparent background is not flattened into an all-black picture (preprocess_drawing composites it)."""
    if not data:
        raise ImageFileError(f"{name} is empty (0 bytes): choose a PNG or JPEG photo of a digit.", "empty", name)
    if len(data) > MAX_BYTES:
        raise ImageFileError(f"{name} has {len(data):,} bytes, more than the {MAX_BYTES:,} a photo may have.",
                             "file_too_large", name, str(len(data)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.format not in ("PNG", "JPEG", "MPO"):  # MPO: JPEGs from some phone cameras
                    raise ImageFileError(f"{name} is a {image.format} image; upload a PNG or JPEG instead.", "format",
                                         name, str(image.format))
                if image.width * image.height > MAX_PIXELS:
                    size = f"{image.width}x{image.height}"
                    raise ImageFileError(f"{name} is {size} pixels, too large to read.", "too_large", name, size)
                if image.format in ("JPEG", "MPO"):
                    # libjpeg decodes at 1/2, 1/4 or 1/8 scale, still at least MAX_SIDE: a 4000 px photo 3.5x faster
                    image.draft(None, (MAX_SIDE, MAX_SIDE))
                image = ImageOps.exif_transpose(image)
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                transparent = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
                return np.asarray(image.convert("RGBA" if transparent else "RGB"))
    except ImageFileError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        # PIL's own wording ("cannot identify image file <_io.BytesIO ...>") would only confuse a student.
        raise ImageFileError(f"{name} is not a PNG or JPEG image that can be read.", "not_image", name) from None
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt image data
        raise ImageFileError(f"{name} is damaged or truncated and cannot be read ({exc}).", "damaged", name,
                             str(exc)) from None
