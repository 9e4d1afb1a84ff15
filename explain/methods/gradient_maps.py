"""Plain gradient maps: saliency, gradient x input and SmoothGrad (with its squared and VarGrad variants).

All three differentiate the explained score (``score``, the pre-activation
logit by default; see :mod:`explain.gradients`) with respect to the input, or
to the token embeddings for text, in batched passes.  Image maps reduce the
colour channels (saliency and SmoothGrad by the maximum, as Simonyan et al.
do; gradient x input by the sum, so it stays a decomposition); text sums the
embedding axis, one value per token the model reads.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .. import gradients as G
from ..predictor import Predictor
from ..registry import register
from .base import Attribution, Method, param

SCORE = param("logit", choices=G.SCORES, help="what is differentiated: the class logit, log p, or p")
BATCH = param(128, low=1, changes_result=False, help="points per forward+backward pass (memory, not results)")


@dataclass
class _GradientMethod(Method):
    """Shared set-up: every gradient method runs on the same space and records the same score."""

    modalities = ("image", "text", "tabular")
    needs_gradients = True
    score: str = SCORE
    batch_size: int = BATCH

    def space(self, predictor: Predictor) -> G.GradientSpace:
        return G.GradientSpace(predictor, score=self.score, batch_size=self.batch_size)

    def points_per_input(self) -> int:
        """How many points of the gradient space one input costs (steps, noisy samples...)."""
        return 1

    def groups(self, space: G.GradientSpace, inputs: Sequence[Any]) -> list[list[int]]:
        """Inputs run together, a batch's worth of points at a time, so memory stays bounded whatever ``n``.

        Text models without a fixed window pad to the longest text of a batch, so their inputs run alone.
        """
        if space.is_text and space.predictor.window is None:
            return [[i] for i in range(len(inputs))]
        size = max(1, space.batch_size // self.points_per_input())
        return [list(range(start, min(start + size, len(inputs)))) for start in range(0, len(inputs), size)]

    def run(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        space = self.space(predictor)
        results: list[Attribution | None] = [None] * len(inputs)
        for group in self.groups(space, inputs):
            batch: Any = [inputs[i] for i in group] if space.is_text else np.asarray(inputs)[group]
            for i, result in zip(group, self.attribute_group(space, batch, [targets[i] for i in group])):
                result.meta.setdefault("score", G.score_name(predictor, space.score))
                results[i] = result
        return results  # type: ignore[return-value]

    attribute = run

    def attribute_group(self, space: G.GradientSpace, inputs: Sequence[Any],
                        targets: Sequence[int | None]) -> list[Attribution]:
        raise NotImplementedError


def _maps(space: G.GradientSpace, values: np.ndarray, inputs: Sequence[Any], reduce: str,
          extra: dict[str, Any] | None = None) -> list[Attribution]:
    return [Attribution(attributions=m, meta=dict(extra or {})) for m in space.to_input(values, inputs, reduce)]


@register
@dataclass
class Saliency(_GradientMethod):
    """|d score / d input| (Simonyan et al. 2014): where a small change moves the score most."""

    name = "saliency"

    def attribute_group(self, space, inputs, targets):
        grads, _ = space.gradients(inputs, space.encode(inputs), 1, targets)
        return _maps(space, np.abs(grads), inputs, "max")


@register
@dataclass
class GradientXInput(_GradientMethod):
    """gradient x input (Shrikumar et al. 2016): exact for a linear model with a zero baseline."""

    name = "gradient_x_input"

    def attribute_group(self, space, inputs, targets):
        points = space.encode(inputs)
        grads, _ = space.gradients(inputs, points, 1, targets)
        return _maps(space, grads * points, inputs, "sum")


@register
@dataclass
class SmoothGrad(_GradientMethod):
    """SmoothGrad (Smilkov et al. 2017): saliency averaged over noisy copies of the input.

    ``noise`` is the Gaussian standard deviation as a fraction of each input's
    value range (the embedding's range for text).  ``variant``: ``"smoothgrad"``
    (mean |gradient|, equal to saliency at zero noise), ``"squared"`` (mean
    gradient squared) or ``"vargrad"`` (variance of the gradients).
    """

    name = "smoothgrad"
    stochastic = True
    samples: int = param(32, low=1, high=10_000, help="noisy copies per input")
    noise: float = param(0.15, low=0.0, high=10.0, help="noise standard deviation, as a fraction of the input range")
    variant: str = param("smoothgrad", choices=("smoothgrad", "squared", "vargrad"))
    seed: int = 0

    def points_per_input(self) -> int:
        return int(self.samples)

    def attribute_group(self, space, inputs, targets):
        points = space.encode(inputs)
        n, m = len(points), int(self.samples)
        flat = points.reshape(n, -1)
        spread = (flat.max(axis=1) - flat.min(axis=1)) * float(self.noise)
        own = space.own_positions(inputs, points)
        noise = np.stack([_noise(self.seed, point, m) for point in points])  # per input: batching changes nothing
        noisy = points[:, None] + spread.reshape((n,) + (1,) * points.ndim) * noise * own[:, None]
        grads, _ = space.gradients(inputs, noisy.reshape(n * m, *points.shape[1:]).astype(np.float32), m, targets)
        grads = grads.reshape(n, m, *points.shape[1:])
        if self.variant == "smoothgrad":
            values = np.abs(grads).mean(axis=1)
        elif self.variant == "squared":
            values = (grads**2).mean(axis=1)
        else:
            values = grads.var(axis=1)
        results = _maps(space, values, inputs, "max")
        for result, s in zip(results, spread):
            result.meta["noise_sigma"] = float(s)
        return results


def _noise(seed: int, point: np.ndarray, samples: int) -> np.ndarray:
    """Standard normal noise seeded by ``seed`` and the input's own bytes, the same alone or in any batch."""
    digest = zlib.crc32(np.ascontiguousarray(point, dtype=np.float32).tobytes())
    return np.random.default_rng([int(seed), digest]).standard_normal((samples, *point.shape))
