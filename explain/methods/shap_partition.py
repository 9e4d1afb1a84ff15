"""Partition SHAP (Owen values over a hierarchy of features) for images and texts, any model.

Built on ``shap.PartitionExplainer``: images are split recursively into
axis-aligned rectangles (``shap.maskers.Image``), texts into shap's heuristic
phrase tree (``shap.maskers.Text``).  Hidden pixels take a fixed value, hidden
tokens become :data:`~explain.predictor.MASK_TOKEN`, positions stay put.
Attributions always add up: ``sum + base_value == score(x)`` to float
precision, whatever ``max_evals`` is (a small budget only makes them coarser).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

import numpy as np

from ..predictor import MASK_TOKEN, Predictor, TextView
from ..registry import register
from .base import Attribution, Method, param
from ._shap_common import numpy_global_seed

_TIE_BREAK_SEED = 0  # PartitionExplainer breaks priority ties with np.random: fixed, so results are deterministic


@lru_cache(maxsize=8)
def _image_masker(shape: tuple[int, ...], mask_value: float):
    """An Image masker (its partition tree is built once per shape).

    A fixed mask value is used because shap's other choices, "blur(k, k)" and
    "inpaint_telea"/"inpaint_ns", need OpenCV (cv2), which is not installed here.
    """
    import shap

    return shap.maskers.Image(np.full(shape, mask_value, dtype=np.float32), shape)


class _SpaceTokenizer:
    """The minimal tokenizer ``shap.maskers.Text`` accepts: ids and character offsets of space-separated tokens.

    Returns no tokens for the empty string, so the masker keeps no prefix/suffix
    tokens; ids are the token strings themselves (as shap's SimpleTokenizer does).
    Each span includes the space before its token: the masker writes a hidden
    token as " " + mask_token and then pastes the next segment directly, so the
    separating space must lead segments, not trail them.
    """

    def __call__(self, s: str, return_offsets_mapping: bool = True) -> dict[str, list]:
        spans = [m.span() for m in re.finditer(r"[^ ]+", s)]
        out: dict[str, list] = {"input_ids": [s[a:b] for a, b in spans]}
        if return_offsets_mapping:
            out["offset_mapping"] = [(a - 1 if a > 0 else a, b) for a, b in spans]
        return out


def _safe_tokens(tokens: Sequence[str]) -> list[str]:
    """Tokens as the text masker may see them: shap collapses every whitespace character to a space,
    which would split a token holding, say, U+0085; the model still gets the original tokens."""
    return [re.sub(r"\s", "_", t) or "_" for t in tokens]


@register
@dataclass
class PartitionShap(Method):
    """Owen values from ``shap.PartitionExplainer`` with ``max_evals`` model evaluations per input.

    Images: hidden regions take ``mask_value`` (0 = black; in the model's input
    units, so 0 is black for raw 0-255 pixels and for [0, 1] images alike).
    Texts: hidden tokens become the unknown word, consecutive ones not merged,
    so attributions align one-to-one with the tokens the model reads.
    ``batch_size`` masked inputs are evaluated per model call; it also sets how
    many tree nodes are expanded per round, so it can change the result slightly.
    """

    name = "partition_shap"
    additive = True
    modalities = ("image", "text")

    max_evals: int = param(500, low=2, high=1_000_000, help="model evaluations per input")
    mask_value: float = 0.0
    batch_size: int = param(256, low=1, help="evaluations per batch: shap stops between batches, so it changes results")

    def attribute(self, predictor: Predictor, inputs: Sequence[Any], targets: Sequence[int | None]) -> list[Attribution]:
        if predictor.modality == "text":
            return [self._text(predictor, view, target) for view, target in zip(inputs, targets)]
        return [self._image(predictor, np.asarray(x, dtype=np.float32), t) for x, t in zip(inputs, targets)]

    # ---- images ----------------------------------------------------------------------------
    def _image(self, predictor: Predictor, image: np.ndarray, target: int | None) -> Attribution:
        """Grey (H, W) images are masked as (H, W, 1) and reshaped back for the model."""
        model_shape = image.shape
        masked_shape = model_shape if image.ndim == 3 else model_shape + (1,)

        def f(batch: np.ndarray) -> np.ndarray:
            batch = np.asarray(batch, dtype=np.float32).reshape((-1,) + model_shape)
            return predictor.target_scores(predictor.predict(batch), target)

        masker = _image_masker(masked_shape, float(self.mask_value))
        values, base, evaluations = self._run(predictor, f, masker, image.reshape(masked_shape)[None])
        return Attribution(
            attributions=np.asarray(values, dtype=np.float64).reshape(masked_shape).sum(axis=-1),
            base_value=base,
            meta={"n_evaluations": evaluations, "mask_value": float(self.mask_value)},
        )

    # ---- texts -----------------------------------------------------------------------------
    def _text(self, predictor: Predictor, view: TextView, target: int | None) -> Attribution:
        import shap

        tokens = list(view.tokens)
        safe = _safe_tokens(tokens)

        def f(masked_texts: np.ndarray) -> np.ndarray:
            texts = []
            for text in np.asarray(masked_texts).ravel():
                parts = str(text).split(" ") if str(text) else []
                if len(parts) != len(tokens):
                    raise RuntimeError(f"partition_shap: a masked text has {len(parts)} tokens, expected {len(tokens)}.")
                keep = np.array([p == s for p, s in zip(parts, safe)])
                texts.append(predictor.join_tokens(tokens, keep))
            return predictor.target_scores(predictor.predict(texts), target)

        if len(tokens) == 1:  # shap's phrase tree needs two tokens; one token takes all the credit
            before = predictor.evaluations
            full, empty = f(np.array([safe[0], MASK_TOKEN]))
            return Attribution(attributions=np.array([full - empty]), base_value=float(empty),
                               meta={"n_evaluations": predictor.evaluations - before})
        masker = shap.maskers.Text(_SpaceTokenizer(), mask_token=MASK_TOKEN, collapse_mask_token=False)
        values, base, evaluations = self._run(predictor, f, masker, [" ".join(safe)])
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if len(values) != len(tokens):
            raise RuntimeError(f"partition_shap: got {len(values)} values for {len(tokens)} tokens.")
        return Attribution(attributions=values, base_value=base, meta={"n_evaluations": evaluations})

    # ---- shared ------------------------------------------------------------------------------
    def _run(self, predictor: Predictor, f, masker, x) -> tuple[np.ndarray, float, int]:
        import shap

        before = predictor.evaluations
        explainer = shap.PartitionExplainer(f, masker)
        with numpy_global_seed(_TIE_BREAK_SEED), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = explainer(x, max_evals=int(self.max_evals), batch_size=int(self.batch_size), silent=True)
        return out.values[0], float(np.ravel(out.base_values)[0]), predictor.evaluations - before
