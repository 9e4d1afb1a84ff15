"""Turning a person's picture into the model's input, keeping every step so the page can show it.

A photo of a handwritten digit is dark ink on light paper, any size, often in
colour; MNIST digits are light on black, 28 x 28, centred in a 20 x 20 box.
Showing each step lets people see why the model sees what it sees.
"""
from __future__ import annotations

import io
from typing import Sequence

import numpy as np

Step = tuple[str, np.ndarray]  # (caption, image as shown: uint8 grey (H, W) or RGB (H, W, 3))
MAX_PIXELS = 25_000_000  # a 25-megapixel photo; refused from the header, before a byte of pixels is decoded
UNREADABLE = "The file could not be read as an image: it is not in a picture format such as PNG or JPEG."


def to_model_image(data: bytes, input_shape: Sequence[int], *, invert: bool | None = None, centre: bool = True,
                   scale: float = 255.0) -> tuple[np.ndarray, list[Step]]:
    """The model input for an uploaded image file, and the conversion steps as captioned images.

    ``input_shape`` is the model's, without the batch axis: ``(H, W)``, ``(H, W, 1)``
    or ``(H, W, 3)``.  ``invert=None`` inverts light-background grey images (ink on
    paper).  ``centre`` crops grey images to the drawing and centres it like
    MNIST.  ``scale`` is the model's pixel range (255 for raw pixels, 1 for [0, 1]).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    shape = tuple(input_shape)
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[-1] not in (1, 3)) or None in shape:
        raise ValueError(f"The model's input shape {shape} is not a fixed-size image "
                         "(expected (H, W), (H, W, 1) or (H, W, 3)).")
    shape = tuple(int(s) for s in shape)
    unreadable = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError)
    try:
        picture = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError:  # Pillow's own header check, far above ours
        raise ValueError(f"It has more pixels than the limit of {MAX_PIXELS:,}; scale it down first.") from None
    except unreadable:
        raise ValueError(UNREADABLE) from None
    if picture.width * picture.height > MAX_PIXELS:
        raise ValueError(f"It is {picture.width:,} x {picture.height:,} pixels, above the limit of {MAX_PIXELS:,}; "
                         "scale it down first.")
    try:
        picture.load()
    except unreadable as exc:
        raise ValueError(f"{UNREADABLE[:-1]} (it is damaged: {exc}).") from None
    picture = ImageOps.exif_transpose(picture)
    steps: list[Step] = [("your image", np.asarray(picture.convert("RGB")))]
    height, width = shape[0], shape[1]
    colour = len(shape) == 3 and shape[-1] == 3
    if colour:
        resized = picture.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        pixels = np.asarray(resized, dtype=np.float32)
        steps.append((f"resized to {width}×{height}", np.asarray(resized)))
    else:
        grey = np.asarray(picture.convert("L"), dtype=np.float32)
        inverted = grey.mean() > 127 if invert is None else invert
        grey = _ink_on_black(255.0 - grey if inverted else grey)
        steps.append(("grey, inverted (light ink on black)" if inverted else "grey, background set to black",
                      grey.astype(np.uint8)))
        if centre:
            grey = _centred(grey)
            steps.append(("cropped to the drawing, centred", grey.astype(np.uint8)))
        resized = Image.fromarray(grey.astype(np.uint8)).resize((width, height), Image.Resampling.LANCZOS)
        pixels = np.asarray(resized, dtype=np.float32)
        steps.append((f"{width}×{height}, as the model sees it", pixels.astype(np.uint8)))
        if len(shape) == 3:
            pixels = pixels[..., None]
    return pixels * (scale / 255.0), steps


def _ink_on_black(grey: np.ndarray) -> np.ndarray:
    """Paper (the median level) becomes exactly black and the ink spans 0-255, as in MNIST."""
    lifted = np.clip(grey - np.median(grey), 0.0, None)
    return lifted * (255.0 / lifted.max()) if lifted.max() > 0 else lifted


def _centred(grey: np.ndarray, margin: float = 0.2) -> np.ndarray:
    """The drawing's bounding box, padded to a square with a margin (MNIST: 20 px digit in a 28 px frame)."""
    ink = grey > 0.25 * grey.max() if grey.max() > 0 else np.zeros_like(grey, dtype=bool)
    if not ink.any():
        return grey
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    side = int(round(max(crop.shape) * (1 + 2 * margin)))
    frame = np.zeros((side, side), dtype=grey.dtype)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    frame[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return frame
