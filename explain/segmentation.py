"""Image segmentations for segment-based methods (LIME), suited to small grey images.

lime's default segmentation (quickshift, kernel_size=4, max_dist=200) puts a
whole MNIST digit into ONE segment: hiding "all of it or nothing" explains
nothing.  Every segmentation here takes an approximate number of segments,
works on grey ``(H, W)``, ``(H, W, 1)`` or colour ``(H, W, 3)`` images in any
intensity range (raw 0-255 pixels and [0, 1] images segment alike), is
deterministic, and returns consecutive ids ``0..k-1`` (what lime expects).

- ``"grid"``: square-ish patches, independent of content (the default: the
  most stable LIME explanations on MNIST, see lime_image's docstring).
- ``"slic"``: k-means superpixels in (intensity, position) space.
- ``"quickshift"``, ``"felzenszwalb"``: content-driven; ``n_segments`` only
  sets their scale, the count they return varies with the image.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

SEGMENTATIONS = ("grid", "slic", "quickshift", "felzenszwalb")
DEFAULT_SEGMENTATION = "grid"
DEFAULT_N_SEGMENTS = 49  # 7 x 7 patches of 4 x 4 pixels on a 28 x 28 digit


def segment(image: np.ndarray, method: str = DEFAULT_SEGMENTATION, n_segments: int = DEFAULT_N_SEGMENTS) -> np.ndarray:
    """An ``(H, W)`` int array of segment ids ``0..k-1`` for ``image``."""
    if method not in SEGMENTATIONS:
        raise ValueError(f"Unknown segmentation {method!r}; use one of {', '.join(SEGMENTATIONS)}.")
    if int(n_segments) < 1:
        raise ValueError(f"n_segments must be at least 1, got {n_segments}.")
    image = np.asarray(image, dtype=np.float64)
    if image.ndim not in (2, 3):
        raise ValueError(f"Expected an (H, W) or (H, W, C) image, got shape {image.shape}.")
    if method == "grid":
        return grid(image.shape[:2], int(n_segments))
    pixels, channel_axis = _normalised(image)
    labels = _CONTENT[method](pixels, int(n_segments), channel_axis)
    return np.unique(labels, return_inverse=True)[1].reshape(image.shape[:2]).astype(np.int64)


def segmenter(method: str = DEFAULT_SEGMENTATION, n_segments: int = DEFAULT_N_SEGMENTS) -> Callable[[np.ndarray], np.ndarray]:
    """``segment`` with fixed settings: what lime's ``segmentation_fn`` takes."""
    if method not in SEGMENTATIONS:
        raise ValueError(f"Unknown segmentation {method!r}; use one of {', '.join(SEGMENTATIONS)}.")

    def segmentation_fn(image: np.ndarray) -> np.ndarray:
        return segment(image, method, n_segments)

    return segmentation_fn


def grid(shape: tuple[int, int], n_segments: int) -> np.ndarray:
    """``rows x cols ~ n_segments`` near-equal rectangles, as square as the image allows."""
    height, width = int(shape[0]), int(shape[1])
    rows = int(np.clip(round(np.sqrt(n_segments * height / width)), 1, height))
    cols = int(np.clip(round(n_segments / rows), 1, width))
    row_of = np.arange(height) * rows // height
    col_of = np.arange(width) * cols // width
    return (row_of[:, None] * cols + col_of[None, :]).astype(np.int64)


# ---- content-driven segmentations (scikit-image) ---------------------------------------------------
def _normalised(image: np.ndarray) -> tuple[np.ndarray, int | None]:
    """Intensities scaled to [0, 1]; grey (one channel, or equal channels) as ``(H, W)``."""
    if image.ndim == 3 and (image.shape[-1] == 1 or np.all(image == image[..., :1])):
        image = image[..., 0]
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return scaled, (None if scaled.ndim == 2 else -1)


def _patch_side(pixels: np.ndarray, n_segments: int) -> float:
    return float(np.sqrt(pixels.shape[0] * pixels.shape[1] / n_segments))


def _slic(pixels: np.ndarray, n_segments: int, channel_axis: int | None) -> np.ndarray:
    from skimage.segmentation import slic

    # compactness 0.1 on [0, 1] intensities: boundaries follow strokes yet segments stay compact
    return slic(pixels, n_segments=n_segments, compactness=0.1, start_label=0, channel_axis=channel_axis)


def _quickshift(pixels: np.ndarray, n_segments: int, channel_axis: int | None) -> np.ndarray:
    from skimage.segmentation import quickshift

    side = _patch_side(pixels, n_segments)
    if channel_axis is None:  # quickshift only takes colour images
        pixels = np.repeat(pixels[..., None], 3, axis=-1)
    # on [0, 1] intensities a kernel of a quarter patch side gives roughly n_segments on MNIST digits
    return quickshift(pixels, ratio=0.5, kernel_size=max(1.0, side / 4), max_dist=max(1.0, side / 2), convert2lab=False, rng=0)


def _felzenszwalb(pixels: np.ndarray, n_segments: int, channel_axis: int | None) -> np.ndarray:
    from skimage.segmentation import felzenszwalb

    min_size = max(1, int(pixels.shape[0] * pixels.shape[1] / n_segments / 4))
    return felzenszwalb(pixels, scale=1.0, sigma=0.5, min_size=min_size, channel_axis=channel_axis)


_CONTENT = {"slic": _slic, "quickshift": _quickshift, "felzenszwalb": _felzenszwalb}
