"""Regions of an input that a check measures attribution mass in: image masks and boxes, token and feature sets."""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Iterable

import numpy as np

from .explanation import Explanation

Region = Any  # a mask, a box, a callable input -> mask or box, or a set of tokens / feature names


def bounding_box(above: float = 0.0, margin: int = 0) -> Callable[[Any], np.ndarray]:
    """A region function: the box around the pixels brighter than ``above`` (e.g. an MNIST digit), grown by
    ``margin`` pixels.  Colour channels count by their maximum; an image with no such pixel gives an empty mask."""
    if margin < 0:
        raise ValueError(f"bounding_box: margin must be 0 or more, got {margin}.")

    def region(image: Any) -> np.ndarray:
        pixels = np.asarray(image, dtype=float)
        if pixels.ndim == 3:
            pixels = pixels.max(axis=-1)
        bright = pixels > above
        mask = np.zeros(pixels.shape, dtype=bool)
        if bright.any():
            rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
            mask[max(rows[0] - margin, 0):rows[-1] + margin + 1, max(cols[0] - margin, 0):cols[-1] + margin + 1] = True
        return mask

    region.__name__ = f"bounding_box(above={above}, margin={margin})"
    return region


def image_mask(region: Region, x: Any, shape: tuple[int, ...], position: int) -> np.ndarray:
    """The boolean (H, W) mask ``region`` names for input ``x`` (the ``position``-th of a batch)."""
    value = region(x) if callable(region) else region
    array = np.asarray(value)
    if array.ndim == 3 and array.dtype == bool and array.shape[1:] == shape:  # one mask per input
        array = array[position]
    if array.shape == (4,) and array.dtype != bool:
        top, left, bottom, right = (int(v) for v in array)
        if bottom <= top or right <= left:
            raise ValueError(f"region box (top, left, bottom, right) = {tuple(array.tolist())} is empty; "
                             "bottom and right are exclusive, as in slicing.")
        mask = np.zeros(shape, dtype=bool)
        mask[max(top, 0):bottom, max(left, 0):right] = True
        return mask
    if array.shape != shape:
        raise ValueError(f"region: expected a boolean mask of shape {shape} (the attribution map), a box "
                         f"(top, left, bottom, right) or a function returning one; got shape {array.shape}.")
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise ValueError("region: a mask must be boolean (or 0/1).")
    return array.astype(bool)


def unit_mask(e: Explanation, names: Iterable[Any], what: str, *, strict: bool) -> np.ndarray:
    """Which units of a text or tabular explanation are among ``names`` (tokens: case-insensitive)."""
    flat = np.ravel(e.attributions)
    if e.modality == "text":
        wanted = {str(n).lower() for n in names}
        return np.array([t.lower() in wanted for t in e.tokens()], dtype=bool)
    labels = [str(label) for label in e.labels] if e.labels is not None else [str(i) for i in range(flat.size)]
    mask = np.zeros(flat.size, dtype=bool)
    unknown = []
    for n in names:
        key = str(n) if not isinstance(n, (int, np.integer)) or e.labels is not None else str(int(n))
        if key in labels:
            mask[labels.index(key)] = True
        elif isinstance(n, (int, np.integer)) and 0 <= int(n) < flat.size:
            mask[int(n)] = True
        else:
            unknown.append(n)
    if unknown and strict:
        raise ValueError(f"{what}: no feature named {', '.join(map(repr, unknown))}; the model's features are "
                         f"{', '.join(labels)}.")
    return mask


def by_region(e: Explanation, regions: int) -> Explanation:
    """The explanation on a coarse grid (mean attribution per cell), so methods can be compared by region."""
    attributions = np.asarray(e.attributions, dtype=np.float64)
    height, width = attributions.shape[:2]
    n = min(regions, height, width)
    rows, cols = (np.linspace(0, size, n + 1).round().astype(int) for size in (height, width))
    cells = [(r0, r1, c0, c1) for r0, r1 in itertools.pairwise(rows) for c0, c1 in itertools.pairwise(cols)]
    means = np.array([attributions[r0:r1, c0:c1].mean() for r0, r1, c0, c1 in cells]).reshape(n, n)
    names = tuple(f"rows {r0}-{r1 - 1}, cols {c0}-{c1 - 1}" for r0, r1, c0, c1 in cells)
    return dataclasses.replace(e, attributions=means, labels=names, meta={})
